"""`sitewatch images --site NAME [--json]`: a site's images with their source, viewing
geometry, registration uncertainty and integrity caveats."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sitewatch.cli.main import app
from sitewatch.cli.sites_cmd import DB_OPTION
from sitewatch.domain import AlignmentResult, Image

console = Console()


def _angle(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def image_summary(image: Image, alignment: AlignmentResult | None) -> dict:
    """The image as JSON: its facts, observation, alignment status and CE90, caveats."""
    return {"id": image.id, "acquired": image.acquired.isoformat(), "path": image.path, "gsd_m": image.gsd_m,
            "bands": image.bands, "dtype": image.dtype, "cloud_cover": image.cloud_cover,
            "observation": {**asdict(image.observation), "instruments": list(image.observation.instruments)},
            "alignment": None if alignment is None else {"status": alignment.status, "ce90_m": alignment.ce90_m,
                                                         "quality": alignment.quality},
            "caveats": list(image.caveats)}


def _registration(alignment: AlignmentResult | None) -> str:
    if alignment is None:
        return "not aligned"
    if alignment.ce90_m is None:
        return alignment.status
    return f"{alignment.status}, CE90 {alignment.ce90_m:.1f} m"


@app.command("images")
def images_cmd(site: str = typer.Option(..., "--site", help="The site whose images to list."),
               as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
               db: str = DB_OPTION) -> None:
    """List a site's images, oldest first: acquisition time (UTC), source, modality, GSD, view
    and sun angles, registration and integrity caveats. A dash is a fact no metadata states."""
    from sitewatch.store import alignments_for_site, get_site, images_for_site, open_catalog

    with open_catalog(db) as catalog:
        get_site(catalog, site)  # a CatalogError naming the site if there is none
        images = images_for_site(catalog, site)
        aligns = alignments_for_site(catalog, site)
    if as_json:
        print(json.dumps([image_summary(i, aligns.get(i.id)) for i in images], indent=2))
        return
    table = Table(title=f"images of {escape(site)}")
    for col in ("id", "acquired UTC", "source", "modality", "GSD m", "off-nadir", "sun az / el", "registration",
                "caveats"):
        table.add_column(col)
    for i in images:
        o = i.observation
        gsd = f"{i.gsd_m:.2f}" + (f" ({o.gsd_m:.2f} stated)" if o.gsd_m is not None else "")
        table.add_row(i.id, f"{i.acquired:%Y-%m-%d %H:%M}", escape(o.source_name or "-"), o.modality or "-", gsd,
                      _angle(o.off_nadir_deg), f"{_angle(o.sun_azimuth_deg)} / {_angle(o.sun_elevation_deg)}",
                      _registration(aligns.get(i.id)), escape("; ".join(i.caveats)) or "-")
    console.print(table)
