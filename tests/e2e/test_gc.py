"""Space collection by the service, without keys or locks (test clock
builds): what no recovery point needs is freed, what a kept, soft-deleted or
in-progress backup needs never is, and a collection killed at any moment
leaves a store from which every kept point restores."""
import json
import os
import random
import signal
import subprocess
import time

import pytest

from faults import store_consistent
from helpers import (Clock, admin, call_pin, collect, disk, eventually, machine_signed,
                     pack_files, pin, replicated, rsync_diff, usage_bytes)

DAY = 86400
# `make soak` raises the randomized rounds far beyond what the suite runs.
SOAK = int(os.environ.get("ARCA_SOAK_RUNS", "0"))


@pytest.fixture
def world(clock_world):
    return clock_world


def delete_point(world, point):
    st, body = call_pin(world.s, "DELETE",
                        f"/vaults/backup-vault/machines/server-01/recovery-points/{point}", pin(world.s))
    assert st == 200, body


def make_garbage(world, clock, a, src):
    """Two backups; the first is deleted and, 15 days later, purged: most of
    its content is garbage then."""
    for i in range(6):
        (src / f"old-{i}").write_bytes(os.urandom(3 << 20))
    (src / "kept").write_bytes(os.urandom(2 << 20))
    first = a.json("backup", str(src))["recovery_point"]
    for i in range(6):
        os.remove(src / f"old-{i}")
    (src / "new").write_bytes(os.urandom(1 << 20))
    second = a.json("backup", str(src))["recovery_point"]
    delete_point(world, first)
    return first, second


def test_collection_frees_what_no_point_needs(world, arcad_bin, tmp_path):
    clock = Clock(arcad_bin, world)
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    first, second = make_garbage(world, clock, a, src)
    before = usage_bytes(world)
    # Soft-deleted: restorable for 14 days, so nothing of it may go.
    r = collect(world)
    assert r["packs_dropped"] == 0 and r["packs_rewritten"] == 0 and usage_bytes(world) == before
    # After 15 days it is purged, and the collector (on its timer at start)
    # frees its packs; files go after the grace hour.
    clock.move(15 * DAY, a)
    after = eventually(lambda: usage_bytes(world), lambda v: v < before / 3)
    assert after < before / 3, (before, after)
    clock.move(15 * DAY + 2 * 3600, a)
    # The start-up pass deletes the files; this pass waits for it to end.
    collect(world)
    replicated(world.s)
    on_disk = disk(world)
    # GRS: two copies of what is left, and nothing else.
    assert on_disk == 2 * usage_bytes(world), (on_disk, usage_bytes(world))
    print(f"collection: stored {before} bytes before, {after} after; {on_disk} on disk (GRS)")
    out = tmp_path / "out"
    a.json("restore", second, "--target", str(out))
    assert rsync_diff(src, out / str(src).lstrip("/")) == ""
    # A backup after collection still deduplicates against what is left.
    r = a.json("backup", str(src))
    assert r["bytes_stored"] < 64 * 1024, r


