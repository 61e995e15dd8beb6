"""`arcad verify`: the stores checked against the catalog without keys,
beside the running service. Clean data exits 0; damage exits 3 and is
named (the pack copy, its region, the recovery point and its machine); a
catalog that cannot be read exits 1, never 0 or 3; bad command lines exit
2. On a terminal it draws a progress line on stderr. (The randomized
corruption suite is test_corruption.py.)"""
import json
import os
import pty
import shutil
import subprocess

from helpers import replicated, run


def backed_up(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(600 * 1024))
    (src / "b.txt").write_text("verify me\n" * 100)
    r = a.json("backup", str(src))
    assert r["status"] == "complete", r
    replicated(world.s)  # the pair's copies are the replicator's, made after
    return a, r["recovery_point"]


def verify(world, *args, data=None):
    return run([world.s.arcad, "verify", "--data", str(data or world.s.data), *args])


def test_clean_then_damage_named(world, tmp_path):
    a, point = backed_up(world, tmp_path)
    p = verify(world)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "no damage found" in p.stdout
    p = verify(world, "--json", "--vault", "backup-vault")
    rep = json.loads(p.stdout)
    assert p.returncode == 0 and rep["clean"], rep
    assert rep["vaults"] == 1 and rep["machines"] == 1 and rep["points"] == 1
    assert rep["packs"] >= 1 and rep["copies"] == 2 * rep["packs"]  # GRS: both regions
    assert rep["bytes"] > 600 * 1024
    assert rep["bad_packs"] == rep["stray_packs"] == rep["damaged_points"] == []

    # The pair region's copy of the largest pack goes missing.
    copies = sorted((world.s.data / "store" / "local-2").rglob("*"),
                    key=lambda f: f.stat().st_size if f.is_file() else 0)
    victim = copies[-1]
    saved = victim.read_bytes()
    victim.unlink()
    p = verify(world)
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert f"pack {victim.name}" in p.stdout and "missing from region local-2" in p.stdout
    assert f"recovery point {point} of machine server-01" in p.stdout
    rep = json.loads(verify(world, "--json").stdout)
    assert [(b["id"], b["region"], b["problem"]) for b in rep["bad_packs"]] == \
        [(victim.name, "local-2", "missing")]
    assert [(d["id"], d["machine_name"]) for d in rep["damaged_points"]] == \
        [(point, "server-01")]
    victim.write_bytes(saved)

    # A file no catalog row lists is a stray.
    stray = world.s.data / "store" / "local-1" / "packs" / "ab" / ("ab" * 32)
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"not a pack")
    p = verify(world, "--json")
    rep = json.loads(p.stdout)
    assert p.returncode == 3 and [s["id"] for s in rep["stray_packs"]] == ["ab" * 32], rep
    assert rep["damaged_points"] == []
    stray.unlink()
    assert verify(world).returncode == 0


def test_progress_line_on_a_terminal(world, tmp_path):
    backed_up(world, tmp_path)
    master, slave = pty.openpty()
    p = subprocess.run([world.s.arcad, "verify", "--data", str(world.s.data)],
                       stdout=subprocess.PIPE, stderr=slave, timeout=60)
    os.close(slave)
    err = os.read(master, 65536).decode()
    os.close(master)
    assert p.returncode == 0
    assert "verify: " in err and "pack copies" in err and "MiB checked" in err, err


def test_errors_are_errors(world, tmp_path):
    backed_up(world, tmp_path)
    p = verify(world, "--json", "--vault", "no-such-vault")
    assert p.returncode == 1
    assert json.loads(p.stdout)["error"]["code"], p.stdout
    # A catalog that cannot be read: an error, never "clean" nor "damage".
    copy = tmp_path / "copy"
    shutil.copytree(world.s.data, copy, ignore=shutil.ignore_patterns("catalog.db-*"))
    (copy / "catalog.db").write_bytes(b"this is not a database" * 100)
    p = verify(world, data=copy)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "verify" in p.stderr
    # Bad command lines.
    assert run([world.s.arcad, "verify"]).returncode == 2
    assert verify(world, "--bogus").returncode == 2
    assert verify(world, "extra").returncode == 2
    assert run([world.s.arcad, "verify", "--data"]).returncode == 2
