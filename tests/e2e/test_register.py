"""Machine registration with vault credentials, and machine-signed requests,
driven from the test with openssl until the agent registers by itself."""
import base64
import os
import subprocess
import time

import pytest

from helpers import (Creds, DAY, Service, Verifier, cert_end, download, has_test_clock, iso_time,
    openssl, register, signed, wrapped_key)


def test_register_locks_redundancy_and_keeps_the_wrapped_key(env):
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    blob = wrapped_key()
    st, body, _ = register(s, creds, "server-01", mpub, blob=blob)
    assert st == 201, body
    assert body["vault_name"] == "backup-vault" and body["reregistered"] is False
    mid = body["machine_id"]
    (tmp / "m.pem").write_text(body["certificate"])
    o = subprocess.run(["openssl", "x509", "-in", str(tmp / "m.pem"), "-noout", "-issuer"],
                       capture_output=True, text=True)
    assert "arca vault backup-vault CA" in o.stdout

    st, v, _ = s.call("GET", "/vaults/backup-vault")
    assert v["machines"] == 1 and v["redundancy_locked"] is True
    st, body, _ = s.call("PATCH", "/vaults/backup-vault", {"redundancy": "LRS"})
    assert st == 409 and body["error"]["code"] == "locked"
    assert "locked" in body["error"]["message"]
    st, body, _ = s.call("DELETE", "/vaults/backup-vault")
    assert st == 409
    st, body, _ = s.call("GET", "/vaults/backup-vault/machines")
    assert [m["name"] for m in body["machines"]] == ["server-01"]

    # The machine reads back what the service keeps for it, signing each request.
    st, me = signed(s, mid, mkey, "GET", "/machine")
    assert st == 200, me
    assert base64.b64decode(me["wrapped_key"]) == blob
    assert me["name"] == "server-01" and me["last_seen"]

    # A new certificate is valid a year; it renews only in its last 60 days.
    assert abs(cert_end(tmp / "m.pem") - (time.time() + 365 * DAY)) < 600
    assert abs(iso_time(me["certificate_expires"]) - cert_end(tmp / "m.pem")) < 2
    st, body = signed(s, mid, mkey, "POST", "/machine/certificate")
    assert st == 409 and "last 60 days" in body["error"]["message"], body

    st, body, _ = s.call("GET", "/audit")
    assert "machine.register" in [a["action"] for a in body["audit"]]


