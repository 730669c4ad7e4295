"""`sitewatch align --site NAME [--reference ID] [--json] [--write DIR] [--cluster ADDRESS]`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sitewatch.cli.main import app, say
from sitewatch.cli.sites_cmd import DB_OPTION


@app.command("align")
def align_cmd(
    site: str = typer.Option(..., "--site", help="The site whose images to align."),
    reference: str = typer.Option(None, "--reference", help="Image id (or unique prefix) to align to "
                                  "(default: the first good date)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one object per image) instead of a table."),
    write: Path = typer.Option(None, "--write", help="Also write each usable image, aligned on the site grid, as a "
                               "GeoTIFF in this folder (opens in QGIS)."),
    db: str = DB_OPTION,
    cluster: str = typer.Option(None, "--cluster", help="Align on Dask: local[:N] starts N workers here, "
                                                        "tcp://HOST:PORT uses a running scheduler."),
) -> None:
    """Co-register every image of a site to its reference on the site grid."""
    from contextlib import ExitStack

    from sitewatch.cli.detect_cmd import cluster_module
    from sitewatch.geo.ongrid import write_aligned
    from sitewatch.names import path_inside
    from sitewatch.store import aligned_images, get_site, images_for_site, open_catalog
    from sitewatch.workflow.align_site import align_site

    console, err_console = Console(), Console(stderr=True)
    if cluster:
        cluster_module().parse_cluster(cluster)  # a bad address is refused before any work
    with ExitStack() as stack, open_catalog(db) as catalog:
        s = get_site(catalog, site)
        if write is not None:
            path_inside(write, f"{site}.tif")  # before aligning: a bad name stores nothing
        dates = {i.id: i.acquired for i in images_for_site(catalog, site)}
        with Progress(TextColumn("align"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      TextColumn("{task.description}", markup=False), console=err_console, transient=True) as bar:
            task = bar.add_task("", total=None)
            client = stack.enter_context(cluster_module().connect(cluster)) if cluster else None
            results = align_site(catalog, s, reference, client=client,
                                 progress=lambda k, n, img: bar.update(task, completed=k, total=n, description=img.id))
            written = {}
            if write is not None:
                write.mkdir(parents=True, exist_ok=True)
                for img, res in aligned_images(catalog, site):
                    wtask = bar.add_task(f"write {img.id}", total=None)
                    out = path_inside(write, f"{site}_{img.acquired:%Y%m%dT%H%M%S}_{img.id}.tif")
                    written[img.id] = write_aligned(img, res, s.grid, out,
                                                    progress=lambda k, n, t=wtask: bar.update(t, completed=k, total=n))
    if as_json:
        print(json.dumps({"site": site, "grid_crs": s.grid.crs, "units": "site-grid pixels",
                          "matrix": "reference-frame grid (col, row) -> this image's plain grid reprojection",
                          "images": [{"id": r.image_id, "path": r.path, "acquired": dates[r.image_id].isoformat(),
                                      "status": r.status, "dx": r.dx_px, "dy": r.dy_px,
                                      "rotation_deg": r.rotation_deg, "scale": r.scale, "matrix": list(r.matrix),
                                      "quality": r.quality,
                                      "residual_px": r.residual_px, "windows_used": r.windows_used,
                                      "windows_total": r.windows_total, "reason": r.reason,
                                      "ce90_m": r.ce90_m, "changed_fraction": r.changed_fraction,
                                      "aligned_path": written.get(r.image_id)} for r in results]},
                         indent=2))
    else:
        table = Table(title=f"alignment of {escape(site)} ({s.grid.crs}, {s.grid.gsd_m:g} m pixels)")
        for col in ("image", "date", "status", "dx px", "dy px", "rot deg", "quality", "resid px"):
            table.add_column(col, no_wrap=True)
        table.add_column("note", overflow="fold")
        for r in results:
            style = {"failed": "red", "georef": "yellow"}.get(r.status)
            table.add_row(r.image_id[:12], f"{dates[r.image_id]:%Y-%m-%d %H:%M}", r.status, f"{r.dx_px:+.2f}",
                          f"{r.dy_px:+.2f}", f"{r.rotation_deg:+.3f}", f"{r.quality:.2f}",
                          "-" if r.residual_px is None else f"{r.residual_px:.3f}",
                          escape(r.reason or "") if r.status in ("failed", "georef") else "", style=style)
        console.print(table)
    for path in written.values():
        say(err_console, f"wrote {path}")
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        say(err_console, f"{r.image_id} ({r.path}): {r.reason}", "excluded:")
