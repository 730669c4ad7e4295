"""`sitewatch report --site NAME [--out DIR]`: the HTML report and the exports."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from sitewatch.cli.main import app, say
from sitewatch.cli.sites_cmd import DB_OPTION

console = Console()


@app.command("report")
def report_cmd(site: str = typer.Option(..., "--site", help="Site name in the catalog."),
               out: Path = typer.Option(Path("sitewatch-report"), "--out", help="Folder for the report and exports."),
               db: str = DB_OPTION) -> None:
    """Write the HTML report (self-contained) with GeoJSON, GeoPackage, KML and CSV beside it."""
    from sitewatch.store import open_catalog
    from sitewatch.workflow.pipeline import run_site

    with open_catalog(db) as catalog:
        o = run_site(catalog, site, out, align=False, detect=False)
    say(console, o.judgement.assessment.headline)
    say(console, f"report: {o.files.html}")