def test_collection_leaves_a_backup_in_progress_alone(world, arcad_bin, tmp_path):
    clock = Clock(arcad_bin, world)
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    first, second = make_garbage(world, clock, a, src)
    clock.move(15 * DAY + 60, a)  # purged; the timer collected once at start
    rounds = 0
    for k in range(max(5, SOAK // 4)):
        # Change some content, then collect again and again while the
        # backup runs: its uploads and the objects it reuses must survive.
        for i in range(4):
            (src / f"more-{k}-{i}").write_bytes(os.urandom(2 << 20))
        p = subprocess.Popen([a.arca, "backup", str(src), "--home", a.home, "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=a.env)
        while p.poll() is None:
            collect(world)
            rounds += 1
            time.sleep(random.random() * 0.05)
        out, err = p.communicate()
        assert p.returncode == 0, err
        collect(world)
    print(f"{rounds} collections ran during {max(5, SOAK // 4)} backups")
    for pt in a.json("recovery-points")["recovery_points"][-1:]:
        o = tmp_path / f"o-{pt['id']}"
        a.json("restore", pt["id"], "--target", str(o))
        assert rsync_diff(src, o / str(src).lstrip("/")) == ""


def pending_work(world):
    """Packs the collector would still drop or rewrite (a preview that
    changes nothing)."""
    r = admin(world.s, "space", "preview")
    return r["packs_to_drop"] + r["packs_to_rewrite"]


def consistent(world):
    """Every pack the catalog names is in both regions' stores (GRS), but
    for pair copies still queued for replication (see
    faults.store_consistent)."""
    store_consistent(world, ("local-1", "local-2"))


def test_sigkill_during_collection(world, arcad_bin, tmp_path):
    clock = Clock(arcad_bin, world)
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    offset, kills, unfinished = 0, 0, 0
    for run in range(max(20, SOAK)):
        # New garbage each run: a backup of eight new files, then one that
        # keeps two of them, and the first point deleted. 15 days later it
        # is purged and its pack, a quarter live, is to be rewritten.
        clock.move(offset, a)
        for i in range(8):
            (src / f"r{run}-{i}").write_bytes(os.urandom(512 << 10))
        first = a.json("backup", str(src))["recovery_point"]
        for i in range(6):
            os.remove(src / f"r{run}-{i}")
        a.json("backup", str(src))
        delete_point(world, first)
        world.s.stop()
        # The service started then purges and collects on its timer as soon
        # as it serves: kill it at a random moment of that.
        offset += 15 * DAY + 2 * 3600
        env = dict(os.environ, ARCA_TEST_CLOCK_OFFSET=str(offset))
        proc = subprocess.Popen([arcad_bin, "serve", "--data", str(world.s.data), "--listen",
                                 f"127.0.0.1:{clock.port}"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        assert b"serving" in proc.stdout.readline()
        time.sleep(random.random() * 0.08)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        consistent(world)
        if pending_work(world):
            unfinished += 1
    clock.start(offset)
    a.env = clock.env()
    r = collect(world)
    consistent(world)
    print(f"{kills} services killed while collecting ({unfinished} with work left undone); "
          f"the store stayed consistent; a last pass: {json.dumps(r)}")
    assert pending_work(world) == 0
    assert unfinished > 0, "no kill landed before a collection was done"
    out = tmp_path / "out"
    r = a.json("restore", "latest", "--target", str(out))
    assert r["status"] == "complete"
    assert rsync_diff(src, out / str(src).lstrip("/")) == ""
    for pt in a.json("recovery-points")["recovery_points"]:
        o = tmp_path / f"o-{pt['id']}"
        assert a.json("restore", pt["id"], "--target", str(o))["status"] == "complete"


def read_pack(world, a, clock, pack):
    """A machine-signed read of the first bytes of PACK, as a restore makes
    it: the status."""
    st, _ = machine_signed(world, a, "GET", f"/packs/{pack}", offset=clock.offset,
                           headers={"Range": "bytes=0-15"}, raw=True)
    return st


def test_a_collected_pack_stays_readable_through_the_grace_period(world, arcad_bin, tmp_path):
    """Issue 12, defect 3 (service side): before, a pack the collector
    rewrote answered 404 at once, though its file is kept an hour for the
    restores that located an object there a moment before."""
    clock = Clock(arcad_bin, world)
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    # One pack, mostly of what the first point alone needs.
    (src / "old").write_bytes(os.urandom(10 << 20))
    (src / "kept").write_bytes(os.urandom(1 << 20))
    first = a.json("backup", str(src))["recovery_point"]
    os.remove(src / "old")
    a.json("backup", str(src))
    delete_point(world, first)
    before = pack_files(world)
    # Purged and collected by the start-up pass: the big pack is rewritten.
    clock.move(15 * DAY, a)
    now = eventually(lambda: pack_files(world), lambda v: v - before)
    assert now - before, "the collector rewrote nothing"
    unreadable = [(p[:16], st) for p in before
                  if (st := read_pack(world, a, clock, p)) not in (200, 206)]
    assert unreadable == []
    # After the grace hour the files go, and so do the answers.
    clock.move(15 * DAY + 2 * 3600, a)
    collect(world)
    gone = before - pack_files(world)
    assert gone and all(read_pack(world, a, clock, p) == 404 for p in gone)
    out = tmp_path / "out"
    a.json("restore", "latest", "--target", str(out))
    assert rsync_diff(src, out / str(src).lstrip("/")) == ""


def test_a_purged_machines_packs_are_deleted(world, arcad_bin, tmp_path):
    """Issue 12, defect 4: before, a purged machine's pack files stayed in
    both regions' stores forever."""
    clock = Clock(arcad_bin, world)
    a = world.register("server-01")
    b = world.register("server-02")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(os.urandom(3 << 20))
    a.json("backup", str(src))
    b.json("backup", str(src))
    replicated(world.s)
    kept = disk(world)
    st, body = call_pin(world.s, "DELETE", "/vaults/backup-vault/machines/server-01",
                        pin(world.s))
    assert st == 200, body
    clock.move(15 * DAY, a)
    clock.move(15 * DAY + 2 * 3600, b)
    collect(world)
    # Only server-02's copy is left, in both regions (GRS).
    replicated(world.s)
    left = disk(world)
    assert left == 2 * usage_bytes(world) and 0 < left < kept * 0.6, (kept, left, usage_bytes(world))
    assert pack_files(world, "local-1") == pack_files(world, "local-2")
    out = tmp_path / "out"
    b.json("restore", "latest", "--target", str(out))
    assert rsync_diff(src, out / str(src).lstrip("/")) == ""
