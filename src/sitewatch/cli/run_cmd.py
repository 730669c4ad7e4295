"""`sitewatch run --site NAME`: align, detect, compare, assess and report one site."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from sitewatch.cli.main import app, say
from sitewatch.cli.sites_cmd import DB_OPTION

console = Console()


@app.command("run")
def run_cmd(site: str = typer.Option(..., "--site", help="Site name in the catalog."),
            out: Path = typer.Option(Path("sitewatch-report"), "--out", help="Folder for the report and exports."),
            model: Path = typer.Option(None, "--model", help="ONNX model (default: the shipped one)."),
            db: str = DB_OPTION) -> None:
    """Align, detect, compare, assess and report one site."""
    from sitewatch.cli.demo_cmd import StageBars
    from sitewatch.detect.model import DetectionModel
    from sitewatch.store import open_catalog
    from sitewatch.workflow.pipeline import run_site

    m = DetectionModel(model)
    with open_catalog(db) as catalog, Progress(TextColumn("{task.description:<18}", markup=False), BarColumn(),
                                               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                                               console=console) as bar:
        o = run_site(catalog, site, out, model=m, progress=StageBars(bar))
    say(console, o.judgement.assessment.headline)
    v = o.verdicts
    if v and (v.kept or v.dropped):
        console.print(f"analyst verdicts: kept on {v.kept} event(s)"
                      + (f"; dropped from {len(v.dropped)} the new run no longer reports "
                         f"({', '.join(v.dropped)})" if v.dropped else ""), highlight=False)
    say(console, f"report: {o.files.html}")
