"""Backup leases (SPEC section 7, rule 2: leases that expire, no lock a
person cleans up): a backup's lease is renewed while it runs, so the space
collector stays off its uploads however long it takes, and released when it
fails, so the collector is not held off for hours by a backup that is over."""
import json
import os
import time

import pytest

from helpers import Clock, World, admin, has_test_clock, make_pack, signed

HOUR = 3600


@pytest.fixture
def world(arcad_bin, arca_bin, tmp_path):
    w = World(arcad_bin, arca_bin, tmp_path, redundancy="LRS")
    yield w
    w.stop()


def as_machine(world, agent, method, path, body=b"", offset=0):
    """A request signed by AGENT's machine key, at the service's time."""
    conf = json.load(open(os.path.join(agent.home, "agent.json")))
    return signed(world.s, conf["machine_id"], os.path.join(agent.home, "machine.key"), method,
                  path, body, t=int(time.time()) + offset)


def collect(world):
    st, body, _ = world.s.call("POST", "/vaults/backup-vault/collect")
    assert st == 200, body
    return body


def leases(world):
    """(id, expires) of every lease, as the operator sees them."""
    return [(x["id"], x["expires"]) for x in admin(world.s, "lease", "list")["leases"]]


def test_renewed_lease_keeps_collection_off_past_six_hours(world, arcad_bin, tmp_path):
    if not has_test_clock(arcad_bin):
        pytest.skip("this build takes no test clock (the sanitizer build does)")
    clock = Clock(arcad_bin, world)
    a = world.register("server-01")
    st, lease = as_machine(world, a, "POST", "/recovery-points/begin")
    assert st == 201, lease
    lid = lease["lease"]
    # An upload of the backup in progress, referenced by no point yet: the
    # collector would drop it at once without the lease.
    data, info = make_pack(tmp_path)
    st, body = as_machine(world, a, "PUT", "/packs/" + info["pack"], data)
    assert st == 201, body

    # Five hours on, the agent renews: the lease now ends six hours later.
    clock.move(5 * HOUR, a)
    st, body = as_machine(world, a, "POST", f"/recovery-points/lease/{lid}/renew",
                          offset=clock.offset)
    assert st == 200, body
    assert body["lease"] == lid and body["expires"] > lease["expires"], (lease, body)

    # Seven hours after it began, past the first expiry, the backup is
    # still protected: the collector (at the service's start and now) skips
    # the machine and its upload stays.
    clock.move(7 * HOUR, a)
    r = collect(world)
    assert r["machines_skipped"] == 1 and r["packs_dropped"] == 0, r
    st, body = as_machine(world, a, "POST", "/objects/missing",
                          json.dumps({"ids": info["objects"]}).encode(), offset=clock.offset)
    assert st == 200 and body["missing"] == [], body

    # Released, it holds nothing: the next pass collects the upload.
    st, body = as_machine(world, a, "DELETE", f"/recovery-points/lease/{lid}", offset=clock.offset)
    assert st == 200 and body["released"] == lid, body
    r = collect(world)
    assert r["machines_skipped"] == 0 and r["packs_dropped"] == 1, r
    # A released lease is gone: renewing or releasing it again says so.
    st, body = as_machine(world, a, "POST", f"/recovery-points/lease/{lid}/renew",
                          offset=clock.offset)
    assert st == 404 and body["error"]["code"] == "not_found", body
    st, body = as_machine(world, a, "DELETE", f"/recovery-points/lease/{lid}", offset=clock.offset)
    assert st == 404, body


def test_expired_or_foreign_lease_is_not_renewed(world, arcad_bin):
    if not has_test_clock(arcad_bin):
        pytest.skip("this build takes no test clock (the sanitizer build does)")
    clock = Clock(arcad_bin, world)
    a = world.register("server-01")
    b = world.register("server-02")
    st, lease = as_machine(world, a, "POST", "/recovery-points/begin")
    assert st == 201
    lid = lease["lease"]
    # Another machine can neither renew nor release it, nor learn it exists.
    st, body = as_machine(world, b, "POST", f"/recovery-points/lease/{lid}/renew")
    assert st == 404 and body["error"]["code"] == "not_found", body
    st, body = as_machine(world, b, "DELETE", f"/recovery-points/lease/{lid}")
    assert st == 404, body
    st, body = as_machine(world, a, "POST", "/recovery-points/lease/no-such-lease/renew")
    assert st == 404, body
    # Past its expiry a lease does not come back: the collector may have
    # run meanwhile, and the agent must learn that its uploads were not
    # protected all along.
    clock.move(6 * HOUR + 60, a)
    st, body = as_machine(world, a, "POST", f"/recovery-points/lease/{lid}/renew",
                          offset=clock.offset)
    assert st == 409 and body["error"]["code"] == "locked", body
    assert "expired" in body["error"]["message"], body


