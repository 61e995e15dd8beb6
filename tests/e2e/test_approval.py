"""Multi-user approval: with a guard named, every critical operation waits
as a request (202) that changes nothing until the guard approves it, with a
second proof; the one who asked (an owner included) can never complete it
alone, by retrying or by approving; a refusal leaves it undone; an expired
request cannot be approved (test clock); an approval runs once."""
import base64
import json
import time

import pytest

from helpers import (PASSWORD, Service, call_pin, download, free_port, has_test_clock, init,
                     make_pack, pin, register, signed, wrapped_key)
from test_roles import add_user, sign_in, totp

MACHINE = "/vaults/backup-vault/machines/server-01"
LONG = {"schedule": ["09:30"], "keep_daily": 30, "keep_weekly": 8}
SHORT = {"schedule": ["09:30"], "keep_daily": 7}


def guard_world(s, tmp, mkey, mpub):
    """server-01 with three recovery points and a long policy; vault
    locked-vault, immutable; users bob (reader), guard and guard2
    (security-admins); guard named. Returns (machine id, points, tokens)."""
    creds = download(s, tmp)
    st, body, _ = register(s, creds, "server-01", mpub)
    assert st == 201, body
    mid = body["machine_id"]
    data, info = make_pack(tmp, n=2, size=1000)
    assert signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], data)[0] == 201
    rps = []
    for _ in range(3):
        st, rp = signed(s, mid, mkey, "POST", "/recovery-points", json.dumps(
            {"meta": info["objects"][0], "parent": None, "objects": info["objects"]}).encode())
        assert st == 201
        rps.append(rp["id"])
    st, body = call_pin(s, "PUT", MACHINE + "/policy", pin(s), LONG)
    assert st == 200, body
    st, body, _ = s.call("POST", "/vaults", {"name": "other-vault", "region": "local-1"})
    assert st == 201
    st, body, _ = s.call("PATCH", "/vaults/other-vault", {"immutability": "immutable"})
    assert st == 200 and body["immutability"] == "immutable", body
    tokens = {"bob": add_user(s, "bob", "reader"), "guard": add_user(s, "guard", "security-admin"),
              "guard2": add_user(s, "guard2", "security-admin")}
    # The first guard is named at once.
    st, body, _ = s.call("PUT", "/settings", {"guard": "guard"})
    assert st == 200 and body["guard"] == "guard" and body["approval_hours"] == 24, body
    return mid, rps, tokens


@pytest.fixture
def guarded(env):
    s, tmp, mkey, mpub = env
    mid, rps, tokens = guard_world(s, tmp, mkey, mpub)
    return s, tmp, mid, mkey, rps, tokens


def decide(s, token, rid, verb="approve", proof=None):
    st, body, _ = s.call("POST", f"/approvals/{rid}/{verb}",
                         proof if proof is not None else {"password": PASSWORD}, token=token)
    return st, body


def held(st, body, operation, guard="guard"):
    assert st == 202, body
    a = body["approval"]
    assert a["operation"] == operation and a["guard"] == guard and len(a["id"]) == 32, a
    return a["id"]


def audit_actions(s):
    st, body, _ = s.call("GET", "/audit")
    return [a["action"] for a in body["audit"]]


def machine_points(s, mid, mkey):
    st, body = signed(s, mid, mkey, "GET", "/recovery-points")
    return [p["id"] for p in body["recovery_points"]]


