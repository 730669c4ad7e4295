"""`sitewatch demo`: the bundled scenario, end to end."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from sitewatch.cli.main import app, say


class StageBars:
    """One rich progress bar per stage, created when the stage first reports; also keeps
    the seconds each stage took."""

    def __init__(self, bar: Progress):
        self.bar = bar
        self.tasks: dict[str, TaskID] = {}
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=max(total, 1))
            self.started[stage] = now
        self.bar.update(self.tasks[stage], completed=done, total=max(total, 1))
        self.seconds[stage] = now - self.started[stage]


def summary_lines(outcomes) -> list[str]:
    lines = []
    for o in outcomes:
        lines.append(o.judgement.assessment.headline)
    return lines


@app.command("demo")
def demo(out: Path = typer.Option(Path("sitewatch-demo"), "--out", help="Folder for everything the demo writes.")) -> None:
    """Render the bundled Khmeimim/Tartus scenario, then ingest, align, detect, compare, assess and report."""
    from sitewatch.workflow import demo as demo_run

    console = Console()
    with Progress(TextColumn("{task.description:<18}", markup=False), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console) as bar:
        result = demo_run.run_demo(out, StageBars(bar))
    say(console, f"Rendered {len(result.images)} images into {result.out_dir / 'imagery'}")
    if result.note:
        say(console, result.note, "note:")
        return
    console.print()
    for line in summary_lines(result.outcomes):
        say(console, line)
    console.print()
    for o in result.outcomes:
        say(console, f"Report for {o.site.name}: {o.files.html}")
    say(console, f"Browse the dates, events and verdicts: sitewatch serve --data {result.out_dir}")
