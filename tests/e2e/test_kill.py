"""SIGKILL at random points: of the agent during backups and restores, and
of the service (arcad) during pack uploads, commits and space collection.
After each kill what was killed starts again, every point committed so far
restores byte-identical (checked against a copy of the source as it was at
that point), a killed restore run again completes, and the next backup
completes. Kill points are chosen through a relay that sees every request:
after the Nth request of a kind and a random delay, or at a random moment
of the run."""
import os
import subprocess
import threading
import time

import pytest

from faults import (Sources, kill_service, move_to_port, point_agent_at, points, restart,
                    rounds, seeded, store_consistent)
from helpers import Relay, World, free_port, rsync_diff

pytestmark = pytest.mark.fault

API = "/api/v1"


class Trigger:
    """Fire ACTION once, DELAY seconds after the Nth request METHOD PATH
    (PATH a prefix when it ends with '/', else exact) reached the relay."""

    def __init__(self):
        self.lock = threading.Lock()
        self.arm(None)

    def arm(self, kind, n=1, delay=0.0, action=None):
        with self.lock:
            self.kind, self.n, self.delay, self.action = kind, n, delay, action
            self.seen, self.timer = 0, None

    def __call__(self, method, path, headers):
        with self.lock:
            if self.kind and self.timer is None and method == self.kind[0] and (
                    path.startswith(API + self.kind[1]) if self.kind[1].endswith("/")
                    else path == API + self.kind[1]):
                self.seen += 1
                if self.seen == self.n:
                    self.timer = threading.Timer(self.delay, self.action)
                    self.timer.start()
        return None

    def wait(self):
        """Whether it fired; waits for its action to end."""
        with self.lock:
            t = self.timer
        if t:
            t.join()
        return t is not None


