"""Backups and restores through the hostile double of test_hostile.py with
a fixed seed, and not marked `fault`: the sanitizer build runs it, so an
answer that made the agent read out of bounds, leak or crash would fail
here. Each run ends cleanly: done, partial with the files named, or
refused with a message."""
import os
import random

from helpers import Relay
from test_hostile import Hostile, check_round, fresh_cache, point_to, run_measured, snapshot_tree


def test_backups_and_restores_through_a_hostile_service_end_cleanly(world, tmp_path):
    rng = random.Random(20261206)
    a = world.register("server-01")
    logs = tmp_path / "logs"
    logs.mkdir()
    a.tmpfile = lambda n: str(logs / n)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "big.bin").write_bytes(rng.randbytes(2 << 20))
    for i in range(6):
        (src / "sub" / f"f{i}.txt").write_bytes(rng.randbytes(rng.randrange(1, 30000)))
    first = a.json("backup", str(src))
    prefix = str(src).lstrip("/")
    states = {first["recovery_point"]: {os.path.join(prefix, k): v
                                         for k, v in snapshot_tree(src).items()}}
    hostile = Hostile(rng)
    relay = Relay(world.s, respond=hostile.respond)
    relay.server.handle_error = lambda *args: None  # the agent hangs up on what it refuses
    codes = []
    try:
        point_to(a, relay.url)
        fresh_cache(a)
        code, out, err, _ = run_measured(a, "restore", "latest", "--target",
                                         str(tmp_path / "honest"), "--json")
        assert code == 0, err  # the pools hold honest answers to swap and replay
        for rnd in range(6):
            (src / "sub" / f"new-{rnd}.txt").write_bytes(rng.randbytes(20000))
            hostile.p = 0.3
            code, out, err, _ = run_measured(a, "backup", str(src), "--json")
            hostile.p = 0.0
            codes.append(("backup", code))
            assert code in (0, 1, 5), (code, out[-2000:], err[-2000:])
            assert code != 1 or err.strip() or out.strip()
        for rnd in range(4):
            fresh_cache(a)
            target = tmp_path / f"restore-{rnd}"
            hostile.p = 0.4
            code, out, err, _ = run_measured(a, "restore", first["recovery_point"], "--target",
                                             str(target), "--json")
            hostile.p = 0.0
            codes.append(("restore", code))
            wrong, unnamed = check_round(states, str(target), code, out, err, f"restore {rnd}")
            assert not wrong and not unnamed, (wrong, unnamed, out[-2000:])
    finally:
        relay.stop()
    print(f"hostile answers to backups and restores: {hostile.served} served, exit codes {codes}")
    assert hostile.served > 0


def test_a_commit_answer_about_another_point_is_refused(world, tmp_path):
    """The service answers a commit with an earlier commit's answer (a
    replay): the agent must not report that older point as this backup's."""
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.txt").write_text("one\n")
    first = a.json("backup", str(src))
    kept = {}

    def respond(h, method, path, headers, status, data, answer_headers):
        if method == "POST" and path == "/api/v1/recovery-points" and status == 201:
            if "old" not in kept:
                kept["old"] = data
                return False
            h.send_response(201)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(kept["old"])))
            h.end_headers()
            h.wfile.write(kept["old"])
            return True
        return False

    relay = Relay(world.s, respond=respond)
    try:
        point_to(a, relay.url)
        (src / "f.txt").write_text("two\n")
        second = a.json("backup", str(src))  # its answer is kept, and passed on
        (src / "f.txt").write_text("three\n")
        p = a.run("backup", str(src), "--json")
        assert p.returncode == 1, (p.stdout, p.stderr)
        assert "about another recovery point" in p.stdout + p.stderr, (p.stdout, p.stderr)
        assert second["recovery_point"] not in p.stdout
    finally:
        relay.stop()
    point_to(a, world.s.url)
    ids = [x["id"] for x in a.json("recovery-points")["recovery_points"]]
    # The third backup was committed all the same; the agent only refused
    # to name it by another point's id.
    assert ids[:2] == [first["recovery_point"], second["recovery_point"]] and len(ids) == 3
