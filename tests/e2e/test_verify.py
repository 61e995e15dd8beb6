"""`arca verify`: every recovery point's objects are in the service's
catalog and its store (POST /packs/present), and, with --read-data, read
back and authenticated; damage names the points and the files, exits 8,
and is recorded as a failed verify job with a verify.failed alert."""
import json
import os
import signal
import subprocess
import time

import pytest

from helpers import Clock, Relay, machine_signed, pack_files, replicated

JSON = {"Content-Type": "application/json"}


def backed_up(world, tmp_path, name="server-01"):
    """Agent NAME with two recovery points of a small tree."""
    a = world.register(name)
    src = tmp_path / f"src-{name}"
    (src / "docs").mkdir(parents=True)
    (src / "docs" / "a.txt").write_text("alpha\n" * 2000)
    (src / "big.bin").write_bytes(os.urandom(3 << 20))
    a.json("backup", str(src))
    (src / "docs" / "b.txt").write_text("beta\n" * 100)
    a.json("backup", str(src))
    replicated(world.s)  # the pair's copies are the replicator's, made after
    return a, src


def verify(a, *args):
    p = a.run("verify", *args, "--json")
    assert p.returncode in (0, 8), (p.returncode, p.stdout, p.stderr)
    return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])


def store_packs(world):
    """The pack files of the vault's first region, largest first."""
    files = [f for f in (world.s.data / "store" / "local-1").rglob("*")
             if f.is_file() and "/packs/" in str(f)]
    return sorted(files, key=lambda f: f.stat().st_size, reverse=True)


def unlink_both(pk):
    """Delete pack file PK of the vault's region and its GRS pair's copy
    (with one copy left the service reads the other)."""
    pk.unlink()
    pair = pk.parents[3] / "local-2" / pk.relative_to(pk.parents[3] / "local-1")
    pair.unlink()


