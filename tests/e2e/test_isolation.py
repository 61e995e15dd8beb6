"""What a machine, a stranger or a malformed request cannot do, and that a
restarted service keeps everything it acknowledged. Each refused attack is
counted and the count printed."""
import json
import os
import urllib.error
import urllib.request

import pytest

from helpers import Creds, Service, download, init, make_pack, register, signed

ATTACKS = {"tried": 0}


def refused(st, allowed=(400, 401, 403, 404, 405, 409, 413, 415)):
    ATTACKS["tried"] += 1
    assert st in allowed, st


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    print(f"\nisolation: {ATTACKS['tried']} attack requests tried, all refused")


def raw(s, method, path, body=None, headers=None):
    req = urllib.request.Request(s.url + path, method=method, data=body)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, context=s.ctx, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_machines_are_isolated(env, arcad_bin, tmp_path):
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    st, a, _ = register(s, creds, "server-a", mpub)
    data, info = make_pack(tmp, n=2, size=1000, seed="a")
    assert signed(s, a["machine_id"], mkey, "PUT", "/packs/" + info["pack"], data)[0] == 201
    st, rp = signed(s, a["machine_id"], mkey, "POST", "/recovery-points", json.dumps(
        {"meta": info["objects"][0], "objects": info["objects"]}).encode())
    assert st == 201

    # A machine of another vault of the same subscription.
    s.call("POST", "/vaults", {"name": "other-vault", "region": "local-1"})
    st, xml, _ = s.call("POST", "/vaults/other-vault/credentials", raw=True)
    other = Creds(xml, tmp)
    st, b, _ = register(s, other, "server-b", mpub)
    bid = b["machine_id"]
    refused(signed(s, bid, mkey, "GET", "/packs/" + info["pack"])[0])          # read across vaults
    refused(signed(s, bid, mkey, "PUT", "/packs/" + info["pack"], data)[0])    # claim it
    st, body = signed(s, bid, mkey, "POST", "/recovery-points", json.dumps(
        {"meta": info["objects"][0], "objects": info["objects"]}).encode())
    refused(st)                                                                # commit another's objects
    st, body = signed(s, bid, mkey, "GET", "/recovery-points")
    assert body["recovery_points"] == []                                       # sees only its own
    for method, path in (("DELETE", "/recovery-points/" + rp["id"]),
                         ("DELETE", "/packs/" + info["pack"]),
                         ("DELETE", "/machine"),
                         ("GET", "/vaults"), ("POST", "/vaults"), ("GET", "/audit"),
                         ("POST", "/pin"), ("GET", "/vaults/backup-vault/machines")):
        refused(signed(s, a["machine_id"], mkey, method, path)[0])            # no user powers
    # Unsigned, forged, replayed, stale.
    refused(raw(s, "GET", "/api/v1/recovery-points")[0])
    refused(signed(s, a["machine_id"], other.key, "GET", "/recovery-points")[0])
    nonce = os.urandom(16).hex()
    assert signed(s, a["machine_id"], mkey, "GET", "/machine", nonce=nonce)[0] == 200
    refused(signed(s, a["machine_id"], mkey, "GET", "/machine", nonce=nonce)[0])
    refused(signed(s, a["machine_id"], mkey, "GET", "/machine", t=1)[0])
    # Another subscription's user cannot see this one's vaults: a second
    # service folder is a second subscription altogether.
    (tmp_path / "second").mkdir()
    d2 = init(arcad_bin, tmp_path / "second")
    s2 = Service(arcad_bin, d2)
    try:
        s2.sign_in()
        refused(s.call("GET", "/vaults/backup-vault", token=s2.token)[0])
    finally:
        s2.stop()


