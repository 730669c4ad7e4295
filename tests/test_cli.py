"""The CLI root: exit codes and one-line errors, through a real subprocess."""

import subprocess
import sys

import pytest

SITEWATCH = [sys.executable, "-m", "sitewatch.cli"]


def run(*args):
    return subprocess.run([*SITEWATCH, *args], capture_output=True, text=True, timeout=120)


def test_version_exits_zero():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("sitewatch ")


def test_unknown_command_is_a_usage_error_with_exit_2():
    r = run("no-such-command")
    assert r.returncode == 2
    assert "No such command" in r.stderr


def test_sitewatch_error_is_one_line_naming_the_file(tmp_path):
    missing = tmp_path / "absent.yaml"
    r = run("simulate", str(missing), "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(missing) in lines[0]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("flag", ["--debug"])
def test_debug_shows_the_traceback(tmp_path, flag):
    r = run(flag, "simulate", str(tmp_path / "absent.yaml"), "--out", str(tmp_path / "out"))
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_commands_name_the_catalog_with_the_same_db_option(tmp_path):
    # Every command that reads the catalog takes --db; an unknown site is one clear line.
    db = tmp_path / "catalog.db"
    for cmd in ("detect", "align", "compare", "assess"):
        r = run(cmd, "--site", "nowhere", "--db", str(db))
        assert r.returncode == 1, (cmd, r.stderr)
        assert "nowhere" in r.stderr and "Traceback" not in r.stderr, (cmd, r.stderr)
