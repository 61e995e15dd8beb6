"""`arcad migrate` end to end: a service on the embedded defaults (SQLite,
a folder per region) with two vaults (one GRS), two machines, several
backups of files of various sizes, a policy, a second user and an API
token is stopped and moved to a PostgreSQL catalog (scripts/pg) and stores
in buckets of a real RADOS Gateway (scripts/rgw); a first run killed in
the middle of the packs leaves nothing in the catalog, and a second run
skips the packs already there. The destination is served: `arcad verify`
is clean, every recovery point restores byte-identical, the vault CA
still issues credentials (its sealed key opens with the copied catalog
key), a new backup works. Then it moves back to a new embedded folder and
every point restores again. A destination that holds a catalog already,
a source being served, and a damaged pack of the source are refused."""
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time

from helpers import (PASSPHRASE, Agent, Service, free_port, init, rsync_diff, run)
from test_catalog_pg import pg_url  # noqa: F401 (a fixture)
from test_s3_store import bucket_keys, rgw, s3_config  # noqa: F401 (rgw: a fixture)

POLICY = {"schedule": ["09:30"], "keep_daily": 30, "keep_weekly": 8}


def files(d, seed, big_mib):
    """A tree of files of various sizes: large random ones (several
    packs), small ones, an empty one, text that compresses."""
    d.mkdir(parents=True, exist_ok=True)
    for i, mib in enumerate(big_mib):
        (d / f"big{i}.bin").write_bytes(os.urandom(mib << 20))
    (d / "empty").write_bytes(b"")
    (d / "text.txt").write_text(f"{seed}: on the embedded defaults\n" * 4000)
    (d / "sub").mkdir(exist_ok=True)
    for i in range(15):
        (d / "sub" / f"f{i}").write_bytes(os.urandom(1 + 1777 * i))


def register(s, arca, tmp, vault, name):
    st, xml, _ = s.call("POST", f"/vaults/{vault}/credentials", raw=True)
    assert st == 201
    creds = tmp / f"{name}.VaultCredentials"
    creds.write_bytes(xml)
    pf = tmp / f"pass-{name}"
    pf.write_text(PASSPHRASE + "\n")
    a = Agent(arca, tmp / f"home-{name}", tmp / f"cache-{name}")
    p = a.run("register", "--vault-credentials", str(creds), "--cache",
              str(tmp / f"cache-{name}"), "--machine-name", name, "--passphrase-file", str(pf),
              "--passphrase-out", str(tmp / f"kit-{name}.txt"))
    assert p.returncode == 0, p.stderr
    return a


def backup(a, src, keep, points):
    """Back SRC up and keep a copy of what the point holds, to compare."""
    r = a.json("backup", str(src))
    assert r["status"] == "complete", r
    snap = keep / r["recovery_point"]
    shutil.copytree(src, snap, symlinks=True)
    points.append((a, r["recovery_point"], src, snap))
    return r["recovery_point"]


def restore_all(points, tmp, label):
    for a, point, src, snap in points:
        out = tmp / f"restored-{label}-{point}"
        r = a.json("restore", point, "--target", str(out))
        assert r["status"] == "complete", (label, point, r)
        assert rsync_diff(snap, out / str(src).lstrip("/")) == "", (label, point)


def verify_clean(arcad, data):
    v = run([arcad, "verify", "--data", str(data), "--json"])
    rep = json.loads(v.stdout)
    assert v.returncode == 0 and rep["clean"], (v.stdout, v.stderr)
    return rep


def migrate(arcad, data, to, timeout=600):
    p = subprocess.run([arcad, "migrate", "--data", str(data), "--to", str(to)],
                       capture_output=True, text=True, timeout=timeout)
    # Under the sanitizer build, any report fails the test.
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr[-4000:]
    return p


