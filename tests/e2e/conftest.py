"""Shared fixtures for the end-to-end tests: where the built binaries are."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ARCA_BUILD", os.path.join(ROOT, "build"))


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


def run(argv, **kw):
    """Run a command, capture its output as text, never raise on exit code."""
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60, **kw)