def critical_ops(s, mid, mkey, rps, clock):
    """Every critical operation, as (operation, request -> (status, body),
    still undone?, done?), on guard_world's state. CLOCK["offset"] is how
    far the service's clock was moved (a machine signs by it)."""
    def msigned(method, path, body=b"", headers=None):
        return signed(s, mid, mkey, method, path, body, headers=headers,
                      t=int(time.time()) + clock["offset"])

    me = msigned("GET", "/machine")[1]
    new_key = wrapped_key(bytes.fromhex(me["key_id"]))
    old_key = me["wrapped_key"]

    def machine_points():
        return [p["id"] for p in msigned("GET", "/recovery-points")[1]["recovery_points"]]

    def policy():
        return s.call("GET", MACHINE + "/policy")[1]

    def vault_state():
        return s.call("GET", "/vaults/other-vault")[1]["immutability"]

    def users():
        return {u["name"] for u in s.call("GET", "/users")[1]["users"]}

    def guard():
        return s.call("GET", "/settings")[1]["guard"]

    return [
        ("point.delete",
         lambda: call_pin(s, "DELETE", f"{MACHINE}/recovery-points/{rps[0]}", pin(s)),
         lambda: rps[0] in machine_points(),
         lambda: rps[0] not in machine_points()),
        ("policy.shorten",
         lambda: call_pin(s, "PUT", MACHINE + "/policy", pin(s), SHORT),
         lambda: policy()["keep_daily"] == 30,
         lambda: policy()["keep_daily"] == 7 and policy()["keep_weekly"] == 0),
        ("policy.shorten",  # by the machine: `arca policy set`
         lambda: (call_pin(s, "PUT", MACHINE + "/policy", None, LONG),
                  msigned("PUT", "/machine/policy",
                          json.dumps({"schedule": ["09:30"], "keep_daily": 8}).encode()))[1],
         lambda: policy()["keep_daily"] == 30,
         lambda: policy()["keep_daily"] == 8),
        ("vault.mutable",
         lambda: call_pin(s, "PATCH", "/vaults/other-vault", pin(s), {"immutability": "mutable"}),
         lambda: vault_state() == "immutable",
         lambda: vault_state() == "mutable"),
        ("passphrase.change",
         lambda: msigned("PUT", "/machine/wrapped-key", json.dumps(
             {"wrapped_key": base64.b64encode(new_key).decode()}).encode(),
             headers={"X-Arca-PIN": pin(s)}),
         lambda: msigned("GET", "/machine")[1]["wrapped_key"] == old_key,
         lambda: base64.b64decode(msigned("GET", "/machine")[1]["wrapped_key"]) == new_key),
        ("user.remove",
         lambda: s.call("DELETE", "/users/bob")[:2],
         lambda: "bob" in users(),
         lambda: "bob" not in users()),
        ("guard.change",
         lambda: s.call("PUT", "/settings", {"guard": "guard2"})[:2],
         lambda: guard() == "guard",
         lambda: guard() == "guard2"),
        ("machine.delete",  # last: the machine goes
         lambda: call_pin(s, "DELETE", MACHINE, pin(s)),
         lambda: msigned("GET", "/recovery-points")[0] == 200,
         lambda: msigned("GET", "/recovery-points")[0] == 401),
    ]


