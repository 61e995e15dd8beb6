"""arcad end to end: init, serve on loopback, sign in, API tokens, vaults and
their limits, vault credentials, the audit log. Every server listens on
127.0.0.1 on a port the kernel picks, and is stopped at the end."""
import datetime
import json
import re
import subprocess

import pytest

from helpers import Service, init, run


def test_init_generates_password_once_and_refuses_twice(arcad_bin, tmp_path):
    data = tmp_path / "d"
    p = run([arcad_bin, "init", "--data", str(data)])
    assert p.returncode == 0, p.stderr
    pw = re.search(r"^Password: (\S+)$", p.stdout, re.M).group(1)
    assert len(pw) == 24
    assert (data / "tls" / "ca.key").stat().st_mode & 0o077 == 0
    again = run([arcad_bin, "init", "--data", str(data)])
    assert again.returncode == 1
    assert "initialised" in again.stderr
    s = Service(arcad_bin, data)
    try:
        st, body, _ = s.call("POST", "/session", {"user": "owner", "password": pw})
        assert st == 201 and len(body["token"]) == 64
    finally:
        s.stop()


def test_sign_in_and_authentication(svc):
    st, body, _ = svc.call("POST", "/session", {"user": "owner", "password": "wrong one"})
    assert st == 401 and body["error"]["code"] == "denied"
    st, body, _ = svc.call("POST", "/session", {"user": "nobody", "password": "wrong one"})
    assert st == 401 and body["error"]["message"] == "user name or password is wrong"
    st, body, _ = svc.call("GET", "/vaults", token="")
    assert st == 401 and "sign in" in body["error"]["message"]
    st, body, _ = svc.call("GET", "/vaults", token="0" * 64)
    assert st == 401
    st, body, _ = svc.call("GET", "/health", token="")
    assert st == 200 and body["status"] == "ok"
    st, body, _ = svc.call("POST", "/session", None)
    assert st == 400
    st, body, _ = svc.call("GET", "/no/such/path")
    assert st == 404 and body["error"]["code"] == "not_found"
    st, body, _ = svc.call("PUT", "/vaults")
    assert st == 405
    # Signing out ends the session.
    tok = svc.token
    st, _, _ = svc.call("DELETE", "/session")
    assert st == 200
    st, _, _ = svc.call("GET", "/vaults", token=tok)
    assert st == 401


def test_api_tokens(svc):
    st, body, _ = svc.call("POST", "/tokens", {"name": "backup-script"})
    assert st == 201
    tok, tid = body["token"], body["id"]
    st, body, _ = svc.call("GET", "/vaults", token=tok)
    assert st == 200
    st, body, _ = svc.call("POST", "/tokens", {"name": "backup-script"})
    assert st == 409
    st, body, _ = svc.call("GET", "/tokens")
    assert [t["name"] for t in body["tokens"]] == ["backup-script"]
    assert "token" not in body["tokens"][0]  # shown once, at creation
    assert body["tokens"][0]["last_used"]
    st, _, _ = svc.call("DELETE", "/tokens/" + tid)
    assert st == 200
    st, _, _ = svc.call("GET", "/vaults", token=tok)
    assert st == 401


@pytest.mark.parametrize("name,word", [
    ("a", "2 to 50"), ("x" * 51, "2 to 50"), ("9lives", "start with a letter"),
    ("bad_name", "letters, digits and '-'"), ("spa ce", "letters, digits"),
    ("caf\u00e9", "letters, digits"),
])
def test_vault_name_rules(svc, name, word):
    st, body, _ = svc.call("POST", "/vaults", {"name": name, "region": "local-1"})
    assert st == 400, body
    assert word in body["error"]["message"]


def test_vault_lifecycle_and_redundancy(svc):
    st, body, _ = svc.call("GET", "/regions")
    assert [r["name"] for r in body["regions"]] == ["local-1", "local-2"]
    assert body["regions"][0]["pair"] == "local-2"
    st, body, _ = svc.call("POST", "/vaults", {"name": "Backup-1", "region": "nowhere"})
    assert st == 400 and "region" in body["error"]["message"]
    st, body, _ = svc.call("POST", "/vaults", {"name": "Backup-1", "region": "local-1",
                                               "redundancy": "ZRS"})
    assert st == 400 and "LRS" in body["error"]["message"]
    st, body, _ = svc.call("POST", "/vaults", {"name": "Backup-1", "region": "local-1",
                                               "redundancy": "LRS"})
    assert st == 201
    assert body["redundancy"] == "LRS" and body["redundancy_locked"] is False
    st, body, _ = svc.call("POST", "/vaults", {"name": "Backup-1", "region": "local-2"})
    assert st == 409 and body["error"]["code"] == "exists"
    st, body, _ = svc.call("PATCH", "/vaults/Backup-1", {"redundancy": "GRS"})
    assert st == 200 and body["redundancy"] == "GRS"
    st, body, _ = svc.call("GET", "/vaults")
    assert [v["name"] for v in body["vaults"]] == ["Backup-1"]
    assert body["vaults_max"] == 25
    st, body, _ = svc.call("DELETE", "/vaults/Backup-1")
    assert st == 200
    st, body, _ = svc.call("GET", "/vaults/Backup-1")
    assert st == 404
    st, body, _ = svc.call("GET", "/audit")
    actions = [a["action"] for a in body["audit"]]
    for a in ("vault.create", "vault.redundancy", "vault.delete", "session.create"):
        assert a in actions


