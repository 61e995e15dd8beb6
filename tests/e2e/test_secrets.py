"""Secrets at rest: the catalog key that seals the vaults' CA keys in the
catalog (docs/THREAT-MODEL.md), and the modes of the agent's files of
secrets (docs/AGENT.md).

The service: `arcad init` makes keys/catalog.key with mode 0600; arcad
refuses to start with a key file others may read or of another owner, with
a catalog copied without its key file, with another key file, or with a
sealed key moved to another vault's row; a catalog of an older arcad (plain
PEM keys, written here with sqlite3) is sealed at start and keeps working.
The agent: every command that loads the install folder refuses files of
secrets others may read or write, of another owner, or a folder others may
write to, naming the file and the chmod to run."""
import json
import os
import shutil
import sqlite3
import stat

from helpers import PASSWORD, Service, World, init, openssl, run

SEALED = "arca-sealed-v1:"


def ca_keys(data):
    """The CA key column of every vault, read straight from the catalog:
    what a copy of the catalog alone shows."""
    db = sqlite3.connect(str(data / "catalog.db"))
    try:
        return dict(db.execute("SELECT name, ca_key FROM vaults").fetchall())
    finally:
        db.close()


def serve_fails(arcad, data):
    """arcad serve on DATA must refuse to start: its message."""
    p = run([arcad, "serve", "--data", str(data), "--listen", "127.0.0.1:0"])
    assert p.returncode != 0, p.stdout
    assert "serving" not in p.stdout
    return p.stderr


