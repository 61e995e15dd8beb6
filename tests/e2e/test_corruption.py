"""The corruption suite: damage to the stores or the catalog, applied at
random one at a time to a world whose machine backed up a few MiB of varied
files (small and large, some deduplicated) in several recovery points.

Each round applies one corruption of a random kind: a byte flipped at a
random offset of a random pack copy (either region of the GRS vault), a
pack copy truncated at a random length, a pack copy deleted, or a catalog
row lost (the catalog's SQLite file opened directly, as the fault being
injected: a row of the objects-to-packs table, a pack row, or a point's
references). Then:

- `arcad verify`, run beside the running service, must detect it: exit 3
  and name the damaged pack copy, the stray pack or the damaged point;
- a restore of a point it names damaged (or of any point when it names
  none) must never write a wrong byte: every file it wrote is identical to
  the source, and every file it did not restore is named in its report's
  "failed" list (or the whole restore failed with an error).

- the machine's own check, `arca verify --read-data` (every chunk read),
  must see exactly the corruptions that take an object its points
  reference from the region it reads (the vault's own; restores read it
  too): a flip inside an object, a truncation that cuts one off, a lost
  object or pack row (a deleted pack copy of the vault's own region is not
  among them: the service serves the GRS pair's copy instead). Which objects a corruption takes is
  worked out from the pristine packs' tables of contents (docs/FORMAT.md)
  and the points' references in the catalog. It must then exit 8 and name
  exactly the points that reference them, and every file the restore
  named as not restored (or a folder above it); for what it cannot see (a
  pair-region copy, a pack's header, table or trailer, a lost point_refs
  row, which only the collector reads) it must exit 0. A lost row also
  shows without --read-data, from the catalog and POST /packs/present; a
  truncated pack is still present, so only reading finds it.

The round then puts back exactly what it changed (the file's bytes, the
row) beside the running service: a few milliseconds, where copying the
data folder back (0.1 s) and restarting the service on it (0.2 s) would
double a round's time. A last verify, after every round was undone, must
find the data clean again. Rounds: 200, times ARCA_SOAK_SCALE (faults.rounds); the seed
is printed and ARCA_SEED replays it."""
import json
import os
import random
import shutil
import sqlite3
import struct
import time

import pytest

import faults
from helpers import replicated, run

pytestmark = pytest.mark.fault

ROUNDS = faults.rounds(200)


