"""Failures of the world around a backup: the service's store runs out of
space (a small loop-mounted file system), and connections between the agent
and the service are cut at random byte counts (a TCP relay). A backup that
cannot be stored fails saying so and what to do, and harms no committed
point; cut connections are retried, and backups and restores through them
complete byte-identical."""
import os
import re
import shutil
import subprocess

import pytest

from faults import (CutRelay, Sources, loop_fs, point_agent_at, restart, rounds, seeded,
                    store_consistent)
from helpers import Relay, World, rsync_diff

pytestmark = pytest.mark.fault


def restored(agent, point, out, copy, src):
    """Restore POINT of source SRC into OUT: its difference from COPY."""
    r = agent.json("restore", point, "--target", str(out))
    assert r["status"] == "complete", r
    return rsync_diff(copy, out / str(src).lstrip("/"))


@pytest.mark.parametrize("where", ["store", "data folder"])
def test_a_full_store_fails_the_backup_clearly_and_harms_no_point(arcad_bin, arca_bin,
                                                                  tmp_path, where):
    """WHERE is what runs out of space: the region's store (where packs
    go), or the whole data folder (catalog and upload spool too)."""
    rng = seeded(f"test_faults full {where}")
    w = World(arcad_bin, arca_bin, tmp_path, redundancy="LRS")
    region = w.s.data / "store" / "local-1"
    full = region if where == "store" else w.s.data
    w.s.stop()
    # That folder on a 24 MiB file system of its own.
    keep = tmp_path / "before"
    shutil.copytree(full, keep, symlinks=True)
    shutil.rmtree(full)
    full.mkdir()
    ok, cleanup = loop_fs(tmp_path / "fs.img", full, 24)
    if not ok:
        pytest.skip(f"loop devices are unusable here: {cleanup}")
    relay = None
    try:
        subprocess.run(["cp", "-a", f"{keep}/.", str(full)], check=True)
        restart(w, 0)
        relay = Relay(w.s)
        a = w.register("server-01")
        point_agent_at(a, relay.url)
        src = Sources(tmp_path, rng, size=(1 << 20, (1 << 20) + 1))
        first_copy = src.change(files=3)
        first = a.json("backup", str(src.src))["recovery_point"]
        # Fill the store but for 1 MiB: the next backup's 4 MiB cannot fit.
        st = os.statvfs(full)
        filler = full / "filler"
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - (1 << 20)))
            f.flush()
            os.fsync(f.fileno())
        src.change(files=4)
        seen = len(relay.seen)
        p = a.run("backup", str(src.src))
        assert p.returncode != 0, p.stdout
        msg = p.stdout + p.stderr
        print(f"the agent said: {msg.strip()}")
        assert "storage is full" in msg and "free space" in msg, msg
        statuses = [st for _, st in relay.requests("PUT", "/api/v1/packs/")]
        assert 507 in statuses, statuses
        assert ("POST", "/api/v1/recovery-points") not in [(m, p) for m, p, _ in
                                                            relay.seen[seen:]]
        # No committed point is harmed: the store is consistent and the
        # first point restores byte-identical.
        store_consistent(w, ("local-1",))
        assert [x["id"] for x in a.json("recovery-points")["recovery_points"]] == [first]
        assert restored(a, first, tmp_path / "out-1", first_copy, src.src) == ""
        if where == "data folder":
            # Not a byte left: the catalog cannot write either (a
            # request's nonce, a lease). Still a clear refusal.
            last = full / "filler-2"
            with open(last, "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 4096)
                        f.flush()
                except OSError:
                    pass
            p = a.run("backup", str(src.src))
            msg = p.stdout + p.stderr
            print(f"with no byte left, the agent said: {msg.strip()}")
            assert p.returncode != 0 and "storage is full" in msg, msg
            os.remove(last)
            store_consistent(w, ("local-1",))
            assert restored(a, first, tmp_path / "out-1b", first_copy, src.src) == ""
        # Space freed: the next backup works and restores.
        os.remove(filler)
        second_copy = src.change(files=1)
        second = a.json("backup", str(src.src))["recovery_point"]
        assert restored(a, second, tmp_path / "out-2", second_copy, src.src) == ""
        assert restored(a, first, tmp_path / "out-3", first_copy, src.src) == ""
        print(f"full {where}: backup refused with 507 ({statuses.count(507)} uploads), "
              f"then stored after space was freed; 0 damaged recovery points")
    finally:
        if relay:
            relay.stop()
        w.stop()
        cleanup()


RETRY = re.compile(r"^arca: .*trying again in", re.M)


def test_cut_connections_are_retried(arcad_bin, arca_bin, tmp_path):
    rng = seeded("test_faults cut connections")
    w = World(arcad_bin, arca_bin, tmp_path, redundancy="LRS")
    a = w.register("server-01")
    # The agent talks to a TCP relay that cuts connections, in front of a
    # relay that sees the requests and, for half the commits, forwards the
    # commit and then drops its answer (201): the point is committed, and
    # the agent must not commit it twice.
    http_relay = Relay(w.s)
    http_relay.server.handle_error = lambda *args: None
    lost = [0]
    forward = http_relay.forward

    def drop_some_commits(method, path, headers, body):
        # A request whose connection was cut mid-body goes no further, as
        # with a proxy: never forwarded short of its Content-Length.
        if len(body or b"") != int(headers.get("Content-Length") or 0):
            raise ConnectionResetError("the request was cut")
        r = forward(method, path, headers, body)
        if (method == "POST" and path == "/api/v1/recovery-points" and r[0] == 201
                and rng.random() < 0.5):
            lost[0] += 1
            raise ConnectionResetError("the test drops the commit's answer")
        return r

    http_relay.forward = drop_some_commits
    # Two connections in three are cut, at a random byte count in either
    # direction: half of them under 64 KiB (mid-request, mid-answer: the
    # small requests), half under 4 MiB (mid-upload, mid-download).
    relay = CutRelay(int(http_relay.url.rsplit(":", 1)[1]), rng,
                     lambda n: None if rng.random() < 1 / 3 else rng.choice((64 << 10, 4 << 20)),
                     scheme="http")
    point_agent_at(a, relay.url)
    src = Sources(tmp_path, rng, size=(256 << 10, 1 << 20))
    retries = commits_checked = runs = failed_runs = restores = 0
    try:
        for r in range(rounds(10)):
            copy = src.change(files=3)
            # A backup through the relay completes; should one give up,
            # the next run resumes and completes.
            for attempt in range(4):
                runs += 1
                p = a.run("backup", str(src.src), "--json")
                retries += len(RETRY.findall(p.stderr))
                commits_checked += p.stderr.count("checking whether the recovery point")
                if p.returncode == 0:
                    break
                failed_runs += 1
            assert p.returncode == 0, p.stderr
            point = [x["id"] for x in a.json("recovery-points")["recovery_points"]][-1]
            # A restore through the relay completes byte-identical.
            out = tmp_path / f"out-{r}"
            q = a.run("restore", point, "--target", str(out), "--json")
            retries += len(RETRY.findall(q.stderr))
            assert q.returncode == 0, q.stderr
            restores += 1
            assert rsync_diff(copy, out / str(src.src).lstrip("/")) == ""
        # Every connection cut after 256 KiB to 1.5 MiB: a whole 3 MiB pack
        # never gets through, so the agent resumes it in pieces.
        relay.cut = lambda n: (256 << 10, 3 << 19)
        (src.src / "big").write_bytes(rng.randbytes(3 << 20))
        p = a.run("backup", str(src.src), "--json")
        resumed = p.stderr.count("resuming the upload of pack")
        retries += len(RETRY.findall(p.stderr))
        commits_checked += p.stderr.count("checking whether the recovery point")
        assert p.returncode == 0 and resumed > 0, p.stderr
        relay.cut = lambda n: None
        copy = src.change(files=1)
        p = a.run("backup", str(src.src), "--json")
        commits_checked += p.stderr.count("checking whether the recovery point")
        assert p.returncode == 0, p.stderr
        point = [x["id"] for x in a.json("recovery-points")["recovery_points"]][-1]
        assert restored(a, point, tmp_path / "out-big", copy, src.src) == ""
        pts = a.json("recovery-points")["recovery_points"]
        assert len(pts) == rounds(10) + 2, pts  # no commit was made twice
        print(f"cut connections: {relay.cuts} cut of {relay.connections}; {retries} retries "
              f"made; {lost[0]} commit answers dropped, {commits_checked} commits checked "
              f"before sending again; "
              f"{runs} backup runs ({failed_runs} gave up), {restores} restores, "
              f"all byte-identical; a 3 MiB pack resumed {resumed} times in pieces")
        assert relay.cuts > 0 and commits_checked >= lost[0] > 0
    finally:
        relay.stop()
        http_relay.stop()
        w.stop()
