"""Packs read back through the store contract: ranges at the edges of a
pack and across the pieces the service streams in, malformed ranges
refused, a pack missing from its store reported as such, and resumable
uploads kept out of the stores' folders."""
import hashlib

from helpers import make_pack, replicated, signed


def get(s, mid, mkey, pack, rng=None):
    """GET a pack (or RNG of it): the status, and the bytes or, for an
    error, the parsed JSON answer."""
    return signed(s, mid, mkey, "GET", "/packs/" + pack, raw=True,
                  headers={"Range": rng} if rng else None)


def test_ranges_at_the_edges_and_across_pieces(machine):
    s, tmp, mid, mkey, _, _ = machine
    # Larger than a few of the service's 256 KiB streaming pieces.
    data, info = make_pack(tmp, n=3, size=400000)
    pack = info["pack"]
    st, body = signed(s, mid, mkey, "PUT", "/packs/" + pack, data)
    assert st == 201, body
    n = len(data)
    st, back = get(s, mid, mkey, pack)
    assert st == 200 and back == data
    for first, last, want in [
        (0, 0, data[:1]),                                   # first byte
        (n - 1, n - 1, data[-1:]),                          # last byte
        (n - 10, n + 1000, data[-10:]),                     # past the end: cut
        ((256 << 10) - 3, (256 << 10) + 2, data[(256 << 10) - 3:(256 << 10) + 3]),
        (1, n - 2, data[1:-1]),                             # across every piece
    ]:
        st, part = get(s, mid, mkey, pack, f"bytes={first}-{last}")
        assert st == 206 and part == want, (first, last)
    st, part = get(s, mid, mkey, pack, f"bytes={n - 5}-")
    assert st == 206 and part == data[-5:]


def test_unsatisfiable_and_malformed_ranges(machine):
    s, tmp, mid, mkey, _, _ = machine
    data, info = make_pack(tmp)
    pack = info["pack"]
    assert signed(s, mid, mkey, "PUT", "/packs/" + pack, data)[0] == 201
    n = len(data)
    for rng in (f"bytes={n}-", f"bytes={n + 5}-{n + 9}", "bytes=9-3"):
        st, body = get(s, mid, mkey, pack, rng)
        assert st == 416 and body["error"]["code"] == "range", rng
    for rng in ("bytes=-5", "bytes=a-5", "bytes=1-2,4-5", "bytes= 1-2", "bytes=+1-2",
                "items=0-1", "bytes=1-2-", "bytes=99999999999999999999999-"):
        st, body = get(s, mid, mkey, pack, rng)
        assert st == 400, rng
        assert body["error"]["code"] == "invalid" and "Range must be" in body["error"]["message"]


def test_a_pack_gone_from_its_store_is_an_error_not_bytes(machine):
    s, tmp, mid, mkey, _, _ = machine
    data, info = make_pack(tmp)
    pack = info["pack"]
    assert signed(s, mid, mkey, "PUT", "/packs/" + pack, data)[0] == 201
    # Both copies of the GRS vault's pack (the pair's once replicated):
    # with one left, it is read.
    replicated(s)
    for region in ("local-1", "local-2"):
        (s.data / "store" / region / "packs" / pack[:2] / pack).unlink()
    st, body = get(s, mid, mkey, pack)
    assert st == 404 and "in this store" in body["error"]["message"]


def test_resumable_uploads_stay_out_of_the_stores(machine):
    s, tmp, mid, mkey, _, _ = machine
    data, info = make_pack(tmp)
    pack = info["pack"]
    half = len(data) // 2
    st, body = signed(s, mid, mkey, "PUT", "/packs/" + pack, data[:half],
                      headers={"X-Arca-Length": str(len(data)), "X-Arca-Offset": "0"})
    assert st == 202 and body["received"] == half
    for region in ("local-1", "local-2"):
        root = s.data / "store" / region
        assert not any(p.is_file() for p in root.rglob("*")), "nothing in a store yet"
    assert [p.name for p in (s.data / "tmp").iterdir()] == [f"partial-{mid}-{pack}"]
    st, body = signed(s, mid, mkey, "PUT", "/packs/" + pack, data[half:],
                      headers={"X-Arca-Length": str(len(data)), "X-Arca-Offset": str(half)})
    assert st == 201, body
    stored = s.data / "store" / "local-1" / "packs" / pack[:2] / pack
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == pack
    assert not any((s.data / "tmp").iterdir())
    for region in ("local-1", "local-2"):
        assert not any((s.data / "store" / region / "tmp").iterdir())
