"""`sitewatch ingest PATH_OR_URL... [--site NAME] [--datetime ISO]`."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sitewatch.cli.main import app, say
from sitewatch.cli.sites_cmd import DB_OPTION
from sitewatch.errors import CatalogError, InputError

console = Console(stderr=True)


@app.command("ingest")
def ingest_cmd(
    targets: list[str] = typer.Argument(..., help="GeoTIFF/COG, JPEG 2000 or NITF files, folders of them, "
                                        "STAC item or catalog JSON, or a STAC API URL."),
    site: str = typer.Option(None, "--site", help="Assign images to this site only."),
    when: str = typer.Option(None, "--datetime", help="Acquisition time (ISO 8601, UTC if no zone) for rasters "
                             "whose STAC metadata and TIFF tags give none."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per input on stdout."),
    db: str = DB_OPTION,
) -> None:
    """Add imagery to the catalog. Exit code 1 if any input was refused."""
    from sitewatch.geo.raster import checked_time, parse_datetime
    from sitewatch.store import open_catalog
    from sitewatch.workflow.ingest import ingest

    dt = None
    if when is not None:
        dt = parse_datetime(when)
        if dt is None:
            raise InputError("--datetime", f"not an ISO 8601 date/time: {when!r}")
        dt = checked_time("--datetime", dt)
    with open_catalog(db) as catalog, Progress(TextColumn("ingest"), BarColumn(), MofNCompleteColumn(),
                                               TimeRemainingColumn(), TextColumn("{task.description}", markup=False),
                                               console=console, transient=True) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, path: str) -> None:
            bar.update(task, completed=done, total=total, description=path[-50:])

        outcomes = ingest(catalog, targets, site=site, when=dt, progress=progress)
    failed = 0
    for o in outcomes:
        for w in o.warnings:
            say(console, w, "warning:")
        if o.status == "failed":
            failed += 1
            say(console, o.message, "error:")
        elif not as_json:
            say(console, f"{o.status}: {o.path}: {o.message}")
        if as_json:
            print(json.dumps({"path": o.path, "status": o.status, "image_id": o.image.id if o.image else None,
                              "message": o.message}))
    added = sum(o.status == "added" for o in outcomes)
    summary = f"{added} added, {sum(o.status == 'unchanged' for o in outcomes)} unchanged, {failed} refused"
    if failed:
        # a SitewatchError, so that the entry point prints it as the last line and exits 1
        raise CatalogError(f"ingest: {summary}")
    say(console, summary)