def test_every_critical_operation_waits_for_the_guard(guarded):
    s, tmp, mid, mkey, rps, tok = guarded
    ops = critical_ops(s, mid, mkey, rps, {"offset": 0})
    checked = set()
    name = "guard"
    for op, request, undone, done in ops:
        rid = held(*request(), op, name)
        assert undone(), op
        # The owner alone: retrying only asks again; approving is refused.
        rid2 = held(*request(), op, name)
        assert rid2 != rid and undone(), op
        st, body = decide(s, s.token, rid)
        assert st == 403 and "security-admin" in body["error"]["message"], body
        # Another security admin is not the guard.
        st, body = decide(s, tok["guard2"], rid)
        assert st == 403 and "guard" in body["error"]["message"], body
        # The guard's session alone is not enough: a second proof.
        st, body = decide(s, tok["guard"], rid, proof={})
        assert st == 400 and "password" in body["error"]["message"], body
        st, body = decide(s, tok["guard"], rid, proof={"password": "not the password"})
        assert st == 403, body
        assert undone(), op
        # The second request is refused: nothing happens.
        st, body = decide(s, tok["guard"], rid2, "refuse")
        assert st == 200 and body["approval"]["state"] == "refused", body
        assert undone(), op
        st, body = decide(s, tok["guard"], rid2)
        assert st == 409 and "refused already" in body["error"]["message"], body
        # The guard approves: done, once.
        st, body = decide(s, tok["guard"], rid)
        assert st == 200 and body["approval"]["state"] == "approved", body
        assert body["approval"]["result"] == "done", body
        assert done(), op
        st, body = decide(s, tok["guard"], rid)
        assert st == 409 and "approved already" in body["error"]["message"], body
        checked.add(op)
        if op == "guard.change":
            # From now on guard2 decides; swap the names the loop uses.
            tok["guard"], tok["guard2"] = tok["guard2"], tok["guard"]
            name = "guard2"
    # The same lists: what the owner sees, with each request's state.
    st, body, _ = s.call("GET", "/approvals")
    states = [(a["operation"], a["state"]) for a in body["approvals"]]
    assert states.count(("point.delete", "approved")) == 1
    assert states.count(("point.delete", "refused")) == 1
    assert all("wrapped_key" not in a.get("arguments", {}) for a in body["approvals"])
    actions = audit_actions(s)
    for a in ("approval.request", "approval.approve", "approval.refuse", "approval.run",
              "point.delete", "machine.delete", "passphrase.change", "user.remove",
              "vault.immutability"):
        assert a in actions, a
    # Each approval ran once.
    assert actions.count("point.delete") == 1 and actions.count("machine.delete") == 1
    st, body, _ = s.call("GET", "/alerts")
    kinds = {a["kind"] for a in body["alerts"]}
    assert {"approval.request", "approval.approve", "approval.refuse"} <= kinds, kinds
    print(f"\napproval: {len(ops)} critical operations checked ({len(checked)} kinds): "
          "held, unchanged alone, refused, approved once")
    assert len(checked) == 7


def test_removing_the_guard_and_who_sees_what(guarded):
    s, tmp, mid, mkey, rps, tok = guarded
    # The guard's own request: never theirs to approve.
    st, body, _ = s.call("PUT", "/settings", {"guard": None}, token=tok["guard"])
    rid = held(st, body, "guard.change")
    st, body = decide(s, tok["guard"], rid)
    assert st == 403 and "their own request" in body["error"]["message"], body
    # The guard cannot be reset, demoted or removed around the approval.
    for method, path, b in [("POST", "/users/guard/reset", None),
                            ("PATCH", "/users/guard", {"role": "reader"}),
                            ("PATCH", "/users/guard", {"disabled": True})]:
        st, ans, _ = s.call(method, path, b)
        assert st == 409 and "guard" in ans["error"]["message"], (path, ans)
    # A reader sees only their own requests (none), and cannot decide.
    st, body, _ = s.call("GET", "/approvals", token=tok["bob"])
    assert st == 200 and body["approvals"] == [] and body["you_are_guard"] is False
    st, body = decide(s, tok["bob"], rid)
    assert st == 403 and "security-admin" in body["error"]["message"]
    st, body, _ = s.call("GET", "/approvals", token=tok["guard"])
    assert body["you_are_guard"] is True and body["approvals"][0]["state"] == "pending"
    # The owner asks to remove the guard; the guard approves: no guard.
    st, body, _ = s.call("PUT", "/settings", {"guard": None})
    rid = held(st, body, "guard.change")
    st, body = decide(s, tok["guard"], rid)
    assert st == 200, body
    st, body, _ = s.call("GET", "/settings")
    assert body["guard"] is None
    # No guard: critical operations run at once again.
    st, body = call_pin(s, "DELETE", f"{MACHINE}/recovery-points/{rps[0]}", pin(s))
    assert st == 200, body
    # An API token cannot decide, even the guard's.
    st, body, _ = s.call("PUT", "/settings", {"guard": "guard"})
    assert st == 200
    st, body, _ = s.call("POST", "/tokens", {"name": "g", "role": "security-admin"},
                         token=tok["guard"])
    gtoken = body["token"]
    st, body = call_pin(s, "DELETE", f"{MACHINE}/recovery-points/{rps[1]}", pin(s))
    rid = held(st, body, "point.delete")
    st, body = decide(s, gtoken, rid)
    assert st == 401 and "API token" in body["error"]["message"], body


