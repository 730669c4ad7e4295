"""`sitewatch simulate SCENARIO.yaml --out DIR [--seed N] [--json]`: render a scenario with its truth."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sitewatch.cli.main import app

console = Console(stderr=True)


def _summary(result) -> dict:
    """What was written, for programs: paths, grids (site CRS) and counts."""
    sites = []
    for plan in result.plans:
        g = plan.site.grid
        folder = result.out_dir / plan.site.name
        sites.append({
            "name": plan.site.name, "kind": plan.site.kind, "site_crs": g.crs, "gsd_m": g.gsd_m,
            "width_px": g.width_px, "height_px": g.height_px,
            "images": [{"date": d.label, "acquired": d.acquired.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "image": str(folder / f"{d.label}.tif"), "truth": str(folder / f"{d.label}.truth.geojson"),
                        "objects": len(d.spec.objects)} for d in plan.dates],
            "changes": str(folder / "changes.truth.json"),
            "change_count": sum(len(c) for c in plan.changes),
        })
    return {"catalog": str(result.catalog), "sites": sites}


@app.command("simulate")
def simulate(
    scenario: Path = typer.Argument(..., help="Scenario YAML (see 'Scenario format' in the README)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write images, truth and the STAC catalog to."),
    seed: int = typer.Option(None, "--seed", help="Override the scenario's seed."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON instead of text."),
) -> None:
    """Render each site and date of a scenario as a COG, with truth GeoJSON and a STAC catalog."""
    from sitewatch.simulate import simulate_scenario

    with Progress(TextColumn("[bold]simulate[/]"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.description}", markup=False), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("validating", total=None)

        def report(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        result = simulate_scenario(scenario, out, seed=seed, progress=report)
    summary = _summary(result)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    say = Console(highlight=False, soft_wrap=True)
    for s in summary["sites"]:
        say.print(f"[bold]{s['name']}[/] ({s['kind']}, {s['width_px']} x {s['height_px']} px at {s['gsd_m']:g} m, "
                  f"{s['site_crs']}): {len(s['images'])} images in {escape(str(out / s['name']))}")
        for im in s["images"]:
            say.print(f"  {escape(im['image'])}  ({im['objects']} objects, truth {Path(im['truth']).name})")
        n = s["change_count"]
        say.print(f"  {escape(s['changes'])}  ({n} {'change' if n == 1 else 'changes'})")
    say.print(f"STAC catalog: {escape(summary['catalog'])}")
