"""Encrypted storage through the service: packs uploaded by a registered
machine (hash-checked, table of contents read without keys, idempotent),
read back whole or by byte range, the bulk question of which objects are
missing, and recovery points committed atomically by the service's clock."""
import json
import os
import subprocess
import time

import pytest

from helpers import Creds, make_pack, register, replicated, signed


def test_upload_read_back_and_ranges(machine):
    s, tmp, mid, mkey, _, _ = machine
    data, info = make_pack(tmp)
    st, body = signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], data)
    assert st == 201, body
    assert body["objects"] == 4 and body["size"] == len(data)
    # Idempotent: the same upload again is accepted without storing twice.
    st, body = signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], data)
    assert st == 200 and body["already_stored"] is True
    st, back = signed(s, mid, mkey, "GET", "/packs/" + info["pack"], raw=True)
    assert st == 200 and back == data
    st, part = signed(s, mid, mkey, "GET", "/packs/" + info["pack"], raw=True,
                      headers={"Range": "bytes=16-1039"})
    assert st == 206 and part == data[16:1040]
    st, tail = signed(s, mid, mkey, "GET", "/packs/" + info["pack"], raw=True,
                      headers={"Range": f"bytes={len(data) - 56}-"})
    assert st == 206 and tail == data[-56:]
    # The stored file is the pack, byte for byte, in the vault region's store,
    # and (the vault is GRS, the default) in the paired region's too, once
    # the replicator has copied it.
    replicated(s)
    for region in ("local-1", "local-2"):
        stored = s.data / "store" / region / "packs" / info["pack"][:2] / info["pack"]
        assert stored.read_bytes() == data
    assert not any((s.data / "tmp").iterdir()), "no upload left behind"


def test_damaged_or_foreign_uploads_are_refused(machine):
    s, tmp, mid, mkey, _, _ = machine
    data, info = make_pack(tmp)
    bad = bytearray(data)
    bad[100] ^= 1
    st, body = signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], bytes(bad))
    assert st == 400 and "SHA-256" in body["error"]["message"]
    st, body = signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], data[:1000])
    assert st == 400
    garbage = os.urandom(5000)
    import hashlib
    gid = hashlib.sha256(garbage).hexdigest()
    st, body = signed(s, mid, mkey, "PUT", "/packs/" + gid, garbage)
    assert st == 400 and "table of contents" in body["error"]["message"]
    st, body = signed(s, mid, mkey, "PUT", "/packs/not-an-id", data)
    assert st == 400
    st, body = signed(s, mid, mkey, "GET", "/packs/" + gid)
    assert st == 404
    # A user token is not a machine: no storage through it.
    st, body, _ = s.call("PUT", "/packs/" + info["pack"], None)
    assert st == 401
    assert not any((s.data / "tmp").iterdir())


