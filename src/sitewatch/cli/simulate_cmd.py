"""`sitewatch simulate SCENARIO.yaml --out DIR [--seed N]`: render a scenario with its truth."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sitewatch.cli.main import app

console = Console(stderr=True)


@app.command("simulate")
def simulate(
    scenario: Path = typer.Argument(..., help="Scenario YAML (see 'Scenario format' in the README)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write images, truth and the STAC catalog to."),
    seed: int = typer.Option(None, "--seed", help="Override the scenario's seed."),
) -> None:
    """Render each site and date of a scenario as a COG, with truth GeoJSON and a STAC catalog."""
    from sitewatch.simulate import simulate_scenario

    with Progress(TextColumn("[bold]simulate[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("validating", total=None)

        def report(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        result = simulate_scenario(scenario, out, seed=seed, progress=report)
    out_console = Console()
    for plan in result.plans:
        g = plan.site.grid
        out_console.print(f"[bold]{plan.site.name}[/] ({plan.site.kind}, {g.width_px} x {g.height_px} px at "
                          f"{g.gsd_m:g} m, {g.crs}): {len(plan.dates)} images in {out / plan.site.name}", highlight=False, soft_wrap=True)
        for d in plan.dates:
            out_console.print(f"  {out / plan.site.name / (d.label + '.tif')}  ({len(d.spec.objects)} objects, "
                              f"truth {d.label}.truth.geojson)", highlight=False, soft_wrap=True)
        n = sum(len(c) for c in plan.changes)
        out_console.print(f"  {out / plan.site.name / 'changes.truth.json'}  ({n} {'change' if n == 1 else 'changes'})", highlight=False, soft_wrap=True)
    out_console.print(f"STAC catalog: {result.catalog}", highlight=False, soft_wrap=True)