def test_init_makes_a_private_catalog_key_and_seals_ca_keys(arcad_bin, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    data = tmp_path / "data"
    p = run([arcad_bin, "init", "--data", str(data), "--password-file", str(pw)])
    assert p.returncode == 0, p.stderr
    key = data / "keys" / "catalog.key"
    assert f"Catalog key: {key}" in p.stdout
    st = os.stat(key)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 32
    assert st.st_uid == os.geteuid()
    assert stat.S_IMODE(os.stat(data / "keys").st_mode) == 0o700
    s = Service(arcad_bin, data)
    try:
        s.sign_in()
        for name in ("vault-a", "vault-b"):
            st_, body, _ = s.call("POST", "/vaults", {"name": name, "region": "local-1"})
            assert st_ == 201, body
        # Credentials are issued with the sealed key.
        st_, xml, _ = s.call("POST", "/vaults/vault-a/credentials", raw=True)
        assert st_ == 201 and b"BEGIN CERTIFICATE" in xml
    finally:
        s.stop()
    keys = ca_keys(data)
    assert sorted(keys) == ["vault-a", "vault-b"]
    for text in keys.values():
        assert text.startswith(SEALED) and "PRIVATE KEY" not in text
    # init never replaces a key file: a second init of the folder is refused.
    p = run([arcad_bin, "init", "--data", str(data), "--password-file", str(pw)])
    assert p.returncode != 0
    assert os.stat(key).st_size == 32


def test_start_refuses_a_key_file_others_may_read(arcad_bin, tmp_path):
    data = init(arcad_bin, tmp_path)
    key = data / "keys" / "catalog.key"
    for mode in (0o644, 0o640, 0o604, 0o620):
        os.chmod(key, mode)
        err = serve_fails(arcad_bin, data)
        assert str(key) in err and f"chmod 600 {key}" in err, err
        # The admin commands open the same data folder the same way.
        p = run([arcad_bin, "vault", "list", "--data", str(data)])
        assert p.returncode != 0 and f"chmod 600 {key}" in p.stderr, p.stderr
    os.chmod(key, 0o600)
    if os.geteuid() == 0:
        os.chown(key, 65534, 65534)
        err = serve_fails(arcad_bin, data)
        assert "belongs to user 65534" in err and str(key) in err, err
        os.chown(key, 0, 0)
    # The service CA's key, a file of its own, is held to the same rule.
    os.chmod(data / "tls" / "ca.key", 0o644)
    err = serve_fails(arcad_bin, data)
    assert f"chmod 600 {data / 'tls' / 'ca.key'}" in err, err
    os.chmod(data / "tls" / "ca.key", 0o600)
    s = Service(arcad_bin, data)
    s.stop()


def test_catalog_without_its_key_file_issues_nothing(arcad_bin, tmp_path):
    data = init(arcad_bin, tmp_path)
    s = Service(arcad_bin, data)
    s.sign_in()
    for name in ("vault-a", "vault-b"):
        assert s.call("POST", "/vaults", {"name": name, "region": "local-1"})[0] == 201
    s.stop()
    # A copy of the data folder without the key file (a backup of the
    # database, say): no start, no credentials, and no new key made.
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    os.unlink(copy / "keys" / "catalog.key")
    err = serve_fails(arcad_bin, copy)
    assert "catalog key" in err and "missing" in err, err
    creds = tmp_path / "c.VaultCredentials"
    p = run([arcad_bin, "vault", "credentials", "--data", str(copy), "vault-a", "-o", str(creds)])
    assert p.returncode != 0 and "missing" in p.stderr, p.stderr
    assert not creds.exists()
    assert not (copy / "keys" / "catalog.key").exists()
    # Another key file (of another data folder) opens none of the keys.
    (tmp_path / "other").mkdir()
    other = init(arcad_bin, tmp_path / "other")
    shutil.copy(other / "keys" / "catalog.key", copy / "keys" / "catalog.key")
    err = serve_fails(arcad_bin, copy)
    assert "does not open" in err, err
    # The right key, but vault-a's sealed key moved into vault-b's row.
    shutil.copy(data / "keys" / "catalog.key", copy / "keys" / "catalog.key")
    keys = ca_keys(copy)
    db = sqlite3.connect(str(copy / "catalog.db"))
    db.execute("UPDATE vaults SET ca_key = ? WHERE name = 'vault-b'", (keys["vault-a"],))
    db.commit()
    db.close()
    err = serve_fails(arcad_bin, copy)
    assert "does not open the CA key of vault" in err, err
    # The original still serves.
    s = Service(arcad_bin, data)
    s.stop()


def plain_ca(tmp_path, name):
    """A CA key and certificate made with openssl, as PEM texts: what an
    older arcad stored for a vault."""
    key, crt = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", str(key))
    openssl("req", "-x509", "-new", "-key", str(key), "-subj", f"/CN=arca vault {name} CA",
            "-days", "3650", "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(crt))
    return key.read_text(), crt.read_text(), crt


def make_plain(data, tmp_path):
    """Write the old form into the catalog: each vault's CA as plain PEM.
    The certificate of each vault's CA, by name."""
    db = sqlite3.connect(str(data / "catalog.db"))
    certs = {}
    for (name,) in db.execute("SELECT name FROM vaults").fetchall():
        key, crt, path = plain_ca(tmp_path, name)
        db.execute("UPDATE vaults SET ca_key = ?, ca_cert = ? WHERE name = ?", (key, crt, name))
        certs[name] = path
    db.commit()
    db.close()
    return certs


def check_issues(s, tmp_path, vault, ca):
    """Vault credentials of VAULT, signed by the CA in the file CA."""
    st, xml, _ = s.call("POST", f"/vaults/{vault}/credentials", raw=True)
    assert st == 201, xml
    text = xml.decode()
    cert = text[text.index("-----BEGIN CERTIFICATE-----"):]
    cert = cert[:cert.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    leaf = tmp_path / f"leaf-{vault}.pem"
    leaf.write_text(cert + "\n")
    out = openssl("verify", "-CAfile", str(ca), str(leaf)).decode()
    assert "OK" in out


def test_plain_catalog_is_sealed_at_start(arcad_bin, tmp_path):
    data = init(arcad_bin, tmp_path)
    s = Service(arcad_bin, data)
    s.sign_in()
    for name in ("vault-a", "vault-b"):
        assert s.call("POST", "/vaults", {"name": name, "region": "local-1"})[0] == 201
    s.stop()
    certs = make_plain(data, tmp_path)
    assert all(k.startswith("-----BEGIN PRIVATE KEY") for k in ca_keys(data).values())
    s = Service(arcad_bin, data)
    try:
        # Sealed before the service answered: the first line was "serving".
        keys = ca_keys(data)
        assert all(k.startswith(SEALED) for k in keys.values()), keys
        s.sign_in()
        for name, ca in certs.items():
            check_issues(s, tmp_path, name, ca)
    finally:
        s.stop()
    # Started again, nothing is left to seal; the keys still open.
    s = Service(arcad_bin, data)
    s.sign_in()
    check_issues(s, tmp_path, "vault-b", certs["vault-b"])
    s.stop()
    assert ca_keys(data) == keys


def test_data_folder_of_an_older_arcad_gets_a_key(arcad_bin, tmp_path):
    """No key file and only plain keys (an arcad before sealing): the key is
    made, said once, and every key sealed with it."""
    data = init(arcad_bin, tmp_path)
    s = Service(arcad_bin, data)
    s.sign_in()
    assert s.call("POST", "/vaults", {"name": "vault-a", "region": "local-1"})[0] == 201
    s.stop()
    certs = make_plain(data, tmp_path)
    key = data / "keys" / "catalog.key"
    os.unlink(key)
    shutil.rmtree(data / "keys")
    p = run([arcad_bin, "vault", "list", "--data", str(data), "--json"])
    assert p.returncode == 0, p.stderr
    assert f"made the catalog key {key}" in p.stderr, p.stderr
    assert "sealed 1 vault CA keys" in p.stderr, p.stderr
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert all(k.startswith(SEALED) for k in ca_keys(data).values())
    s = Service(arcad_bin, data)
    s.sign_in()
    check_issues(s, tmp_path, "vault-a", certs["vault-a"])
    s.stop()


def test_catalog_key_kept_outside_the_data_folder(arcad_bin, tmp_path):
    """arcad.json's "catalog_key" puts the key file elsewhere, so that a copy
    of the data folder holds no key."""
    data = init(arcad_bin, tmp_path)
    safe = tmp_path / "safe"
    safe.mkdir(mode=0o700)
    shutil.move(str(data / "keys" / "catalog.key"), str(safe / "catalog.key"))
    conf = json.loads((data / "arcad.json").read_text())
    conf["catalog_key"] = str(safe / "catalog.key")
    (data / "arcad.json").write_text(json.dumps(conf))
    s = Service(arcad_bin, data)
    s.sign_in()
    assert s.call("POST", "/vaults", {"name": "vault-a", "region": "local-1"})[0] == 201
    assert s.call("POST", "/vaults/vault-a/credentials", raw=True)[0] == 201
    s.stop()
    assert not (data / "keys" / "catalog.key").exists()
    os.rename(safe / "catalog.key", safe / "moved.key")
    err = serve_fails(arcad_bin, data)
    assert f"the catalog key {safe / 'catalog.key'} is missing" in err, err
    os.rename(safe / "moved.key", safe / "catalog.key")
    conf["catalog_key"] = 7
    (data / "arcad.json").write_text(json.dumps(conf))
    err = serve_fails(arcad_bin, data)
    assert '"catalog_key" must be the path' in err, err


# ---- The agent's install folder ----


def test_agent_refuses_files_of_secrets_others_may_read(arcad_bin, arca_bin, tmp_path):
    w = World(arcad_bin, arca_bin, tmp_path)
    try:
        a = w.register("m1")
        home = a.home
        files = ["agent.json", "machine.key", "master.key", "wrapped.key"]
        for f in files:
            assert stat.S_IMODE(os.stat(os.path.join(home, f)).st_mode) == 0o600, f
        assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
        assert a.run("properties").returncode == 0
        for f in files:
            path = os.path.join(home, f)
            for mode in (0o644, 0o640, 0o660, 0o602):
                os.chmod(path, mode)
                p = a.run("properties")
                assert p.returncode != 0, (f, mode)
                assert path in p.stderr and f"chmod 600 {path}" in p.stderr, p.stderr
            os.chmod(path, 0o600)
        # A command that needs the master key refuses before any work.
        os.chmod(os.path.join(home, "master.key"), 0o644)
        src = tmp_path / "src"
        src.mkdir()
        (src / "f").write_text("x")
        p = a.run("backup", str(src))
        assert p.returncode != 0 and "chmod 600" in p.stderr, p.stderr
        os.chmod(os.path.join(home, "master.key"), 0o600)
        if os.geteuid() == 0:
            path = os.path.join(home, "machine.key")
            os.chown(path, 65534, 65534)
            p = a.run("properties")
            assert p.returncode != 0 and "belongs to user 65534" in p.stderr, p.stderr
            os.chown(path, 0, 0)
        # Registering again reads the old wrapped key: not from a file
        # others could have replaced.
        os.chmod(os.path.join(home, "wrapped.key"), 0o666)
        p = a.run("register", "--vault-credentials", str(w.credentials()), "--cache", a.cache,
                  "--machine-name", "m1", "--passphrase-file", str(a.passfile))
        assert p.returncode != 0 and "chmod 600" in p.stderr and "wrapped.key" in p.stderr, \
            p.stderr
        os.chmod(os.path.join(home, "wrapped.key"), 0o600)
        # The folder itself: nobody else may add or replace files in it.
        os.chmod(home, 0o777)
        p = a.run("properties")
        assert p.returncode != 0 and f"chmod 700 {home}" in p.stderr, p.stderr
        os.chmod(home, 0o755)  # readable is fine: its files of secrets are not
        assert a.run("properties").returncode == 0
        os.chmod(home, 0o700)
        assert a.run("backup", str(src)).returncode == 0
    finally:
        w.stop()