def test_missing_objects_and_recovery_points(machine):
    s, tmp, mid, mkey, _, _ = machine
    data, info = make_pack(tmp, n=5)
    ids = info["objects"]
    absent = "ab" * 32
    st, body = signed(s, mid, mkey, "POST", "/objects/missing",
                      json.dumps({"ids": ids + [absent]}).encode())
    assert st == 200 and set(body["missing"]) == set(ids + [absent])
    # Committing before the objects are stored fails and leaves no point.
    point = {"meta": ids[-1], "parent": None, "objects": ids}
    st, body = signed(s, mid, mkey, "POST", "/recovery-points", json.dumps(point).encode())
    assert st == 404 and "upload them" in body["error"]["message"]
    st, body = signed(s, mid, mkey, "GET", "/recovery-points")
    assert body["recovery_points"] == []

    st, _ = signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], data)
    assert st == 201
    st, body = signed(s, mid, mkey, "POST", "/objects/missing",
                      json.dumps({"ids": ids + [absent]}).encode())
    assert body["missing"] == [absent]

    before = int(time.time())
    st, lease = signed(s, mid, mkey, "POST", "/recovery-points/begin")
    assert st == 201 and lease["lease"] and lease["expires"]
    st, rp = signed(s, mid, mkey, "POST", "/recovery-points",
                    json.dumps(dict(point, lease=lease["lease"])).encode())
    assert st == 201, rp
    st, shown = signed(s, mid, mkey, "GET", "/recovery-points/" + rp["id"])
    assert st == 200 and shown == rp
    assert signed(s, mid, mkey, "GET", "/recovery-points/" + "0" * 32)[0] == 404
    assert rp["objects"] == 5 and rp["bytes"] > 5 * 50000
    created = time.strptime(rp["created"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(time.mktime(created) - time.mktime(time.gmtime(before))) < 60
    st, rp2 = signed(s, mid, mkey, "POST", "/recovery-points",
                     json.dumps({"meta": ids[-1], "parent": rp["id"], "objects": ids}).encode())
    assert st == 201 and rp2["parent"] == rp["id"]
    st, body = signed(s, mid, mkey, "GET", "/recovery-points")
    assert [p["id"] for p in body["recovery_points"]] == [rp["id"], rp2["id"]]
    assert body["max"] == 366

    # Bad input: the meta object must be among the references; ids are checked.
    st, body = signed(s, mid, mkey, "POST", "/recovery-points",
                      json.dumps({"meta": absent, "objects": ids}).encode())
    assert st == 400
    st, body = signed(s, mid, mkey, "POST", "/recovery-points",
                      json.dumps({"meta": ids[0], "objects": ["xyz"]}).encode())
    assert st == 400


def test_another_machine_of_the_vault_reads_but_does_not_own(machine, tmp_path):
    s, tmp, mid, mkey, mpub, creds = machine
    data, info = make_pack(tmp)
    st, _ = signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], data)
    assert st == 201
    # A second machine of the same vault (its own key).
    key2 = tmp / "m2.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", str(key2)], check=True)
    pub2 = subprocess.run(["openssl", "pkey", "-in", str(key2), "-pubout"], capture_output=True,
                          text=True, check=True).stdout
    st, body, _ = register(s, creds, "server-02", pub2)
    assert st == 201
    mid2 = body["machine_id"]
    st, back = signed(s, mid2, key2, "GET", "/packs/" + info["pack"], raw=True)
    assert st == 200 and back == data
    # It finds the source machine, its wrapped key and its points, read only.
    st, src = signed(s, mid2, key2, "GET", "/machines/server-01")
    assert st == 200 and src["id"] == mid and len(src["wrapped_key"]) > 100
    st, body = signed(s, mid, mkey, "POST", "/recovery-points", json.dumps(
        {"meta": info["objects"][0], "objects": info["objects"]}).encode())
    st, pts = signed(s, mid2, key2, "GET", "/machines/server-01/recovery-points")
    assert st == 200 and [p["id"] for p in pts["recovery_points"]] == [body["id"]]
    assert signed(s, mid2, key2, "GET", "/machines/nobody")[0] == 404
    assert signed(s, mid2, key2, "DELETE", "/machines/server-01")[0] in (404, 405)
    # Its own object questions see only its own objects.
    st, body = signed(s, mid2, key2, "POST", "/objects/missing",
                      json.dumps({"ids": info["objects"]}).encode())
    assert body["missing"] == info["objects"]
    # And it cannot claim the first machine's pack as its own upload.
    st, body = signed(s, mid2, key2, "PUT", "/packs/" + info["pack"], data)
    assert st == 409


def test_lrs_keeps_one_copy(env, tmp_path):
    s, tmp, mkey, mpub = env
    st, body, _ = s.call("POST", "/vaults", {"name": "local-only", "region": "local-2",
                                             "redundancy": "LRS"})
    st, xml, _ = s.call("POST", "/vaults/local-only/credentials", raw=True)
    st, m, _ = register(s, Creds(xml, tmp), "server-09", mpub)
    data, info = make_pack(tmp)
    assert signed(s, m["machine_id"], mkey, "PUT", "/packs/" + info["pack"], data)[0] == 201
    p = info["pack"]
    assert (s.data / "store" / "local-2" / "packs" / p[:2] / p).exists()
    assert not (s.data / "store" / "local-1" / "packs" / p[:2] / p).exists()