class Kills:
    def __init__(self, world, port, rng, tmp):
        self.w, self.port, self.rng, self.tmp = world, port, rng, tmp
        self.trigger = Trigger()
        self.relay = Relay(world.s, self.trigger)
        # A request the relay cannot forward (the service was just killed)
        # closes the agent's connection unanswered, as a crash does.
        self.relay.server.handle_error = lambda *args: None
        self.machines = []
        self.a = self.new_machine()
        self.src = Sources(tmp, rng)
        self.outs = 0
        self.count = {"b": 0, "r": 0, "u": 0, "c": 0, "g": 0}
        self.tries = 0  # runs with a kill armed, landed or not
        self.checked = 0

    def new_machine(self):
        """A machine of its own behind the relay: the rounds move on to a new
        one before the current one nears its 366 points, so that many rounds
        (make soak) never meet the limit."""
        a = self.w.register(f"server-01-{len(self.machines) + 1}")
        point_agent_at(a, self.relay.url)
        self.machines.append(a)
        return a

    def roll(self):
        """Each round adds at most three points."""
        if len(points(self.a)) > 366 - 10:
            self.a = self.new_machine()

    def out(self):
        self.outs += 1
        return self.tmp / f"out-{self.outs}"

    def backup(self):
        """A backup that must complete; its point and the copy it holds."""
        copy = self.src.change()
        pt = self.a.json("backup", str(self.src.src))["recovery_point"]
        self.src.copies[pt] = copy
        return pt

    def verify(self, new, older=1):
        """Every point in NEW and OLDER random earlier ones restore
        byte-identical (and at the end of the test, every point)."""
        known = [p for p in points(self.a) if p in self.src.copies]
        earlier = [p for p in known if p not in new]
        for pt in list(new) + self.rng.sample(earlier, min(older, len(earlier))):
            self.src.check(self.a, pt, self.out())
            self.checked += 1

    def killed_run(self, args, kind, n, delay, service=False):
        """Run the agent with ARGS; kill the agent (or the service) DELAY
        seconds after the Nth request KIND, or, KIND None, DELAY seconds
        after the start. The service, once killed, is started again at once,
        while the agent may still be retrying. Whether the kill landed."""
        killed = threading.Event()
        self.tries += 1
        p = self.a.popen(*args)

        def kill():
            if service:
                kill_service(self.w)
            elif p.poll() is None:
                p.kill()
            else:
                return
            killed.set()

        if kind is None:
            timer = threading.Timer(delay, kill)
            timer.start()
        else:
            self.trigger.arm(kind, n, delay, kill)
        restarted = False
        while p.poll() is None:
            if service and killed.is_set() and not restarted:
                self.relay.service = restart(self.w, self.port)
                restarted = True
            time.sleep(0.005)
        if kind is None:
            timer.cancel()
            timer.join()
        else:
            self.trigger.wait()
            self.trigger.arm(None)
        if service and killed.is_set() and not restarted:
            self.relay.service = restart(self.w, self.port)
        out, err = p.communicate()
        assert "Sanitizer" not in err and "runtime error" not in err, err[-4000:]
        if not service:
            # A kill sent as the agent was ending its run did not land.
            return p.returncode == -9, p.returncode, err
        return killed.is_set(), p.returncode, err

    # ---- the agent ----

    def agent_backup(self):
        self.roll()
        kind = self.rng.choice([None, ("POST", "/recovery-points/begin"),
                                ("POST", "/objects/missing"), ("PUT", "/packs/"),
                                ("POST", "/recovery-points"), ("GET", "/recovery-points")])
        delay = self.rng.uniform(0, 0.6 if kind is None else 0.03)
        before = set(points(self.a))
        copy = self.src.change()
        landed, rc, err = self.killed_run(["backup", str(self.src.src), "--json"], kind, 1, delay)
        new = [p for p in points(self.a) if p not in before]
        assert len(new) <= 1, new
        for pt in new:
            self.src.copies[pt] = copy
        if landed:
            self.count["b"] += 1
        else:
            assert rc == 0, err
        new.append(self.backup())
        self.verify(new, older=0)  # an agent's kill harms no earlier point
        return landed

    def agent_restore(self):
        pt = self.rng.choice([p for p in points(self.a) if p in self.src.copies])
        kind = self.rng.choice([None, ("POST", "/objects/locate"), ("GET", "/packs/"),
                                ("GET", "/packs/")])
        n = self.rng.randrange(1, 4)
        delay = self.rng.uniform(0, 0.3 if kind is None else 0.02)
        out = self.out()
        landed, rc, err = self.killed_run(["restore", pt, "--target", str(out), "--json"],
                                          kind, n, delay)
        if landed:
            self.count["r"] += 1
        else:
            assert rc == 0, err
        # Run again into the same folder: it completes, and the folder holds
        # the point and nothing else (no leftover of the killed run).
        self.src.check(self.a, pt, out)
        self.checked += 1
        return landed

    # ---- the service ----

    def service_during(self, kind, key):
        self.roll()
        before = set(points(self.a))
        copy = self.src.change()
        delay = self.rng.uniform(0, 0.04)
        landed, rc, err = self.killed_run(["backup", str(self.src.src), "--json"], kind, 1,
                                          delay, service=True)
        store_consistent(self.w, ("local-1", "local-2"))
        new = [p for p in points(self.a) if p not in before]
        assert len(new) <= 1, new
        for pt in new:
            self.src.copies[pt] = copy
        if landed:
            self.count[key] += 1
        elif rc != 0:
            raise AssertionError(err)
        new.append(self.backup())
        self.verify(new)
        return landed