def test_bad_input_keeps_the_service_serving(env):
    s, tmp, mkey, mpub = env
    h = {"Authorization": "Bearer " + s.token}
    refused(raw(s, "POST", "/api/v1/vaults", b"{not json", h)[0])
    refused(raw(s, "POST", "/api/v1/vaults", b"[]", h)[0])
    refused(raw(s, "POST", "/api/v1/vaults", b'{"name": 5, "region": "local-1"}', h)[0])
    refused(raw(s, "POST", "/api/v1/vaults", b'{"name":"a","name":"b","region":"local-1"}', h)[0])
    refused(raw(s, "POST", "/api/v1/vaults", b"x" * (1 << 20 + 1), h)[0])      # over 1 MiB
    refused(raw(s, "POST", "/api/v1/vaults", "\u00e9".encode("latin-1"), h)[0])
    j = dict(h, **{"Content-Type": "application/json"})
    assert raw(s, "POST", "/api/v1/vaults", b'{"name": "v1", "region": "local-1"}',
               dict(h, **{"Content-Type": "text/plain"}))[0] == 415           # wrong content type
    ATTACKS["tried"] += 1
    refused(raw(s, "POST", "/api/v1/vaults", b"{not json", j)[0])
    refused(raw(s, "GET", "/api/v1/vaults/..%2f..%2fetc", None, h)[0])
    refused(raw(s, "GET", "/api/v1/vaults/" + "a" * 900, None, h)[0])
    creds = download(s, tmp)
    st, a, _ = register(s, creds, "server-a", mpub)
    mid = a["machine_id"]
    for bad in ("../../etc/passwd", "%2e%2e%2f%2e%2e%2fetc", "A" * 64, "0" * 63):
        refused(signed(s, mid, mkey, "PUT", "/packs/" + bad, b"x")[0])
    data, info = make_pack(tmp, n=2, size=1000)
    refused(signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], data[:-1])[0])  # truncated
    st, body, _ = s.call("GET", "/vaults")
    assert st == 200
    assert not any((s.data / "store" / "local-1" / "packs").iterdir()), "nothing stored"


def test_restart_keeps_what_was_acknowledged(env, arcad_bin):
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    st, a, _ = register(s, creds, "server-a", mpub)
    mid = a["machine_id"]
    data, info = make_pack(tmp, n=3, size=5000)
    assert signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], data)[0] == 201
    st, rp = signed(s, mid, mkey, "POST", "/recovery-points", json.dumps(
        {"meta": info["objects"][0], "objects": info["objects"]}).encode())
    assert st == 201
    token = s.token
    s.stop()
    s2 = Service(arcad_bin, s.data)
    s.proc = s2.proc  # the fixture stops the new process at the end
    st, body, _ = s2.call("GET", "/vaults/backup-vault", token=token)
    assert st == 200 and body["machines"] == 1 and body["redundancy_locked"]
    st, body = signed(s2, mid, mkey, "GET", "/recovery-points")
    assert [p["id"] for p in body["recovery_points"]] == [rp["id"]]
    st, back = signed(s2, mid, mkey, "GET", "/packs/" + info["pack"], raw=True)
    assert back == data


def test_point_and_machine_limits_end_to_end(env):
    """The 367th recovery point and, under concurrency, the 51st machine."""
    from concurrent.futures import ThreadPoolExecutor

    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    st, a, _ = register(s, creds, "server-a", mpub)
    mid = a["machine_id"]
    data, info = make_pack(tmp, n=1, size=100)
    assert signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], data)[0] == 201
    point = json.dumps({"meta": info["objects"][0], "objects": info["objects"]}).encode()

    def commit(_):
        return signed(s, mid, mkey, "POST", "/recovery-points", point)[0]

    # Four at once: a commit's body is spooled as an upload, and a machine
    # may have four uploads in flight (docs/API.md).
    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = list(pool.map(commit, range(370)))
    assert codes.count(201) == 366 and codes.count(409) == 4
    st, body = signed(s, mid, mkey, "POST", "/recovery-points", point)
    assert st == 409 and "A machine can have at most 366 recovery points" in body["error"]["message"]

    # 60 machines register at once: exactly 49 more fit beside server-a.
    def reg(i):
        return register(s, creds, f"m{i:02d}", mpub)[0]

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(reg, range(60)))
    assert codes.count(201) == 49 and codes.count(409) == 11
    st, v, _ = s.call("GET", "/vaults/backup-vault")
    assert v["machines"] == 50
