"""`sitewatch demo`: the bundled scenario, end to end."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from sitewatch.cli.main import app


@app.command("demo")
def demo(out: Path = typer.Option(Path("sitewatch-demo"), "--out", help="Folder for everything the demo writes.")) -> None:
    """Render the bundled Khmeimim/Tartus scenario and run the stages on it."""
    from sitewatch import pipeline

    console = Console()
    with Progress(TextColumn("{task.description:<10}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=max(total, 1))
            bar.update(tasks[stage], completed=done, total=max(total, 1))

        result = pipeline.run_demo(out, progress)
    console.print(f"Rendered {len(result.images)} images of {len(result.plans)} sites into {result.out_dir}")
    for p in result.images:
        console.print(f"  {p}")
    console.print(f"STAC catalog: {result.catalog}")