def test_a_guard_with_a_second_factor_decides_with_a_code(guarded):
    s, tmp, mid, mkey, rps, tok = guarded
    st, body, _ = s.call("POST", "/session/totp", token=tok["guard"])
    secret = body["secret"]
    st, body, _ = s.call("POST", "/session/totp/confirm", {"code": totp(secret, time.time() - 30)},
                         token=tok["guard"])
    assert st == 200, body
    st, body = call_pin(s, "DELETE", f"{MACHINE}/recovery-points/{rps[0]}", pin(s))
    rid = held(st, body, "point.delete")
    st, body = decide(s, tok["guard"], rid)  # a password is not the proof now
    assert st == 400 and "code" in body["error"]["message"], body
    st, body = decide(s, tok["guard"], rid, proof={"code": "000000" if totp(secret) != "000000"
                                                   else "111111"})
    assert st == 403 and rps[0] in machine_points(s, mid, mkey), body
    st, body = decide(s, tok["guard"], rid, proof={"code": totp(secret)})
    assert st == 200 and body["approval"]["result"] == "done", body
    assert rps[0] not in machine_points(s, mid, mkey)


def test_an_expired_request_cannot_be_approved(arcad_bin, tmp_path):
    if not has_test_clock(arcad_bin):
        pytest.skip("this build takes no test clock (the sanitizer build does)")
    from helpers import openssl
    data, port = init(arcad_bin, tmp_path), free_port()
    s = Service(arcad_bin, data, clock_offset=0, port=port)
    try:
        s.sign_in()
        st, body, _ = s.call("POST", "/vaults", {"name": "backup-vault", "region": "local-1"})
        mkey = tmp_path / "machine.key"
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                str(mkey))
        mpub = openssl("pkey", "-in", str(mkey), "-pubout").decode()
        mid, rps, tok = guard_world(s, tmp_path, mkey, mpub)
        st, body, _ = s.call("PUT", "/settings", {"approval_hours": 1})
        assert st == 200 and body["approval_hours"] == 1
        clock = {"offset": 0}
        ops = critical_ops(s, mid, mkey, rps, clock)
        rids = [held(*request(), op) for op, request, _, _ in ops]
        token = s.token
        s.stop()
        s = Service(arcad_bin, data, clock_offset=3601, port=port)
        s.token = token
        clock["offset"] = 3601
        ops = critical_ops(s, mid, mkey, rps, clock)  # the same state, the moved service
        st, body, _ = s.call("GET", "/approvals")
        assert {a["state"] for a in body["approvals"]} == {"expired"}, body
        for rid, (op, _, undone, _) in zip(rids, ops):
            st, body = decide(s, tok["guard"], rid)
            assert st == 409 and body["error"]["code"] == "expired", (op, body)
            st, body = decide(s, tok["guard"], rid)
            assert st == 409 and "expired already" in body["error"]["message"], (op, body)
            assert undone(), op
        actions = audit_actions(s)
        assert actions.count("approval.expire") == len(ops)
        assert "approval.run" not in actions
        print(f"\napproval: {len(ops)} expired requests refused, nothing done")
    finally:
        s.stop()


