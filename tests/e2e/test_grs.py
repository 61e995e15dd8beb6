"""GRS replication, asynchronous and durable (docs/SCALE.md, "GRS"): a GRS
vault's pack is acknowledged once it is in its region's store and queued in
the catalog; the replicator copies it to the paired region's store
afterwards. The vault's properties show the lag; a pair that cannot be
written leaves the packs queued, retried, with the error shown, until it
can; a service killed with packs queued finishes them when it starts again;
and once replication has caught up, a restore reads every byte from the
pair when the primary store cannot be read at all."""
import json
import os
import subprocess
import time

import pytest

from faults import kill_service, restart
from helpers import (Service, admin, eventually, free_port, make_pack, replicated, rsync_diff,
                     run, signed)


def vault(world):
    st, body, _ = world.s.call("GET", f"/vaults/{world.vault}")
    assert st == 200, body
    return body


def store_files(world, region):
    return {f.name: f for f in (world.s.data / "store" / region).rglob("*")
            if f.is_file() and "/packs/" in str(f)}


def catalog_packs(world):
    return [p["id"] for p in admin(world.s, "pack", "list")["packs"]]


def pairs_identical(world):
    """Every pack the catalog lists is in both regions, byte for byte."""
    primary, pair = store_files(world, "local-1"), store_files(world, "local-2")
    packs = catalog_packs(world)
    assert packs
    for p in packs:
        assert p in primary and p in pair, p
        assert primary[p].read_bytes() == pair[p].read_bytes(), p
    return len(packs)


BROKEN = []  # pair folders made immutable, mended at the end whatever happens