def flip(pk):
    """Flip a byte in the middle of pack file PK."""
    with open(pk, "r+b") as f:
        f.seek(pk.stat().st_size // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))


def test_clean_points_verify(world, tmp_path):
    a, _ = backed_up(world, tmp_path)
    rc, r = verify(a)
    assert rc == 0 and r["status"] == "ok", r
    assert set(r) == {"status", "read_data", "sample", "points", "objects", "trees",
                      "data_objects", "data_read", "bytes_read", "packs", "missing", "damaged",
                      "duration", "damaged_points"}, r  # docs/AGENT.md
    assert r["points"] == 2 and r["damaged_points"] == [] and r["read_data"] is False
    assert r["objects"] > r["data_objects"] > 0 and r["data_read"] == 0
    assert r["packs"] >= 1 and r["missing"] == 0 and r["damaged"] == 0
    rc, r = verify(a, "--read-data")
    assert rc == 0 and r["data_read"] == r["data_objects"] and r["bytes_read"] > 3 << 20, r
    # Text output, and one point by name.
    p = a.run("verify", "latest")
    assert p.returncode == 0 and "No damage found" in p.stdout, p.stdout
    # Both runs were recorded as verify jobs, complete.
    st, body, _ = world.s.call("GET", "/vaults/backup-vault/jobs")
    kinds = [(j["kind"], j["status"]) for j in body["jobs"] if j["kind"] == "verify"]
    assert kinds and all(s == "complete" for _, s in kinds), kinds


def test_usage_errors(world, tmp_path):
    a = world.register("server-01")
    for args in (["--sample", "5"], ["--read-data", "--sample", "0"],
                 ["--read-data", "--sample", "101"], ["--read-data", "--sample", "x"]):
        p = a.run("verify", *args)
        assert p.returncode == 2 and "--sample" in p.stderr, (args, p.stderr)
    p = a.run("verify", "nosuchpoint")
    assert p.returncode == 1 and "no recovery point" in p.stderr


def test_a_pack_deleted_from_the_store_names_points_and_files(world, tmp_path):
    a, src = backed_up(world, tmp_path)
    big = store_packs(world)[0]  # the pack of big.bin's chunks
    unlink_both(big)
    rc, r = verify(a)
    assert rc == 8 and r["status"] == "damaged" and r["missing"] > 0, r
    assert len(r["damaged_points"]) == 2
    for p in r["damaged_points"]:
        assert set(p) == {"id", "created", "files", "more_files"} and p["more_files"] == 0, p
        assert all(set(f) == {"path", "problem"} for f in p["files"]), p
        paths = {f["path"] for f in p["files"]}
        assert str(src / "big.bin") in paths, p
        assert all("store" in f["problem"] for f in p["files"]), p
    # The damage is a failed verify job and an alert.
    st, body, _ = world.s.call("GET", "/alerts")
    alerts = [x for x in body["alerts"] if x["kind"] == "verify.failed"]
    assert alerts and "2 damaged recovery points" in alerts[0]["message"], body
    p = a.run("verify")
    assert p.returncode == 8 and "is damaged" in p.stdout and "big.bin" in p.stdout, p.stdout


def test_a_flipped_byte_is_found_only_by_reading(world, tmp_path):
    a, src = backed_up(world, tmp_path)
    flip(store_packs(world)[0])
    rc, r = verify(a)
    assert rc == 0, r  # catalog and store are complete
    rc, r = verify(a, "--read-data", "--sample", "100")
    assert rc == 8 and r["damaged"] == 1 and r["missing"] == 0, r
    for p in r["damaged_points"]:
        assert [f["path"] for f in p["files"]] == [str(src / "big.bin")], p
        assert "authentication" in p["files"][0]["problem"]
    # A small sample reads a share of the chunks, rounded up.
    rc, r = verify(a, "--read-data", "--sample", "1")
    want = -(-r["data_objects"] // 100)
    assert r["data_read"] == want < r["data_objects"], r


def test_a_truncated_pack_is_damage_not_a_failure_to_verify(world, tmp_path):
    a, src = backed_up(world, tmp_path)
    big = store_packs(world)[0]  # the pack of big.bin's chunks
    size = big.stat().st_size
    newest = a.json("recovery-points")["recovery_points"][-1]["id"]
    # Cut in the middle (the range answers short), then before the first
    # object (the range starts past the end: 416).
    for left in (size // 2, 10):
        os.truncate(big, left)
        rc, r = verify(a)
        assert rc == 0, r  # the pack is still there: only reading finds it
        rc, r = verify(a, "--read-data")
        assert rc == 8 and r["damaged"] > 0 and r["missing"] == 0, (left, r)
        if left > 10:
            assert 0 < r["data_read"] < r["data_objects"], r  # what is left is read
        # The latest point's record and folders are in a pack of their own;
        # the first point's, and a.txt, may share big.bin's pack and go
        # with it when nothing of it is left.
        files = {str(src / "big.bin"), str(src / "docs" / "a.txt")}
        latest, = [p for p in r["damaged_points"] if p["id"] == newest]
        named = {f["path"] for f in latest["files"]}
        assert str(src / "big.bin") in named and named <= files, latest
        for p in r["damaged_points"]:
            assert {f["path"] for f in p["files"]} <= files | {"/"}, p
        # A restore leaves just that file out, and says so.
        out = tmp_path / f"out-{left}"
        p = a.run("restore", "latest", "--target", str(out), "--json")
        assert p.returncode == 5, (p.returncode, p.stdout, p.stderr)
        rep = json.loads(p.stdout.strip().splitlines()[-1])
        failed = {"/" + f["path"].lstrip("/") for f in rep["failed"]}
        assert str(src / "big.bin") in failed and failed <= named, (rep, latest)


def test_packs_present_endpoint(world, tmp_path):
    a, _ = backed_up(world, tmp_path)
    packs = sorted(pack_files(world))
    gone = store_packs(world)[0]
    unlink_both(gone)
    unknown = "0" * 64
    body = json.dumps({"ids": packs + [unknown]}).encode()
    st, ans = machine_signed(world, a, "POST", "/packs/present", body, headers=JSON)[:2]
    assert st == 200, ans
    states = {p["id"]: p["state"] for p in ans["packs"]}
    assert [p["id"] for p in ans["packs"]] == packs + [unknown]
    assert states[gone.name] == "absent" and states[unknown] == "unknown"
    assert all(states[p] == "present" for p in packs if p != gone.name)
    # A machine of another vault learns nothing of these packs, and the
    # store is not asked about them.
    st, _, _ = world.s.call("POST", "/vaults", {"name": "other-vault", "region": "local-1"})
    assert st == 201
    st, xml, _ = world.s.call("POST", "/vaults/other-vault/credentials", raw=True)
    creds = tmp_path / "other.VaultCredentials"
    creds.write_bytes(xml)
    b = world.register("elsewhere", creds=creds)
    st, ans = machine_signed(world, b, "POST", "/packs/present", body, headers=JSON)[:2]
    assert st == 200 and {p["state"] for p in ans["packs"]} == {"unknown"}, ans
    # Bad input is refused, saying what was wrong; the list is bounded.
    for bad, code, words in ((b'{"ids": "x"}', 400, "array"), (b'{"ids": ["zz"]}', 400, "64"),
                             (json.dumps({"ids": [unknown] * 1001}).encode(), 409,
                              "at most 1000")):
        st, ans = machine_signed(world, a, "POST", "/packs/present", bad, headers=JSON)[:2]
        assert st == code and words in ans["error"]["message"], (st, ans)


def test_the_resident_agent_verifies_on_schedule(clock_world, arcad_bin, tmp_path):
    """A policy's "verify" makes `arca agent` verify after a scheduled
    backup (test clock builds: the clocks are moved so the time comes in
    seconds); the damage it finds is a failed verify job and an alert."""
    world = clock_world
    clock = Clock(arcad_bin, world)
    a, src = backed_up(world, tmp_path)
    flip(store_packs(world)[0])
    # Only now move both clocks so that a whole minute is 10 s away: the
    # setup above takes what it takes on a busy machine.
    real = time.time()
    target = (int(real) // 60 + 1) * 60 + 60
    clock.move(target - 10 - int(real), a)
    a.json("policy", "set", "--schedule", time.strftime("%H:%M", time.gmtime(target)),
           "--keep-daily", "7", "--path", str(src), "--verify-every", "7",
           "--verify-sample", "100")
    shown = a.run("policy", "show", env=clock.env())
    assert "every 7 days, reading 100% of the data" in shown.stdout, shown.stdout
    log = open(tmp_path / "agent.log", "w")
    agent = subprocess.Popen([a.arca, "agent", "--home", a.home], stderr=log, env=clock.env())
    try:
        def verify_jobs():
            st, body, _ = world.s.call("GET", "/vaults/backup-vault/jobs")
            return [j for j in body["jobs"] if j["kind"] == "verify" and j["status"] != "running"]
        deadline = time.time() + 60
        while not verify_jobs() and time.time() < deadline:
            time.sleep(0.5)
        done = verify_jobs()
        assert len(done) == 1 and done[0]["status"] == "failed", done
        rep = done[0]["report"]["verify"]
        assert rep["damaged"] == 1 and len(rep["damaged_points"]) == 3, rep
        st, body, _ = world.s.call("GET", "/alerts")
        msgs = [x["message"] for x in body["alerts"] if x["kind"] == "verify.failed"]
        assert msgs and "3 damaged recovery points" in msgs[0], body
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
        log.close()
    text = (tmp_path / "agent.log").read_text()
    assert "found 3 damaged recovery points" in text, text
    # When it ran is kept: not due again for 7 days.
    with open(os.path.join(a.home, "verify.json")) as f:
        assert json.load(f)["last"] >= target


def test_a_store_that_cannot_tell_is_an_error_not_damage(world, tmp_path):
    a, _ = backed_up(world, tmp_path)

    def answer(method, path, headers):
        return None  # forward everything; the answer is rewritten below

    relay = Relay(world.s, answer)
    forward = relay.forward

    def could_not_tell(method, path, headers, body):
        status, data, hdrs = forward(method, path, headers, body)
        if path == "/api/v1/packs/present" and status == 200:
            ans = json.loads(data)
            ans["packs"][0]["state"] = "error"
            data = json.dumps(ans).encode()
        return status, data, hdrs

    relay.forward = could_not_tell
    try:
        conf_path = os.path.join(a.home, "agent.json")
        with open(conf_path) as f:
            conf = json.load(f)
        conf["service_url"] = relay.url
        with open(conf_path, "w") as f:
            json.dump(conf, f)
        p = a.run("verify", "--json")
        assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
        assert "could not tell whether pack" in p.stderr, p.stderr
        assert "not recorded" not in p.stderr, p.stderr
        assert json.loads(p.stdout)["error"]["code"]
        # Every distinct object is read once, not once per point (the two
        # points share most of their trees and every chunk of big.bin):
        # a request per distinct tree or record, and the chunks, which lie
        # side by side, in a range request or two.
        relay.forward = forward
        before = len(relay.requests("GET", "/api/v1/packs/"))
        rc, r = verify(a, "--read-data")
        assert rc == 0 and r["data_read"] == r["data_objects"], r
        reads = len(relay.requests("GET", "/api/v1/packs/")) - before
        assert r["trees"] < reads <= r["trees"] + 2, (reads, r)
    finally:
        relay.stop()
    # The failure was recorded as a failed verify job saying why.
    st, body, _ = world.s.call("GET", "/vaults/backup-vault/jobs")
    failed = [j for j in body["jobs"] if j["kind"] == "verify" and j["status"] == "failed"]
    assert failed and "could not tell" in failed[0]["report"]["error"], body
    st, body, _ = world.s.call("GET", "/alerts")
    assert any(x["kind"] == "verify.failed" and "could not run" in x["message"]
               for x in body["alerts"]), body


def test_another_machine_verifies_read_only(world, tmp_path):
    a, src = backed_up(world, tmp_path)
    b = world.register("server-02")
    p = b.run("verify", "--from-machine", "server-01", "--passphrase-file", str(a.passfile),
              "--read-data", "--json")
    assert p.returncode == 0, (p.stdout, p.stderr)
    r = json.loads(p.stdout)
    assert r["points"] == 2 and r["data_read"] == r["data_objects"] > 0, r
    flip(store_packs(world)[0])
    p = b.run("verify", "--from-machine", "server-01", "--passphrase-file", str(a.passfile),
              "--read-data", "--json")
    assert p.returncode == 8, (p.stdout, p.stderr)
    assert str(src / "big.bin") in {f["path"] for f in
                                    json.loads(p.stdout)["damaged_points"][0]["files"]}


@pytest.mark.parametrize("refuse", ["runs", "ranges"])
def test_a_pack_moved_meanwhile_is_looked_up_again(world, tmp_path, refuse):
    """The space collector can move objects between the moment a verify
    locates them and the moment it reads them (the old file goes after a
    grace period): a pack that answers 404 is looked up again, not called
    missing. "runs": the first large read of each pack (a run of chunks)
    finds it gone; "ranges": the first read of each small range (trees,
    records, lone chunks)."""
    a, _ = backed_up(world, tmp_path)
    refused = set()

    def answer(method, path, headers):
        if method != "GET" or not path.startswith("/api/v1/packs/"):
            return None
        rng = headers.get("Range", "bytes=0-0")
        first, last = (int(x) for x in rng[6:].split("-"))
        if (last - first > 100000) != (refuse == "runs"):
            return None
        key = path if refuse == "runs" else (path, rng)
        if key not in refused:
            refused.add(key)
            return 404, {"error": {"code": "not_found", "message": "no such pack in this vault"}}
        return None

    relay = Relay(world.s, answer)
    try:
        conf_path = os.path.join(a.home, "agent.json")
        with open(conf_path) as f:
            conf = json.load(f)
        conf["service_url"] = relay.url
        with open(conf_path, "w") as f:
            json.dump(conf, f)
        rc, r = verify(a, "--read-data")
        assert rc == 0 and r["data_read"] == r["data_objects"] > 0, r
        assert len(refused) >= (1 if refuse == "runs" else 2), refused
    finally:
        relay.stop()
