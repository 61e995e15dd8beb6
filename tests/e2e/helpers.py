"""What the end-to-end tests share: the real arcad and arca started on
loopback addresses only (127.0.0.1, ports the kernel picks), vaults and
vault credentials, machine-signed requests made by hand, agents installed in
folders of the test, a test clock, and a relay that can answer in the
service's stead. One module, imported by every test file; the pytest
fixtures built on it are in conftest.py."""
import base64
import calendar
import hashlib
import http.client
import http.server
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse


# ---- Where the binaries are, and running them ----


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


BUILD = os.environ.get("ARCA_BUILD", os.path.join(ROOT, "build"))


def run(argv, **kw):
    """Run a command, capture its output as text, never raise on exit code."""
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60, **kw)


# ---- The service ----


PASSWORD = "a long test password"


class Service:
    def __init__(self, arcad, data, plain=False, clock_offset=None, port=0, extra=()):
        self.data, self.arcad = data, arcad
        argv = [arcad, "serve", "--data", str(data), "--listen", f"127.0.0.1:{port}", *extra]
        if plain:
            argv.append("--http")
        env = dict(os.environ)
        if clock_offset is not None:
            env["ARCA_TEST_CLOCK_OFFSET"] = str(clock_offset)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        line = self.proc.stdout.readline()
        m = re.match(r"arcad: serving (https?://127\.0\.0\.1:\d+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"arcad did not start: {line!r} {self.proc.stderr.read()}")
        self.url = m.group(1)
        self.ctx = ssl.create_default_context(cafile=str(data / "tls" / "ca.pem"))
        self.token = None

    def call(self, method, path, body=None, token=None, raw=False):
        req = urllib.request.Request(self.url + "/api/v1" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        if body is not None:
            req.add_header("Content-Type", "application/json")
        tok = token if token is not None else self.token
        if tok:
            req.add_header("Authorization", "Bearer " + tok)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                data = r.read()
                return r.status, (data if raw else json.loads(data)), r.headers
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), e.headers

    def sign_in(self):
        st, body, _ = self.call("POST", "/session", {"user": "owner", "password": PASSWORD})
        assert st == 201, body
        self.token = body["token"]
        return body

    def stop(self):
        """Stop the service; it must exit cleanly, and under the sanitizer
        build without any report (leaks included)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError("arcad did not stop on SIGTERM")
        assert "Sanitizer" not in err and "runtime error" not in err, err[-4000:]
        assert self.proc.returncode == 0, err[-2000:]


def admin(s, *args):
    """An admin command of `arcad` on service S's data folder, with --json:
    its answer. What the tests know of the catalog comes from here or from
    the API, never from its tables."""
    p = run([s.arcad, *args, "--data", str(s.data), "--json"])
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


def has_test_clock(arcad):
    """Whether this build's service takes ARCA_TEST_CLOCK_OFFSET."""
    p = run([arcad, "version", "--json"])
    return json.loads(p.stdout).get("test_clock") is True


def pg_catalog():
    """With ARCA_E2E_PG set to a PostgreSQL address (`scripts/pg url DIR`),
    the address of a fresh, empty schema of that database, for one
    service's catalog: the same tests then run on the PostgreSQL catalog.
    None without it (the SQLite catalog in the data folder)."""
    base = os.environ.get("ARCA_E2E_PG")
    if not base:
        return None
    name = "e2e_" + os.urandom(6).hex()
    p = run(["psql", base, "-qc", f"CREATE SCHEMA {name}"])
    assert p.returncode == 0, p.stderr
    return f"{base}&options=-csearch_path%3D{name}"


def init(arcad, tmp_path):
    data = tmp_path / "data"
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    catalog = pg_catalog()
    p = run([arcad, "init", "--data", str(data), "--password-file", str(pw),
             *(["--catalog", catalog] if catalog else [])])
    assert p.returncode == 0, p.stderr
    assert "Password:" not in p.stdout  # a given password is never echoed
    return data


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Clock:
    """A service on a fixed port whose clock the test moves; the agent's
    clock moves with it."""

    def __init__(self, arcad, world):
        self.arcad, self.w, self.port = arcad, world, free_port()
        world.s.stop()
        self.start(0)

    def start(self, offset):
        self.offset = offset
        self.w.s = Service(self.arcad, self.w.s.data, clock_offset=offset, port=self.port)
        self.w.s.sign_in()

    def move(self, offset, agent=None):
        self.w.s.stop()
        self.start(offset)
        if agent:
            agent.env = self.env()

    def env(self):
        return dict(os.environ, ARCA_TEST_CLOCK_OFFSET=str(self.offset))


# ---- Vault credentials, registration and machine-signed requests, done by hand as the agent does them ----


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def sign(key_path, msg):
    return base64.b64encode(openssl("dgst", "-sha256", "-sign", key_path, data=msg)).decode()


def wrapped_key(key_id=None):
    """A structurally valid wrapped-key blob (docs/FORMAT.md): the service
    checks its shape and reads its key id, and can open nothing."""
    head = b"ARCAWKEY" + bytes([1, 1, 0, 0]) + (1).to_bytes(4, "little") \
        + (8192).to_bytes(8, "little") + (key_id or os.urandom(16)) + os.urandom(16 + 24 + 48)
    return head + hashlib.blake2b(head, digest_size=16).digest()


class Verifier:
    """A registration verifier (docs/FORMAT.md): an Ed25519 key pair that the
    agent derives from the master key; here a random one stands for it."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.key = tmp / f"verifier-{os.urandom(4).hex()}.key"
        openssl("genpkey", "-algorithm", "ed25519", "-out", str(self.key))
        self.pub = openssl("pkey", "-in", str(self.key), "-pubout", "-outform", "DER")[-32:]

    def prove(self, msg):
        f = self.tmp / f"msg-{os.urandom(4).hex()}"
        f.write_bytes(msg)
        return openssl("pkeyutl", "-sign", "-inkey", str(self.key), "-rawin", "-in", str(f))


class Creds:
    def __init__(self, xml, tmp):
        self.xml = xml
        self.vault_id = re.search(rb"<VaultId>(.*?)</VaultId>", xml).group(1).decode()
        self.cert = re.search(rb"<Certificate>\s*(.*?)\s*</Certificate>", xml, re.S).group(1).decode() + "\n"
        key = re.search(rb"<PrivateKey>\s*(.*?)\s*</PrivateKey>", xml, re.S).group(1) + b"\n"
        self.key = tmp / f"cred-{os.urandom(4).hex()}.key"
        self.key.write_bytes(key)


def download(s, tmp):
    st, xml, _ = s.call("POST", "/vaults/backup-vault/credentials", raw=True)
    assert st == 201
    return Creds(xml, tmp)


def register(s, creds, name, mpub, blob=None, signer=None, t=None, verifier=None, prover=None,
             nonce=None):
    """POST /register as the agent does. VERIFIER is the registration
    verifier sent (a new random one when None); PROVER signs the proof (the
    verifier itself when None)."""
    blob = blob or wrapped_key()
    t = int(time.time()) if t is None else t
    nonce = nonce or os.urandom(16).hex()
    verifier = verifier or Verifier(creds.key.parent)
    msg = (f"arca-register-v2\n{creds.vault_id}\n{name}\n{t}\n{nonce}\n"
           f"{hashlib.sha256(mpub.encode()).hexdigest()}\n{hashlib.sha256(blob).hexdigest()}\n"
           f"{verifier.pub.hex()}\n").encode()
    body = {"vault_id": creds.vault_id, "credential_certificate": creds.cert, "machine_name": name,
            "machine_public_key": mpub, "wrapped_key": base64.b64encode(blob).decode(),
            "time": t, "nonce": nonce, "signature": sign(str(signer or creds.key), msg),
            "verifier": base64.b64encode(verifier.pub).decode(),
            "proof": base64.b64encode((prover or verifier).prove(msg)).decode()}
    return s.call("POST", "/register", body, token="")


def signature_headers(machine_id, key, method, path, body=b"", nonce=None, t=None,
                      length=None, sha=None):
    """The headers of a machine-signed request (docs/API.md, arca-request-v2):
    the signature covers the body's length and SHA-256, sent as headers too.
    LENGTH and SHA declare another body than BODY (a test's upload that
    sends only its head)."""
    t = str(int(time.time()) if t is None else t)
    nonce = nonce or os.urandom(16).hex()
    sha = sha or hashlib.sha256(body).hexdigest()
    length = len(body) if length is None else length
    msg = f"arca-request-v2\n{method}\n/api/v1{path}\n{t}\n{nonce}\n{length}\n{sha}\n"
    return {"X-Arca-Machine": machine_id, "X-Arca-Time": t, "X-Arca-Nonce": nonce,
            "X-Arca-Content-SHA256": sha, "X-Arca-Signature": sign(str(key), msg.encode())}


def signed(s, machine_id, key, method, path, body=b"", nonce=None, t=None, headers=None,
           raw=False):
    req = urllib.request.Request(s.url + "/api/v1" + path, method=method, data=body or None)
    if body:
        req.add_header("Content-Type", "application/octet-stream" if path.startswith("/packs/")
                       else "application/json")
    for k, v in signature_headers(machine_id, key, method, path, body, nonce, t).items():
        req.add_header(k, v)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, context=s.ctx, timeout=30) as r:
            data = r.read()
            return r.status, (data if raw else json.loads(data))
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def make_pack(tmp, n=4, size=50000, seed="machine-1"):
    out = tmp / f"pack-{os.urandom(4).hex()}"
    p = subprocess.run([os.path.join(BUILD, "arca-test-pack"), str(out), str(n), str(size), seed],
                       capture_output=True, text=True, check=True)
    info = json.loads(p.stdout)
    return out.read_bytes(), info


def cert_end(path):
    """When the PEM certificate in PATH ends, in Unix seconds."""
    return ssl.cert_time_to_seconds(ssl._ssl._test_decode_cert(str(path))["notAfter"])


def iso_time(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


DAY = 86400


# ---- People: the security PIN ----


def pin(s):
    st, body, _ = s.call("POST", "/pin")
    assert st == 201 and len(body["pin"]) == 8 and body["pin"].isdigit()
    return body["pin"]


def call_pin(s, method, path, p, body=None):
    """A signed-in user's request with the security PIN P (None: without)."""
    req = urllib.request.Request(s.url + "/api/v1" + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", "Bearer " + s.token)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if p is not None:
        req.add_header("X-Arca-PIN", p)
    try:
        with urllib.request.urlopen(req, context=s.ctx, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# ---- Agents installed in folders of the test ----


PASSPHRASE = "correct horse battery staple 42"


class Agent:
    def __init__(self, arca, home, cache):
        self.arca, self.home, self.cache = arca, str(home), str(cache)
        self.env = None  # the environment of every run (a test clock, say)

    def run(self, *args, input=None, timeout=300, env=None):
        p = subprocess.run([self.arca, *args, "--home", self.home], input=input,
                           capture_output=True, text=True, timeout=timeout,
                           env=env or self.env)
        # Under the sanitizer build, any report fails the test.
        assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr[-4000:]
        return p

    def popen(self, *args):
        """Start the agent without waiting: for runs that overlap."""
        return subprocess.Popen([self.arca, *args, "--home", self.home], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)

    def json(self, *args, ok=(0,)):
        p = self.run(*args, "--json")
        assert p.returncode in ok, (p.returncode, p.stdout, p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])


class World:
    """One service with one vault, and what a test needs to register agents."""

    def __init__(self, arcad, arca, tmp, vault="backup-vault", redundancy="GRS"):
        self.arca, self.tmp, self.vault = arca, tmp, vault
        self.s = Service(arcad, init(arcad, tmp))
        self.s.sign_in()
        st, body, _ = self.s.call("POST", "/vaults", {"name": vault, "region": "local-1",
                                                      "redundancy": redundancy})
        assert st == 201, body
        self.n = 0

    def credentials(self):
        st, xml, _ = self.s.call("POST", f"/vaults/{self.vault}/credentials", raw=True)
        assert st == 201
        self.n += 1
        path = self.tmp / f"creds-{self.n}.VaultCredentials"
        path.write_bytes(xml)
        return path

    def register(self, name, passphrase=PASSPHRASE, creds=None, extra=(), expect=0, install=None):
        """Register agent NAME, installed in home-INSTALL (default: NAME)."""
        self.n += 1
        install = install or name
        home, cache = self.tmp / f"home-{install}", self.tmp / f"cache-{install}"
        pf = self.tmp / f"pass-{name}-{self.n}"
        pf.write_text(passphrase + "\n")
        kit = self.tmp / f"kit-{name}-{self.n}.txt"
        a = Agent(self.arca, home, cache)
        p = a.run("register", "--vault-credentials", str(creds or self.credentials()),
                  "--cache", str(cache), "--machine-name", name,
                  "--passphrase-file", str(pf), "--passphrase-out", str(kit), *extra)
        assert p.returncode == expect, (p.returncode, p.stdout, p.stderr)
        a.kit, a.passfile, a.proc = kit, pf, p
        return a

    def stop(self):
        self.s.stop()


def machine_signed(world, agent, method, path, body=b"", headers=None, offset=0, t=None,
                   raw=False):
    """A request signed with AGENT's own machine key, as the agent would,
    with HEADERS added, at time T (default: now, moved OFFSET seconds as a
    test clock is)."""
    state = json.loads(open(os.path.join(agent.home, "agent.json")).read())
    t = int(time.time()) + offset if t is None else t
    return signed(world.s, state["machine_id"], os.path.join(agent.home, "machine.key"),
                  method, path, body=body, t=t, headers=headers, raw=raw)


def rsync_diff(a, b):
    """Lines of difference between two trees by content and every piece of
    metadata rsync knows (hard links, ACLs, xattrs); empty when equal."""
    p = subprocess.run(["rsync", "-aHAX", "--checksum", "--dry-run", "--itemize-changes",
                        "--delete", str(a) + "/", str(b) + "/"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def usage_bytes(world):
    st, body, _ = world.s.call("GET", "/vaults/backup-vault/usage")
    assert st == 200
    return body["stored_bytes"]


# ---- Space collection ----


def eventually(probe, done, seconds=60):
    """PROBE() until DONE(value) or SECONDS pass; the last value. The
    service purges and collects on a timer as it starts, beside the
    requests it serves, so a test waits for what that pass does."""
    end = time.monotonic() + seconds
    while True:
        v = probe()
        if done(v) or time.monotonic() > end:
            return v
        time.sleep(0.2)


def replicated(service, vault="backup-vault", seconds=60):
    """Wait until the GRS vault VAULT of SERVICE has nothing waiting to be
    copied to its paired region (the replicator copies a pack after its
    upload is acknowledged), and return its "replication" property."""
    def probe():
        st, body, _ = service.call("GET", f"/vaults/{vault}")
        assert st == 200, body
        return body["replication"]
    rep = eventually(probe, lambda r: r["packs_waiting"] == 0, seconds)
    assert rep["packs_waiting"] == 0 and rep["state"] == "up to date", rep
    assert rep["lag_seconds"] == 0 and rep["bytes_waiting"] == 0, rep
    return rep


def collect(world):
    st, body, _ = world.s.call("POST", "/vaults/backup-vault/collect")
    assert st == 200, body
    return body


def disk(world):
    return sum(f.stat().st_size for f in (world.s.data / "store").rglob("*")
               if f.is_file() and "/packs/" in str(f))


def pack_files(world, region="local-1"):
    return {f.name for f in (world.s.data / "store" / region).rglob("*")
            if f.is_file() and "/packs/" in str(f)}


# ---- A relay between an agent and the service ----


class Relay:
    def __init__(self, service, answer=None, respond=None):
        """SERVICE: a test_service.Service. ANSWER(method, path, headers):
        None to forward, or (status, JSON body) to answer in the service's
        stead. RESPOND(handler, method, path, headers, status, body,
        answer_headers), called with the service's answer: False to send
        it on as it is, True when it wrote an answer of its own to
        handler.wfile (a hostile service's)."""
        self.service, self.answer, self.respond = service, answer, respond
        self.seen = []  # (method, path, status) of every request, in order
        self.lock = threading.Lock()
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def relay(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                canned = (relay.answer(self.command, self.path, self.headers) if relay.answer
                          else None)
                if canned is not None:
                    status, data, headers = canned[0], json.dumps(canned[1]).encode(), [
                        ("Content-Type", "application/json")]
                else:
                    status, data, headers = relay.forward(self.command, self.path, self.headers,
                                                          body)
                with relay.lock:
                    relay.seen.append((self.command, self.path, status))
                if canned is None and relay.respond and relay.respond(
                        self, self.command, self.path, self.headers, status, data, headers):
                    return
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, method, path, headers, body):
        u = urlparse(self.service.url)
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=self.service.ctx,
                                           timeout=60)
        try:
            conn.request(method, path, body=body,
                         headers={k: v for k, v in headers.items()
                                  if k.lower() not in ("host", "connection")})
            r = conn.getresponse()
            return r.status, r.read(), r.getheaders()
        finally:
            conn.close()

    def requests(self, method, prefix):
        with self.lock:
            return [(p, st) for m, p, st in self.seen if m == method and p.startswith(prefix)]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
