"""A restore target that holds symlinks leading out of it (restore.h: entries
are made with *at() calls relative to folders opened without following
symlinks). Whatever is planted in the target (symlinks to folders and files
outside it, dangling ones, at the paths the point restores and as their
parents), and for every --on-conflict mode, with and without paths chosen,
nothing outside the target is written: an outside folder stays the same
byte for byte, by listing, mode and time."""
import json
import os

import pytest


def fingerprint(root):
    """Every entry under ROOT: type, mode, size, mtime, content or link."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            if os.path.islink(p):
                v = ("l", os.readlink(p))
            elif os.path.isdir(p):
                v = ("d", None)
            else:
                with open(p, "rb") as f:
                    v = ("f", f.read())
            out[os.path.relpath(p, root)] = (v, st.st_mode, st.st_mtime_ns, st.st_uid)
    st = os.lstat(root)
    out["."] = (st.st_mode, st.st_mtime_ns)
    return out


def make_outside(root):
    """The folder a planted symlink points into: what must not change."""
    (root / "dir-a").mkdir(parents=True)
    (root / "dir-a" / "f.txt").write_text("outside f\n")
    (root / "dir-b" / "sub").mkdir(parents=True)
    (root / "dir-b" / "sub" / "deep.txt").write_text("outside deep\n")
    (root / "file-1").write_text("outside file 1\n")
    (root / "file-2").write_text("outside file 2\n")
    os.chmod(root / "file-2", 0o640)
    for p in (root / "dir-a", root / "dir-b", root / "file-1", root / "file-2"):
        os.utime(p, ns=(1_000_000_000, 1_000_000_000))


def make_source(src):
    (src / "d").mkdir(parents=True)
    (src / "d" / "f.txt").write_text("restored f\n")
    (src / "d" / "g.txt").write_text("restored g\n")
    (src / "d2" / "sub").mkdir(parents=True)
    (src / "d2" / "sub" / "deep.txt").write_text("restored deep\n")
    (src / "top.txt").write_text("restored top\n")
    (src / "new.txt").write_text("restored new\n")
    os.chmod(src / "top.txt", 0o600)
    os.link(src / "d" / "f.txt", src / "hard.txt")
    os.symlink("d/f.txt", src / "rel-link")
    os.mkfifo(src / "fifo")


def plant(base, outside, variant):
    """Symlinks in the target where the point's entries go (BASE is the
    point's top folder inside the target)."""
    if variant == "top":  # the point's top folder itself leads outside
        base.parent.mkdir(parents=True)
        os.symlink(outside / "dir-a", base)
        return
    base.mkdir(parents=True)
    os.symlink(outside / "dir-a", base / "d")            # a folder of the point
    os.symlink(outside / "dir-b", base / "d2")           # a parent of a deeper file
    os.symlink(outside / "file-1", base / "top.txt")     # a file of the point
    os.symlink(outside / "file-2", base / "hard.txt")    # a hard link's second name
    os.symlink(outside / "not-yet", base / "new.txt")    # dangling: O_CREAT would follow it
    os.symlink(outside / "fifo-here", base / "fifo")
    os.symlink(outside / "file-1", base / "rel-link")


SELECTIONS = {
    "all": [],
    "folder": ["d"],
    "file": ["d/f.txt"],
    "deeper": ["d2/sub/deep.txt"],
    "several": ["top.txt", "new.txt", "hard.txt", "fifo"],
}


@pytest.mark.parametrize("mode", ["overwrite", "keep-both", "skip"])
def test_symlinks_in_the_target_lead_nowhere_outside(world, tmp_path, mode):
    a = world.register("server-01")
    src = tmp_path / "src"
    make_source(src)
    a.json("backup", str(src))
    outside = tmp_path / "outside"
    make_outside(outside)
    canary = fingerprint(outside)
    runs = 0
    for variant in ("leaves", "top"):
        for sel, rels in SELECTIONS.items():
            target = tmp_path / f"t-{mode}-{variant}-{sel}"
            base = target / str(src).lstrip("/")
            plant(base, outside, variant)
            p = a.run("restore", "latest", *[str(src / r) for r in rels], "--target", str(target),
                      "--on-conflict", mode, "--json")
            runs += 1
            assert p.returncode in (0, 5), (variant, sel, p.returncode, p.stdout, p.stderr)
            assert fingerprint(outside) == canary, (mode, variant, sel, p.stdout)
            assert sorted(os.listdir(outside)) == ["dir-a", "dir-b", "file-1", "file-2"]
            if mode == "overwrite" and variant == "leaves":
                # The symlinks at restored paths were replaced, not followed.
                want = {"all": ["d/f.txt", "d/g.txt", "d2/sub/deep.txt", "top.txt", "new.txt"],
                        "folder": ["d/f.txt", "d/g.txt"], "file": [], "deeper": [],
                        "several": ["top.txt", "new.txt"]}[sel]
                for r in want:
                    assert not os.path.islink(base / r) and not os.path.islink(
                        base / os.path.dirname(r)), (sel, r)
                    assert (base / r).read_bytes() == (src / r).read_bytes(), (sel, r)
                if sel in ("file", "deeper"):
                    # A chosen path under a planted symlink is refused by name.
                    failed = json.loads(p.stdout.strip().splitlines()[-1])["failed"]
                    assert p.returncode == 5 and len(failed) == 1, p.stdout
                    assert "symlink" in failed[0]["error"], failed
            if mode == "skip" and variant == "leaves":
                assert os.readlink(base / "d") == str(outside / "dir-a")
                assert os.readlink(base / "top.txt") == str(outside / "file-1")
            if mode == "keep-both" and variant == "leaves" and sel in ("all", "several"):
                assert os.readlink(base / "top.txt") == str(outside / "file-1")
                assert (base / "top.txt.restored").read_bytes() == (src / "top.txt").read_bytes()
    print(f"restore target symlinks: {runs} restores ({mode}), 0 writes outside the target")
