"""`arca mount`: recovery points as a read-only FUSE file system, on the
snapshot reader restore uses. A real mount of a real backup: every file
byte-identical with every piece of metadata rsync knows, every change
refused with EROFS, a damaged pack failing only its files, two points
compared with diff -r, a point added while mounted showing up, the chunk
cache held under its limit, and `arca umount` and SIGTERM ending cleanly."""
import errno
import json
import os
import signal
import subprocess
import time

import pytest

from test_agent import make_tree
from helpers import rsync_diff

if not os.path.exists("/dev/fuse"):
    pytest.skip("/dev/fuse is absent on this machine (no FUSE kernel module), so "
                "nothing can be mounted", allow_module_level=True)


class Mount:
    """`arca mount MP --foreground` of agent A, waited for until mounted."""

    def __init__(self, a, mp, *extra):
        self.a, self.mp = a, mp
        mp.mkdir(exist_ok=True)
        self.proc = subprocess.Popen([a.arca, "mount", str(mp), "--foreground", "--home",
                                      a.home, *extra], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 20
        while not os.path.ismount(mp):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.proc.kill()
                out, err = self.proc.communicate()
                raise AssertionError(f"not mounted: {self.proc.returncode} {out} {err}")
            time.sleep(0.05)

    def end(self, how="umount"):
        """Unmount by HOW ('umount': `arca umount`; else a signal); the
        process's exit code and stderr."""
        if how == "umount":
            p = self.a.run("umount", str(self.mp))
            assert p.returncode == 0, p.stderr
        else:
            self.proc.send_signal(how)
        try:
            out, err = self.proc.communicate(timeout=20)
        finally:
            if os.path.ismount(self.mp):
                subprocess.run(["umount", "-l", str(self.mp)])
        assert not os.path.ismount(self.mp)
        assert "Sanitizer" not in err and "runtime error" not in err, err[-4000:]
        return self.proc.returncode, err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.end()


def point_dir(m, src, point="latest"):
    return m.mp / point / str(src).lstrip("/")


def test_a_point_reads_back_identical_and_refuses_every_change(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    make_tree(src)
    r = a.json("backup", str(src))
    assert r["status"] == "complete", r
    pid = r["recovery_point"]
    pts = a.json("recovery-points")["recovery_points"]
    with Mount(a, tmp_path / "mnt") as m:
        assert sorted(os.listdir(m.mp)) == ["by-id", "by-time", "latest"]
        assert os.listdir(m.mp / "by-id") == [pid]
        assert os.listdir(m.mp / "by-time") == [pts[0]["created"]]
        assert os.readlink(m.mp / "latest") == "by-time/" + pts[0]["created"]
        for view in ("latest", "by-id/" + pid, "by-time/" + pts[0]["created"]):
            # Content, modes, owners, times, symlinks, hard links, ACLs,
            # xattrs, the sparse file's bytes: rsync finds nothing to do.
            assert rsync_diff(point_dir(m, src, view), src) == "", view
        got = point_dir(m, src)
        assert os.stat(got / "hardlink-1").st_ino == os.stat(got / "text.txt").st_ino
        assert os.stat(got / "sub" / "hardlink-2").st_ino == os.stat(got / "text.txt").st_ino
        assert os.stat(got / "text.txt").st_nlink == 3
        assert os.getxattr(got / "text.txt", "user.comment") == b"a comment"
        assert os.stat(got / "sparse.img").st_size == 64 << 20
        assert os.stat(got / "empty-file").st_size == 0
        assert oct(os.stat(got / "setuid").st_mode & 0o7777) == oct(0o4755)
        assert os.readlink(got / "link-dangling") == "/nonexistent/target"

        changes = {
            "create": lambda: open(got / "new.txt", "w"),
            "write": lambda: open(got / "text.txt", "r+"),
            "truncate": lambda: os.truncate(got / "text.txt", 0),
            "unlink": lambda: os.unlink(got / "text.txt"),
            "mkdir": lambda: os.mkdir(got / "new-dir"),
            "rmdir": lambda: os.rmdir(got / "empty-dir"),
            "chmod": lambda: os.chmod(got / "text.txt", 0o600),
            "chown": lambda: os.chown(got / "text.txt", 1, 1),
            "utime": lambda: os.utime(got / "text.txt", (0, 0)),
            "setxattr": lambda: os.setxattr(got / "text.txt", "user.x", b"y"),
            "removexattr": lambda: os.removexattr(got / "text.txt", "user.comment"),
            "rename": lambda: os.rename(got / "text.txt", got / "moved.txt"),
            "link": lambda: os.link(got / "text.txt", got / "another-link"),
            "symlink": lambda: os.symlink("x", got / "new-link"),
            "mkfifo": lambda: os.mkfifo(got / "new-fifo"),
            "create at the top": lambda: open(m.mp / "by-id" / "x", "w"),
        }
        for what, change in changes.items():
            with pytest.raises(OSError) as e:
                change()
            assert e.value.errno == errno.EROFS, (what, e.value)
        assert rsync_diff(got, src) == ""
        rc, err = m.end("umount")
    assert rc == 0, err


def test_two_points_diff_and_a_new_point_appears_while_mounted(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    (src / "notes.txt").write_text("one\ntwo\nthree\n")
    (src / "gone.txt").write_text("soon gone\n")
    (src / "same.bin").write_bytes(os.urandom(3 << 20))
    p1 = a.json("backup", str(src))["recovery_point"]
    with Mount(a, tmp_path / "mnt") as m:
        assert os.listdir(m.mp / "by-id") == [p1]
        # The resident agent's backup, while mounted: it shows up by itself.
        (src / "notes.txt").write_text("one\n2\nthree\n")
        (src / "gone.txt").unlink()
        (src / "new.txt").write_text("new\n")
        p2 = a.json("backup", str(src))["recovery_point"]
        end = time.monotonic() + 15
        while p2 not in os.listdir(m.mp / "by-id") and time.monotonic() < end:
            time.sleep(0.5)
        assert sorted(os.listdir(m.mp / "by-id")) == sorted([p1, p2])
        assert len(os.listdir(m.mp / "by-time")) == 2
        assert os.readlink(m.mp / "latest").startswith("by-time/")
        assert rsync_diff(point_dir(m, src), src) == ""
        one, two = point_dir(m, src, "by-id/" + p1), point_dir(m, src, "by-id/" + p2)
        d = subprocess.run(["diff", "-r", str(one), str(two)], capture_output=True, text=True)
        assert d.returncode == 1, d.stderr
        assert d.stdout == (f"Only in {one}: gone.txt\n"
                            f"Only in {two}: new.txt\n"
                            f"diff -r {one}/notes.txt {two}/notes.txt\n"
                            "2c2\n< two\n---\n> 2\n"), d.stdout
        rc, err = m.end(signal.SIGTERM)
    assert rc == 0, err


def test_a_damaged_pack_fails_only_its_files_and_the_mount_stays_up(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.txt").write_text("good\n" * 100)
    (src / "victim.bin").write_bytes(os.urandom(3 << 20))
    a.json("backup", str(src))
    # Flip a byte in the middle of the large object, in every copy of it.
    packs = [p for p in (world.s.data / "store").rglob("*")
             if p.is_file() and "/packs/" in str(p) and p.stat().st_size > 1 << 20]
    assert packs
    for pk in packs:
        with open(pk, "r+b") as f:
            f.seek(pk.stat().st_size // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0xFF]))
    with Mount(a, tmp_path / "mnt") as m:
        got = point_dir(m, src)
        assert sorted(os.listdir(got)) == ["good.txt", "victim.bin"]
        assert os.stat(got / "victim.bin").st_size == 3 << 20  # listing reads no content
        with pytest.raises(OSError) as e:
            (got / "victim.bin").read_bytes()
        assert e.value.errno == errno.EIO
        assert (got / "good.txt").read_text() == "good\n" * 100
        with pytest.raises(OSError) as e:  # again: still EIO, never bytes
            (got / "victim.bin").read_bytes()
        assert e.value.errno == errno.EIO
        assert os.listdir(m.mp / "by-id")
        rc, err = m.end(signal.SIGINT)
    assert rc == 0, err
    assert f"{src}/victim.bin" in err, err
    assert "good.txt" not in err, err


def test_the_chunk_cache_keeps_under_its_limit_and_serves_warm_reads(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    data = os.urandom(40 << 20)
    (src / "big.bin").write_bytes(data)
    a.json("backup", str(src))
    cache = tmp_path / "cache-server-01" / "chunks"
    with Mount(a, tmp_path / "mnt", "--cache-size", "16") as m:
        assert (point_dir(m, src) / "big.bin").read_bytes() == data
        held = sum(f.stat().st_size for f in cache.iterdir())
        assert 0 < held <= 16 << 20, held
        m.end()
    # A chunk file damaged on disk is a miss, never data: read again from
    # the service, and the bytes are right.
    files = sorted(cache.iterdir())
    with open(files[0], "r+b") as f:
        f.write(b"\0" * 16)
    with Mount(a, tmp_path / "mnt", "--cache-size", "16") as m:
        assert (point_dir(m, src) / "big.bin").read_bytes() == data
        rc, err = m.end()
    assert rc == 0, err


def test_in_the_background_with_no_point_yet(world, tmp_path):
    a = world.register("server-01")
    mp = tmp_path / "mnt"
    mp.mkdir()
    p = a.run("mount", str(mp), "--json")
    try:
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout) == {"mountpoint": str(mp), "points": 0, "machine": None}, p.stdout
        assert os.path.ismount(mp)
        assert os.listdir(mp / "by-id") == [] and os.listdir(mp / "by-time") == []
        with pytest.raises(FileNotFoundError):
            os.stat(mp / "latest" / "")
        # The first backup shows up in the running mount.
        src = tmp_path / "src"
        src.mkdir()
        (src / "a.txt").write_text("first\n")
        pid = a.json("backup", str(src))["recovery_point"]
        end = time.monotonic() + 15
        while pid not in os.listdir(mp / "by-id") and time.monotonic() < end:
            time.sleep(0.5)
        assert (mp / "latest" / str(src).lstrip("/") / "a.txt").read_text() == "first\n"
        p = a.run("umount", str(mp), "--json")
        assert p.returncode == 0 and json.loads(p.stdout) == {"unmounted": str(mp)}, p.stderr
        assert not os.path.ismount(mp)
    finally:
        if os.path.ismount(mp):
            subprocess.run(["umount", "-l", str(mp)])


def test_without_fuse_the_error_says_what_to_do(world, tmp_path):
    # A mount namespace whose /dev is an empty tmpfs: no /dev/fuse.
    a = world.register("server-01")
    (tmp_path / "mnt").mkdir()
    p = subprocess.run(["unshare", "-m", "sh", "-c",
                        'mount -t tmpfs none /dev && exec "$@"', "sh", a.arca, "mount",
                        str(tmp_path / "mnt"), "--foreground", "--home", a.home],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "/dev/fuse is missing" in p.stderr and "modprobe fuse" in p.stderr, p.stderr
    assert not os.path.ismount(tmp_path / "mnt")


def test_usage_errors(world, tmp_path):
    a = world.register("server-01")
    p = a.run("mount")
    assert p.returncode == 2 and "usage: arca mount" in p.stderr
    p = a.run("mount", str(tmp_path), "--cache-size", "1")
    assert p.returncode == 2 and "--cache-size" in p.stderr
    p = a.run("umount", str(tmp_path))
    assert p.returncode == 1 and "is not a mount point" in p.stderr, p.stderr