def make_source(src, rnd):
    """A few MiB: small text files, two large random ones, a compressible
    one, and the same content under three names (deduplicated)."""
    (src / "small").mkdir(parents=True)
    words = [b"alpha", b"beta", b"gamma", b"delta", b"backup", b"vault", b"\n"]
    for i in range(40):
        n = rnd.randrange(50, 9000)
        (src / "small" / f"note-{i:02}.txt").write_bytes(
            b" ".join(rnd.choice(words) for _ in range(n // 6)))
    (src / "large-1.bin").write_bytes(rnd.randbytes(1536 * 1024))
    (src / "large-2.bin").write_bytes(rnd.randbytes(1024 * 1024))
    (src / "pattern.bin").write_bytes(b"0123456789abcdef" * 32768)
    same = rnd.randbytes(300 * 1024)
    (src / "dup").mkdir()
    for name in ("a.bin", "b.bin", "c.bin"):
        (src / "dup" / name).write_bytes(same)
    (src / "empty.txt").write_bytes(b"")


def change_source(src, rnd, k):
    for i in rnd.sample(range(40), 6):
        with open(src / "small" / f"note-{i:02}.txt", "ab") as f:
            f.write(f"changed in round {k}\n".encode())
    with open(src / "large-1.bin", "r+b") as f:
        f.seek(rnd.randrange(1 << 20))
        f.write(rnd.randbytes(4096))
    (src / f"new-{k}.bin").write_bytes(rnd.randbytes(200 * 1024))
    shutil.copyfile(src / "dup" / "a.bin", src / f"dup-again-{k}.bin")


def files_of(root):
    """Relative path -> bytes of every regular file under ROOT."""
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    out[os.path.relpath(p, root)] = f.read()
    return out


def verify(world):
    p = run([world.s.arcad, "verify", "--data", str(world.s.data), "--json"])
    assert p.returncode in (0, 3), (p.returncode, p.stdout, p.stderr)
    return p.returncode, json.loads(p.stdout)


class Catalog:
    """The catalog's SQLite file, opened as the fault: one random row of a
    table taken out, and put back as it was."""

    KEYS = {"objects": ("machine_id", "id"), "packs": ("id",), "point_refs": ("point_id",)}

    def __init__(self, path):
        self.path = path

    def _db(self):
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA busy_timeout = 30000")
        return db

    def lose(self, table, rnd):
        db = self._db()
        try:
            cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            rows = db.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
            row = rnd.choice(rows)
            keys = self.KEYS[table]
            where = " AND ".join(f"{k} = ?" for k in keys)
            vals = [row[cols.index(k)] for k in keys]
            with db:
                cur = db.execute(f"DELETE FROM {table} WHERE {where}", vals)
                assert cur.rowcount == 1
            return dict(zip(cols, row))
        finally:
            db.close()

    def put_back(self, table, row):
        db = self._db()
        try:
            cols = list(row)
            with db:
                db.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                           f"({', '.join('?' for _ in cols)})", [row[c] for c in cols])
        finally:
            db.close()


def pack_copies(world):
    return sorted(p for p in (world.s.data / "store").rglob("*")
                  if p.is_file() and "/packs/" in str(p))


def corrupt(world, cat, rnd):
    """Apply one random corruption: (kind, what to look for in verify's
    report, how to undo it, what exactly was damaged: the pack copy's region,
    pack id and the damaged byte or the length left, or the lost row)."""
    kind = rnd.choice(["flip", "truncate", "delete", "row"])
    if kind != "row":
        path = rnd.choice(pack_copies(world))
        region = path.relative_to(world.s.data / "store").parts[0]
        data, mode = path.read_bytes(), path.stat().st_mode
        fault = {"region": region, "pack": path.name}
        if kind == "flip":
            off = fault["at"] = rnd.randrange(len(data))
            bad = bytearray(data)
            bad[off] ^= rnd.randrange(1, 256)
            path.write_bytes(bytes(bad))
        elif kind == "truncate":
            fault["left"] = rnd.randrange(len(data))
            os.truncate(path, fault["left"])
        else:
            path.unlink()

        def undo():
            path.write_bytes(data)
            os.chmod(path, mode)
        return kind, ("pack", path.name, region), undo, fault
    table = rnd.choice(["objects", "packs", "point_refs"])
    row = cat.lose(table, rnd)
    want = {"objects": ("unplaced", row.get("machine_id")), "packs": ("stray", row.get("id")),
            "point_refs": ("refs", row.get("point_id"))}[table]
    return f"row:{table}", want, lambda: cat.put_back(table, row), {"table": table, "row": row}


def detected(rc, rep, want):
    """Whether verify's report names the corruption WANT."""
    if rc != 3 or rep["clean"]:
        return False
    if want[0] == "pack":
        return any(b["id"] == want[1] and b["region"] == want[2] for b in rep["bad_packs"])
    if want[0] == "stray":
        return any(s["id"] == want[1] for s in rep["stray_packs"])
    if want[0] == "unplaced":
        return any(p["machine"] == want[1] and p["objects_unplaced"] > 0
                   for p in rep["damaged_points"])
    return any(p["id"] == want[1] and p["references_lost"] for p in rep["damaged_points"])


def pack_table(data):
    """The objects of the pack DATA as {object id: (offset, sealed length)},
    read from its table of contents (docs/FORMAT.md, Packs)."""
    assert data[-8:] == b"ARCAPEND", "not a pack"
    t_off, t_len = struct.unpack_from("<QI", data, len(data) - 56)
    n, _ = struct.unpack_from("<II", data, t_off)
    assert t_len == 8 + 48 * n
    out = {}
    for i in range(n):
        e = t_off + 8 + 48 * i
        length, off = struct.unpack_from("<IQ", data, e + 36)
        out[data[e:e + 32].hex()] = (off, length)
    return out


class AgentView:
    """What the agent's verify can see of the world: the packs' objects, as
    the pristine packs' tables of contents place them, and the objects each
    of the machine's points references (the service's point_refs, which
    list every object a point's commit named)."""

    def __init__(self, world, cat_path):
        db = sqlite3.connect(cat_path, timeout=30)
        try:
            self.region, = db.execute("SELECT region FROM vaults").fetchone()
            self.machine, = db.execute("SELECT DISTINCT machine_id FROM points").fetchone()
            self.refs = {pid: {blob[i:i + 32].hex() for i in range(0, len(blob), 32)}
                         for pid, blob in db.execute("SELECT point_id, ids FROM point_refs")}
            placed = {(oid, pack): (off, n) for oid, pack, off, n in db.execute(
                "SELECT id, pack_id, offset, length FROM objects WHERE machine_id = ?",
                (self.machine,))}
        finally:
            db.close()
        self.packs = {}
        for path in pack_copies(world):
            if path.relative_to(world.s.data / "store").parts[0] == self.region:
                self.packs[path.name] = pack_table(path.read_bytes())
        # The catalog places each object where its pack's table does: the
        # agent reads at the catalog's offsets.
        assert placed == {(o, p): v for p, t in self.packs.items() for o, v in t.items()}
        self.referenced = set().union(*self.refs.values())

    def hit(self, fault):
        """The referenced objects FAULT takes from the agent, which reads the
        vault's own region at the catalog's offsets: a flip inside an object,
        a truncation that cuts one off, a lost object or pack row. A deleted
        pack copy is read from the GRS pair instead; a pair-region copy, a
        pack's header, table or trailer, and the collector's point_refs rows
        are not the agent's to see."""
        if "table" in fault:
            row = fault["row"]
            if fault["table"] == "objects":
                lost = {row["id"]} if row["machine_id"] == self.machine else set()
            elif fault["table"] == "packs":
                lost = set(self.packs.get(row["id"], {}))
            else:
                lost = set()
        elif fault["region"] != self.region:
            lost = set()
        else:
            table = self.packs[fault["pack"]]
            if "at" in fault:
                lost = {o for o, (off, n) in table.items() if off <= fault["at"] < off + n}
            elif "left" in fault:
                lost = {o for o, (off, n) in table.items() if off + n > fault["left"]}
            else:
                # A deleted copy in the vault's own region: the service
                # serves the GRS pair's copy (one fault at a time, so it is
                # whole), and nothing is lost to the agent.
                lost = set()
        return lost & self.referenced

    def points_of(self, objects):
        return {p for p, ids in self.refs.items() if ids & objects}


def named_by(damaged, path):
    """Whether the agent's report of a DAMAGED point names PATH (relative to
    the root): itself, or a folder above it (a lost listing, or "/" for the
    point's record, names everything below)."""
    for f in damaged["files"]:
        p = f["path"].strip("/")
        if p == "" or path == p or path.startswith(p + "/"):
            return True
    return False


def agent_verify(agent, *args):
    """`arca verify ARGS --json`: (exit status, report)."""
    p = agent.run("verify", *args, "--json")
    assert p.returncode in (0, 8), (p.returncode, p.stdout, p.stderr)
    return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])


