"""Deleting machines and recovery points: a signed-in user with a security
PIN, soft delete (undelete within 14 days), an alert each time a PIN is
used, and a machine that can add but never delete."""
import json

import pytest

from helpers import call_pin, download, make_pack, pin, register, run, signed, wrapped_key


@pytest.fixture
def point(env):
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    st, body, _ = register(s, creds, "server-01", mpub)
    mid = body["machine_id"]
    data, info = make_pack(tmp, n=2, size=1000)
    assert signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], data)[0] == 201
    rps = []
    for _ in range(2):
        st, rp = signed(s, mid, mkey, "POST", "/recovery-points", json.dumps(
            {"meta": info["objects"][0], "parent": None, "objects": info["objects"]}).encode())
        assert st == 201
        rps.append(rp["id"])
    return s, tmp, mid, mkey, mpub, creds, rps


def test_point_delete_needs_pin_and_undeletes(point):
    s, tmp, mid, mkey, _, _, rps = point
    path = f"/vaults/backup-vault/machines/server-01/recovery-points/{rps[0]}"
    st, body = call_pin(s, "DELETE", path, None)
    assert st == 401 and "security PIN" in body["error"]["message"]
    st, body = call_pin(s, "DELETE", path, "12345678")
    assert st == 401 and "wrong or has expired" in body["error"]["message"]
    st, body = call_pin(s, "DELETE", path, pin(s))
    assert st == 200 and body["restorable_days"] == 14
    # The machine no longer sees it; the user sees it as deleted.
    st, body = signed(s, mid, mkey, "GET", "/recovery-points")
    assert [p["id"] for p in body["recovery_points"]] == [rps[1]]
    st, body, _ = s.call("GET", "/vaults/backup-vault/machines/server-01/recovery-points")
    listed = {p["id"]: p for p in body["recovery_points"]}
    assert "deleted" in listed[rps[0]] and "deleted" not in listed[rps[1]]
    st, body, _ = s.call("POST", path + "/undelete")
    assert st == 200
    st, body = signed(s, mid, mkey, "GET", "/recovery-points")
    assert [p["id"] for p in body["recovery_points"]] == rps
    st, body, _ = s.call("GET", "/alerts")
    assert body["alerts"][0]["kind"] == "pin.used"
    assert "delete recovery point" in body["alerts"][0]["message"]
    st, body, _ = s.call("GET", "/audit")
    actions = [a["action"] for a in body["audit"]]
    assert "point.delete" in actions and "point.undelete" in actions and "pin.refused" in actions


def test_machine_cannot_delete(point):
    s, tmp, mid, mkey, _, _, rps = point
    st, body = signed(s, mid, mkey, "DELETE", "/recovery-points/" + rps[0])
    assert st in (404, 405)
    st, body = signed(s, mid, mkey, "DELETE",
                      f"/vaults/backup-vault/machines/server-01/recovery-points/{rps[0]}")
    assert st == 401  # user paths need a signed-in user, whatever a machine signs
    st, body = signed(s, mid, mkey, "GET", "/recovery-points")
    assert len(body["recovery_points"]) == 2


def test_pin_is_for_people_not_tokens(point):
    s = point[0]
    st, body, _ = s.call("POST", "/tokens", {"name": "script"})
    st, body, _ = s.call("POST", "/pin", token=body["token"])
    assert st == 401 and "person" in body["error"]["message"]


def test_machine_soft_delete(point):
    s, tmp, mid, mkey, mpub, creds, rps = point
    path = "/vaults/backup-vault/machines/server-01"
    st, body = call_pin(s, "DELETE", path, pin(s))
    assert st == 200
    # Deleted: it cannot sign in, cannot register again by name, and the vault
    # counts it no more but keeps it until the purge.
    st, body = signed(s, mid, mkey, "GET", "/recovery-points")
    assert st == 401
    st, body, _ = register(s, creds, "server-01", mpub)
    assert st == 409 and "undelete" in body["error"]["message"]
    st, v, _ = s.call("GET", "/vaults/backup-vault")
    assert v["machines"] == 0
    st, body, _ = s.call("DELETE", "/vaults/backup-vault")
    assert st == 409 and "purged" in body["error"]["message"]
    st, body, _ = s.call("GET", "/vaults/backup-vault/machines")
    assert body["machines"][0]["deleted"]
    st, body, _ = s.call("GET", "/alerts")
    kinds = [a["kind"] for a in body["alerts"]]
    assert "machine.deleted" in kinds and "pin.used" in kinds
    # Undelete: it works again, with its recovery points.
    st, body, _ = s.call("POST", path + "/undelete")
    assert st == 200
    st, body = signed(s, mid, mkey, "GET", "/recovery-points")
    assert st == 200 and len(body["recovery_points"]) == 2


