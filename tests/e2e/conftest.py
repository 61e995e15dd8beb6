"""The end-to-end tests' fixtures: where the built binaries are, and the
services and worlds most tests start from (helpers.py has what they are
built of)."""
import os

import pytest

from helpers import BUILD, Service, World, download, has_test_clock, init, openssl, register


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "fault: a randomized fault-injection or attack suite (kill points, "
        "corruptions, cut connections, hostile peers); it runs on the normal build "
        "only, since the sanitizer build's pass would double its minutes without "
        "exercising other code, and `make soak` runs it with ten times the rounds")


def _binary(name):
    path = os.path.join(BUILD, name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built; run `make build` first")
    return path


@pytest.fixture(scope="session")
def arca_bin():
    return _binary("arca")


@pytest.fixture(scope="session")
def arcad_bin():
    return _binary("arcad")


@pytest.fixture
def svc(arcad_bin, tmp_path):
    """A signed-in service with no vault."""
    s = Service(arcad_bin, init(arcad_bin, tmp_path))
    s.sign_in()
    yield s
    s.stop()


@pytest.fixture
def env(arcad_bin, tmp_path):
    """A signed-in service with one LRS vault, and a machine key made by
    hand: (service, folder, key path, public key PEM)."""
    s = Service(arcad_bin, init(arcad_bin, tmp_path))
    s.sign_in()
    st, body, _ = s.call("POST", "/vaults", {"name": "backup-vault", "region": "local-1"})
    assert st == 201
    mkey = tmp_path / "machine.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(mkey))
    mpub = openssl("pkey", "-in", str(mkey), "-pubout").decode()
    yield s, tmp_path, mkey, mpub
    s.stop()


@pytest.fixture
def machine(env):
    """ENV with machine server-01 registered by hand: (service, folder,
    machine id, key path, public key PEM, vault credentials)."""
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    st, body, _ = register(s, creds, "server-01", mpub)
    assert st == 201
    return s, tmp, body["machine_id"], mkey, mpub, creds


@pytest.fixture
def world(arcad_bin, arca_bin, tmp_path):
    """A service with one GRS vault, ready to register agents."""
    w = World(arcad_bin, arca_bin, tmp_path)
    yield w
    w.stop()


@pytest.fixture
def clock_world(arcad_bin, arca_bin, tmp_path):
    """A world whose service takes a test clock; skipped on builds without
    one (the sanitizer build has it)."""
    if not has_test_clock(arcad_bin):
        pytest.skip("this build takes no test clock (the sanitizer build does)")
    w = World(arcad_bin, arca_bin, tmp_path, redundancy="GRS")
    yield w
    w.stop()
