"""arcad on a PostgreSQL catalog: init and serve with --catalog, two services
on one database sharing sessions, vaults and the vault limit, and the
refusals of a bad catalog address. The database is a throwaway server
(scripts/pg) on a Unix socket in a temporary folder, stopped at the end;
the services listen on 127.0.0.1 on ports the kernel picks."""
import glob
import json
import os
import shutil
import tempfile

import pytest

from helpers import PASSWORD, Service, run
from test_portal import cookie_sign_in, raw

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG = os.path.join(ROOT, "scripts", "pg")


@pytest.fixture
def pg_url():
    if not glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"):
        pytest.skip("no PostgreSQL server installed (scripts/bootstrap installs postgresql-15)")
    # A short path: the server's socket lives in it (at most 107 bytes).
    d = tempfile.mkdtemp(prefix="arca-pg-", dir="/tmp")
    os.chmod(d, 0o755)
    p = run([PG, "start", d])
    try:
        assert p.returncode == 0, p.stderr
        yield p.stdout.strip()
    finally:
        run([PG, "stop", d])
        shutil.rmtree(d, ignore_errors=True)


def init_pg(arcad, data, url):
    pw = data.parent / (data.name + ".pw")
    pw.write_text(PASSWORD + "\n")
    return run([arcad, "init", "--data", str(data), "--password-file", str(pw),
                "--catalog", url])


def test_two_services_share_one_catalog(arcad_bin, tmp_path, pg_url):
    a = tmp_path / "a"
    p = init_pg(arcad_bin, a, pg_url)
    assert p.returncode == 0, p.stderr
    assert not (a / "catalog.db").exists()
    assert json.loads((a / "arcad.json").read_text())["catalog"] == pg_url
    # A second init on the same database is refused: it has an owner.
    p = init_pg(arcad_bin, tmp_path / "other", pg_url)
    assert p.returncode == 1 and "holds a subscription already" in p.stderr, p.stderr
    # The second service: a copy of the first one's data folder.
    b = tmp_path / "b"
    shutil.copytree(a, b, ignore=shutil.ignore_patterns("tmp"))
    sa, sb = Service(arcad_bin, a), Service(arcad_bin, b)
    try:
        sa.sign_in()
        sb.token = sa.token  # a session of one service is valid on the other
        for i in range(25):
            s = sa if i % 2 else sb
            st, body, _ = s.call("POST", "/vaults", {"name": f"v{i}", "region": "local-1",
                                                     "redundancy": "LRS"})
            assert st == 201, body
        for s in (sa, sb):
            st, body, _ = s.call("POST", "/vaults", {"name": "one-too-many",
                                                     "region": "local-1", "redundancy": "LRS"})
            assert st == 409, body
            assert "at most 25 vaults" in body["error"]["message"], body
        st, body, _ = sb.call("GET", "/vaults")
        assert st == 200 and len(body["vaults"]) == 25, body
        # A portal session and its CSRF token from one service are good at
        # the other (the CSRF key comes from the shared catalog key).
        token, who, _ = cookie_sign_in(sa)
        ck = {"Cookie": f"arca_session={token}", "X-CSRF-Token": who["csrf"]}
        st, _, body = raw(sb, "GET", "/api/v1/session", headers=ck)
        assert st == 200 and json.loads(body)["csrf"] == who["csrf"], body
        st, _, body = raw(sb, "DELETE", "/api/v1/session", None, ck)
        assert st == 200, body
        # Failed sign-ins count at every service: ten wrong passwords spread
        # over both, and the next try is refused at both.
        sts = []
        for i in range(10):
            st, _, _ = raw(sa if i % 2 else sb, "POST", "/api/v1/session",
                           {"user": "guess", "password": f"wrong-{i}"})
            sts.append(st)
        assert sts == [401] * 10, sts
        for s in (sa, sb):
            st, _, body = raw(s, "POST", "/api/v1/session", {"user": "guess", "password": "x"})
            assert st == 429, body
        # Signed out on one, signed out on both.
        st, _, _ = sa.call("DELETE", "/session")
        assert st == 200
        st, _, _ = sb.call("GET", "/vaults")
        assert st == 401
    finally:
        sa.stop()
        sb.stop()
    # The admin commands read the address from arcad.json.
    p = run([arcad_bin, "vault", "list", "--data", str(b), "--json"])
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout.strip().splitlines()[-1])["vaults"]) == 25


def test_bad_catalog_addresses(arcad_bin, tmp_path, pg_url):
    # init takes only a database server's address.
    p = init_pg(arcad_bin, tmp_path / "x", str(tmp_path / "catalog.db"))
    assert p.returncode == 1 and "postgresql://" in p.stderr, p.stderr
    data = tmp_path / "d"
    assert init_pg(arcad_bin, data, pg_url).returncode == 0
    # serve --catalog: the same.
    p = run([arcad_bin, "serve", "--data", str(data), "--listen", "127.0.0.1:0",
             "--catalog", "catalog.db"])
    assert p.returncode == 2 and "postgresql://" in p.stderr, p.stderr
    # A server that is not there: an error that says so, and no service.
    dead = pg_url.replace("host=/tmp/", "host=/tmp/no-such-")
    p = run([arcad_bin, "serve", "--data", str(data), "--listen", "127.0.0.1:0",
             "--catalog", dead])
    assert p.returncode == 1 and "cannot connect to PostgreSQL" in p.stderr, p.stderr
    # arcad.json's "catalog" must be a non-empty string.
    conf = json.loads((data / "arcad.json").read_text())
    conf["catalog"] = 5
    (data / "arcad.json").write_text(json.dumps(conf))
    p = run([arcad_bin, "vault", "list", "--data", str(data)])
    assert p.returncode == 1 and '"catalog" must be' in (p.stdout + p.stderr), p
