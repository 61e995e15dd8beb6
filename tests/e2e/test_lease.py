"""Backup leases (SPEC section 7, rule 2: leases that expire, no lock a
person cleans up): a lease renewed before it expires keeps the space
collector off a backup's uploads however long it takes; a released one
holds nothing; an expired one is not revived."""
import json
import os
import sqlite3
import time

import pytest

from agent_helpers import World
from test_register import signed
from test_retention import Clock
from test_service import has_test_clock
from test_storage import make_pack

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
    """(id, expires) of every lease row in the catalog."""
    db = sqlite3.connect(str(world.s.data / "catalog.db"), timeout=30)
    try:
        return db.execute("SELECT id, expires FROM leases").fetchall()
    finally:
        db.close()


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