def test_the_agent_says_a_change_waits(world):
    """`arca policy set` shortening retention and `arca properties
    --change-passphrase` exit 9 with the request's id, and change nothing
    here until the guard approves; then the agent's copies follow."""
    s = world.s
    a = world.register("server-01")
    assert a.run("policy", "set", "--schedule", "09:30", "--keep-daily", "30").returncode == 0
    guard = add_user(s, "guard", "security-admin")
    st, body, _ = s.call("PUT", "/settings", {"guard": "guard"})
    assert st == 200
    p = a.run("policy", "set", "--schedule", "09:30", "--keep-daily", "7")
    assert p.returncode == 9 and "waits for the guard's approval (request " in p.stdout, p
    pol_id = p.stdout.split("(request ")[1].split(",")[0]
    assert a.json("policy", "show")["keep_daily"] == 30
    home = a.home
    before = open(f"{home}/wrapped.key", "rb").read()
    newpass = world.tmp / "new-pass"
    newpass.write_text("a brand new passphrase 1234\n")
    p = a.run("properties", "--change-passphrase", "--new-passphrase-file", str(newpass),
              "--pin", pin(s))
    assert p.returncode == 9 and "waits for the guard's approval" in p.stdout, p
    key_id = p.stdout.split("(request ")[1].split(")")[0]
    assert open(f"{home}/wrapped.key", "rb").read() == before
    pending = open(f"{home}/wrapped-pending.key", "rb").read()
    assert pending != before
    # Still waiting: nothing changes here.
    p = a.run("properties")
    assert p.returncode == 0 and "approved" not in p.stdout, p
    for rid in (pol_id, key_id):
        st, body = decide(s, guard, rid)
        assert st == 200 and body["approval"]["result"] == "done", body
    assert a.json("policy", "show")["keep_daily"] == 7
    p = a.run("properties")
    assert p.returncode == 0 and "passphrase change was approved" in p.stdout, p
    assert open(f"{home}/wrapped.key", "rb").read() == pending
    assert not __import__("os").path.exists(f"{home}/wrapped-pending.key")


def test_arcad_user_add_with_a_role(svc):
    """`arcad user add --role ROLE`: the host's admin makes a user of any
    role (a guard, say); a bad role is refused, and nobody is added."""
    from helpers import run
    s = svc
    p = run([s.arcad, "user", "add", "--data", str(s.data), "gina", "--role", "security-admin",
             "--json"])
    assert p.returncode == 0, p.stderr
    ans = json.loads(p.stdout.strip().splitlines()[-1])
    assert ans["role"] == "security-admin" and len(ans["password"]) >= 12
    users = {u["name"]: u["role"] for u in s.call("GET", "/users")[1]["users"]}
    assert users["gina"] == "security-admin"
    st, body, _ = s.call("PUT", "/settings", {"guard": "gina"})
    assert st == 200 and body["guard"] == "gina", body
    p = run([s.arcad, "user", "add", "--data", str(s.data), "hal", "--role", "admin"])
    assert p.returncode != 0 and "--role must be" in p.stderr, p.stderr
    assert "hal" not in {u["name"] for u in s.call("GET", "/users")[1]["users"]}


def test_the_hosts_admin_replaces_a_lost_guard(guarded):
    """A guard who lost their way in approves nothing, a change of guard
    included; `arcad guard set` (the host's, not held) names another, or
    none, audited and alerted."""
    from helpers import run
    s, tmp, mid, mkey, rps, tok = guarded
    p = run([s.arcad, "guard", "set", "--data", str(s.data), "bob"])
    assert p.returncode != 0 and "security-admin" in p.stderr, p.stderr
    p = run([s.arcad, "guard", "set", "--data", str(s.data), "guard2", "--json"])
    assert p.returncode == 0, p.stderr
    assert s.call("GET", "/settings")[1]["guard"] == "guard2"
    st, body = call_pin(s, "DELETE", f"{MACHINE}/recovery-points/{rps[0]}", pin(s))
    held(st, body, "point.delete", "guard2")
    p = run([s.arcad, "guard", "set", "--data", str(s.data), "none"])
    assert p.returncode == 0 and "No guard" in p.stdout, p.stderr
    st, body = call_pin(s, "DELETE", f"{MACHINE}/recovery-points/{rps[0]}", pin(s))
    assert st == 200, body
    st, body, _ = s.call("GET", "/alerts")
    assert [a for a in body["alerts"] if a["kind"] == "guard.set" and "administrator" in a["message"]]
