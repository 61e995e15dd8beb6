"""The S3 store end to end: arcad with both regions' stores in buckets of a
real Ceph RADOS Gateway (scripts/rgw), a GRS vault, a backup and a restore
that is byte-identical, `arcad verify` clean and then naming a pack removed
from a bucket; the same through a relay that answers 503 and cuts ranged
reads short, which the store rides out by trying again; and configurations
arcad refuses at start with a message that says what to fix. The gateway is the one ARCA_S3_ENDPOINT names
(scripts/run-tests starts one for the whole run), else one this module
starts and stops."""
import http.client
import http.server
import itertools
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from urllib.parse import urlparse

import pytest

from helpers import Agent, Service, init, replicated, rsync_diff, run, PASSPHRASE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def rgw():
    keys = ("ARCA_S3_ENDPOINT", "ARCA_S3_ACCESS_KEY", "ARCA_S3_SECRET_KEY")
    if all(os.environ.get(k) for k in keys):
        yield {k: os.environ[k] for k in keys} | {
            "ARCA_S3_REGION": os.environ.get("ARCA_S3_REGION", "default")}
        return
    d = tempfile.mkdtemp(prefix="arca-rgw-")
    script = os.path.join(ROOT, "scripts", "rgw")
    try:
        p = subprocess.run([script, "start", d], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-4000:]
        out = subprocess.run([script, "env", d], capture_output=True, text=True, check=True)
        yield dict(line.split("=", 1) for line in out.stdout.split())
    finally:
        subprocess.run([script, "stop", d], capture_output=True, timeout=120)
        shutil.rmtree(d, ignore_errors=True)


def s3(rgw, method, path, *args):
    """A signed request to the gateway with curl's SigV4: (status, body)."""
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    p = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method,
         "--aws-sigv4", f"aws:amz:{rgw['ARCA_S3_REGION']}:s3",
         "--user", f"{rgw['ARCA_S3_ACCESS_KEY']}:{rgw['ARCA_S3_SECRET_KEY']}",
         "-H", f"x-amz-content-sha256: {empty}", *args, rgw["ARCA_S3_ENDPOINT"] + path],
        capture_output=True, text=True, timeout=60)
    body, _, status = p.stdout.rpartition("\n")
    return int(status), body


def bucket_keys(rgw, bucket):
    st, body = s3(rgw, "GET", f"/{bucket}?list-type=2&prefix=packs%2F")
    assert st == 200, body
    return [k.split("</Key>")[0] for k in body.split("<Key>")[1:]]


def s3_config(tmp, rgw, data, tag, **extra):
    """Point both regions of DATA's arcad.json at buckets of the gateway,
    the secret in a file of mode 0600; returns the bucket names."""
    secret = data / "keys" / "s3.secret"
    secret.write_text(rgw["ARCA_S3_SECRET_KEY"] + "\n")
    os.chmod(secret, 0o600)
    conf = json.loads((data / "arcad.json").read_text())
    buckets = []
    for r in conf["regions"]:
        b = f"arca-e2e-{tag}-{r['name']}"
        buckets.append(b)
        r["store"] = {"s3": {"endpoint": rgw["ARCA_S3_ENDPOINT"], "bucket": b,
                             "region": rgw["ARCA_S3_REGION"],
                             "access_key": rgw["ARCA_S3_ACCESS_KEY"],
                             "secret_key_file": "keys/s3.secret", **extra}}
    (data / "arcad.json").write_text(json.dumps(conf, indent=2))
    return buckets


def tree(src):
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(5 << 20))
    (src / "text.txt").write_text("on the S3 store\n" * 5000)
    (src / "sub").mkdir()
    for i in range(20):
        (src / "sub" / f"f{i}").write_bytes(os.urandom(1000 + 997 * i))


