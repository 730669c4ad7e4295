"""`sitewatch run --site NAME`: align, detect, compare, assess and report one site."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from sitewatch.cli.main import app, say
from sitewatch.cli.sites_cmd import DB_OPTION

console = Console()


@app.command("run")
def run_cmd(site: str = typer.Option(None, "--site", help="Site name in the catalog."),
            out: Path = typer.Option(Path("sitewatch-report"), "--out", help="Folder for the report and exports."),
            model: Path = typer.Option(None, "--model", help="ONNX model (default: the shipped one)."),
            db: str = DB_OPTION,
            all_sites: bool = typer.Option(False, "--all-sites", help="Every site of the catalog, each reported in "
                                                                      "OUT/SITE."),
            cluster: str = typer.Option(None, "--cluster", help="Align, detect and find pixel change on Dask: "
                                                                "local[:N] starts N workers here, tcp://HOST:PORT uses "
                                                                "a running scheduler.")) -> None:
    """Align, detect, compare, assess and report one site (or every site)."""
    from sitewatch.cli.detect_cmd import cluster_module
    from sitewatch.errors import InputError

    if all_sites == bool(site):
        raise InputError("sitewatch run", "give --site NAME or --all-sites, not both" if site else
                         "give --site NAME or --all-sites")
    if cluster:
        cluster_module().parse_cluster(cluster)
    with ExitStack() as stack:
        client = stack.enter_context(cluster_module().connect(cluster)) if cluster else None
        if all_sites:
            _run_all_sites(out, model, db, client)
        else:
            _run_one(site, out, model, db, client)


def _run_one(site: str, out: Path, model: Path, db: str, client) -> None:
    from sitewatch.cli.demo_cmd import StageBars
    from sitewatch.detect.model import DetectionModel
    from sitewatch.store import open_catalog
    from sitewatch.workflow.pipeline import run_site

    m = DetectionModel(model)
    with open_catalog(db) as catalog, Progress(TextColumn("{task.description:<18}", markup=False), BarColumn(),
                                               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                                               console=console) as bar:
        o = run_site(catalog, site, out, model=m, progress=StageBars(bar), client=client)
    say(console, o.judgement.assessment.headline)
    v = o.verdicts
    if v and (v.kept or v.dropped):
        console.print(f"analyst verdicts: kept on {v.kept} event(s)"
                      + (f"; dropped from {len(v.dropped)} the new run no longer reports "
                         f"({', '.join(v.dropped)})" if v.dropped else ""), highlight=False)
    say(console, f"report: {o.files.html}")


def _run_all_sites(out: Path, model: Path, db: str, client) -> None:
    """`run` on each site of the catalog in turn; a site that fails is named and the rest still run."""
    from sitewatch.errors import InputError, SitewatchError
    from sitewatch.store import list_sites, open_catalog

    with open_catalog(db) as catalog:
        names = [s.name for s in list_sites(catalog)]
    if not names:
        raise InputError(db or "the catalog", "has no sites (sitewatch sites add FILE)")
    failed = []
    for name in names:
        say(console, f"site {name}")
        try:
            _run_one(name, out / name, model, db, client)
        except SitewatchError as exc:
            say(console, exc, "error:")
            failed.append(name)
    if failed:
        raise InputError("sitewatch run --all-sites", f"{len(failed)} of {len(names)} sites failed: {', '.join(failed)}")