def test_migrate_to_postgresql_and_s3_and_back(arcad_bin, arca_bin, tmp_path, pg_url, rgw):  # noqa: F811
    data = init(arcad_bin, tmp_path)
    port = free_port()
    keep = tmp_path / "expected"
    points = []
    s = Service(arcad_bin, data, port=port)
    try:
        s.sign_in()
        for name, red in (("grs-vault", "GRS"), ("lrs-vault", "LRS")):
            st, body, _ = s.call("POST", "/vaults", {"name": name, "region": "local-1",
                                                     "redundancy": red})
            assert st == 201, body
        a1 = register(s, arca_bin, tmp_path, "grs-vault", "server-01")
        a2 = register(s, arca_bin, tmp_path, "lrs-vault", "server-02")
        st, body, _ = s.call("PUT", "/vaults/grs-vault/machines/server-01/policy", POLICY)
        assert st == 200, body
        pw = tmp_path / "bob.pw"
        pw.write_text("another long password\n")
        assert run([arcad_bin, "user", "add", "--data", str(data), "bob", "--password-file",
                    str(pw)]).returncode == 0
        tok = run([arcad_bin, "token", "create", "--data", str(data), "ci", "--json"])
        assert tok.returncode == 0, tok.stderr
        token = json.loads(tok.stdout.strip().splitlines()[-1])["token"]
        src1, src2 = tmp_path / "src1", tmp_path / "src2"
        files(src1, "one", [9, 7, 5])
        backup(a1, src1, keep, points)
        (src1 / "text.txt").write_text("changed\n" * 3000)
        (src1 / "new.bin").write_bytes(os.urandom(3 << 20))
        backup(a1, src1, keep, points)
        files(src2, "two", [6, 1])
        backup(a2, src2, keep, points)
        (src2 / "big0.bin").unlink()
        backup(a2, src2, keep, points)

        # Not while the source is served.
        p = migrate(arcad_bin, data, tmp_path / "never")
        assert p.returncode == 1 and "a service is running on" in p.stderr, p.stderr
    finally:
        s.stop()

    # The destination: PostgreSQL and the gateway's buckets.
    dest = tmp_path / "dest"
    (dest / "keys").mkdir(parents=True, mode=0o700)
    conf = json.loads((data / "arcad.json").read_text())
    conf["catalog"] = pg_url
    (dest / "arcad.json").write_text(json.dumps(conf))
    b1, b2 = s3_config(tmp_path, rgw, dest, os.urandom(4).hex(), part_size_mib=5,
                       multipart_above_mib=6)

    # A first run killed in the middle of the packs.
    proc = subprocess.Popen([arcad_bin, "migrate", "--data", str(data), "--to", str(dest)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = ""
    while "pack copies" not in line:
        line = proc.stderr.readline()
        assert line, proc.communicate()
    assert proc.poll() is None, "the first run ended before it could be interrupted"
    done, total = int(line.split()[1]), int(line.split()[3])
    assert done < total, line
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    print(f"migrate e2e: first run killed after {done} of {total} pack copies")

    p = migrate(arcad_bin, data, dest)
    assert p.returncode == 0, p.stderr
    print("migrate e2e:", p.stdout.strip().splitlines()[0])
    summary = p.stdout
    assert "there already" in summary
    skipped = int(summary.split(" copied now, ")[1].split()[0])
    assert skipped >= done, summary
    k1, k2 = bucket_keys(rgw, b1), bucket_keys(rgw, b2)
    assert k1 and set(k2) < set(k1), (k1, k2)  # the GRS vault's packs in both
    assert not list((dest / "store").rglob("packs/*/*")) if (dest / "store").exists() else True

    # Again into a catalog that holds rows: refused, nothing changed.
    p = migrate(arcad_bin, data, dest)
    assert p.returncode == 1 and "not empty" in p.stderr, p.stderr

    # The destination, served.
    rep = verify_clean(arcad_bin, dest)
    assert rep["points"] == 4 and rep["copies"] == len(k1) + len(k2), rep
    s = Service(arcad_bin, dest, port=port)
    try:
        s.sign_in()
        st, body, _ = s.call("GET", "/vaults")
        assert st == 200 and sorted(v["name"] for v in body["vaults"]) == ["grs-vault",
                                                                          "lrs-vault"], body
        # The vault CA's sealed key opens: credentials are issued.
        st, _, _ = s.call("POST", "/vaults/grs-vault/credentials", raw=True)
        assert st == 201
        st, body, _ = s.call("GET", "/vaults/grs-vault/machines/server-01/policy")
        assert st == 200 and body["keep_daily"] == 30, body
        st, body, _ = s.call("GET", "/vaults", token=token)
        assert st == 200, body
        st, body, _ = s.call("POST", "/session", {"user": "bob",
                                                  "password": "another long password"})
        assert st == 201, body
        restore_all(points, tmp_path, "pg")
        (src1 / "after.bin").write_bytes(os.urandom(2 << 20))
        backup(a1, src1, keep, points)
        restore_all(points[-1:], tmp_path, "pg-new")
    finally:
        s.stop()

    # And back to the embedded defaults, in a new folder.
    back = tmp_path / "back"
    t0 = time.monotonic()
    p = migrate(arcad_bin, dest, back)
    assert p.returncode == 0, p.stderr
    print("migrate e2e back:", p.stdout.strip().splitlines()[0],
          f"({time.monotonic() - t0:.1f} s)")
    assert "catalog" not in json.loads((back / "arcad.json").read_text())
    assert (back / "catalog.db").exists()
    assert (back / "keys" / "catalog.key").read_bytes() == \
        (data / "keys" / "catalog.key").read_bytes()
    rep = verify_clean(arcad_bin, back)
    assert rep["points"] == 5, rep
    s = Service(arcad_bin, back, port=port)
    try:
        s.sign_in()
        restore_all(points, tmp_path, "back")
        st, _, _ = s.call("POST", "/vaults/lrs-vault/credentials", raw=True)
        assert st == 201
    finally:
        s.stop()

    # A damaged pack in the source (one byte flipped, the size kept): the
    # copy refuses it, stores nothing of it, and writes no catalog.
    victim = sorted((back / "store" / "local-1").rglob("packs/*/*"))[0]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    victim.write_bytes(bytes(raw))
    again = tmp_path / "again"
    p = migrate(arcad_bin, back, again)
    assert p.returncode == 1, p.stdout
    assert f"pack {victim.name} in region local-1 of the source is damaged" in p.stderr, p.stderr
    assert not list((again / "store" / "local-1").rglob(f"packs/*/{victim.name}"))
    # The catalog stayed empty: with the byte put back, the same command
    # goes through (a catalog with rows would be refused).
    raw[len(raw) // 2] ^= 0x40
    victim.write_bytes(bytes(raw))
    p = migrate(arcad_bin, back, again)
    assert p.returncode == 0, p.stderr
    verify_clean(arcad_bin, again)


def test_migrate_refuses_what_it_cannot_do(arcad_bin, tmp_path):
    data = init(arcad_bin, tmp_path)
    # A destination with a catalog of its own already.
    other = tmp_path / "other"
    pw = tmp_path / "pw"
    assert run([arcad_bin, "init", "--data", str(other), "--password-file",
                str(pw)]).returncode == 0
    p = migrate(arcad_bin, data, other)
    assert p.returncode == 1 and "not empty" in p.stderr, p.stderr
    # The same folder.
    p = migrate(arcad_bin, data, data)
    assert p.returncode == 2, p.stderr
    # A destination whose regions are not the source's: one missing, one
    # paired elsewhere.
    for k, (change, said) in enumerate([
            (lambda c: c["regions"].pop(), "has no region local-2"),
            (lambda c: c["regions"][0].update(pair="local-1"), "is paired with")]):
        bad = tmp_path / f"bad{k}"
        bad.mkdir()
        conf = json.loads((data / "arcad.json").read_text())
        change(conf)
        (bad / "arcad.json").write_text(json.dumps(conf))
        p = migrate(arcad_bin, data, bad)
        assert p.returncode == 1 and said in p.stderr, p.stderr
    # A service does not start on a folder being migrated: the lock that
    # migrate holds (taken here by hand), exclusive.
    with open(data / "arcad.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        p = subprocess.run([arcad_bin, "serve", "--data", str(data), "--listen",
                            "127.0.0.1:0"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 1 and "is being migrated" in p.stderr, p.stderr
    # A missing option is a usage error.
    p = run([arcad_bin, "migrate", "--data", str(data)])
    assert p.returncode == 2 and "usage: arcad migrate" in p.stderr
    # The source is left as it was: it still serves.
    s = Service(arcad_bin, data)
    s.sign_in()
    s.stop()