def test_passphrase_change_needs_pin_and_keeps_the_key(point):
    s, tmp, mid, mkey, _, _, rps = point
    st, me = signed(s, mid, mkey, "GET", "/machine")
    kid = bytes.fromhex(me["key_id"])
    new = wrapped_key(kid)
    body = json.dumps({"wrapped_key": __import__("base64").b64encode(new).decode()}).encode()
    st, r = signed(s, mid, mkey, "PUT", "/machine/wrapped-key", body)
    assert st == 401 and "security PIN" in r["error"]["message"]
    st, r = signed(s, mid, mkey, "PUT", "/machine/wrapped-key", body, headers={"X-Arca-PIN": pin(s)})
    assert st == 200, r
    st, me = signed(s, mid, mkey, "GET", "/machine")
    assert __import__("base64").b64decode(me["wrapped_key"]) == new
    # Another master key is not a passphrase change: refused.
    other = json.dumps({"wrapped_key": __import__("base64").b64encode(wrapped_key()).decode()}).encode()
    st, r = signed(s, mid, mkey, "PUT", "/machine/wrapped-key", other, headers={"X-Arca-PIN": pin(s)})
    assert st == 400 and "same key" in r["error"]["message"]
    st, body, _ = s.call("GET", "/alerts")
    assert "passphrase.changed" in [a["kind"] for a in body["alerts"]]
    # Its recovery points are untouched.
    st, body = signed(s, mid, mkey, "GET", "/recovery-points")
    assert [p["id"] for p in body["recovery_points"]] == rps


def test_policy_limits_floors_and_pin(point):
    s, tmp, mid, mkey, _, _, _ = point
    path = "/vaults/backup-vault/machines/server-01/policy"
    good = {"schedule": ["21:00", "09:30"], "keep_daily": 30, "keep_weekly": 8,
            "keep_monthly": 12, "keep_yearly": 2}
    st, body, _ = s.call("PUT", path, good)
    assert st == 200, body
    assert body["schedule"] == ["09:30", "21:00"] and body["max_points"] == 82
    st, body = signed(s, mid, mkey, "GET", "/machine/policy")
    assert st == 200 and body["keep_daily"] == 30
    # Four times a day, floors, 366 points: refused with the reason and the limit.
    st, body, _ = s.call("PUT", path, dict(good, schedule=["01:00", "02:00", "03:00", "04:00"]))
    assert st == 409 and "at most 3 times a day" in body["error"]["message"]
    st, body, _ = s.call("PUT", path, dict(good, keep_daily=3))
    assert st == 400 and "below 7" in body["error"]["message"]
    st, body, _ = s.call("PUT", path, dict(good, keep_weekly=2))
    assert st == 400 and "below 4" in body["error"]["message"]
    st, body, _ = s.call("PUT", path, dict(good, schedule=["01:00", "02:00", "03:00"], keep_daily=120))
    assert st == 409 and "at most 366 recovery points" in body["error"]["message"]
    st, body, _ = s.call("PUT", path, dict(good, schedule=["25:00"]))
    assert st == 400
    # Lengthening needs nothing; shortening needs a PIN and raises an alert.
    st, body, _ = s.call("PUT", path, dict(good, keep_daily=60))
    assert st == 200
    st, body = call_pin(s, "PUT", path, None, dict(good, keep_daily=10))
    assert st == 401 and "security PIN" in body["error"]["message"]
    st, body = call_pin(s, "PUT", path, pin(s), dict(good, keep_daily=10))
    assert st == 200 and body["keep_daily"] == 10
    st, body, _ = s.call("GET", "/alerts")
    assert "retention.shortened" in [a["kind"] for a in body["alerts"]]
    st, body, _ = s.call("GET", path)
    assert body["keep_daily"] == 10


