"""The admin command line on a data folder: the same operations as the API,
and what it does shows in the API of a running service."""
import json

from helpers import Service, init, run


def test_admin_commands(arcad_bin, arca_bin, tmp_path):
    data = init(arcad_bin, tmp_path)
    d = ["--data", str(data)]
    p = run([arcad_bin, "vault", "create", *d, "backup-1", "--region", "local-2",
             "--redundancy", "LRS", "--json"])
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["redundancy"] == "LRS"
    p = run([arcad_bin, "vault", "create", *d, "9bad"])
    assert p.returncode == 1 and "start with a letter" in p.stderr
    p = run([arcad_bin, "vault", "create", *d, "backup-1"])
    assert p.returncode == 1 and "exists" in p.stderr
    p = run([arcad_bin, "vault", "list", *d, "--json"])
    assert [v["name"] for v in json.loads(p.stdout)["vaults"]] == ["backup-1"]
    p = run([arcad_bin, "vault", "show", *d, "backup-1"])
    assert "local-2" in p.stdout and "machines: 0 of 50" in p.stdout

    cred = tmp_path / "c.VaultCredentials"
    p = run([arcad_bin, "vault", "credentials", *d, "backup-1", "-o", str(cred),
             "--url", "https://127.0.0.1:9999"])
    assert p.returncode == 0, p.stderr
    assert cred.stat().st_mode & 0o077 == 0
    c = run([arca_bin, "credentials", "check", str(cred), "--json"])
    assert json.loads(c.stdout)["service_url"] == "https://127.0.0.1:9999"

    p = run([arcad_bin, "user", "add", *d, "alice", "--json"])
    alice_pw = json.loads(p.stdout)["password"]
    p = run([arcad_bin, "token", "create", *d, "ci", "--json"])
    token = json.loads(p.stdout)["token"]
    p = run([arcad_bin, "machine", "list", *d, "backup-1", "--json"])
    assert json.loads(p.stdout)["machines"] == []

    s = Service(arcad_bin, data)
    try:
        st, body, _ = s.call("POST", "/session", {"user": "alice", "password": alice_pw})
        assert st == 201
        st, body, _ = s.call("GET", "/vaults/backup-1", token=token)
        assert st == 200 and body["credentials"]["valid"] is True
        st, body, _ = s.call("GET", "/audit", token=token)
        actions = [a["action"] for a in body["audit"]]
        assert {"vault.create", "credentials.download", "user.create", "token.create"} <= set(actions)
    finally:
        s.stop()

    p = run([arcad_bin, "vault", "delete", *d, "backup-1"])
    assert p.returncode == 0
    p = run([arcad_bin, "vault", "nonsense", *d])
    assert p.returncode == 2
    p = run([arcad_bin, "vault", "list"])
    assert p.returncode == 2 and "--data" in p.stderr
