"""The agent end to end (issue: register, back up, restore, on this machine
and another): real arcad and arca on loopback, trees with every kind of
entry, compared with rsync after each restore."""
import json
import os
import shutil
import signal
import stat
import subprocess
import time

import pytest

from helpers import (PASSPHRASE, Relay, Service, World, admin, free_port, has_test_clock,
    machine_signed, pin, rsync_diff, usage_bytes)




def extents(path):
    """The data extents of a file, by SEEK_DATA and SEEK_HOLE."""
    out, fd = [], os.open(path, os.O_RDONLY)
    try:
        size, pos = os.fstat(fd).st_size, 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            out.append((data, hole - data))
            pos = hole
    finally:
        os.close(fd)
    return out


def make_tree(root):
    """A folder with every kind of entry the tree format holds."""
    root.mkdir()
    (root / "empty-dir").mkdir()
    (root / "empty-file").write_bytes(b"")
    (root / "large.bin").write_bytes(os.urandom(9 << 20) + b"tail" * 100000)
    (root / "text.txt").write_text("hello, arca\n" * 1000)
    with open(root / "sparse.img", "wb") as f:
        f.truncate(64 << 20)
        f.seek(5 << 20)
        f.write(os.urandom(300000))
        f.seek(40 << 20)
        f.write(b"middle" * 50000)
    with open(root / "hole-at-end.img", "wb") as f:
        f.write(os.urandom(100000))
        f.truncate(8 << 20)
    (root / "Ünïcødé ファイル 📁").mkdir()
    (root / "Ünïcødé ファイル 📁" / "naïve café.txt").write_text("crème brûlée\n")
    (root / ("l" * 250)).write_text("a very long name\n")
    deep = root
    for i in range(12):
        deep = deep / f"level-{i}"
    deep.mkdir(parents=True)
    (deep / "deep.txt").write_text("deep\n")
    os.symlink("text.txt", root / "link-rel")
    os.symlink("/nonexistent/target", root / "link-dangling")
    os.symlink("empty-dir", root / "link-dir")
    os.link(root / "text.txt", root / "hardlink-1")
    (root / "sub").mkdir()
    os.link(root / "text.txt", root / "sub" / "hardlink-2")
    os.mkfifo(root / "fifo")
    os.mknod(root / "null-dev", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    (root / "setuid").write_text("#!/bin/sh\n")
    os.chmod(root / "setuid", 0o4755)
    (root / "sticky").mkdir()
    os.chmod(root / "sticky", 0o1777)
    (root / "no-perms").write_text("secret\n")
    os.chmod(root / "no-perms", 0)
    (root / "owned").write_text("owned by nobody\n")
    os.chown(root / "owned", 65534, 65534)
    os.setxattr(root / "text.txt", "user.comment", b"a comment")
    os.setxattr(root / "text.txt", "user.empty", b"")
    os.setxattr(root / "empty-dir", "user.folder", os.urandom(200))
    subprocess.run(["setfacl", "-m", "u:nobody:rw,g:nogroup:r", str(root / "large.bin")], check=True)
    subprocess.run(["setfacl", "-d", "-m", "u:nobody:rwx", str(root / "sub")], check=True)
    subprocess.run(["setfacl", "-m", "u:nobody:rx", str(root / "sub")], check=True)
    old = 946684800  # 2000-01-01
    os.utime(root / "empty-file", ns=(old * 10**9 + 123456789, old * 10**9 + 987654321))
    os.utime(root / "link-rel", ns=(old * 10**9, old * 10**9 + 5), follow_symlinks=False)


def change_tree(root):
    (root / "text.txt").write_text("changed\n" * 10)
    (root / "new.txt").write_text("new file\n")
    os.remove(root / "empty-file")
    shutil.rmtree(root / "empty-dir")
    with open(root / "large.bin", "r+b") as f:
        f.seek(4 << 20)
        f.write(b"inserted change")
    os.chmod(root / "setuid", 0o755)


def snapshot(src, dst):
    """A copy that keeps everything rsync compares, for later checks."""
    subprocess.run(["rsync", "-aHAX", "--sparse", str(src) + "/", str(dst) + "/"], check=True)


def test_every_kind_of_entry_round_trips(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    make_tree(src)
    snap1 = tmp_path / "snap1"
    snapshot(src, snap1)

    r1 = a.json("backup", str(src))
    assert r1["status"] == "complete", r1
    assert r1["files_new"] >= 10 and r1["skipped"] == []

    # Nothing changed: no file is read and almost nothing is stored.
    r = a.json("backup", str(src))
    assert r["files_new"] == 0 and r["files_changed"] == 0, r
    assert r["bytes_read"] == 0, r
    assert r["bytes_stored"] < 64 * 1024, r
    print(f"unchanged backup: {r['files_unchanged']} files, 0 bytes read, "
          f"{r['bytes_stored']} bytes stored")

    change_tree(src)
    r2 = a.json("backup", str(src))
    assert r2["files_changed"] >= 2 and r2["files_new"] == 1, r2
    # Only the changed content travels: far less than the 9 MiB file.
    assert r2["bytes_stored"] < (9 << 20) // 2, r2

    pts = a.json("recovery-points")["recovery_points"]
    assert [p["id"] for p in pts][-1] == r2["recovery_point"] and len(pts) == 3
    for point, expect in ((r1["recovery_point"], snap1), (r2["recovery_point"], src)):
        out = tmp_path / f"restore-{point}"
        r = a.json("restore", point, "--target", str(out))
        assert r["status"] == "complete", r
        restored = out / str(src).lstrip("/")
        assert rsync_diff(expect, restored) == ""
        for name in ("sparse.img", "hole-at-end.img"):
            assert extents(expect / name) == extents(restored / name), name
            assert os.stat(restored / name).st_blocks <= os.stat(expect / name).st_blocks + 64
        assert os.stat(restored / "hardlink-1").st_ino == os.stat(restored / "text.txt").st_ino
        # The parent folders of the selection keep their metadata too.
        assert os.stat(out / "tmp").st_mode == os.stat("/tmp").st_mode


def test_browse_find_and_restore_parts(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    make_tree(src)
    a.json("backup", str(src))
    ls = a.json("ls", "latest", str(src))
    names = {e["name"]: e for e in ls["entries"]}
    assert names["link-rel"]["type"] == "symlink" and names["link-rel"]["target"] == "text.txt"
    assert names["fifo"]["type"] == "fifo" and names["large.bin"]["size"] > 9 << 20
    found = a.json("find", "naïve*")["matches"]
    assert [m["path"] for m in found] == [str(src / "Ünïcødé ファイル 📁" / "naïve café.txt")]

    # Chosen paths only, then the conflict rules.
    out = tmp_path / "out"
    one = str(src / "text.txt")
    r = a.json("restore", "latest", one, "--target", str(out))
    assert r["files"] == 1 and (out / one.lstrip("/")).read_text() == (src / "text.txt").read_text()
    target = out / one.lstrip("/")
    target.write_text("edited after the restore\n")
    r = a.json("restore", "latest", one, "--target", str(out), "--on-conflict", "skip")
    assert r["skipped_existing"] == 1 and target.read_text() == "edited after the restore\n"
    r = a.json("restore", "latest", one, "--target", str(out), "--on-conflict", "keep-both")
    assert target.read_text() == "edited after the restore\n"
    assert (target.parent / "text.txt.restored").read_text() == (src / "text.txt").read_text()
    r = a.json("restore", "latest", one, "--target", str(out), "--on-conflict", "overwrite")
    assert target.read_text() == (src / "text.txt").read_text()
    r = a.json("restore", "latest", str(src / "no-perms"), "--target", str(tmp_path / "np"),
               "--no-permissions")
    assert stat.S_IMODE(os.stat(tmp_path / "np" / str(src / "no-perms").lstrip("/")).st_mode) != 0

    p = a.run("restore", "latest", "--target", str(out), "--on-conflict", "sometimes")
    assert p.returncode == 2 and "overwrite, keep-both or skip" in p.stderr
    p = a.run("ls", "nosuchpoint")
    assert p.returncode == 1 and "no recovery point" in p.stderr


def test_restore_refuses_symlinked_parents_in_the_target(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    (src / "dir").mkdir(parents=True)
    (src / "dir" / "file").write_text("inside\n")
    a.json("backup", str(src))
    # The target already holds a symlink where the tree has a folder: the
    # restore must not write through it.
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    parent = out / str(src).lstrip("/")
    parent.mkdir(parents=True)
    os.symlink(outside, parent / "dir")
    p = a.run("restore", "latest", "--target", str(out), "--on-conflict", "skip", "--json")
    assert list(outside.iterdir()) == []
    p = a.run("restore", "latest", "--target", str(out), "--json")
    assert list(outside.iterdir()) == [], "a restore wrote through a symlink"
    assert (parent / "dir").is_dir() and not (parent / "dir").is_symlink()
    assert (parent / "dir" / "file").read_text() == "inside\n"


def test_corrupted_object_is_reported_by_name(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.txt").write_text("good\n" * 100)
    (src / "victim.bin").write_bytes(os.urandom(3 << 20))
    a.json("backup", str(src))
    # Damage the stored pack in the middle of the large object.
    packs = [p for p in (world.s.data / "store").rglob("*") if p.is_file() and p.stat().st_size > 1 << 20]
    assert packs, list((world.s.data).rglob("*"))
    for pk in packs:
        with open(pk, "r+b") as f:
            f.seek(pk.stat().st_size // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0xFF]))
    out = tmp_path / "out"
    p = a.run("restore", "latest", "--target", str(out), "--json")
    assert p.returncode == 5, (p.stdout, p.stderr)
    r = json.loads(p.stdout)
    assert r["status"] == "partial"
    assert [f["path"].split("/")[-1] for f in r["failed"]] == ["victim.bin"]
    assert "verification" in r["failed"][0]["error"]
    restored = out / str(src).lstrip("/")
    assert (restored / "good.txt").read_text() == "good\n" * 100
    assert not (restored / "victim.bin").exists()


def test_a_restore_looks_an_object_up_again_after_a_404(world, tmp_path):
    """Issue 12, defect 3 (agent side): a pack can go between the moment a
    restore locates an object and the moment it reads it (the collector
    moved the object and the grace hour ran out). Before, the agent called
    the file lost; now it asks where the object is and reads it there."""
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(3 << 20))
    (src / "small.txt").write_text("small\n" * 1000)
    a.json("backup", str(src))
    refused = set()

    def answer(method, path, headers):
        # The first read of each range of a pack finds it gone.
        key = (path, headers.get("Range"))
        if method == "GET" and path.startswith("/api/v1/packs/") and key not in refused:
            refused.add(key)
            return 404, {"error": {"code": "not_found", "message": "no such pack in this vault"}}
        return None

    relay = Relay(world.s, answer)
    try:
        conf_path = os.path.join(a.home, "agent.json")
        conf = json.load(open(conf_path))
        conf["service_url"] = relay.url
        with open(conf_path, "w") as f:
            json.dump(conf, f)
        shutil.rmtree(a.cache)  # nothing read from the local cache of trees
        os.mkdir(a.cache)
        out = tmp_path / "out"
        r = a.json("restore", "latest", "--target", str(out))
        assert r["status"] == "complete", r
        assert rsync_diff(src, out / str(src).lstrip("/")) == ""
        reads = relay.requests("GET", "/api/v1/packs/")
        # The record, a tree, and the chunks of both files: every range
        # was refused once, and what restored came from reads made again.
        assert len(refused) >= 3, refused
        assert sum(st == 404 for _, st in reads) == len(refused), reads
        assert any(st == 206 for _, st in reads), reads
    finally:
        relay.stop()


def test_another_machine_restores_read_only(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    make_tree(src)
    r = a.json("backup", str(src))
    b = world.register("laptop")
    wrong = tmp_path / "wrong"
    wrong.write_text("not the right passphrase at all\n")

    p = b.run("restore", "latest", "--target", str(tmp_path / "bad"), "--from-machine",
              "server-01", "--passphrase-file", str(wrong))
    assert p.returncode == 6 and "passphrase does not open machine server-01" in p.stderr, p.stderr
    assert not (tmp_path / "bad").exists()

    pts = b.json("recovery-points", "--from-machine", "server-01")["recovery_points"]
    assert [x["id"] for x in pts] == [r["recovery_point"]]
    out = tmp_path / "elsewhere"
    rr = b.json("restore", "latest", "--target", str(out), "--from-machine", "server-01",
                "--passphrase-file", str(a.passfile))
    assert rr["status"] == "complete", rr
    assert rsync_diff(src, out / str(src).lstrip("/")) == ""
    # The laptop's own point list is its own (empty), and it cannot delete
    # the source's points or the source machine.
    assert b.json("recovery-points")["recovery_points"] == []
    st, body = machine_signed(world, b, "DELETE",
                              f"/vaults/backup-vault/machines/server-01/recovery-points/{r['recovery_point']}")
    assert st in (401, 403), body
    st, body = machine_signed(world, b, "DELETE", "/vaults/backup-vault/machines/server-01")
    assert st in (401, 403), body
    assert len(a.json("recovery-points")["recovery_points"]) == 1


def test_the_agents_own_credentials_cannot_delete(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x\n")
    r = a.json("backup", str(src))
    st, body = machine_signed(world, a, "DELETE",
                              f"/vaults/backup-vault/machines/server-01/recovery-points/{r['recovery_point']}")
    assert st in (401, 403), body
    assert [p["id"] for p in a.json("recovery-points")["recovery_points"]] == [r["recovery_point"]]


def test_registration_refusals_register_nothing(world, tmp_path):
    first = world.credentials()
    world.credentials()  # supersedes the first
    a = world.register("server-01", creds=first, expect=3)
    assert "Invalid vault credentials provided" in a.proc.stderr
    assert not os.path.exists(a.home) and not a.kit.exists()

    a = world.register("server-02", passphrase="too short", expect=6)
    assert "at least 16" in a.proc.stderr and not os.path.exists(a.home)

    broken = tmp_path / "broken.VaultCredentials"
    broken.write_bytes(world.credentials().read_bytes()[:-200])
    a = world.register("server-03", creds=broken, expect=3)
    assert "Invalid vault credentials provided" in a.proc.stderr

    a = world.register("server-04", creds=tmp_path / "missing.VaultCredentials", expect=3)
    assert "missing.VaultCredentials" in a.proc.stderr and "copy" in a.proc.stderr.lower()

    # Without a file for the recovery kit nor a confirmation, nothing happens.
    home = tmp_path / "home-x"
    pf = tmp_path / "pf"
    pf.write_text(PASSPHRASE + "\n")
    p = subprocess.run([world.arca, "register", "--vault-credentials", str(world.credentials()),
                        "--home", str(home), "--passphrase-file", str(pf)],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert p.returncode == 1 and "--passphrase-out" in p.stderr and not home.exists()

    st, body, _ = world.s.call("GET", "/vaults/backup-vault/machines")
    assert body["machines"] == []

    # A generated passphrase: 36 characters, in the recovery kit (0600).
    home = tmp_path / "home-g"
    kit = tmp_path / "kit-g"
    p = subprocess.run([world.arca, "register", "--vault-credentials", str(world.credentials()),
                        "--home", str(home), "--cache", str(tmp_path / "cache-g"),
                        "--generate-passphrase", "--passphrase-out", str(kit), "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    text = kit.read_text()
    line = [x for x in text.splitlines() if x.startswith("Passphrase:")][0]
    assert len(line.split(":", 1)[1].strip()) == 36
    assert "away from this machine" in text
    assert stat.S_IMODE(os.stat(kit).st_mode) == 0o600
    for f in ("machine.key", "master.key", "wrapped.key", "agent.json"):
        assert stat.S_IMODE(os.stat(home / f).st_mode) == 0o600, f
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700


def test_expired_credentials(arcad_bin, arca_bin, tmp_path):
    if not has_test_clock(arcad_bin):
        pytest.skip("this build's service takes no test clock (the sanitizer build does)")
    w = World(arcad_bin, arca_bin, tmp_path)
    w.s.stop()
    # Issue the file three days ago by the service's clock.
    w.s = Service(arcad_bin, w.s.data, clock_offset=-3 * 86400)
    w.s.sign_in()
    try:
        a = w.register("server-01", expect=4)
        assert "Vault credentials file provided has expired" in a.proc.stderr
        assert not os.path.exists(a.home)
    finally:
        w.stop()


def tmpfs(path, size):
    path.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {p.stderr.strip()}")


def test_too_small_cache_folder(world, tmp_path):
    small = tmp_path / "small"
    tmpfs(small, "256k")
    try:
        a = world.register("server-01", extra=("--cache", str(small / "cache")))
        src = tmp_path / "src"
        src.mkdir()
        (src / "big").write_bytes(os.urandom(8 << 20))
        p = a.run("backup", str(src))
        assert p.returncode == 7, p.stderr
        assert "5%" in p.stderr and str(8 << 20) in p.stderr, p.stderr
        assert a.json("recovery-points")["recovery_points"] == []
    finally:
        subprocess.run(["umount", str(small)])


def test_cache_folder_lost_is_rebuilt_from_the_service(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}").write_bytes(os.urandom(2 << 20))
    first = a.json("backup", str(src))
    shutil.rmtree(a.cache)
    os.mkdir(a.cache)
    r = a.json("backup", str(src))
    assert r["status"] == "complete" and r["bytes_read"] == 10 << 20, r
    # Every chunk is on the service already: only folder records travel.
    assert r["bytes_stored"] < 64 * 1024, r
    print(f"lost cache: read {r['bytes_read']} bytes, stored {r['bytes_stored']} "
          f"(first backup stored {first['bytes_stored']})")
    out = tmp_path / "out"
    a.json("restore", "latest", "--target", str(out))
    assert rsync_diff(src, out / str(src).lstrip("/")) == ""


def test_damaged_cache_files_are_ignored_with_a_note(world, tmp_path):
    """A damaged cache file costs time, never a recovery point: the backup
    says which file it ignored and why, and writes it anew."""
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}").write_bytes(os.urandom(64 << 10))
    a.json("backup", str(src))
    cache = lambda n: os.path.join(a.cache, n)
    with open(cache("stored.ids"), "r+b") as f:
        f.truncate(8 + 31)  # a torn record
    with open(cache("files.idx"), "r+b") as f:
        f.write(b"ARCAFIX9")  # a newer agent's
    with open(cache("trees.dat"), "r+b") as f:
        f.write(b"XXXXXXXX")  # another file's bytes
    p = a.run("backup", str(src), "--json")
    assert p.returncode == 0, p.stderr
    assert f"note: the cache file {cache('stored.ids')} is ignored (31 bytes after the header " \
           "are not a whole number of 32-byte records (a torn write?)); this backup reads " \
           "what it needs from the service and writes the file anew" in p.stderr, p.stderr
    assert f"the cache file {cache('files.idx')} is ignored (format version '9' (0x39), this " \
           "agent reads version 1)" in p.stderr, p.stderr
    assert f"note: the tree cache {cache('trees.dat')} was started over: wrong magic " \
           "(expected \"ARCATRC1\")" in p.stderr, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["status"] == "complete"
    # Written anew: the next backup has nothing to say.
    p = a.run("backup", str(src), "--json")
    assert p.returncode == 0 and "note:" not in p.stderr, p.stderr
    assert len(a.json("recovery-points")["recovery_points"]) == 3
    out = tmp_path / "out"
    a.json("restore", "latest", "--target", str(out))
    assert rsync_diff(src, out / str(src).lstrip("/")) == ""


def test_sigkill_during_backup_then_resume(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    total = 0
    for i in range(12):
        data = os.urandom(6 << 20)
        (src / f"part-{i:02d}").write_bytes(data)
        total += len(data)
    kills = 0
    for round in range(3):
        # Kill the agent right after the service acknowledged another pack
        # (the first time, before any pack reached it).
        seen = usage_bytes(world)
        p = subprocess.Popen([a.arca, "backup", str(src), "--home", a.home, "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while round and p.poll() is None and usage_bytes(world) == seen and time.time() < deadline:
            time.sleep(0.005)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.communicate()
    before = usage_bytes(world)
    assert kills == 3 and 0 < before < total, (kills, before)
    r = a.json("backup", str(src))
    assert r["status"] == "complete"
    # The final run uploads only what the killed ones did not store.
    assert r["bytes_stored"] + before <= total * 1.1, (r, before, total)
    print(f"{kills} backups killed; {before} bytes were stored before the final run, "
          f"which stored {r['bytes_stored']} of {total}")
    out = tmp_path / "out"
    a.json("restore", "latest", "--target", str(out))
    assert rsync_diff(src, out / str(src).lstrip("/")) == ""
    # Every recovery point that exists restores identically.
    for pt in a.json("recovery-points")["recovery_points"]:
        o = tmp_path / f"o-{pt['id']}"
        a.json("restore", pt["id"], "--target", str(o))
        assert rsync_diff(src, o / str(src).lstrip("/")) == ""


def test_passphrase_change(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("data\n")
    a.json("backup", str(src))
    new = tmp_path / "new-pass"
    new.write_text("a brand new passphrase for arca\n")
    p = a.run("properties", "--change-passphrase", "--passphrase-file", str(new), "--pin", "00000000")
    assert p.returncode == 1 and "PIN" in p.stderr, p.stderr
    before = usage_bytes(world)
    p = a.run("properties", "--change-passphrase", "--passphrase-file", str(new),
              "--pin", pin(world.s))
    assert p.returncode == 0, p.stderr
    assert usage_bytes(world) == before  # nothing re-encrypted or uploaded
    b = world.register("laptop")
    p = b.run("restore", "latest", "--target", str(tmp_path / "old"), "--from-machine", "server-01",
              "--passphrase-file", str(a.passfile))
    assert p.returncode == 6, p.stderr
    r = b.json("restore", "latest", "--target", str(tmp_path / "new"), "--from-machine",
               "server-01", "--passphrase-file", str(new))
    assert (tmp_path / "new" / str(src).lstrip("/") / "f").read_text() == "data\n"
    # The machine itself goes on backing up without any passphrase.
    assert a.json("backup", str(src))["status"] == "complete"
    st, body, _ = world.s.call("GET", "/alerts")
    assert "passphrase.changed" in [x["kind"] for x in body["alerts"]]


def test_properties_throttle_and_cache_move(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(os.urandom(1 << 20))
    a.json("backup", str(src))
    newcache = tmp_path / "moved-cache"
    j = a.json("properties", "--cache", str(newcache), "--throttle-work", "2M",
               "--throttle-other", "0", "--work-hours", "8-18")
    assert j["cache"] == str(newcache) and j["throttle"]["work_rate"] == 2 << 20
    assert (newcache / "stored.ids").exists() and not os.path.exists(os.path.join(a.cache, "stored.ids"))
    r = a.json("backup", str(src))
    assert r["bytes_read"] == 0, r  # the moved file index still knows every file
    p = a.run("properties", "--throttle-work", "fast")
    assert p.returncode == 2 and "bytes a second" in p.stderr


class Tinyproxy:
    """Debian's tinyproxy on loopback, asking for a user name and password."""

    def __init__(self, tmp, user, password):
        self.port = free_port()
        self.log = tmp / "tinyproxy.log"
        conf = tmp / "tinyproxy.conf"
        conf.write_text(f"Port {self.port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 20\n"
                        f"LogFile \"{self.log}\"\nLogLevel Info\n"
                        f"BasicAuth {user} {password}\n")
        self.log.touch()
        os.chmod(self.log, 0o666)
        self.proc = subprocess.Popen(["tinyproxy", "-d", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        import socket
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError("tinyproxy did not start")

    def connects(self, port):
        return self.log.read_text().count(f"CONNECT 127.0.0.1:{port}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def test_authenticating_proxy(world, tmp_path):
    if shutil.which("tinyproxy") is None:
        pytest.fail("tinyproxy is not installed; run scripts/bootstrap")
    px = Tinyproxy(tmp_path, "arca-user", "proxy-secret-1")
    svc_port = int(world.s.url.rsplit(":", 1)[1])
    try:
        pw = tmp_path / "proxy-pw"
        pw.write_text("proxy-secret-1\n")
        proxy = ("--proxy", f"http://127.0.0.1:{px.port}", "--proxy-user", "arca-user",
                 "--proxy-password-file", str(pw))
        a = world.register("server-01", extra=proxy)
        after_register = px.connects(svc_port)
        assert after_register >= 1
        src = tmp_path / "src"
        src.mkdir()
        (src / "f").write_bytes(os.urandom(3 << 20))
        assert a.json("backup", str(src))["status"] == "complete"
        a.json("restore", "latest", "--target", str(tmp_path / "out"))
        assert rsync_diff(src, tmp_path / "out" / str(src).lstrip("/")) == ""
        through = px.connects(svc_port)
        assert through > after_register
        print(f"{through} tunnels through the proxy to the service")

        bad = tmp_path / "bad-pw"
        bad.write_text("wrong\n")
        b = world.register("server-02", expect=1, extra=(
            "--proxy", f"http://127.0.0.1:{px.port}", "--proxy-user", "arca-user",
            "--proxy-password-file", str(bad)))
        assert "proxy refused the user name or password" in b.proc.stderr, b.proc.stderr
        assert not os.path.exists(b.home)
    finally:
        px.stop()
    # With the proxy gone the agent cannot reach the service: it never
    # went around it.
    p = a.run("backup", str(src))
    assert p.returncode == 1 and "cannot reach the service" in p.stderr, p.stderr


def test_objects_the_service_lost_are_uploaded_again(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    (src / "keep").write_bytes(os.urandom(1 << 20))
    a.json("backup", str(src))
    before = {p["id"] for p in admin(world.s, "pack", "list")["packs"]}
    (src / "lost").write_bytes(os.urandom(2 << 20))
    a.json("backup", str(src))
    # The last backup's packs are lost from the store and the operator
    # forgets them; the agent's cache still lists their objects.
    newest = {p["id"] for p in admin(world.s, "pack", "list")["packs"]} - before
    assert newest
    for pack in newest:
        assert admin(world.s, "pack", "forget", pack)["forgotten"] == pack
    r = a.json("backup", str(src))
    assert r["status"] == "complete" and r["bytes_read"] == 2 << 20, r
    assert r["bytes_stored"] >= 2 << 20, r
    out = tmp_path / "out"
    a.json("restore", "latest", "--target", str(out))
    assert rsync_diff(src, out / str(src).lstrip("/")) == ""


def test_second_passphrase_opens_the_same_data(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("either passphrase\n")
    a.json("backup", str(src))
    second = tmp_path / "second"
    second.write_text("an offline second passphrase\n")
    kit2 = tmp_path / "kit2.txt"
    p = a.run("properties", "--add-passphrase", "--passphrase-file", str(second),
              "--recovery-kit", str(kit2))
    assert p.returncode == 0, p.stderr
    assert stat.S_IMODE(os.stat(kit2).st_mode) == 0o600
    b = world.register("laptop")
    # The service's blob opens only with the first passphrase ...
    p = b.run("restore", "latest", "--target", str(tmp_path / "x"), "--from-machine", "server-01",
              "--passphrase-file", str(second))
    assert p.returncode == 6
    # ... the kit's blob with the second; both give the same data.
    for pf, wk in ((a.passfile, None), (second, kit2)):
        out = tmp_path / f"out-{pf.name}"
        args = ["restore", "latest", "--target", str(out), "--from-machine", "server-01",
                "--passphrase-file", str(pf)] + (["--wrapped-key", str(wk)] if wk else [])
        r = b.json(*args)
        assert r["status"] == "complete"
        assert (out / str(src).lstrip("/") / "f").read_text() == "either passphrase\n"
    # A blob of another machine's key is refused for this one.
    p = b.run("restore", "latest", "--target", str(tmp_path / "y"), "--from-machine", "server-01",
              "--passphrase-file", str(b.passfile), "--wrapped-key", os.path.join(b.home, "wrapped.key"))
    assert p.returncode == 1 and "another master key" in p.stderr, p.stderr


def converse(argv, script, timeout=60):
    """Run ARGV on a pseudo-terminal; for each (prompt, answer) of SCRIPT wait
    for the prompt, then type the answer. Returns (exit code, everything
    shown)."""
    import pty
    import select
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    shown, deadline = b"", time.time() + timeout
    try:
        for prompt, answer in script:
            while prompt.encode() not in shown:
                r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
                if not r:
                    raise AssertionError(f"no prompt {prompt!r}; shown: {shown.decode(errors='replace')}")
                try:
                    shown += os.read(fd, 4096)
                except OSError:
                    raise AssertionError(f"ended before {prompt!r}: {shown.decode(errors='replace')}")
            shown = shown.replace(prompt.encode(), b"<asked>", 1)
            os.write(fd, answer.encode() + b"\n")
        while True:
            r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
            if not r:
                break
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            shown += data
    except AssertionError:
        os.kill(pid, signal.SIGKILL)  # else waitpid below waits for it forever
        raise
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_interactive_registration_on_a_terminal(world, tmp_path):
    home, kit = tmp_path / "home-tty", tmp_path / "kit-tty.txt"
    argv = [world.arca, "register", "--vault-credentials", str(world.credentials()),
            "--home", str(home), "--cache", str(tmp_path / "cache-tty"), "--machine-name", "tty-01"]
    # A provided passphrase: too short first, then two that differ, then right.
    rc, shown = converse(argv, [
        ("Passphrase (at least 16", "short"),
        ("Passphrase (at least 16", "a passphrase typed at a terminal"),
        ("Passphrase again", "a passphrase typed wrong"),
        ("Passphrase (at least 16", "a passphrase typed at a terminal"),
        ("Passphrase again", "a passphrase typed at a terminal"),
        ("Save a recovery kit", str(kit)),
    ])
    assert rc == 0, shown
    assert "at least 16" in shown and "differ" in shown
    assert "a passphrase typed at a terminal" not in shown  # never echoed
    assert "Passphrase:   a passphrase typed at a terminal" in kit.read_text()
    assert "away from this machine" in shown and "registered to vault backup-vault" in shown

    # A generated one, written down instead of saved to a file.
    home2 = tmp_path / "home-tty2"
    argv2 = [world.arca, "register", "--vault-credentials", str(world.credentials()),
             "--home", str(home2), "--cache", str(tmp_path / "cache-tty2"), "--machine-name", "tty-02"]
    rc, shown = converse(argv2, [
        ("Passphrase (at least 16", ""),
        ("Save a recovery kit", ""),
        ("Type 'saved'", "saved"),
    ])
    assert rc == 0, shown
    import re
    m = re.search(r"Your passphrase is:\s+(\S{36})\s", shown)
    assert m, shown
    st, body, _ = world.s.call("GET", "/vaults/backup-vault/machines")
    assert sorted(x["name"] for x in body["machines"]) == ["tty-01", "tty-02"]


def test_registering_again_from_a_new_install_keeps_the_points(world, tmp_path):
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("before the reinstall\n")
    first = a.json("backup", str(src))["recovery_point"]
    # A new install (no home) under the same name with another passphrase:
    # refused, and the machine's wrapped key on the service is untouched.
    b = world.register("server-01", passphrase="a different passphrase entirely", expect=6,
                       install="reinstalled")
    assert "another passphrase" in b.proc.stderr and not os.path.exists(b.home)
    assert a.json("recovery-points")["recovery_points"][0]["id"] == first
    # With the machine's passphrase it takes the machine over, with the
    # same master key: the old points restore.
    c = world.register("server-01", install="reinstalled")
    assert json.loads(c.run("properties", "--json").stdout)["machine"] == "server-01"
    out = tmp_path / "out"
    r = c.json("restore", first, "--target", str(out))
    assert r["status"] == "complete"
    assert (out / str(src).lstrip("/") / "f").read_text() == "before the reinstall\n"
    st, body, _ = world.s.call("GET", "/vaults/backup-vault/machines")
    assert [m["name"] for m in body["machines"]] == ["server-01"]


def trees_cache_records(path):
    """The ids of trees.dat's records, checking that they tile the file
    exactly (docs/FORMAT.md: magic, then id, u32 length, sealed bytes)."""
    data = open(path, "rb").read()
    assert data[:8] == b"ARCATRC1"
    off, ids = 8, []
    while off < len(data):
        assert off + 36 <= len(data), f"a torn record head at {off} of {len(data)}"
        n = int.from_bytes(data[off + 32:off + 36], "little")
        assert 0 < n <= len(data) - off - 36, f"a record at {off} claims {n} bytes"
        ids.append(data[off:off + 32])
        off += 36 + n
    return ids


def test_two_agent_processes_share_the_tree_cache(world, tmp_path):
    """A restore and another restore (or the resident agent's backup) may
    run at once: their appends to trees.dat must not overwrite each other."""
    a = world.register("server-01")
    src = tmp_path / "src"
    for i in range(80):
        (src / f"d{i}").mkdir(parents=True)
        (src / f"d{i}" / "f").write_bytes(os.urandom(100))
    p1 = a.json("backup", str(src))["recovery_point"]
    for i in range(80):
        (src / f"d{i}" / "f").write_bytes(os.urandom(100))
    p2 = a.json("backup", str(src))["recovery_point"]
    cache = os.path.join(a.cache, "trees.dat")
    for rnd in range(3):
        os.unlink(cache)
        procs = [a.popen("restore", p, "--target", str(tmp_path / f"o{rnd}-{k}"), "--json")
                 for k, p in enumerate([p1, p2, p1, p2])]
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        ids = trees_cache_records(cache)
        # Every folder's tree of both points (80 + the path above, twice).
        assert len(set(ids)) >= 2 * 81, len(set(ids))
    p = a.run("backup", str(src), "--json")
    assert p.returncode == 0 and "note:" not in p.stderr, p.stderr