def check_restore(agent, out, point, expect):
    """Restore POINT into OUT and hold it to EXPECT (relative path ->
    bytes): (wrong files, files named as not restored, the paths it named
    as not restored or None when the whole restore failed)."""
    p = agent.run("restore", point, "--target", str(out), "--json")
    assert p.returncode in (0, 1, 5), (p.returncode, p.stdout, p.stderr)
    rep = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    got = files_of(out)
    wrong = [f for f, b in got.items() if expect.get(f) != b]
    if p.returncode == 1:
        # The whole restore failed, with an error: nothing is claimed.
        assert "error" in rep, (p.stdout, p.stderr)
        return wrong, len(expect) - (len(got) - len(wrong)), None
    failed = {f["path"].lstrip("/") for f in rep["failed"]}
    for f in expect:
        assert f in got or f in failed, f"{f} neither restored nor named as failed: {rep}"
        if f in failed:
            # Named as not restored: never left behind with other bytes.
            assert f not in got or got[f] == expect[f], f
    assert (p.returncode == 5) == bool(failed), rep
    return wrong, len(failed), failed


def test_corruptions_are_detected_and_never_restored_wrong(world, tmp_path):
    seed = int(os.environ.get("ARCA_SEED", random.randrange(1 << 32)))
    print(f"corruption seed {seed} (ARCA_SEED={seed} replays it), {ROUNDS} rounds")
    rnd = random.Random(seed)
    agent = world.register("server-01")
    src = tmp_path / "src"
    make_source(src, rnd)
    points = {}  # point id -> its files, relative to the restore target
    for k in range(3):
        if k:
            change_source(src, rnd, k)
        r = agent.json("backup", str(src))
        assert r["status"] == "complete", r
        points[r["recovery_point"]] = {os.path.join(str(src).lstrip("/"), f): b
                                       for f, b in files_of(src).items()}
    replicated(world.s)  # every pack in both regions before anything breaks
    cat = Catalog(world.s.data / "catalog.db")

    # Pristine: verify finds nothing, and every point restores whole.
    rc, rep = verify(world)
    assert rc == 0 and rep["clean"], rep
    assert rep["points"] == 3 and rep["copies"] == 2 * rep["packs"], rep
    for pid, expect in points.items():
        out = tmp_path / "out"
        wrong, named, _ = check_restore(agent, out, pid, expect)
        assert wrong == [] and named == 0
        shutil.rmtree(out, ignore_errors=True)
    # The agent's verify, pristine: every object each point references, and
    # nothing wrong.
    view = AgentView(world, world.s.data / "catalog.db")
    assert set(view.refs) == set(points)
    for args in ((), ("--read-data",)):
        arc, arep = agent_verify(agent, *args)
        assert arc == 0 and arep["status"] == "ok" and arep["points"] == 3, arep
        assert arep["objects"] == len(view.referenced), (arep, len(view.referenced))
        if args:  # --read-data's default sample reads every chunk
            assert arep["sample"] == 100 and arep["data_read"] == arep["data_objects"], arep

    applied = found = wrong_total = named_total = 0
    visible = agent_found = false_alarms = 0
    kinds, agent_seconds = {}, 0.0
    started = time.monotonic()
    for k in range(ROUNDS):
        kind, want, undo, fault = corrupt(world, cat, rnd)
        applied += 1
        kinds[kind] = kinds.get(kind, 0) + 1
        try:
            rc, rep = verify(world)
            ok = detected(rc, rep, want)
            found += ok
            assert ok, f"round {k}: {kind} {want} not detected: {rc} {rep}"

            # The agent's verify reads every chunk (--read-data samples 100%
            # by default): it must see exactly what damages its points in
            # the region it reads, and raise no alarm for what does not.
            lost = view.hit(fault)
            hurt = view.points_of(lost)
            visible += bool(lost)
            t0 = time.monotonic()
            arc, arep = agent_verify(agent, "--read-data")
            agent_seconds += time.monotonic() - t0
            told = {p["id"]: p for p in arep["damaged_points"]}
            why = f"round {k}: {kind} {fault}: {len(lost)} objects of {sorted(hurt)}: {arc} {arep}"
            if lost:
                assert arc == 8 and arep["status"] == "damaged" and set(told) == hurt, why
                assert all(told[p]["files"] for p in hurt), why
                agent_found += 1
            else:
                false_alarms += arc != 0
                assert arc == 0 and arep["status"] == "ok" and not told, why
            if kind in ("delete", "row:objects", "row:packs"):
                # Without --read-data it checks the catalog and that each
                # pack is in the store (POST /packs/present stats it): a
                # deleted pack or a lost row shows, no read needed. (A
                # truncated pack is still present: only reading finds it.)
                t0 = time.monotonic()
                arc2, arep2 = agent_verify(agent)
                agent_seconds += time.monotonic() - t0
                assert arc2 == arc and {p["id"] for p in arep2["damaged_points"]} == hurt, \
                    f"{why}; without --read-data: {arc2} {arep2}"
            damaged = [p["id"] for p in rep["damaged_points"] if not p["deleted"]]
            point = rnd.choice(damaged or sorted(points))
            out = tmp_path / f"out-{k}"
            wrong, named, failed = check_restore(agent, out, point, points[point])
            wrong_total += len(wrong)
            named_total += named
            assert wrong == [], f"round {k}: {kind} {want}: wrong bytes restored in {wrong}"
            # What the restore could not give back, the agent's verify named.
            if failed is None or failed:
                assert point in told, f"{why}; restore of {point}: {failed}"
                unnamed = {f for f in failed or () if not named_by(told[point], f)}
                assert not unnamed or told[point]["more_files"], \
                    f"{why}; restore of {point} failed {sorted(unnamed)}"
            if point not in hurt:
                assert named == 0, f"{why}; restore of {point}: {named} files not restored"
            if not damaged or (want[0] == "pack" and want[2] == "local-2") or \
                    (kind == "delete" and want[0] == "pack"):
                # What verify calls undamaged restores whole; so does a point
                # whose only bad copy is the GRS pair's (restores read the
                # vault's own region), or whose own region lost a copy (the
                # pair's is served instead).
                assert named == 0, f"round {k}: {kind} {want}: {named} files not restored"
            shutil.rmtree(out, ignore_errors=True)
        finally:
            undo()
    seconds = time.monotonic() - started
    rc, rep = verify(world)
    assert rc == 0 and rep["clean"], rep
    print(f"kinds: {dict(sorted(kinds.items()))}; {seconds:.1f} s, of which "
          f"{agent_seconds:.1f} s in arca verify")
    print(f"corruptions: {applied} applied, {found} detected by arcad verify, {visible} "
          f"visible to the agent, {agent_found} detected by arca verify, {false_alarms} false "
          f"alarms, {wrong_total} wrong bytes restored, {named_total} files named as not restored")
    assert found == applied and agent_found == visible and false_alarms == 0
    assert wrong_total == 0
