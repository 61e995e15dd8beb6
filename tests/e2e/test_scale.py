"""Several services behind a real load balancer: three `arcad serve`
processes on one PostgreSQL catalog (scripts/pg) and one S3 store (a Ceph
RADOS Gateway, scripts/rgw), behind HAProxy (contrib/haproxy.cfg), all on
127.0.0.1 with ports picked free. Sixty machines register at once into one
vault through the balancer: exactly fifty get in. Agents back up and
restore at once with their requests spread over the services, one service
is killed in the middle, and every run completes byte-identical."""
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from helpers import Agent, Creds, PASSPHRASE, Service, free_port, openssl, register, rsync_diff
from test_catalog_pg import init_pg, pg_url  # noqa: F401 (a fixture)
from test_s3_store import rgw, s3_config  # noqa: F401 (a fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def wait_port(port, seconds=20):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


# The balancer's address towards the services, the one they trust for
# PROXY protocol headers (the clients reach the balancer from 127.0.0.1).
BALANCER = "127.0.0.2"


class Balancer:
    """HAProxy from contrib/haproxy.cfg on 127.0.0.1:PORT over BACKENDS."""

    def __init__(self, tmp, port, backends):
        conf = open(os.path.join(ROOT, "contrib", "haproxy.cfg")).read()
        servers = "\n".join(f"    server arcad{i} 127.0.0.1:{p} send-proxy-v2 check "
                            f"check-send-proxy inter 300ms fall 2 rise 2 source {BALANCER}"
                            for i, p in enumerate(backends))
        conf = conf.replace("@LISTEN@", f"127.0.0.1:{port}").replace("@SERVERS@", servers)
        path = tmp / "haproxy.cfg"
        path.write_text(conf)
        self.proc = subprocess.Popen(["haproxy", "-f", str(path), "-db"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_port(port)

    def stop(self):
        self.proc.terminate()
        self.proc.communicate(timeout=20)


class Through:
    """A client of the services through the balancer (helpers.Service's
    calls, another address)."""

    def __init__(self, service, url):
        self.url, self.ctx, self.token = url, service.ctx, service.token
        self.call = Service.call.__get__(self)


@pytest.mark.skipif(shutil.which("haproxy") is None,
                    reason="HAProxy is not installed (scripts/bootstrap installs it)")
def test_three_services_behind_a_balancer(arcad_bin, arca_bin, tmp_path, pg_url, rgw):
    first = tmp_path / "svc-0"
    p = init_pg(arcad_bin, first, pg_url)
    assert p.returncode == 0, p.stderr
    s3_config(tmp_path, rgw, first, f"scale{os.getpid()}")
    lb_port = free_port()
    conf = json.loads((first / "arcad.json").read_text())
    conf["url"] = f"https://127.0.0.1:{lb_port}"
    (first / "arcad.json").write_text(json.dumps(conf, indent=2))
    datas = [first]
    for i in (1, 2):
        d = tmp_path / f"svc-{i}"
        shutil.copytree(first, d, ignore=shutil.ignore_patterns("tmp"))
        datas.append(d)
    ports = [free_port() for _ in datas]
    svcs, lb = [], None
    try:
        for d, p in zip(datas, ports):
            svcs.append(Service(arcad_bin, d, port=p,
                                extra=("--proxy", BALANCER)))
        lb = Balancer(tmp_path, lb_port, ports)
        svcs[0].sign_in()
        via = Through(svcs[0], f"https://127.0.0.1:{lb_port}")
        for name in ("race", "work"):
            st, body, _ = via.call("POST", "/vaults", {"name": name, "region": "local-1",
                                                       "redundancy": "GRS"})
            assert st == 201, body

        # Sixty machines register at once into one vault: exactly fifty.
        st, xml, _ = via.call("POST", "/vaults/race/credentials", raw=True)
        assert st == 201
        creds = Creds(xml, tmp_path)
        keydir = tmp_path / "keys"
        keydir.mkdir()
        keys = []
        for i in range(60):
            k = keydir / f"m{i}.pem"
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", str(k))
            keys.append((k, openssl("pkey", "-in", str(k), "-pubout").decode()))
        results = [None] * 60
        go = threading.Barrier(60)

        def one(i):
            go.wait()
            results[i] = register(via, creds, f"racer-{i:02d}", keys[i][1])[:2]

        threads = [threading.Thread(target=one, args=(i,)) for i in range(60)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = [r[0] for r in results]
        assert codes.count(201) == 50, codes
        assert all(r[0] == 409 and "at most 50" in r[1]["error"]["message"]
                   for r in results if r[0] != 201), results
        st, body, _ = via.call("GET", "/vaults/race/machines")
        assert st == 200 and len(body["machines"]) == 50, body
        print(f"scale: 60 registrations at once through the balancer: "
              f"{codes.count(201)} registered, {codes.count(409)} refused at the limit")

        # Agents back up and restore at once; one service dies meanwhile.
        st, xml, _ = via.call("POST", "/vaults/work/credentials", raw=True)
        cred_file = tmp_path / "work.VaultCredentials"
        cred_file.write_bytes(xml)
        agents = []
        for i in range(4):
            home, cache = tmp_path / f"home-{i}", tmp_path / f"cache-{i}"
            pf = tmp_path / f"pass-{i}"
            pf.write_text(PASSPHRASE + "\n")
            a = Agent(arca_bin, home, cache)
            p = a.run("register", "--vault-credentials", str(cred_file), "--cache", str(cache),
                      "--machine-name", f"agent-{i}", "--passphrase-file", str(pf),
                      "--passphrase-out", str(tmp_path / f"kit-{i}"))
            assert p.returncode == 0, p.stderr
            src = tmp_path / f"src-{i}"
            (src / "d").mkdir(parents=True)
            for j in range(12):
                (src / "d" / f"f{j}").write_bytes(os.urandom(300_000 + j))
            agents.append((a, src))
        runs = [a.popen("backup", str(src), "--json") for a, src in agents]
        time.sleep(0.3)
        svcs[1].proc.kill()
        svcs[1].proc.communicate()
        outs = []
        for (a, _), pr in zip(agents, runs):
            out, err = pr.communicate(timeout=300)
            assert pr.returncode == 0, err[-3000:]
            outs.append(json.loads(out.strip().splitlines()[-1])["recovery_point"])
        # The next backups and every restore, at once, on the two left.
        runs = [a.popen("restore", pt, "--target", str(tmp_path / f"out-{i}"), "--json")
                for i, ((a, _), pt) in enumerate(zip(agents, outs))]
        for pr in runs:
            out, err = pr.communicate(timeout=300)
            assert pr.returncode == 0, err[-3000:]
        for i, (_, src) in enumerate(agents):
            assert rsync_diff(src, tmp_path / f"out-{i}" / str(src).lstrip("/")) == ""
        print("scale: 4 agents backed up and restored byte-identical through the balancer "
              "while one of three services was killed")
    finally:
        # Whatever failed, nothing started here outlives the test.
        if lb:
            lb.stop()
        for s in svcs:
            if s.proc.poll() is None:
                s.stop()
