"""The two binaries' command lines: help, version, JSON, usage errors."""
import json

from helpers import BUILD, run


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


def test_install_puts_binaries_and_working_units(tmp_path):
    """`make install` (meson install) installs both binaries and systemd units
    whose ExecStart names them where they were installed."""
    import os
    import re
    import shutil
    if shutil.which("meson") is None:
        import pytest
        pytest.fail("meson is not installed; run scripts/bootstrap")
    p = run(["meson", "install", "-C", BUILD, "--destdir", str(tmp_path), "--quiet"])
    assert p.returncode == 0, p.stderr
    units = {f.name: f for f in tmp_path.rglob("*.service")}
    assert set(units) == {"arcad.service", "arca-agent.service"}
    for name, f in units.items():
        assert "lib/systemd/system" in str(f)
        text = f.read_text()
        for exe in re.findall(r"^Exec\w*=(?:/bin/sh -c '.*exec )?(/\S+)", text, re.M):
            if exe.startswith("/bin/"):
                continue
            installed = tmp_path / exe.lstrip("/")
            assert installed.exists() and os.access(installed, os.X_OK), (name, exe)
    assert "arca agent --home /var/lib/arca" in units["arca-agent.service"].read_text()
    assert "arcad serve --data /var/lib/arcad" in units["arcad.service"].read_text()
