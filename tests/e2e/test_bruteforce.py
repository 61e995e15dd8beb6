"""Brute force on the three doors that take a guess (docs/THREAT-MODEL.md,
"Brute force"): sign-in (POST /session), the security PIN (X-Arca-PIN on
the guarded routes) and registration (POST /register). Hundreds of wrong
tries are all refused, limited after a small burst, the right answer is
refused too while the limit holds, and the limit does not lock out other
addresses, other users, or the owner at an address where they signed in."""
import copy
import http.client
import json
import os

from helpers import (PASSWORD, Verifier, call_pin, download, openssl, pin, register, run)

TRIES = 200


class From:
    """Service S's calls, made from the loopback address IP (127.0.0.0/8 is
    all loopback): another client address for the service's limits."""

    def __init__(self, s, ip):
        self.s, self.ip = s, ip

    def call(self, method, path, body=None, token=None, raw=False):
        port = int(self.s.url.rsplit(":", 1)[1])
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=self.s.ctx, timeout=30,
                                           source_address=(self.ip, 0))
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            tok = token if token is not None else self.s.token
            if tok:
                headers["Authorization"] = "Bearer " + tok
            conn.request(method, "/api/v1" + path, headers=headers,
                         body=None if body is None else json.dumps(body).encode())
            r = conn.getresponse()
            data = r.read()
            return r.status, (data if raw else json.loads(data)), r.headers
        finally:
            conn.close()


def first_429(statuses):
    return statuses.index(429) if 429 in statuses else -1


def test_guesses_are_limited_without_locking_others_out(world, arcad_bin, tmp_path):
    s = world.s  # the owner signed in from 127.0.0.1 when the world was made
    counts, after = {}, {}

    # ---- Sign-in: one address guessing the owner's password ----
    att = From(s, "127.0.0.3")
    sts = [att.call("POST", "/session", {"user": "owner", "password": f"guess {i}"})[0]
           for i in range(TRIES)]
    assert set(sts) <= {401, 429} and sts.count(401) == 10, sts
    after["sign-in"] = first_429(sts)
    assert sts[after["sign-in"]:] == [429] * (TRIES - after["sign-in"])
    st, body, h = att.call("POST", "/session", {"user": "owner", "password": PASSWORD})
    assert st == 429 and body["error"]["code"] == "rate_limited", body
    assert 1 <= int(h["Retry-After"]) <= 30  # one more try comes back every 30 s
    # Many addresses at once exhaust the owner's name (20 failures)...
    for k in range(12):
        ip = f"127.0.0.{10 + k}"
        sts += [From(s, ip).call("POST", "/session", {"user": "owner", "password": "x"})[0]
                for _ in range(2)]
    counts["sign-in"] = len(sts)
    assert 201 not in sts
    st, _, _ = From(s, "127.0.0.2").call("POST", "/session", {"user": "owner",
                                                               "password": PASSWORD})
    assert st == 429  # ...so a new address is refused for that name,
    st, body, _ = From(s, "127.0.0.1").call("POST", "/session", {"user": "owner",
                                                                  "password": PASSWORD})
    assert st == 201, body  # but not the owner where they signed in before,
    pw = tmp_path / "bob-pw"
    pw.write_text("bob's long password\n")
    r = run([arcad_bin, "user", "add", "--data", str(s.data), "bob", "--password-file", str(pw),
             "--json"])
    assert r.returncode == 0, r.stderr
    st, body, _ = From(s, "127.0.0.2").call("POST", "/session", {"user": "bob",
                                                                  "password": "bob's long password"})
    assert st == 201, body  # nor another user.
    bob = copy.copy(s)
    bob.token = body["token"]

    # ---- The PIN: a signed-in session guessing it ----
    a = world.register("server-01")
    path = "/vaults/backup-vault/machines/server-01"
    right = pin(s)
    sts = []
    for i in range(TRIES):
        guess = f"{(int(right) + 1 + i) % 10**8:08d}"
        sts.append(call_pin(s, "DELETE", path, guess)[0])
    counts["PIN"] = len(sts)
    assert set(sts) <= {401, 409} and sts.count(401) == 5, sts
    after["PIN"] = sts.index(409)
    st, body = call_pin(s, "DELETE", path, right)
    assert st == 409 and body["error"]["code"] == "locked", body  # the right one too
    st, body, _ = s.call("POST", "/pin")
    assert st == 409, body  # and a new one, for 15 minutes
    st, body, _ = bob.call("POST", "/pin")
    assert st == 201, body  # another user of the subscription is not locked
    st, body = call_pin(bob, "DELETE", path + "/nothing-here", body["pin"])
    assert st == 404, body
    assert world.s.call("GET", "/vaults/backup-vault/machines")[0] == 200
    assert a.json("recovery-points")["recovery_points"] == []  # the machine is still there

    # ---- Registration: bad vault credentials and bad signatures ----
    creds = download(s, tmp_path)
    other = tmp_path / "other.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
            str(other))
    mkey = tmp_path / "m.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
            str(mkey))
    mpub = openssl("pkey", "-in", str(mkey), "-pubout").decode()
    att = From(s, "127.0.0.4")
    bad_cert = copy.copy(creds)
    bad_cert.cert = creds.cert.replace("M", "N", 1)
    verifier = Verifier(tmp_path)
    sts = []
    for i in range(TRIES):
        if i % 2:
            st = register(att, creds, f"intruder-{i}", mpub, signer=other, verifier=verifier)[0]
        else:
            st = register(att, bad_cert, f"intruder-{i}", mpub, verifier=verifier)[0]
        sts.append(st)
    counts["registration"] = len(sts)
    after["registration"] = first_429(sts)
    assert 201 not in sts and after["registration"] == 20, sts
    assert sts[20:] == [429] * (TRIES - 20), sts
    st, body, _ = register(att, creds, "honest-one", mpub)
    assert st == 429, body  # the right one too, from that address
    st, body, _ = register(From(s, "127.0.0.2"), creds, "honest-one", mpub)
    assert st == 201, body  # another address registers
    print(f"brute force: {counts['sign-in']} sign-in tries, {counts['PIN']} PIN tries, "
          f"{counts['registration']} registration tries, all refused, rate-limited after "
          f"{after['sign-in']} (sign-in, per address; 20 per user name), {after['PIN']} (PIN: "
          f"locked 15 minutes), {after['registration']} (registration, per address)")
    assert os.path.exists(s.data)