def collection_kills(k, world, b, b_src, b_point, b_copy, rng, wanted):
    """Kill the service while it collects the garbage that agent B's failed
    backups leave (their commits refused by B's relay, their leases given
    back): the store stays consistent and B's committed point restores."""
    landed = 0
    # A pass over a few garbage packs takes milliseconds (less since a GRS
    # pack's pair copy is made later), so many kills land after it ended:
    # try up to six times as often as kills are wanted.
    for i in range(wanted * 6):
        if landed == wanted:
            break
        (b_src / f"garbage-{i}").write_bytes(rng.randbytes(256 << 10))
        p = b.run("backup", str(b_src), "--json")
        assert p.returncode != 0 and "refused by the test" in p.stdout + p.stderr, p
        os.remove(b_src / f"garbage-{i}")
        done = threading.Event()

        def collect():
            try:
                world.s.call("POST", "/vaults/backup-vault/collect")
            except Exception:  # the service was killed under it
                pass
            done.set()

        t = threading.Thread(target=collect)
        t.start()
        time.sleep(rng.uniform(0, 0.012))
        was_done = done.is_set()
        kill_service(world)
        t.join()
        if not was_done:
            landed += 1
        store_consistent(world, ("local-1", "local-2"))
        k.relay.service = k.relay_b.service = restart(world, k.port)
        out = k.out()
        r = b.json("restore", b_point, "--target", str(out))
        assert r["status"] == "complete", r
        assert rsync_diff(b_copy, out / str(b_src).lstrip("/")) == ""
    return landed


def test_sigkill_agent_and_service(arcad_bin, arca_bin, tmp_path):
    rng = seeded("test_kill")
    started = time.monotonic()
    w = World(arcad_bin, arca_bin, tmp_path)
    port = free_port()
    move_to_port(w, port)
    k = None
    try:
        k = Kills(w, port, rng, tmp_path)
        k.backup()
        # The agent: backups and restores, killed.
        per = rounds(15)
        phases = {}
        for what, want in (("b", per), ("r", per)):
            t = time.monotonic()
            for _ in range(want * 4):
                if k.count[what] >= want:
                    break
                k.agent_backup() if what == "b" else k.agent_restore()
            assert k.count[what] >= want, (what, k.count)
            phases[what] = time.monotonic() - t
        # The service: killed while a pack upload or a commit is at work.
        per = rounds(10)
        for key, kind in (("u", ("PUT", "/packs/")), ("c", ("POST", "/recovery-points"))):
            t = time.monotonic()
            for _ in range(per * 3):
                if k.count[key] >= per:
                    break
                k.service_during(kind, key)
            assert k.count[key] >= per, (key, k.count)
            phases[key] = time.monotonic() - t
        t = time.monotonic()
        # The service: killed while collecting agent B's garbage.
        b_src = tmp_path / "b-src"
        b_src.mkdir()
        (b_src / "base").write_bytes(rng.randbytes(1 << 20))
        b = w.register("server-02")
        b_point = b.json("backup", str(b_src))["recovery_point"]
        b_copy = tmp_path / "b-copy"
        subprocess.run(["cp", "-a", str(b_src), str(b_copy)], check=True)

        def refuse(method, path, headers):
            if method == "POST" and path == API + "/recovery-points":
                return 500, {"error": {"code": "io", "message": "commit refused by the test"}}
            return None

        b_relay = Relay(w.s, refuse)
        try:
            point_agent_at(b, b_relay.url)
            k.relay_b = b_relay
            k.count["g"] = collection_kills(k, w, b, b_src, b_point, b_copy, rng, per)
        finally:
            b_relay.stop()
        assert k.count["g"] >= per, k.count
        phases["g"] = time.monotonic() - t
        t = time.monotonic()
        # At the end: every point restores byte-identical, and a backup
        # completes.
        k.backup()
        every = []
        for a in k.machines:
            mine = points(a)
            assert all(p in k.src.copies for p in mine), mine
            for pt in mine:
                k.src.check(a, pt, k.out())
            every += mine
        phases["final"] = time.monotonic() - t
        c = k.count
        print(f"kill points: {c['b'] + c['r']} agent ({c['b']} backup, {c['r']} restore), "
              f"{c['u'] + c['c'] + c['g']} service ({c['u']} upload, {c['c']} commit, "
              f"{c['g']} collection); 0 damaged recovery points "
              f"({k.tries} runs with a kill armed, {len(every)} points on "
              f"{len(k.machines)} machines, "
              f"{k.checked + len(every)} restores checked, "
              f"{time.monotonic() - started:.0f} s: "
              + ", ".join(f"{x} {v:.0f} s" for x, v in phases.items()) + ")")
    finally:
        if k:
            k.relay.stop()
        w.stop()