def test_resumable_upload(machine):
    s, tmp, mid, mkey, _, _ = machine
    data, info = make_pack(tmp, n=3, size=40000)
    pid, total = info["pack"], str(len(data))
    a, b = len(data) // 3, 2 * len(data) // 3
    hdr = lambda off: {"X-Arca-Length": total, "X-Arca-Offset": str(off)}  # noqa: E731
    st, body = signed(s, mid, mkey, "PUT", "/packs/" + pid, data[:a], headers=hdr(0))
    assert st == 202 and body["received"] == a
    # The connection broke; the client asks where to resume.
    st, body = signed(s, mid, mkey, "GET", f"/packs/{pid}/upload")
    assert body["received"] == a
    st, body = signed(s, mid, mkey, "PUT", "/packs/" + pid, data[b:], headers=hdr(b))
    assert st == 409 and body["received"] == a          # a gap is refused, nothing lost
    st, body = signed(s, mid, mkey, "PUT", "/packs/" + pid, data[a:b], headers=hdr(a))
    assert st == 202 and body["received"] == b
    st, body = signed(s, mid, mkey, "GET", "/packs/" + pid)
    assert st == 404                                    # not visible until complete
    st, body = signed(s, mid, mkey, "PUT", "/packs/" + pid, data[b:], headers=hdr(b))
    assert st == 201 and body["size"] == len(data)
    st, back = signed(s, mid, mkey, "GET", "/packs/" + pid, raw=True)
    assert back == data
    assert not any((s.data / "tmp").iterdir())
    # Pieces of something else under this id: refused once assembled.
    data2, info2 = make_pack(tmp, n=2, size=1000)
    fake = bytearray(data2)
    fake[50] ^= 1
    st, body = signed(s, mid, mkey, "PUT", "/packs/" + info2["pack"], bytes(fake),
                      headers={"X-Arca-Length": str(len(fake)), "X-Arca-Offset": "0"})
    assert st == 400 and "start again" in body["error"]["message"]
    st, body = signed(s, mid, mkey, "GET", f"/packs/{info2['pack']}/upload")
    assert body["received"] == 0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_memory_stays_flat_as_objects_grow(machine):
    """The service keeps what it knows in the catalog, not in memory: its
    resident size after 40 packs and after 240 packs (12,000 more objects)
    stays within a few MiB."""
    s, tmp, mid, mkey, _, _ = machine
    with open(f"/proc/{s.proc.pid}/maps") as f:
        if "libasan" in f.read():
            pytest.skip("resident sizes mean nothing under AddressSanitizer's quarantine")

    def upload(k):
        for i in range(k):
            data, info = make_pack(tmp, n=60, size=200, seed=f"flat-{k}-{i}-{os.urandom(4).hex()}")
            assert signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], data)[0] == 201

    upload(40)
    before = rss_kib(s.proc.pid)
    upload(200)
    after = rss_kib(s.proc.pid)
    st, body, _ = s.call("GET", "/vaults/backup-vault/usage")
    assert body["machines"][0]["packs"] == 240
    print(f"\narcad resident size: {before} KiB after 40 packs, {after} KiB after 240 packs")
    assert after - before < 8 * 1024


def test_grs_reads_the_paired_copy_when_its_region_fails(world, tmp_path):
    """A GRS vault's restore and verify read the paired region's copy of a
    pack that the vault's own region has lost, or cannot read at all."""
    from faults import points
    from helpers import rsync_diff

    a = world.register("server-01")
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(6):
        (src / "d" / f"f{i}").write_bytes(os.urandom(200_000 + i))
    (src / "small").write_text("small\n")
    pt = a.json("backup", str(src))["recovery_point"]
    replicated(world.s)
    own = world.s.data / "store" / "local-1" / "packs"
    files = sorted(f for f in own.rglob("*") if f.is_file())
    assert files and (world.s.data / "store" / "local-2" / "packs").is_dir()

    # Half the region's packs lost: what is left is read where it is, the
    # rest from the pair.
    for f in files[::2]:
        f.unlink()
    out = tmp_path / "out-1"
    r = a.json("restore", pt, "--target", str(out))
    assert r["status"] == "complete", r
    assert rsync_diff(src, out / str(src).lstrip("/")) == ""
    p = a.run("verify", "--read-data", "--json")
    assert p.returncode == 0, (p.stdout, p.stderr)

    # The region's store cannot be read at all (its folder is a file now):
    # an error there, and still every byte from the pair.
    os.rename(own, tmp_path / "lost-packs")
    own.write_text("not a folder\n")
    out = tmp_path / "out-2"
    r = a.json("restore", pt, "--target", str(out))
    assert r["status"] == "complete", r
    assert rsync_diff(src, out / str(src).lstrip("/")) == ""
    assert points(a) == [pt]
