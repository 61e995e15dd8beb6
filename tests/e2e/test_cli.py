"""The two binaries' command lines: help, version, JSON, usage errors."""
import json

from conftest import run


def test_arca_help_lists_commands(arca_bin):
    p = run([arca_bin, "--help"])
    assert p.returncode == 0
    assert "Usage: arca COMMAND" in p.stdout
    assert "credentials check FILE" in p.stdout
    assert "--json" in p.stdout


def test_arcad_help(arcad_bin):
    p = run([arcad_bin, "--help"])
    assert p.returncode == 0
    assert "Usage: arcad COMMAND" in p.stdout


def test_no_command_is_a_usage_error(arca_bin, arcad_bin):
    for b in (arca_bin, arcad_bin):
        p = run([b])
        assert p.returncode == 2
        assert "Usage:" in p.stderr
        assert p.stdout == ""


def test_unknown_command_names_it(arca_bin, arcad_bin):
    for b in (arca_bin, arcad_bin):
        p = run([b, "frobnicate"])
        assert p.returncode == 2
        assert "unknown command 'frobnicate'" in p.stderr


def test_version_text_and_json(arca_bin, arcad_bin):
    for b, name in ((arca_bin, "arca"), (arcad_bin, "arcad")):
        p = run([b, "version"])
        assert p.returncode == 0
        assert p.stdout.startswith(name + " ")
        j = run([b, "version", "--json"])
        assert j.returncode == 0
        assert json.loads(j.stdout)["version"] == p.stdout.split()[1]