def test_reregistering_proves_the_master_key(env):
    """Vault credentials alone cannot take a machine over: registering again
    under its name needs a proof made with its master key (the verifier kept
    from its first registration), never replaces the stored wrapped key, and
    raises an alert either way."""
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    blob, ver = wrapped_key(), Verifier(tmp)
    st, body, _ = register(s, creds, "server-01", mpub, blob=blob, verifier=ver)
    assert st == 201, body
    mid = body["machine_id"]

    # The thief holds fresh vault credentials and everything public: the
    # machine's wrapped key (any machine of the vault may read it) and so its
    # key id. A key of their own, the real blob, their own verifier: refused.
    thief = tmp / "thief.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(thief))
    tpub = openssl("pkey", "-in", str(thief), "-pubout").decode()
    stolen = download(s, tmp)
    for kwargs in ({"blob": blob}, {"blob": wrapped_key(key_id=blob[24:40])}):
        st, body, _ = register(s, stolen, "server-01", tpub, **kwargs)
        assert st == 409 and body["error"]["code"] == "key_mismatch", body
        assert "passphrase" in body["error"]["message"]
    # The machine's verifier with a proof made by another key: not a proof.
    st, body, _ = register(s, stolen, "server-01", tpub, blob=blob, verifier=ver,
                           prover=Verifier(tmp))
    assert st == 400 and "proof" in body["error"]["message"], body
    # The thief's key signs nothing for the machine; the real one still does,
    # and the service still holds the machine's own wrapped key.
    st, body = signed(s, mid, thief, "GET", "/machine")
    assert st == 401, body
    st, me = signed(s, mid, mkey, "GET", "/machine")
    assert st == 200 and base64.b64decode(me["wrapped_key"]) == blob
    st, body, _ = s.call("GET", "/alerts")
    refused = [a for a in body["alerts"] if a["kind"] == "machine.takeover_refused"]
    assert len(refused) == 2 and refused[0]["target"] == "server-01", body

    # The machine itself, reinstalled (a new machine key) with its master key
    # opened by its passphrase, proves it and takes its name back. It may
    # bring another blob of the same master key: the stored one stays.
    newkey = tmp / "new.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(newkey))
    npub = openssl("pkey", "-in", str(newkey), "-pubout").decode()
    st, body, _ = register(s, stolen, "server-01", npub, blob=wrapped_key(key_id=blob[24:40]),
                           verifier=ver)
    assert st == 201 and body["reregistered"] is True and body["machine_id"] == mid, body
    st, body = signed(s, mid, mkey, "GET", "/machine")
    assert st == 401
    st, me = signed(s, mid, newkey, "GET", "/machine")
    assert st == 200 and base64.b64decode(me["wrapped_key"]) == blob
    st, body, _ = s.call("GET", "/alerts")
    again = [a for a in body["alerts"] if a["kind"] == "machine.reregistered"]
    assert len(again) == 1 and again[0]["target"] == "server-01", body
    st, body, _ = s.call("GET", "/audit")
    actions = [a["action"] for a in body["audit"]]
    assert "machine.reregister" in actions
    # Another master key altogether is refused too, with the machine's
    # wrapped key, which only its passphrase opens.
    st, body, _ = register(s, stolen, "server-01", npub)
    assert st == 409 and body["error"]["code"] == "key_mismatch", body
    assert base64.b64decode(body["error"]["wrapped_key"]) == blob


def test_only_the_latest_credentials_register(env):
    s, tmp, mkey, mpub = env
    first = download(s, tmp)
    second = download(s, tmp)
    st, body, _ = register(s, first, "server-01", mpub)
    assert st == 403
    assert body["error"]["message"] == "Invalid vault credentials provided"
    assert "latest" in body["error"]["detail"]
    st, body, _ = register(s, second, "server-01", mpub)
    assert st == 201, body


def test_registration_must_be_signed_by_the_credentials_key(env):
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    st, body, _ = register(s, creds, "server-01", mpub, signer=mkey)
    assert st == 403
    assert body["error"]["message"] == "Invalid vault credentials provided"
    # A certificate from another service (or edited) is refused the same way.
    other = tmp / "other"
    other.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(other / "k"), "-out", str(other / "c"), "-subj", "/CN=x", "-days", "2")
    creds.cert = (other / "c").read_text()
    creds.key = other / "k"
    st, body, _ = register(s, creds, "server-01", mpub)
    assert st == 403 and body["error"]["code"] == "credentials_invalid"
    st, v, _ = s.call("GET", "/vaults/backup-vault")
    assert v["machines"] == 0 and v["redundancy_locked"] is False


