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

The round then puts back exactly what it changed (the file's bytes, the
row) beside the running service: a few milliseconds, where copying the
data folder back (0.1 s) and restarting the service on it (0.2 s) would
double a round's time. A last verify, after every round was undone, must
find the data clean again. Rounds: 200, or ten times ARCA_SOAK_RUNS; the seed
is printed and ARCA_SEED replays it."""
import json
import os
import random
import shutil
import sqlite3
import time

import pytest

from helpers import run

pytestmark = pytest.mark.fault

SOAK = int(os.environ.get("ARCA_SOAK_RUNS", "0"))
ROUNDS = 10 * SOAK if SOAK else 200


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
    report, how to undo it)."""
    kind = rnd.choice(["flip", "truncate", "delete", "row"])
    if kind != "row":
        path = rnd.choice(pack_copies(world))
        region = path.relative_to(world.s.data / "store").parts[0]
        data, mode = path.read_bytes(), path.stat().st_mode
        if kind == "flip":
            off = rnd.randrange(len(data))
            bad = bytearray(data)
            bad[off] ^= rnd.randrange(1, 256)
            path.write_bytes(bytes(bad))
        elif kind == "truncate":
            os.truncate(path, rnd.randrange(len(data)))
        else:
            path.unlink()

        def undo():
            path.write_bytes(data)
            os.chmod(path, mode)
        return kind, ("pack", path.name, region), undo
    table = rnd.choice(["objects", "packs", "point_refs"])
    row = cat.lose(table, rnd)
    want = {"objects": ("unplaced", row.get("machine_id")), "packs": ("stray", row.get("id")),
            "point_refs": ("refs", row.get("point_id"))}[table]
    return f"row:{table}", want, lambda: cat.put_back(table, row)


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


def check_restore(agent, out, point, expect):
    """Restore POINT into OUT and hold it to EXPECT (relative path ->
    bytes): (wrong files, files named as not restored)."""
    p = agent.run("restore", point, "--target", str(out), "--json")
    assert p.returncode in (0, 1, 5), (p.returncode, p.stdout, p.stderr)
    rep = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    got = files_of(out)
    wrong = [f for f, b in got.items() if expect.get(f) != b]
    if p.returncode == 1:
        # The whole restore failed, with an error: nothing is claimed.
        assert "error" in rep, (p.stdout, p.stderr)
        return wrong, len(expect) - (len(got) - len(wrong))
    failed = {f["path"].lstrip("/") for f in rep["failed"]}
    for f in expect:
        assert f in got or f in failed, f"{f} neither restored nor named as failed: {rep}"
        if f in failed:
            # Named as not restored: never left behind with other bytes.
            assert f not in got or got[f] == expect[f], f
    assert (p.returncode == 5) == bool(failed), rep
    return wrong, len(failed)


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
    cat = Catalog(world.s.data / "catalog.db")

    # Pristine: verify finds nothing, and every point restores whole.
    rc, rep = verify(world)
    assert rc == 0 and rep["clean"], rep
    assert rep["points"] == 3 and rep["copies"] == 2 * rep["packs"], rep
    for pid, expect in points.items():
        out = tmp_path / "out"
        wrong, named = check_restore(agent, out, pid, expect)
        assert wrong == [] and named == 0
        shutil.rmtree(out, ignore_errors=True)

    applied = found = wrong_total = named_total = 0
    kinds = {}
    started = time.monotonic()
    for k in range(ROUNDS):
        kind, want, undo = corrupt(world, cat, rnd)
        applied += 1
        kinds[kind] = kinds.get(kind, 0) + 1
        try:
            rc, rep = verify(world)
            ok = detected(rc, rep, want)
            found += ok
            assert ok, f"round {k}: {kind} {want} not detected: {rc} {rep}"
            damaged = [p["id"] for p in rep["damaged_points"] if not p["deleted"]]
            point = rnd.choice(damaged or sorted(points))
            out = tmp_path / f"out-{k}"
            wrong, named = check_restore(agent, out, point, points[point])
            wrong_total += len(wrong)
            named_total += named
            assert wrong == [], f"round {k}: {kind} {want}: wrong bytes restored in {wrong}"
            if not damaged or (want[0] == "pack" and want[2] == "local-2"):
                # What verify calls undamaged restores whole; so does a point
                # whose only bad copy is the GRS pair's (restores read the
                # vault's own region).
                assert named == 0, f"round {k}: {kind} {want}: {named} files not restored"
            shutil.rmtree(out, ignore_errors=True)
        finally:
            undo()
    seconds = time.monotonic() - started
    rc, rep = verify(world)
    assert rc == 0 and rep["clean"], rep
    print(f"kinds: {dict(sorted(kinds.items()))}; {seconds:.1f} s")
    print(f"corruptions: {applied} applied, {found} detected, {wrong_total} wrong bytes "
          f"restored, {named_total} files named as not restored")
    assert found == applied and wrong_total == 0