def break_pair(world_or_service):
    """The paired region's store cannot take a pack: its packs folder (no
    pack in it yet) is made immutable (chattr +i; root ignores permissions,
    not this), so no fan-out folder can be made in it. Reads still work:
    the copies are absent, not unreadable."""
    s = getattr(world_or_service, "s", world_or_service)
    packs = s.data / "store" / "local-2" / "packs"
    assert not any(packs.iterdir())
    p = subprocess.run(["chattr", "+i", str(packs)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    BROKEN.append(packs)


def mend_pair(world_or_service=None):
    while BROKEN:
        p = subprocess.run(["chattr", "-i", str(BROKEN.pop())], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr


@pytest.fixture(autouse=True)
def mended():
    """A pair left broken by a failed test is mended, so its folder can go."""
    yield
    mend_pair()


def sources(tmp_path, n=6, size=700_000):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(n):
        (src / "d" / f"f{i}").write_bytes(os.urandom(size + i))
    (src / "small").write_text("small\n")
    return src


def test_lag_retries_and_catch_up(world, tmp_path):
    """Lag > 0 while the pair cannot be written, with the error shown and the
    copies retried; 0 once it can again, and the pair's copies byte for
    byte the primary's."""
    a = world.register("server-01")
    src = sources(tmp_path)
    break_pair(world)
    a.json("backup", str(src))
    # Acknowledged with the primary copy only: the pair has nothing yet.
    assert store_files(world, "local-1") and not store_files(world, "local-2")
    time.sleep(2)
    rep = eventually(lambda: vault(world)["replication"],
                     lambda r: r["last_error"] and r["attempts"] >= 2, 30)
    assert rep["state"] == "waiting", rep
    assert rep["packs_waiting"] == len(catalog_packs(world)) >= 1, rep
    assert rep["bytes_waiting"] >= 6 * 700_000 * 0.9, rep
    assert rep["lag_seconds"] >= 2, rep
    assert rep["attempts"] >= 2, rep  # retried, not dropped
    assert "local-2" in rep["last_error"], rep
    print(f"\nwhile the pair is broken: {json.dumps(rep)}")
    # The admin command says the same.
    show = admin(world.s, "vault", "show", world.vault)
    assert show["replication"]["packs_waiting"] == rep["packs_waiting"], show
    p = run([world.s.arcad, "vault", "show", "--data", str(world.s.data), world.vault])
    assert p.returncode == 0, p.stderr
    line = [x for x in p.stdout.splitlines() if "replication:" in x]
    assert line and " waiting, oldest " in line[0] and "last error: copying to region local-2" \
        in line[0], p.stdout
    print(line[0].strip())
    # arcad verify: the missing pair copies are pending, not damage.
    v = admin(world.s, "verify")
    assert v["clean"] is True and v["replication_pending"] == rep["packs_waiting"], v
    # Still queued a while later: errors never drop a row.
    time.sleep(3)
    again = vault(world)["replication"]
    assert again["packs_waiting"] == rep["packs_waiting"], again
    assert again["attempts"] >= rep["attempts"], again
    mend_pair(world)
    # Back-off is at most a few seconds after so few tries.
    rep = replicated(world.s, seconds=90)
    assert rep["last_error"] is None and rep["attempts"] == 0, rep
    n = pairs_identical(world)
    v = admin(world.s, "verify")
    assert v["clean"] is True and v["replication_pending"] == 0, v
    print(f"caught up: {n} packs in both regions, byte for byte")


def test_restore_from_the_pair_when_the_primary_is_unreachable(world, tmp_path):
    a = world.register("server-01")
    src = sources(tmp_path, n=4)
    pt = a.json("backup", str(src))["recovery_point"]
    replicated(world.s)
    pairs_identical(world)
    # The primary store cannot be read at all: its packs folder is a file.
    own = world.s.data / "store" / "local-1" / "packs"
    os.rename(own, tmp_path / "lost-packs")
    own.write_text("not a folder\n")
    out = tmp_path / "out"
    r = a.json("restore", pt, "--target", str(out))
    assert r["status"] == "complete", r
    assert rsync_diff(src, out / str(src).lstrip("/")) == ""


def test_kill_with_packs_queued_then_restart_finishes(world, tmp_path):
    """SIGKILL of arcad a moment after the pair was mended, with a backup's
    packs queued (the kill may land before, during or after their copies;
    test_kill_mid_queue_then_restart_finishes makes sure of "during"): the
    service started again on its port leaves every pack in both regions,
    and the agent restores the backup."""
    port = free_port()
    world.s.stop()
    restart(world, port)
    a = world.register("server-01")
    src = sources(tmp_path, n=8, size=1_500_000)
    break_pair(world)
    pt = a.json("backup", str(src))["recovery_point"]
    waiting = eventually(lambda: vault(world)["replication"],
                         lambda r: r["attempts"] >= 1, 30)
    assert waiting["packs_waiting"] >= 1, waiting
    # Mend the pair and kill the service about when the replicator takes
    # the rows again (their next try is a second or two away).
    mend_pair(world)
    time.sleep(1.5)
    kill_service(world)
    after_kill = len(store_files(world, "local-2"))
    restart(world, port)
    rep = replicated(world.s, seconds=90)
    assert rep["attempts"] == 0, rep
    n = pairs_identical(world)
    print(f"\nkilled with {waiting['packs_waiting']} packs queued, {after_kill} copied before "
          f"the kill; after the restart all {n} packs are in both regions")
    # And the backup restores (from the primary, as usual).
    out = tmp_path / "out"
    r = a.json("restore", pt, "--target", str(out))
    assert r["status"] == "complete", r
    assert rsync_diff(src, out / str(src).lstrip("/")) == ""


def test_lrs_vault_has_no_replication(world):
    st, body, _ = world.s.call("POST", "/vaults", {"name": "local-only", "region": "local-1",
                                                  "redundancy": "LRS"})
    assert st == 201, body
    st, body, _ = world.s.call("GET", "/vaults/local-only")
    assert st == 200 and "replication" not in body, body
    rep = vault(world)["replication"]
    assert rep == {"state": "up to date", "packs_waiting": 0, "bytes_waiting": 0,
                   "lag_seconds": 0, "attempts": 0, "last_error": None}, rep


def test_missing_primary_copy_stays_queued_with_one_alert(world, tmp_path):
    """A pack whose primary copy is gone before it was copied is never
    copied from nothing: its row stays with a clear error, and one alert
    says so."""
    a = world.register("server-01")
    src = sources(tmp_path, n=2)
    break_pair(world)
    a.json("backup", str(src))
    packs = catalog_packs(world)
    for p in packs:
        store_files(world, "local-1")[p].unlink()
    mend_pair(world)
    rep = eventually(lambda: vault(world)["replication"],
                     lambda r: r["last_error"] and "missing from region local-1" in r["last_error"],
                     60)
    assert "missing from region local-1" in rep["last_error"], rep
    assert rep["packs_waiting"] == len(packs), rep
    time.sleep(4)  # more tries
    st, body, _ = world.s.call("GET", "/alerts")
    assert st == 200, body
    alerts = [x for x in body["alerts"] if x["kind"] == "replication"]
    assert len(alerts) == len(packs), alerts  # one a pack, not one a try
    assert "missing from region local-1" in alerts[0]["message"], alerts
    assert not store_files(world, "local-2")


def test_kill_mid_queue_then_restart_finishes(machine, tmp_path):
    """SIGKILL of arcad while the replicator works through a queue of many
    packs (some copied, some not, one perhaps half-written): the service
    started again finishes the queue, and every pair copy is the pack byte
    for byte."""
    s, tmp, mid, mkey, _, _ = machine
    st, body, _ = s.call("GET", "/vaults/backup-vault")
    assert st == 200 and body["redundancy"] == "GRS", body
    break_pair(s)
    packs = {}
    for i in range(120):
        data, info = make_pack(tmp, n=4, size=50000, seed=f"m-{i}")
        assert signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], data)[0] == 201
        packs[info["pack"]] = data
    assert len(packs) == 120
    rep = eventually(lambda: s.call("GET", "/vaults/backup-vault")[1]["replication"],
                     lambda r: r["attempts"] >= 1, 30)
    assert rep["packs_waiting"] == 120, rep
    pair = s.data / "store" / "local-2" / "packs"
    mend_pair()
    # Killed as soon as the first copies land in the pair.
    end = time.monotonic() + 60
    copied = 0
    while time.monotonic() < end:
        copied = sum(1 for f in pair.rglob("*") if f.is_file())
        if copied:
            break
        time.sleep(0.005)
    s.proc.kill()
    s.proc.communicate()
    copied = sum(1 for f in pair.rglob("*") if f.is_file())
    assert 0 < copied < 120, f"the kill did not land mid-queue: {copied} of 120 copied"
    s2 = Service(s.arcad, s.data)
    s.proc = s2.proc  # the fixture stops the service started again
    s2.sign_in()
    t0 = time.monotonic()
    rep = replicated(s2, seconds=120)
    took = time.monotonic() - t0
    assert rep["attempts"] == 0, rep
    for pid, data in packs.items():
        assert (pair / pid[:2] / pid).read_bytes() == data, pid
        assert (s.data / "store" / "local-1" / "packs" / pid[:2] / pid).read_bytes() == data
    print(f"\nkilled with {copied} of 120 packs copied; after the restart all 120 are in "
          f"both regions, byte for byte ({took:.1f} s to catch up, the duty's lease of the "
          f"killed service included)")


def test_migrate_with_packs_queued(world, tmp_path):
    """`arcad migrate` of a service whose GRS packs still wait for their
    pair copies: the copies that exist are moved, the queue with them, and
    the service on the new folder makes the rest."""
    a = world.register("server-01")
    src = sources(tmp_path, n=3)
    break_pair(world)
    a.json("backup", str(src))
    rep = eventually(lambda: vault(world)["replication"], lambda r: r["attempts"] >= 1, 30)
    waiting = rep["packs_waiting"]
    assert waiting >= 1, rep
    world.s.stop()
    mend_pair()
    moved = tmp_path / "moved"
    p = run([world.s.arcad, "migrate", "--data", str(world.s.data), "--to", str(moved)])
    assert p.returncode == 0, (p.stdout, p.stderr)
    print("\n" + p.stdout.strip().splitlines()[0])
    v = run([world.s.arcad, "verify", "--data", str(moved), "--json"])
    rep = json.loads(v.stdout)
    assert v.returncode == 0 and rep["clean"] and rep["replication_pending"] == waiting, rep
    world.s = Service(world.s.arcad, moved)  # the fixture stops it
    world.s.sign_in()
    replicated(world.s)
    pairs_identical(world)
    v = run([world.s.arcad, "verify", "--data", str(moved), "--json"])
    rep = json.loads(v.stdout)
    assert v.returncode == 0 and rep["clean"] and rep["replication_pending"] == 0, rep