def test_25_vaults_per_subscription(svc):
    for i in range(25):
        st, body, _ = svc.call("POST", "/vaults", {"name": f"v{i}", "region": "local-1"})
        assert st == 201, body
    st, body, _ = svc.call("POST", "/vaults", {"name": "v25", "region": "local-1"})
    assert st == 409
    assert body["error"]["code"] == "limit"
    assert "A subscription can have at most 25 vaults" in body["error"]["message"]


def test_vault_credentials(svc, arca_bin, tmp_path):
    svc.call("POST", "/vaults", {"name": "backup-vault", "region": "local-2"})
    st, xml, headers = svc.call("POST", "/vaults/backup-vault/credentials", raw=True)
    assert st == 201
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    name = f"backup-vault_{today}.VaultCredentials"
    assert headers["Content-Disposition"] == f'attachment; filename="{name}"'
    f = tmp_path / name
    f.write_bytes(xml)

    # The agent reads it: right vault, region, service, 48 hours.
    p = run([arca_bin, "credentials", "check", str(f), "--json"])
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["vault_name"] == "backup-vault" and doc["region"] == "local-2"
    assert doc["service_url"] == svc.url
    assert 48 * 3600 - 120 < doc["seconds_left"] <= 48 * 3600

    # openssl reads the certificate; the vault's CA issued it.
    cert = re.search(rb"<Certificate>(.*?)</Certificate>", xml, re.S).group(1)
    (tmp_path / "cred.pem").write_bytes(cert.strip() + b"\n")
    o = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "cred.pem"), "-noout",
                        "-issuer", "-enddate"], capture_output=True, text=True)
    assert o.returncode == 0 and "arca vault backup-vault CA" in o.stdout

    # The service keeps the certificate, never the private key.
    # (Its second PEM line: the first is a header every P-256 key shares.)
    body = re.search(rb"-----BEGIN PRIVATE KEY-----(.*?)-----END", xml, re.S).group(1)
    secret = body.split()[1][:40]
    assert len(secret) == 40
    stored = b"".join((svc.data / p).read_bytes() for p in ("catalog.db", "catalog.db-wal")
                      if (svc.data / p).exists())
    assert b"-----BEGIN CERTIFICATE-----" in stored  # the certificate is kept
    assert secret not in stored

    # A new download supersedes the first: the vault shows the new one.
    st, v1, _ = svc.call("GET", "/vaults/backup-vault")
    st, xml2, _ = svc.call("POST", "/vaults/backup-vault/credentials", raw=True)
    st, v2, _ = svc.call("GET", "/vaults/backup-vault")
    assert v1["credentials"]["fingerprint"] != v2["credentials"]["fingerprint"]
    assert xml2 != xml
    st, body, _ = svc.call("GET", "/audit")
    assert [a["action"] for a in body["audit"]].count("credentials.download") == 2
    st, body, _ = svc.call("POST", "/vaults/none/credentials")
    assert st == 404


def test_plain_http_only_on_loopback(arcad_bin, tmp_path):
    data = init(arcad_bin, tmp_path)
    p = run([arcad_bin, "serve", "--data", str(data), "--listen", "0.0.0.0:0", "--http"])
    assert p.returncode == 2
    assert "loopback" in p.stderr
    s = Service(arcad_bin, data, plain=True)
    try:
        assert s.url.startswith("http://127.0.0.1:")
        st, body, _ = s.call("GET", "/health")
        assert st == 200
    finally:
        s.stop()
    assert s.proc.returncode == 0


def test_serve_needs_an_initialised_folder(arcad_bin, tmp_path):
    p = run([arcad_bin, "serve", "--data", str(tmp_path / "empty"), "--listen", "127.0.0.1:0"])
    assert p.returncode == 1
    assert "arcad init --data" in p.stderr


def test_limits_hold_under_concurrent_requests(svc):
    """40 vault creations at once: exactly 25 succeed, the rest name the limit."""
    from concurrent.futures import ThreadPoolExecutor

    def create(i):
        return svc.call("POST", "/vaults", {"name": f"c{i}", "region": "local-1"})[:2]

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(create, range(40)))
    ok = [r for r in results if r[0] == 201]
    refused = [r for r in results if r[0] == 409]
    assert len(ok) == 25 and len(refused) == 15
    assert all("at most 25 vaults" in r[1]["error"]["message"] for r in refused)
    st, body, _ = svc.call("GET", "/vaults")
    assert len(body["vaults"]) == 25