def test_failed_backup_releases_its_lease(world, tmp_path):
    a = world.register("server-01")
    # The machine is at its 366 live points, so the backup's commit is
    # refused after its lease was taken and its uploads were made.
    data, info = make_pack(tmp_path, n=2, size=1000)
    st, body = as_machine(world, a, "PUT", "/packs/" + info["pack"], data)
    assert st == 201, body
    point = json.dumps({"meta": info["objects"][0], "parent": None,
                        "objects": info["objects"]}).encode()
    for _ in range(366):
        st, body = as_machine(world, a, "POST", "/recovery-points", point)
        assert st == 201, body
    src = tmp_path / "src"
    src.mkdir()
    (src / "data.bin").write_bytes(os.urandom(2 << 20))
    p = a.run("backup", str(src), "--json")
    assert p.returncode != 0 and "366" in p.stderr, (p.returncode, p.stderr)
    # Its lease went with it: the collector is not held off, and drops the
    # failed backup's uploads at once instead of six hours later.
    assert leases(world) == []
    r = collect(world)
    assert r["machines_skipped"] == 0 and r["packs_dropped"] >= 1, r


def long_backup_world(monkeypatch, arcad_bin, arca_bin, tmp_path, lease_seconds):
    if not has_test_clock(arcad_bin):
        pytest.skip("the lease length is set only in test-clock builds")
    monkeypatch.setenv("ARCA_TEST_LEASE_SECONDS", str(lease_seconds))
    w = World(arcad_bin, arca_bin, tmp_path, redundancy="LRS")
    a = w.register("server-01")
    p = a.run("properties", "--throttle-work", "256k", "--throttle-other", "256k")
    assert p.returncode == 0, p.stderr
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(3 << 20))  # about 12 s at 256 KiB/s
    return w, a, src


def test_long_backup_renews_its_lease(monkeypatch, arcad_bin, arca_bin, tmp_path):
    period = 4
    w, a, src = long_backup_world(monkeypatch, arcad_bin, arca_bin, tmp_path, period)
    try:
        p = a.popen("backup", str(src), "--json")
        seen, alive_late, t0 = set(), False, None
        while p.poll() is None:
            now = time.time()
            rows = leases(w)
            if rows and t0 is None:
                t0 = now
            seen.update(exp for _, exp in rows)
            if t0 is not None and now > t0 + 2 * period and any(exp > now for _, exp in rows):
                alive_late = True
            time.sleep(0.3)
        out, err = p.communicate()
        assert p.returncode == 0, err
        # The lease's expiry moved on while the upload went on, so it was
        # alive well past its first period; the commit ended it.
        assert len(seen) >= 3 and alive_late, (seen, alive_late)
        assert leases(w) == []
    finally:
        w.stop()


def test_lapsed_lease_is_replaced_and_checked(monkeypatch, arcad_bin, arca_bin, tmp_path):
    """A lease the service no longer knows (it lapsed while the agent could
    not reach the service, say) is not trusted: the agent takes a new one,
    checks that every object of the backup is still stored, and only then
    commits."""
    w, a, src = long_backup_world(monkeypatch, arcad_bin, arca_bin, tmp_path, 4)
    try:
        p = a.popen("backup", str(src), "--json")
        gone = False
        while p.poll() is None:
            rows = leases(w)
            if rows and not gone:
                for lease, _ in rows:
                    admin(w.s, "lease", "end", lease)
                gone = True
            time.sleep(0.3)
        out, err = p.communicate()
        assert gone
        assert p.returncode == 0, err
        assert "lease" in err and "checked" in err, err
        assert json.loads(out.strip().splitlines()[-1])["status"] == "complete"
        assert leases(w) == []
    finally:
        w.stop()
