"""Paths and names printed as they are (issue 29): rich reads `[...]` as markup, so a file
named `dir[/]x 2024-12-22.tif` crashed the CLI after ingesting it and `[bold]nope.tif` was
reported as `nope.tif`."""

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from test_hostile_names import site_file
from test_ingest import utm_raster
from typer.testing import CliRunner

from sitewatch.cli.main import app, say


def _site_db(tmp_path) -> str:
    db = str(tmp_path / "catalog.db")
    r = CliRunner().invoke(app, ["sites", "add", site_file(tmp_path / "site.geojson"), "--db", db])
    assert r.exit_code == 0, r.output
    return db


def test_a_file_whose_name_closes_a_markup_tag_is_ingested_and_printed_as_is(tmp_path):
    db = _site_db(tmp_path)
    folder = tmp_path / "dir["
    folder.mkdir()
    path = utm_raster(folder / "]x 2024-12-22.tif", tags=None)  # the date comes from the name
    assert "dir[/]x 2024-12-22.tif" in path
    r = CliRunner().invoke(app, ["ingest", path, "--db", db])
    assert r.exit_code == 0 and r.exception is None, r.output
    assert f"added: {path}:" in r.output.replace("\n", "")
    assert "1 added, 0 unchanged, 0 refused" in r.output


def test_a_missing_file_named_like_markup_is_reported_with_its_brackets(tmp_path):
    db = _site_db(tmp_path)
    env = {**os.environ, "SITEWATCH_DB": db, "COLUMNS": "300"}
    proc = subprocess.run([str(Path(sys.executable).with_name("sitewatch")), "ingest", "[bold]nope.tif"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "error: [bold]nope.tif: no such file" in proc.stderr.splitlines()


def test_say_prints_labels_in_colour_and_text_as_is():
    out = io.StringIO()
    say(Console(file=out, width=200, color_system=None), "dir[/]x [red]y[/red]", "error:")
    assert out.getvalue() == "error: dir[/]x [red]y[/red]\n"
