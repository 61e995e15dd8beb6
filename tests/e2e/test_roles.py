"""Users and roles: the access table of docs/API.md walked row by row for
every role, invitations (single use, expiring), the owner rule, disabled and
removed users, API tokens' role caps, and the second factor (TOTP: enrol,
sign in, a code refused when used again, required by the owner, wrong codes
counted toward the sign-in limits)."""

import base64
import hashlib
import hmac
import json
import re
import shutil
import struct
import time
from pathlib import Path

import pytest

from helpers import PASSWORD, Service, has_test_clock, init
from test_catalog_pg import init_pg, pg_url  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
ROLES = ["owner", "backup-operator", "restore-operator", "reader", "security-admin"]
NEW_PASSWORD = "another long password"


def totp(secret, t=None, step=30):
    """RFC 6238 with HMAC-SHA-1, 6 digits: what an authenticator app shows."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int((time.time() if t is None else t) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000)


def role_table():
    """The access table of docs/API.md: [(method, path, {role: allowed})]."""
    text = (ROOT / "docs" / "API.md").read_text()
    block = text.split("<!-- role table: begin -->")[1].split("<!-- role table: end -->")[0]
    rows = []
    for line in block.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 2 + len(ROLES), line
        rows.append((cells[0], cells[1], {r: cells[2 + i] == "✓" for i, r in enumerate(ROLES)}))
    return rows


def user_routes():
    """The routes of src/service/api/routes.c that a user calls (auth 0)."""
    text = (ROOT / "src" / "service" / "api" / "routes.c").read_text()
    return {(m, p) for m, p in re.findall(r'\{ "(\w+)", "([^"]+)", h_\w+, 0 \}', text)}


def invite(s, name, role, token=None):
    st, body, _ = s.call("POST", "/users", {"name": name, "role": role}, token=token)
    assert st == 201, body
    return body["code"]


def add_user(s, name, role):
    """A user of ROLE who accepted their invitation; their session token."""
    code = invite(s, name, role)
    st, body, _ = s.call("POST", "/invitation", {"user": name, "code": code, "password": PASSWORD},
                         token="")
    assert st == 200, body
    return sign_in(s, name)


def sign_in(s, name, password=PASSWORD, code=None, expect=201):
    body = {"user": name, "password": password}
    if code is not None:
        body["code"] = code
    st, ans, _ = s.call("POST", "/session", body, token="")
    assert st == expect, ans
    return ans.get("token") if st == 201 else ans


# What each path's "*" stands for when the table is walked: names that
# exist (the vault, the machine) or that answer 404 past the role check.
FILL = {"vaults": "backup-vault", "machines": "server-01", "recovery-points": "0" * 32,
        "users": "nobody", "tokens": "0" * 32}


def concrete(path):
    segs = path.split("/")
    return "/".join(FILL.get(segs[i - 1], "x") if seg == "*" else seg
                    for i, seg in enumerate(segs))


def test_role_table_row_by_row(machine):
    """Every row of docs/API.md's table, for every role: allowed is never
    a 403, refused is a 403 denied naming the roles that may. The table
    covers every user route of the service."""
    s = machine[0]
    rows = role_table()
    assert {(m, p) for m, p, _ in rows} == user_routes()
    tokens = {}
    for role in ROLES:
        st, body, _ = s.call("POST", "/tokens", {"name": "t-" + role, "role": role})
        assert st == 201 and body["role"] == role, body
        tokens[role] = body["token"]
    refused = allowed = 0
    for method, path, allow in rows:
        url = concrete(path)[len("/api/v1"):]
        # Bodies that a handler refuses (400) or that change nothing
        # lasting, so that one row cannot spoil the next.
        body = {} if method in ("POST", "PUT", "PATCH", "DELETE") else None
        if path == "/api/v1/tokens" and method == "POST":
            body = {"name": ""}
        for role in sorted(ROLES, key=lambda r: allow[r]):  # refused roles first
            st, ans, _ = s.call(method, url, body, token=tokens[role], raw=True)
            if isinstance(ans, bytes):
                ans = json.loads(ans) if ans.startswith(b"{") else {}
            if allow[role]:
                assert st != 403, (method, path, role, st, ans)
                allowed += 1
            else:
                assert st == 403 and ans["error"]["code"] == "denied", (method, path, role, ans)
                needed = [r for r in ROLES if allow[r]]
                msg = ans["error"]["message"]
                assert all(r in msg for r in needed) and f"acts as {role}" in msg, msg
                refused += 1
    print(f"\nrole table: {len(rows)} rows x {len(ROLES)} roles: {refused} refusals checked, "
          f"{allowed} allowed calls checked")
    assert refused > 60


def test_invitations_and_the_owner_rule(svc):
    s = svc
    code = invite(s, "bob", "reader")
    assert len(code) == 24
    # Not signed in with the code, and no password yet.
    sign_in(s, "bob", expect=401)
    st, body, _ = s.call("POST", "/invitation", {"user": "bob", "code": code, "password": "short"},
                         token="")
    assert st == 400 and "12" in body["error"]["message"]
    st, body, _ = s.call("POST", "/invitation", {"user": "bob", "code": "WRONG" + code[5:],
                                                 "password": PASSWORD}, token="")
    assert st == 401
    st, body, _ = s.call("POST", "/invitation", {"user": "bob", "code": code, "password": PASSWORD},
                         token="")
    assert st == 200, body
    # Single use.
    st, body, _ = s.call("POST", "/invitation", {"user": "bob", "code": code,
                                                 "password": NEW_PASSWORD}, token="")
    assert st == 401 and "used already" in body["error"]["message"]
    bob = sign_in(s, "bob")
    st, who, _ = s.call("GET", "/session", token=bob)
    assert who["role"] == "reader" and who["totp"] is False
    st, body, _ = s.call("GET", "/users", token=bob)
    assert st == 403 and "owner or security-admin" in body["error"]["message"]
    st, body, _ = s.call("POST", "/vaults", {"name": "vault-b", "region": "local-1"}, token=bob)
    assert st == 403 and "reader" in body["error"]["message"]

    # A security admin manages users but never an owner.
    sec = add_user(s, "sec", "security-admin")
    st, body, _ = s.call("POST", "/users", {"name": "eve", "role": "owner"}, token=sec)
    assert st == 403 and "owner" in body["error"]["message"]
    st, body, _ = s.call("PATCH", "/users/bob", {"role": "owner"}, token=sec)
    assert st == 403
    st, body, _ = s.call("PATCH", "/users/owner", {"disabled": True}, token=sec)
    assert st == 403
    st, body, _ = s.call("DELETE", "/users/owner", token=sec)
    assert st == 403
    st, body, _ = s.call("PATCH", "/users/bob", {"role": "backup-operator"}, token=sec)
    assert st == 200, body
    st, who, _ = s.call("GET", "/session", token=bob)
    assert who["role"] == "backup-operator"

    # The last owner stays, whoever asks.
    for method, path, body in [("PATCH", "/users/owner", {"role": "reader"}),
                               ("PATCH", "/users/owner", {"disabled": True}),
                               ("DELETE", "/users/owner", None),
                               ("POST", "/users/owner/reset", None)]:
        st, ans, _ = s.call(method, path, body)
        assert st == 409 and ans["error"]["code"] == "locked" and "last owner" in \
            ans["error"]["message"], (path, ans)

    # Disabled: no sign-in, no session; enabled again: signs in.
    st, _, _ = s.call("PATCH", "/users/bob", {"disabled": True}, token=sec)
    assert st == 200
    st, body, _ = s.call("GET", "/session", token=bob)
    assert st == 401
    body = sign_in(s, "bob", expect=401)
    assert "disabled" in body["error"]["message"]
    st, _, _ = s.call("PATCH", "/users/bob", {"disabled": False}, token=sec)
    bob = sign_in(s, "bob")

    # A reset: the old password no longer works, the new code sets one.
    st, body, _ = s.call("POST", "/users/bob/reset", token=sec)
    assert st == 200, body
    st, _, _ = s.call("GET", "/session", token=bob)
    assert st == 401  # its sessions ended
    sign_in(s, "bob", expect=401)
    st, _, _ = s.call("POST", "/invitation", {"user": "bob", "code": body["code"],
                                              "password": NEW_PASSWORD}, token="")
    assert st == 200
    bob = sign_in(s, "bob", password=NEW_PASSWORD)

    # Removed: gone with its tokens.
    st, tok, _ = s.call("POST", "/tokens", {"name": "bobs"}, token=bob)
    assert st == 201 and tok["role"] == "backup-operator"
    st, _, _ = s.call("GET", "/vaults", token=tok["token"])
    assert st == 200
    st, _, _ = s.call("DELETE", "/users/bob", token=sec)
    assert st == 200
    st, _, _ = s.call("GET", "/vaults", token=tok["token"])
    assert st == 401
    sign_in(s, "bob", password=NEW_PASSWORD, expect=401)

    # A second owner: now the first may be demoted, by an owner.
    st, _, _ = s.call("PATCH", "/users/sec", {"role": "owner"})
    assert st == 200
    st, _, _ = s.call("PATCH", "/users/owner", {"role": "reader"}, token=sec)
    assert st == 200
    st, users, _ = s.call("GET", "/users", token=sec)
    assert {u["name"]: u["role"] for u in users["users"]} == {"owner": "reader", "sec": "owner"}

    # Audited and alerted.
    st, audit, _ = s.call("GET", "/audit", token=sec)
    actions = [a["action"] for a in audit["audit"]]
    for a in ("user.invite", "user.password", "user.role", "user.disable", "user.enable",
              "user.reset", "user.remove"):
        assert a in actions, a
    st, alerts, _ = s.call("GET", "/alerts", token=sec)
    kinds = {a["kind"] for a in alerts["alerts"]}
    assert {"user.invite", "user.role", "user.remove", "user.reset"} <= kinds


def test_invitation_expires(arcad_bin, tmp_path):
    if not has_test_clock(arcad_bin):
        pytest.skip("this build has no test clock (meson -Dtest_clock=true)")
    data = init(arcad_bin, tmp_path)
    s = Service(arcad_bin, data)
    s.sign_in()
    code = invite(s, "late", "reader")
    s.stop()
    s = Service(arcad_bin, data, clock_offset=3 * 86400 + 60)
    try:
        st, body, _ = s.call("POST", "/invitation", {"user": "late", "code": code,
                                                     "password": PASSWORD}, token="")
        assert st == 401 and "expired" in body["error"]["message"]
        s.sign_in()
        st, users, _ = s.call("GET", "/users")
        assert [u for u in users["users"] if u["name"] == "late"]
    finally:
        s.stop()


def test_token_role_caps(svc):
    s = svc
    op = add_user(s, "op", "backup-operator")
    st, body, _ = s.call("POST", "/tokens", {"name": "up", "role": "owner"}, token=op)
    assert st == 403 and body["error"]["code"] == "denied"
    st, body, _ = s.call("POST", "/tokens", {"name": "sec", "role": "security-admin"}, token=op)
    assert st == 403
    st, body, _ = s.call("POST", "/tokens", {"name": "read", "role": "reader"}, token=op)
    assert st == 201
    reader = body["token"]
    st, body, _ = s.call("POST", "/tokens", {"name": "ops"}, token=op)
    assert st == 201 and body["role"] == "backup-operator"
    optok = body["token"]
    st, body, _ = s.call("POST", "/vaults", {"name": "vault-b", "region": "local-1"}, token=reader)
    assert st == 403
    # A token cannot make a token above itself either.
    st, body, _ = s.call("POST", "/tokens", {"name": "up2", "role": "backup-operator"},
                         token=reader)
    assert st == 403
    st, body, _ = s.call("POST", "/vaults", {"name": "vault-b", "region": "local-1"}, token=optok)
    assert st == 201
    st, body, _ = s.call("DELETE", "/vaults/vault-b", token=optok)
    assert st == 403 and "needs the role owner;" in body["error"]["message"]
    # Its maker demoted: the backup-operator token stops, the reader one goes on.
    st, _, _ = s.call("PATCH", "/users/op", {"role": "reader"})
    assert st == 200
    st, body, _ = s.call("GET", "/vaults", token=optok)
    assert st == 403 and "no longer holds" in body["error"]["message"]
    st, _, _ = s.call("GET", "/vaults", token=reader)
    assert st == 200
    st, body, _ = s.call("GET", "/tokens")
    assert {t["name"]: (t["role"], t.get("maker")) for t in body["tokens"]} == {
        "read": ("reader", "op"), "ops": ("backup-operator", "op")}


def enrol(s, token, name):
    st, body, _ = s.call("POST", "/session/totp", token=token)
    assert st == 201, body
    secret = body["secret"]
    assert body["uri"].startswith("otpauth://totp/") and secret in body["uri"]
    st, ans, _ = s.call("POST", "/session/totp/confirm", {"code": "000000" if totp(secret) !=
                                                          "000000" else "111111"}, token=token)
    assert st == 400
    st, ans, _ = s.call("POST", "/session/totp/confirm", {"code": totp(secret)}, token=token)
    assert st == 200, ans
    return secret


def next_step():
    """Sleep to the start of the next 30-second step, so that a new code is due."""
    time.sleep(30 - time.time() % 30 + 0.5)


def test_totp_enrol_sign_in_replay(svc):
    s = svc
    tok = add_user(s, "tim", "reader")
    secret = enrol(s, tok, "tim")
    st, who, _ = s.call("GET", "/session", token=tok)
    assert who["totp"] is True
    # The password alone is not enough.
    body = sign_in(s, "tim", expect=401)
    assert body["error"]["code"] == "totp_required"
    # The enrolment's code was spent: the next step's code signs in, once.
    next_step()
    code = totp(secret)
    assert sign_in(s, "tim", code=code)
    body = sign_in(s, "tim", code=code, expect=401)
    assert "used already" in body["error"]["message"]
    # Removing it needs a fresh code too.
    st, body, _ = s.call("DELETE", "/session/totp", {"code": code}, token=tok)
    assert st == 400
    st, alerts, _ = s.call("GET", "/alerts")
    assert "totp.enrol" in {a["kind"] for a in alerts["alerts"]}


def test_totp_wrong_codes_count_toward_the_limit(svc):
    s = svc
    tok = add_user(s, "wes", "reader")
    secret = enrol(s, tok, "wes")
    wrong = "%06d" % ((int(totp(secret)) + 500000) % 1000000)
    seen = []
    for _ in range(12):
        st, body, _ = s.call("POST", "/session", {"user": "wes", "password": PASSWORD,
                                                  "code": wrong}, token="")
        seen.append(st)
        if st == 429:
            break
    assert seen[0] == 401 and seen[-1] == 429, seen
    # A right code is refused too while the limit holds.
    st, body, _ = s.call("POST", "/session", {"user": "wes", "password": PASSWORD,
                                              "code": totp(secret)}, token="")
    assert st == 429


def test_totp_required_by_the_owner(svc):
    s = svc
    tok = add_user(s, "rita", "reader")
    st, body, _ = s.call("PUT", "/settings", {"require_totp": True}, token=tok)
    assert st == 403
    st, body, _ = s.call("PUT", "/settings", {"require_totp": True})
    assert st == 200 and body["require_totp"] is True
    # Rita has no second factor: she may only see who she is and enrol.
    st, body, _ = s.call("GET", "/vaults", token=tok)
    assert st == 403 and body["error"]["code"] == "totp_enroll"
    st, who, _ = s.call("GET", "/session", token=tok)
    assert st == 200 and who["totp_required"] is True and who["totp"] is False
    st, body, _ = s.call("GET", "/users")
    assert st == 403 and body["error"]["code"] == "totp_enroll"  # the owner too
    secret = enrol(s, tok, "rita")
    st, body, _ = s.call("GET", "/vaults", token=tok)
    assert st == 200
    enrol(s, s.token, "owner")
    # Required: it cannot be removed.
    next_step()
    st, body, _ = s.call("DELETE", "/session/totp", {"code": totp(secret)}, token=tok)
    assert st == 409
    st, alerts, _ = s.call("GET", "/alerts")
    assert "settings.require_totp" in {a["kind"] for a in alerts["alerts"]}


def test_backup_operator_never_lowers_protection(machine):
    """A backup operator sets policies and brings deleted things back, but
    deleting data and shortening retention are refused, a PIN or not."""
    s = machine[0]
    path = "/vaults/backup-vault/machines/server-01/policy"
    good = {"schedule": ["21:00"], "keep_daily": 30, "keep_weekly": 8, "keep_monthly": 12,
            "keep_yearly": 2}
    op = add_user(s, "ops", "backup-operator")
    st, body, _ = s.call("PUT", path, good, token=op)
    assert st == 200, body
    st, body, _ = s.call("PUT", path, dict(good, keep_daily=60), token=op)
    assert st == 200, body
    st, body, _ = s.call("PUT", path, dict(good, keep_daily=10), token=op)
    assert st == 403 and body["error"]["code"] == "denied" and \
        "shortening retention needs the role owner" in body["error"]["message"], body
    st, body, _ = s.call("GET", path, token=op)
    assert body["keep_daily"] == 60
    st, body, _ = s.call("DELETE", "/vaults/backup-vault/machines/server-01", token=op)
    assert st == 403 and body["error"]["code"] == "denied"
    st, body, _ = s.call("DELETE", "/vaults/backup-vault", token=op)
    assert st == 403 and body["error"]["code"] == "denied"
    # It makes a vault immutable, never mutable again.
    st, body, _ = s.call("PATCH", "/vaults/backup-vault", {"immutability": "immutable"}, token=op)
    assert st == 200, body
    st, body, _ = s.call("PATCH", "/vaults/backup-vault", {"immutability": "mutable"}, token=op)
    assert st == 403 and "making a vault mutable again needs the role owner" in \
        body["error"]["message"], body
    st, body, _ = s.call("GET", "/vaults/backup-vault", token=op)
    assert body["immutability"] == "immutable"


def test_on_postgresql_two_services_share_users_and_spent_codes(arcad_bin, tmp_path, pg_url):
    """On a PostgreSQL catalog shared by two services: a user invited on
    one sets a password on the other, a role change on one holds on the
    other, and a one-time code used on one is refused on the other."""
    a = tmp_path / "a"
    p = init_pg(arcad_bin, a, pg_url)
    assert p.returncode == 0, p.stderr
    b = tmp_path / "b"
    shutil.copytree(a, b, ignore=shutil.ignore_patterns("tmp"))
    sa, sb = Service(arcad_bin, a), Service(arcad_bin, b)
    try:
        sa.sign_in()
        code = invite(sa, "pat", "reader")
        st, body, _ = sb.call("POST", "/invitation", {"user": "pat", "code": code,
                                                      "password": PASSWORD}, token="")
        assert st == 200, body
        st, body, _ = sa.call("POST", "/invitation", {"user": "pat", "code": code,
                                                      "password": PASSWORD}, token="")
        assert st == 401
        pat = sign_in(sb, "pat")
        st, body, _ = sa.call("GET", "/users", token=pat)
        assert st == 403 and "acts as reader" in body["error"]["message"]
        st, _, _ = sa.call("PATCH", "/users/pat", {"role": "security-admin"})
        assert st == 200
        st, body, _ = sb.call("GET", "/users", token=pat)
        assert st == 200, body
        secret = enrol(sb, pat, "pat")
        next_step()
        code = totp(secret)
        assert sign_in(sa, "pat", code=code)
        body = sign_in(sb, "pat", code=code, expect=401)
        assert "used already" in body["error"]["message"]
    finally:
        sa.stop()
        sb.stop()