def test_undelete_keeps_the_limits(point):
    """Bringing a machine back counts like registering one: a vault already
    holding 50 live machines refuses it, naming the limit, and keeps it
    deleted (and undeletable once there is room)."""
    s, tmp, mid, mkey, mpub, creds, rps = point
    path = "/vaults/backup-vault/machines/server-01"
    st, body = call_pin(s, "DELETE", path, pin(s))
    assert st == 200, body
    for i in range(50):
        st, body, _ = register(s, creds, f"m{i:02d}", mpub)
        assert st == 201, body
    st, body, _ = s.call("POST", path + "/undelete")
    assert st == 409 and body["error"]["code"] == "limit", body
    assert "A vault can have at most 50 machines" in body["error"]["message"]
    st, v, _ = s.call("GET", "/vaults/backup-vault")
    assert v["machines"] == 50
    st, body = signed(s, mid, mkey, "GET", "/recovery-points")
    assert st == 401
    st, body = call_pin(s, "DELETE", "/vaults/backup-vault/machines/m00", pin(s))
    assert st == 200, body
    st, body, _ = s.call("POST", path + "/undelete")
    assert st == 200, body
    st, v, _ = s.call("GET", "/vaults/backup-vault")
    assert v["machines"] == 50


def test_pin_is_single_use_bound_to_its_user_and_not_for_tokens(point, arcad_bin):
    """Issue 12, defect 6: a PIN is its generator's, for one operation, and
    an API token can use none."""
    import copy
    s, tmp, mid, mkey, _, _, rps = point
    path = "/vaults/backup-vault/machines/server-01/recovery-points/"
    p = pin(s)
    assert call_pin(s, "DELETE", path + rps[0], p)[0] == 200
    st, body = call_pin(s, "DELETE", path + rps[1], p)
    assert st == 401 and "wrong or has expired" in body["error"]["message"]
    # Another user of the same subscription cannot use alice's PIN.
    r = run([arcad_bin, "user", "add", "--data", str(s.data), "bob", "--json"])
    assert r.returncode == 0, r.stderr
    bob = copy.copy(s)
    st, body, _ = s.call("POST", "/session", {"user": "bob", "password": json.loads(r.stdout)["password"]})
    assert st == 201
    bob.token = body["token"]
    p = pin(s)
    st, body = call_pin(bob, "DELETE", path + rps[1], p)
    assert st == 401 and "wrong or has expired" in body["error"]["message"]
    # An API token cannot use a PIN a person generated.
    st, body, _ = s.call("POST", "/tokens", {"name": "script"})
    tok = copy.copy(s)
    tok.token = body["token"]
    st, body = call_pin(tok, "DELETE", path + rps[1], p)
    assert st == 401 and "API token" in body["error"]["message"]
    # The PIN is still alice's to use once.
    assert call_pin(s, "DELETE", path + rps[1], p)[0] == 200


def test_pin_attempts_are_limited(point):
    s, tmp, mid, mkey, _, _, rps = point
    path = "/vaults/backup-vault/machines/server-01/recovery-points/" + rps[0]
    good = pin(s)
    for i in range(5):
        st, body = call_pin(s, "DELETE", path, "0000000%d" % i)
        assert st == 401
    assert "15 minutes" in body["error"]["message"]
    # The outstanding PIN is void and a new one is refused too, for 15 minutes.
    st, body = call_pin(s, "DELETE", path, good)
    assert st == 409 and "15 minutes" in body["error"]["message"]
    st, body, _ = s.call("POST", "/pin")
    assert st == 409 and "15 minutes" in body["error"]["message"]


def test_machine_pin_is_single_use_and_attempt_limited(point):
    import base64
    s, tmp, mid, mkey, _, _, rps = point
    st, me = signed(s, mid, mkey, "GET", "/machine")
    new = wrapped_key(bytes.fromhex(me["key_id"]))
    body = json.dumps({"wrapped_key": base64.b64encode(new).decode()}).encode()
    p = pin(s)
    st, r = signed(s, mid, mkey, "PUT", "/machine/wrapped-key", body, headers={"X-Arca-PIN": p})
    assert st == 200, r
    st, r = signed(s, mid, mkey, "PUT", "/machine/wrapped-key", body, headers={"X-Arca-PIN": p})
    assert st == 401 and "wrong or has expired" in r["error"]["message"]
    good = pin(s)
    for i in range(4):
        st, r = signed(s, mid, mkey, "PUT", "/machine/wrapped-key", body,
                       headers={"X-Arca-PIN": "0000000%d" % i})
        assert st == 401
    st, r = signed(s, mid, mkey, "PUT", "/machine/wrapped-key", body, headers={"X-Arca-PIN": good})
    assert st == 409 and "15 minutes" in r["error"]["message"]