class FaultyRelay:
    """A relay in front of the gateway that fails requests the store may
    try again: every third HEAD, GET and multipart part answers 503 (an S3
    error body) without reaching the gateway, and every third ranged GET
    that does reach it is cut off halfway through its body. One PUT of a
    whole pack is always passed on: its body is a stream the store cannot
    read twice. The signature still holds: the Host header is passed on
    as the client signed it."""

    def __init__(self, endpoint, faulty=True):
        """FAULTY False: every request passed on as it is (a gateway that
        the test can make unreachable by stopping the relay)."""
        u = urlparse(endpoint)
        self.target = (u.hostname, u.port)
        self.faulty = faulty
        self.count = itertools.count()
        self.failed = {"503": 0, "cut": 0}
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_all(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                k = next(relay.count)
                retriable = self.command in ("HEAD", "GET") or "partNumber=" in self.path
                if relay.faulty and retriable and k % 3 == 0:
                    relay.failed["503"] += 1
                    err = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown'
                           b'</Code></Error>')
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(err) if self.command != "HEAD"
                                                           else 0))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(err)
                    return
                conn = http.client.HTTPConnection(*relay.target, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body,
                                 headers={h: v for h, v in self.headers.items()
                                          if h.lower() not in ("connection", "expect")})
                    r = conn.getresponse()
                    data = r.read() if self.command != "HEAD" else b""
                    headers = r.getheaders()
                finally:
                    conn.close()
                cut = (relay.faulty and self.command == "GET" and self.headers.get("Range")
                       and r.status == 206 and len(data) > 1 and k % 3 == 1)
                self.send_response(r.status)
                for h, v in headers:
                    if h.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(h, v)
                length = dict((h.lower(), v) for h, v in headers).get("content-length")
                self.send_header("Content-Length", length if self.command == "HEAD" and length
                                 else str(len(data)))
                self.end_headers()
                if cut:
                    relay.failed["cut"] += 1
                    self.wfile.write(data[:len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_all

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def grs_agent(s, arca_bin, tmp_path):
    """Sign in to service S, make the GRS vault backup-vault in local-1 and
    register an agent in it as server-01: the agent."""
    s.sign_in()
    st, body, _ = s.call("POST", "/vaults", {"name": "backup-vault", "region": "local-1",
                                             "redundancy": "GRS"})
    assert st == 201, body
    st, xml, _ = s.call("POST", "/vaults/backup-vault/credentials", raw=True)
    assert st == 201
    creds = tmp_path / "creds.VaultCredentials"
    creds.write_bytes(xml)
    pf = tmp_path / "pass"
    pf.write_text(PASSPHRASE + "\n")
    a = Agent(arca_bin, tmp_path / "home", tmp_path / "cache")
    p = a.run("register", "--vault-credentials", str(creds), "--cache",
              str(tmp_path / "cache"), "--machine-name", "server-01",
              "--passphrase-file", str(pf), "--passphrase-out", str(tmp_path / "kit.txt"))
    assert p.returncode == 0, p.stderr
    return a


@pytest.mark.parametrize("faults", [False, True], ids=["direct", "through-faults"])
def test_backup_restore_verify_on_s3(arcad_bin, arca_bin, tmp_path, rgw, faults):
    data = init(arcad_bin, tmp_path)
    tag = secrets.token_hex(4)
    relay = FaultyRelay(rgw["ARCA_S3_ENDPOINT"]) if faults else None
    # Small parts, so that this backup's larger packs go up as multipart
    # uploads and its smaller ones in one PUT.
    b1, b2 = s3_config(tmp_path, rgw | ({"ARCA_S3_ENDPOINT": relay.url} if relay else {}),
                       data, tag, part_size_mib=1, multipart_above_mib=2)
    s = Service(arcad_bin, data)
    try:
        a = grs_agent(s, arca_bin, tmp_path)
        src = tmp_path / "src"
        tree(src)
        r1 = a.json("backup", str(src))
        assert r1["status"] == "complete", r1
        # A second backup of a few changed files: a small pack, one PUT.
        (src / "text.txt").write_text("changed\n" * 3000)
        (src / "new.bin").write_bytes(os.urandom(70000))
        r = a.json("backup", str(src))
        assert r["status"] == "complete", r

        # The packs are objects in both buckets (GRS; the pair's bucket's
        # once replicated), none in a folder.
        replicated(s)
        k1, k2 = bucket_keys(rgw, b1), bucket_keys(rgw, b2)
        assert len(k1) >= 2 and sorted(k1) == sorted(k2), (k1, k2)
        assert not list((data / "store").rglob("packs/*/*"))

        out = tmp_path / "restored"
        r2 = a.json("restore", r["recovery_point"], "--target", str(out))
        assert r2["status"] == "complete", r2
        assert rsync_diff(src, out / str(src).lstrip("/")) == ""

        v = run([arcad_bin, "verify", "--data", str(data), "--json"])
        rep = json.loads(v.stdout)
        assert v.returncode == 0 and rep["clean"], (v.stdout, v.stderr)
        assert rep["packs"] == len(k1) and rep["copies"] == 2 * len(k1), rep
        print(f"s3 e2e: {len(k1)} packs in each of 2 buckets, restore identical, verify clean")

        # A pack removed from the pair's bucket: verify names it.
        victim = k2[0].split("/", 1)[1]
        st, _ = s3(rgw, "DELETE", f"/{b2}/packs/{victim}")
        assert st == 204
        v = run([arcad_bin, "verify", "--data", str(data)])
        assert v.returncode == 3, (v.stdout, v.stderr)
        assert f"pack {victim}" in v.stdout and "missing from region local-2" in v.stdout
        if relay:
            print(f"s3 e2e through faults: {relay.failed['503']} answers of 503 and "
                  f"{relay.failed['cut']} ranged reads cut short, all ridden out")
            assert relay.failed["503"] > 0 and relay.failed["cut"] > 0, relay.failed
    finally:
        s.stop()
        if relay:
            relay.stop()


def serve_fails(arcad_bin, data):
    p = subprocess.run([arcad_bin, "serve", "--data", str(data), "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0, p.stdout
    return p.stderr


def test_bad_s3_configuration_is_refused_at_start(arcad_bin, tmp_path, rgw):
    data = init(arcad_bin, tmp_path)
    tag = secrets.token_hex(4)
    s3_config(tmp_path, rgw, data, tag)
    conf = json.loads((data / "arcad.json").read_text())

    def with_store(**change):
        c = json.loads(json.dumps(conf))
        c["regions"][0]["store"]["s3"].update(change)
        for k, v in change.items():
            if v is None:
                del c["regions"][0]["store"]["s3"][k]
        (data / "arcad.json").write_text(json.dumps(c))

    # The secret itself in arcad.json: refused, saying where it goes.
    with_store(secret_key="x")
    err = serve_fails(arcad_bin, data)
    assert "secret_key_file" in err and "may not be in" in err, err
    # A key misspelt.
    with_store(bucekt="x")
    err = serve_fails(arcad_bin, data)
    assert 'unknown key "bucekt"' in err, err
    # A secret file others may read.
    with_store()
    os.chmod(data / "keys" / "s3.secret", 0o644)
    err = serve_fails(arcad_bin, data)
    assert "s3.secret" in err and "chmod" in err, err
    os.chmod(data / "keys" / "s3.secret", 0o600)
    # A wrong secret: the gateway refuses the signature, said at start.
    (tmp_path / "wrong").write_text("not the secret\n")
    os.chmod(tmp_path / "wrong", 0o600)
    with_store(secret_key_file=str(tmp_path / "wrong"))
    err = serve_fails(arcad_bin, data)
    assert "region local-1" in err and "HTTP 403" in err, err
    # Nothing listening at the endpoint.
    with_store(endpoint="http://127.0.0.1:1")
    err = serve_fails(arcad_bin, data)
    assert "no answer from the S3 endpoint" in err, err
    # A bucket name S3 does not take.
    with_store(bucket="Not_A_Bucket")
    err = serve_fails(arcad_bin, data)
    assert "bucket name" in err, err
    # The secret from the environment instead.
    with_store(secret_key_file=None, secret_key_env="ARCA_TEST_S3_SECRET")
    err = serve_fails(arcad_bin, data)
    assert "ARCA_TEST_S3_SECRET" in err and "not set" in err, err
    os.environ["ARCA_TEST_S3_SECRET"] = rgw["ARCA_S3_SECRET_KEY"]
    try:
        s = Service(arcad_bin, data)
    finally:
        del os.environ["ARCA_TEST_S3_SECRET"]
    s.sign_in()
    s.stop()


def test_restore_from_the_pair_bucket_when_the_primary_endpoint_is_unreachable(
        arcad_bin, arca_bin, tmp_path, rgw):
    """A GRS vault on S3 whose region's endpoint stops answering (a relay in
    front of the gateway, stopped: its port closed) once replication caught
    up: the restore reads every pack from the paired region's bucket."""
    data = init(arcad_bin, tmp_path)
    tag = secrets.token_hex(4)
    relay = FaultyRelay(rgw["ARCA_S3_ENDPOINT"], faulty=False)
    b1, b2 = s3_config(tmp_path, rgw, data, tag)
    conf = json.loads((data / "arcad.json").read_text())
    conf["regions"][0]["store"]["s3"]["endpoint"] = relay.url  # local-1, through the relay
    (data / "arcad.json").write_text(json.dumps(conf, indent=2))
    s = Service(arcad_bin, data)
    try:
        a = grs_agent(s, arca_bin, tmp_path)
        src = tmp_path / "src"
        tree(src)
        r = a.json("backup", str(src))
        assert r["status"] == "complete", r
        replicated(s)
        k1, k2 = bucket_keys(rgw, b1), bucket_keys(rgw, b2)
        assert k1 and sorted(k1) == sorted(k2), (k1, k2)
        relay.stop()  # the region's endpoint: connection refused from now on
        relay = None
        out = tmp_path / "restored"
        r2 = a.json("restore", r["recovery_point"], "--target", str(out))
        assert r2["status"] == "complete", r2
        assert rsync_diff(src, out / str(src).lstrip("/")) == ""
        print(f"s3 e2e: region's endpoint unreachable, {len(k2)} packs restored from the "
              f"pair's bucket")
    finally:
        s.stop()
        if relay:
            relay.stop()
