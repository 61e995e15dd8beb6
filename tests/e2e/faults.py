"""What the randomized fault suites (test_kill.py, test_faults.py) share:
their seed and round counts, a service restarted on its own port, the
catalog-against-store check, per-point copies of a source tree, and a TCP
relay that cuts connections. Loopback only.

Seeds and rounds: each suite prints its seed; ARCA_SEED replays one.
ARCA_SOAK_SCALE multiplies every suite's default number of rounds (`make
soak` sets it to 10); test_gc.py's ARCA_SOAK_RUNS keeps its own meaning."""
import json
import os
import random
import shutil
import socket
import subprocess
import threading

from helpers import Service, admin, rsync_diff, run


def seeded(name):
    """A random generator for suite NAME, its seed printed so that a failure
    replays with ARCA_SEED."""
    seed = int(os.environ.get("ARCA_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"\n{name}: ARCA_SEED={seed}")
    return random.Random(seed)


def rounds(default):
    """DEFAULT rounds, times ARCA_SOAK_SCALE (1 unless `make soak`)."""
    return default * max(1, int(os.environ.get("ARCA_SOAK_SCALE", "1")))


def restart(world, port):
    """Start the world's service again on PORT, after a kill or a stop."""
    world.s = Service(world.s.arcad, world.s.data, port=port)
    world.s.sign_in()
    return world.s


def move_to_port(world, port):
    """Stop the world's service and start it on PORT: a fixed port, so that
    agents and relays find it again after every restart."""
    world.s.stop()
    return restart(world, port)


def point_agent_at(agent, url):
    """Send AGENT's requests to URL (a relay) from its next run on."""
    path = os.path.join(agent.home, "agent.json")
    with open(path) as f:
        conf = json.load(f)
    conf["service_url"] = url
    with open(path, "w") as f:
        json.dump(conf, f)


def kill_service(world):
    world.s.proc.kill()
    world.s.proc.communicate()


def store_consistent(world, regions):
    """Every pack the catalog names has its file in every region's store:
    nothing a recovery point may need is missing. The first region is the
    vault's own; a GRS pair's (the second) may lack the packs still queued
    for replication (copied later, by the replicator), and nothing else:
    `arcad verify` tells them apart (replication pending, not damage)."""
    packs = [p["id"] for p in admin(world.s, "pack", "list")["packs"]]
    for region in regions[:1]:
        files = {f.name for f in (world.s.data / "store" / region).rglob("*")
                 if f.is_file() and "/packs/" in str(f)}
        missing = [p for p in packs if p not in files]
        assert missing == [], (region, missing)
    if len(regions) > 1:
        p = run([world.s.arcad, "verify", "--data", str(world.s.data), "--json"])
        rep = json.loads(p.stdout.strip().splitlines()[-1])
        assert rep.get("bad_packs") == [], (p.returncode, rep)
    return len(packs)


class Sources:
    """A source tree that changes between backups, and a copy of it as it
    was at each backup, to check each point's restore against."""

    def __init__(self, tmp, rng, size=(32 << 10, 256 << 10)):
        self.tmp, self.rng, self.size = tmp, rng, size
        self.src = tmp / "src"
        self.src.mkdir()
        self.n = 0
        self.copies = {}  # point id -> the copy of the tree it holds

    def change(self, files=2):
        """New files, one changed file, maybe one removed; a copy kept as
        the tree now is (returned, for the point the next backup makes)."""
        self.n += 1
        for i in range(files):
            (self.src / f"f{self.n}-{i}").write_bytes(
                self.rng.randbytes(self.rng.randrange(*self.size)))
        # A new file each time (never rewritten in place), so that the
        # copies below may share the unchanged files' inodes.
        tmp = self.src / ".changing"
        tmp.write_bytes(self.rng.randbytes(4096 + self.n))
        os.replace(tmp, self.src / "changing")
        old = sorted(p for p in self.src.iterdir() if p.name.startswith("f"))
        # The tree stays at about ten files, so that many rounds (make soak)
        # keep its copies small.
        while len(old) > 10:
            os.remove(old.pop(self.rng.randrange(len(old))))
        copy = self.tmp / f"copy-{self.n}"
        shutil.copytree(self.src, copy, symlinks=True, copy_function=os.link)
        shutil.copystat(self.src, copy)
        return copy

    def check(self, agent, point, out):
        """Restore POINT into OUT (a fresh folder) and compare with its copy."""
        r = agent.json("restore", point, "--target", str(out))
        assert r["status"] == "complete", r
        diff = rsync_diff(self.copies[point], out / str(self.src).lstrip("/"))
        assert diff == "", (point, diff)
        shutil.rmtree(out)  # checked: its space goes back


def points(agent):
    return [p["id"] for p in agent.json("recovery-points")["recovery_points"]]


class CutRelay:
    """A TCP relay on 127.0.0.1 in front of the service: it forwards bytes
    both ways and, on the connections CUT(n) chooses (n counts them from 1),
    closes both sides once a random number of bytes (under CUT's answer, or
    in its range (LOW, HIGH)) went through in either direction. TLS goes through untouched; SCHEME is
    that of the service behind (for URL)."""

    def __init__(self, port, rng, cut, scheme="https"):
        self.port, self.rng, self.cut = port, rng, cut
        self.connections = self.cuts = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"{scheme}://127.0.0.1:{self.sock.getsockname()[1]}"
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                most = self.cut(self.connections)
                limit = (None if not most else self.rng.randrange(*most)
                         if isinstance(most, tuple) else self.rng.randrange(1, most))
            try:
                b = socket.create_connection(("127.0.0.1", self.port))
            except OSError:
                a.close()
                continue
            state = {"left": limit, "done": False}
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self._pipe, args=(x, y, a, b, state),
                                 daemon=True).start()

    def _pipe(self, src, dst, a, b, state):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    if state["done"]:
                        break
                    left = state["left"]
                    if left is not None and len(data) >= left:
                        data, state["done"] = data[:left], True
                        self.cuts += 1
                    elif left is not None:
                        state["left"] = left - len(data)
                dst.sendall(data)
                if state["done"]:
                    break
        except OSError:
            pass
        finally:
            # Why both sides at once: a cut connection is gone for both
            # ends, as when a network or a proxy drops it.
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def stop(self):
        self.sock.close()


def loop_fs(img, mnt, mib):
    """A MIB MiB ext4 file system in the file IMG on a loop device, mounted
    on the folder MNT: (True, cleanup), or (False, reason) when loop devices
    cannot be used here. CLEANUP unmounts and detaches."""
    def sh(*argv):
        return subprocess.run(argv, capture_output=True, text=True)

    if os.geteuid() != 0:
        return False, "mounting a loop device needs root"
    with open(img, "wb") as f:
        f.truncate(mib << 20)
    p = sh("mkfs.ext4", "-q", "-F", "-m", "0", str(img))
    if p.returncode:
        return False, f"mkfs.ext4 failed: {p.stderr.strip()}"
    p = sh("losetup", "--find", "--show", str(img))
    if p.returncode:
        return False, f"no loop device: {p.stderr.strip()}"
    dev = p.stdout.strip()
    p = sh("mount", dev, str(mnt))
    if p.returncode:
        sh("losetup", "-d", dev)
        return False, f"cannot mount {dev}: {p.stderr.strip()}"

    def cleanup():
        p = sh("umount", str(mnt))
        if p.returncode:
            sh("umount", "-l", str(mnt))
        sh("losetup", "-d", dev)

    return True, cleanup
