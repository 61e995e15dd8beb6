"""`arca credentials check`: vault identification with the real binary and
files built the way the service will build them (openssl for the PKI)."""
import datetime
import json
import subprocess

import pytest

from helpers import run


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A vault CA, a credential certificate it signed, and a stray key."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
            "-subj", "/CN=arca vault CA", "-days", "30", cwd=d)
    openssl("req", *ec, "-keyout", "cred.key", "-out", "cred.csr",
            "-subj", "/CN=vault credential", cwd=d)
    openssl("x509", "-req", "-in", "cred.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "cred.pem", "-days", "2", cwd=d)
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", "other.key", cwd=d)
    return {n: (d / n).read_text() for n in ("ca.pem", "cred.pem", "cred.key", "other.key")}


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def credentials(pki, issued=None, key=None, name="backup-vault", extra=""):
    issued = issued or datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    expires = issued + datetime.timedelta(hours=48)
    return f"""<?xml version="1.0" encoding="UTF-8"?>{extra}
<VaultCredentials version="1">
  <ServiceUrl>https://127.0.0.1:8443</ServiceUrl>
  <Subscription>sub-1</Subscription>
  <VaultId>0b6f3c1e-1111-4a4a-8b8b-123456789abc</VaultId>
  <VaultName>{name}</VaultName>
  <Region>local-1</Region>
  <IssuedAt>{iso(issued)}</IssuedAt>
  <ExpiresAt>{iso(expires)}</ExpiresAt>
  <Certificate>{pki["cred.pem"]}</Certificate>
  <PrivateKey>{key or pki["cred.key"]}</PrivateKey>
  <TrustAnchor>{pki["ca.pem"]}</TrustAnchor>
</VaultCredentials>
"""


def write(tmp_path, text, name="backup-vault_2026-11-24.VaultCredentials"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_valid_file_text_and_json(arca_bin, pki, tmp_path):
    f = write(tmp_path, credentials(pki))
    p = run([arca_bin, "credentials", "check", f])
    assert p.returncode == 0, p.stderr
    assert "backup-vault" in p.stdout
    assert "https://127.0.0.1:8443" in p.stdout
    assert "local-1" in p.stdout
    j = run([arca_bin, "credentials", "check", f, "--json"])
    assert j.returncode == 0
    doc = json.loads(j.stdout)
    assert doc["vault_name"] == "backup-vault"
    assert doc["region"] == "local-1"
    assert 47 * 3600 < doc["seconds_left"] <= 48 * 3600


def test_expired_file_has_the_exact_message(arca_bin, pki, tmp_path):
    old = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) \
        - datetime.timedelta(hours=49)
    f = write(tmp_path, credentials(pki, issued=old))
    p = run([arca_bin, "credentials", "check", f])
    assert p.returncode == 4
    assert p.stderr.splitlines()[0] == "Vault credentials file provided has expired"
    j = run([arca_bin, "credentials", "check", f, "--json"])
    assert j.returncode == 4
    assert json.loads(j.stdout)["error"]["message"] == \
        "Vault credentials file provided has expired"


@pytest.mark.parametrize("case", ["wrong-key", "truncated", "bad-name", "doctype",
                                  "garbage", "tampered-cert"])
def test_invalid_files_have_the_exact_message(arca_bin, pki, tmp_path, case):
    good = credentials(pki)
    text = {
        "wrong-key": lambda: credentials(pki, key=pki["other.key"]),
        "truncated": lambda: good[: len(good) // 2],
        "bad-name": lambda: credentials(pki, name="9lives"),
        "doctype": lambda: credentials(
            pki, extra='\n<!DOCTYPE VaultCredentials [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
        "garbage": lambda: "\x00\x01not xml at all",
        "tampered-cert": lambda: good.replace(pki["cred.pem"][40:60],
                                              pki["cred.pem"][40:60][::-1]),
    }[case]()
    f = write(tmp_path, text)
    p = run([arca_bin, "credentials", "check", f])
    assert p.returncode == 3, (case, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert lines[0] == "Invalid vault credentials provided"
    assert len(lines) > 1 and lines[1].strip(), "a detail line says what was wrong"


def test_unreadable_path_names_it_and_suggests_copying(arca_bin, tmp_path):
    missing = str(tmp_path / "nowhere" / "x.VaultCredentials")
    for path in (missing, str(tmp_path)):
        p = run([arca_bin, "credentials", "check", path])
        assert p.returncode == 3
        assert path in p.stderr
        assert "cop" in p.stderr.lower()  # "copy the file to a local folder"


def test_usage_errors(arca_bin):
    assert run([arca_bin, "credentials"]).returncode == 2
    assert run([arca_bin, "credentials", "check"]).returncode == 2
    assert run([arca_bin, "credentials", "check", "a", "b"]).returncode == 2