def test_edited_or_truncated_credentials(env):
    s, tmp, mkey, mpub = env
    good = download(s, tmp)
    pem = good.cert
    lines = pem.splitlines()
    edited = "\n".join(lines[:3] + [lines[3][:10] + ("A" if lines[3][10] != "A" else "B")
                                      + lines[3][11:]] + lines[4:]) + "\n"
    for cert in (pem[: len(pem) // 2], edited):
        good.cert = cert
        st, body, _ = register(s, good, "server-01", mpub)
        assert st == 403, body
        assert body["error"]["message"] == "Invalid vault credentials provided"


def test_registration_input_checks(env):
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    st, body, _ = register(s, creds, "bad name!", mpub)
    assert st == 400 and "machine name" in body["error"]["message"]
    st, body, _ = register(s, creds, "server-01", mpub, blob=b"\x00" * 144)
    assert st == 400 and "wrapped master key" in body["error"]["message"]
    st, body, _ = register(s, creds, "server-01", mpub, t=int(time.time()) - 3600)
    assert st == 400 and "clock" in body["error"]["message"]


def test_fifty_machines_per_vault(env):
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    blobs, vers = {}, {}
    for i in range(50):
        blobs[i], vers[i] = wrapped_key(), Verifier(tmp)
        st, body, _ = register(s, creds, f"m{i:02d}", mpub, blob=blobs[i], verifier=vers[i])
        assert st == 201, body
    st, body, _ = register(s, creds, "m50", mpub)
    assert st == 409 and body["error"]["code"] == "limit"
    assert "A vault can have at most 50 machines" in body["error"]["message"]
    # A machine that exists may still register again.
    st, body, _ = register(s, creds, "m07", mpub, blob=blobs[7], verifier=vers[7])
    assert st == 201 and body["reregistered"] is True


def test_signed_requests_refuse_replays_forgeries_and_skew(env):
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    st, body, _ = register(s, creds, "server-01", mpub)
    mid = body["machine_id"]
    nonce = os.urandom(16).hex()
    t = int(time.time())
    st, _ = signed(s, mid, mkey, "GET", "/machine", nonce=nonce, t=t)
    assert st == 200
    st, body = signed(s, mid, mkey, "GET", "/machine", nonce=nonce, t=t)
    assert st == 401 and "replay" in body["error"]["message"]
    assert body["error"]["code"] == "replay"  # so a client knows its first copy arrived
    st, body = signed(s, mid, creds.key, "GET", "/machine")
    assert st == 401 and "signature" in body["error"]["message"]
    st, body = signed(s, mid, mkey, "GET", "/machine", t=int(time.time()) + 3600)
    assert st == 400 and "clock" in body["error"]["message"]
    st, body = signed(s, "0" * 32, mkey, "GET", "/machine")
    assert st == 401
    # A user's session is not a machine.
    st, body, _ = s.call("GET", "/machine")
    assert st == 401


def test_replays_are_refused_after_a_restart_on_every_service_and_per_machine(arcad_bin, env):
    """Spent nonces live in the catalog, per machine: a restart does not
    forget them, a second service on the same catalog knows them, and one
    machine's flood of requests cannot push another's out."""
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    blob = wrapped_key()
    t = int(time.time())
    reg_nonce = os.urandom(16).hex()
    st, a, _ = register(s, creds, "server-a", mpub, blob=blob, t=t, nonce=reg_nonce)
    assert st == 201, a
    st, b, _ = register(s, creds, "server-b", mpub)
    assert st == 201, b
    nonce = os.urandom(16).hex()
    assert signed(s, a["machine_id"], mkey, "GET", "/machine", nonce=nonce, t=t)[0] == 200
    # Machine b floods the service with signed requests...
    for _ in range(150):
        assert signed(s, b["machine_id"], mkey, "GET", "/recovery-points")[0] == 200
    # ...and a's nonce is still spent; b may use the same nonce, its own.
    st, body = signed(s, a["machine_id"], mkey, "GET", "/machine", nonce=nonce, t=t)
    assert st == 401 and "replay" in body["error"]["message"], body
    assert signed(s, b["machine_id"], mkey, "GET", "/machine", nonce=nonce, t=t)[0] == 200
    # A restarted service refuses the replays too, a registration's included.
    s.stop()
    s2 = Service(arcad_bin, s.data)
    s.proc = s2.proc  # the fixture stops the new process at the end
    st, body = signed(s2, a["machine_id"], mkey, "GET", "/machine", nonce=nonce, t=t)
    assert st == 401 and "replay" in body["error"]["message"], body
    st, body, _ = register(s2, creds, "server-a", mpub, blob=blob, t=t, nonce=reg_nonce)
    assert st == 401 and "replay" in body["error"]["message"], body
    # Two services on one catalog: what one accepted, the other refuses.
    s3 = Service(arcad_bin, s.data)
    try:
        fresh = os.urandom(16).hex()
        assert signed(s2, a["machine_id"], mkey, "GET", "/machine", nonce=fresh, t=t)[0] == 200
        st, body = signed(s3, a["machine_id"], mkey, "GET", "/machine", nonce=fresh, t=t)
        assert st == 401 and "replay" in body["error"]["message"], body
    finally:
        s3.stop()


def test_expired_credentials(arcad_bin, env):
    """Vault credentials expire 48 hours after issue, by the service's clock."""
    if not has_test_clock(arcad_bin):
        pytest.skip("this build's service takes no injected clock (the sanitizer build does)")
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    # A second service process on the same data folder, its clock 48 hours on.
    later = Service(arcad_bin, s.data, clock_offset=48 * 3600 + 60)
    try:
        # The request's own time must follow the service's clock.
        st, body, _ = register(later, creds, "server-01", mpub,
                               t=int(time.time()) + 48 * 3600 + 60)
        assert st == 403, body
        assert body["error"]["code"] == "credentials_expired"
        assert body["error"]["message"] == "Vault credentials file provided has expired"
    finally:
        later.stop()
    # One second before expiry they still register.
    almost = Service(arcad_bin, s.data, clock_offset=48 * 3600 - 30)
    try:
        st, body, _ = register(almost, creds, "server-01", mpub,
                               t=int(time.time()) + 48 * 3600 - 30)
        assert st == 201, body
    finally:
        almost.stop()


def test_machine_certificates_expire_and_renew(arcad_bin, env):
    """A machine signs requests while its certificate is valid (a year);
    it renews in the last 60 days; past the end it registers again with
    fresh vault credentials and its master key's proof, keeping its id."""
    if not has_test_clock(arcad_bin):
        pytest.skip("this build's service takes no injected clock (the sanitizer build does)")
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    st, body, _ = register(s, creds, "renews", mpub)
    assert st == 201, body
    renews = body["machine_id"]
    ver, blob = Verifier(tmp), wrapped_key()
    st, body, _ = register(s, creds, "away", mpub, verifier=ver, blob=blob)
    assert st == 201, body
    away = body["machine_id"]

    def later(days):
        return Service(arcad_bin, s.data, clock_offset=days * DAY), int(time.time()) + days * DAY

    svc, t = later(310)
    try:
        st, body = signed(svc, renews, mkey, "POST", "/machine/certificate", t=t)
        assert st == 201, body
        (tmp / "renewed.pem").write_text(body["certificate"])
        assert abs(cert_end(tmp / "renewed.pem") - (t + 365 * DAY)) < 600
    finally:
        svc.stop()
    svc, t = later(366)
    try:
        st, body = signed(svc, renews, mkey, "GET", "/machine", t=t)
        assert st == 200, body
        st, body = signed(svc, away, mkey, "GET", "/machine", t=t)
        assert st == 403 and body["error"]["code"] == "certificate_expired", body
        assert "register it again" in body["error"]["message"]
        # Nor may it renew: an expired certificate signs nothing.
        st, body = signed(svc, away, mkey, "POST", "/machine/certificate", t=t)
        assert st == 403 and body["error"]["code"] == "certificate_expired", body
        svc.sign_in()
        st, xml, _ = svc.call("POST", "/vaults/backup-vault/credentials", raw=True)
        assert st == 201
        fresh = Creds(xml, tmp)
        newkey = tmp / "away.key"
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                str(newkey))
        npub = openssl("pkey", "-in", str(newkey), "-pubout").decode()
        st, body, _ = register(svc, fresh, "away", npub, verifier=ver, blob=blob, t=t)
        assert st == 201 and body["reregistered"] and body["machine_id"] == away, body
        st, body = signed(svc, away, newkey, "GET", "/machine", t=t)
        assert st == 200, body
    finally:
        svc.stop()
