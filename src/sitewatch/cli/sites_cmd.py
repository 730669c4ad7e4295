"""`sitewatch sites add FILE` and `sitewatch sites list`, and the --db option every catalog
command shares (import DB_OPTION from here)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sitewatch.cli.main import app
from sitewatch.domain import Site
from sitewatch.errors import InputError

DB_OPTION = typer.Option(None, "--db", help="Catalog: a SQLite file or a database URL "
                         "(default: $SITEWATCH_DB, else ./sitewatch-data/catalog.db).")

sites_app = typer.Typer(help="Sites: add them from GeoJSON or a scenario, list them.", no_args_is_help=True)
app.add_typer(sites_app, name="sites")
console = Console()


def read_site_file(path: Path) -> list[tuple[Site, list[tuple[float, float]] | None]]:
    """Sites from a GeoJSON file, or from the `sites:` part of a scenario YAML."""
    if not path.exists():
        raise InputError(str(path), "no such file")
    if path.suffix.lower() in (".yaml", ".yml"):
        from sitewatch.simulate.loading import load_scenario
        from sitewatch.simulate.scenario import build_site

        scenario, _ = load_scenario(path)
        return [(build_site(s), None) for s in scenario.sites]
    from sitewatch.geo.sitefile import read_sites_geojson

    return [(s, ring) for s, ring in read_sites_geojson(path)]


def site_summary(site: Site) -> dict:
    g = site.grid
    return {"name": site.name, "kind": site.kind, "lat": site.lat, "lon": site.lon,
            "grid": {"crs": g.crs, "origin_x": g.origin_x, "origin_y": g.origin_y, "gsd_m": g.gsd_m,
                     "width_px": g.width_px, "height_px": g.height_px},
            "zones": [{"name": z.name, "kind": z.kind, "polygon": [list(p) for p in z.polygon]} for z in site.zones]}


@sites_app.command("add")
def sites_add(file: Path = typer.Argument(..., help="GeoJSON site polygon(s), or a scenario YAML."),
              db: str = DB_OPTION) -> None:
    """Add the sites a GeoJSON file or scenario YAML defines."""
    from sitewatch.store import add_site, open_catalog

    found = read_site_file(file)
    with open_catalog(db) as catalog:
        for site, ring in found:
            add_site(catalog, site, ring)
            g = site.grid
            console.print(f"added site [bold]{escape(site.name)}[/] ({site.kind}): {g.width_px} x {g.height_px} px at "
                          f"{g.gsd_m} m in {g.crs}, {len(site.zones)} zones", highlight=False)


@sites_app.command("list")
def sites_list(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
               db: str = DB_OPTION) -> None:
    """List the catalog's sites with their grids."""
    from sitewatch.store import list_sites, open_catalog

    with open_catalog(db) as catalog:
        sites = list_sites(catalog)
    if as_json:
        print(json.dumps([site_summary(s) for s in sites], indent=2))
        return
    table = Table(title="sites")
    for col in ("name", "kind", "lat", "lon", "CRS", "GSD m", "grid px", "zones"):
        table.add_column(col)
    for s in sites:
        g = s.grid
        table.add_row(escape(s.name), s.kind, f"{s.lat:.5f}", f"{s.lon:.5f}", g.crs, f"{g.gsd_m:g}",
                      f"{g.width_px} x {g.height_px}", escape(", ".join(z.name for z in s.zones)) or "-")
    console.print(table)
