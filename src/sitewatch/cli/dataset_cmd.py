"""`sitewatch dataset`: training chips and labels from the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sitewatch.cli.main import app, check_range
from sitewatch.errors import InputError


def parse_gsds(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise InputError("--gsd", f"expected comma-separated metres such as 0.3,0.5,0.8, got {text!r}") from exc


def parse_sun_range(text: str) -> tuple[float, float]:
    """A --sun value, "LOW,HIGH" in degrees, as a pair; InputError if it is not one."""
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError("--sun", f"expected LOW,HIGH in degrees, e.g. 10,30; got {text!r}") from None
    return low, high


@app.command("dataset")
def dataset_command(
    out: Path = typer.Option(..., "--out", help="Folder for images/, labels/ (YOLO-OBB), meta/ (our JSON)."),
    count: int = typer.Option(1000, "--count", help="Number of chips."),
    gsd: str = typer.Option("0.3,0.5,0.8", "--gsd", help="Native GSDs (m) to render at, cycled."),
    model_gsd: float = typer.Option(0.5, "--model-gsd", help="GSD (m) the chips are resampled to."),
    chip: int = typer.Option(384, "--chip", help="Chip size in pixels at the model GSD."),
    seed: int = typer.Option(0, "--seed", help="Seed; different seeds give disjoint chips."),
    scenes: bool = typer.Option(False, "--scenes/--objects", help="Cut chips from whole random scenarios (ground "
                                                                  "clutter, parking rows) instead of object chips."),
    sun: str = typer.Option("25,80", "--sun", help="Object chips: the range the sun's elevation is drawn from, "
                                                   "degrees, LOW,HIGH (scene chips take their scenario's sun)."),
) -> None:
    """Render random equipment scenes with nuisances (sun, haze, noise, blur) as training chips."""
    from sitewatch.training.dataset import write_dataset

    check_range("--count", count, 1, 10_000_000)
    check_range("--model-gsd", model_gsd, 0.01, 100)
    check_range("--chip", chip, 32, 8192)
    gsds = parse_gsds(gsd)
    sun_range = parse_sun_range(sun)
    with Progress(TextColumn("chips"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("chips", total=count)
        summary = write_dataset(out, count, gsds, model_gsd, chip, seed, progress=lambda n: bar.update(task, completed=n),
                                scenes=scenes, sun_elevation_deg=sun_range)
    print(json.dumps(summary))


@app.command("dataset-real")
def dataset_real_command(
    out: Path = typer.Option(..., "--out", help="Folder for images/ and meta/ (our JSON with partial-label flags)."),
    realdata: Path = typer.Option(None, "--realdata", help="The real-data folder (default: $SITEWATCH_REALDATA or "
                                                           "../shared/realdata)."),
    sets: str = typer.Option("airbus,empty_airbases", "--sets", help="Real sets to cut, comma-separated."),
    paste: str = typer.Option(None, "--paste", metavar="FEWEST,MOST",
                              help="Also paste that many real military cut-outs (training side) on each chip's "
                                   "bare ground, for example 1,3."),
    seed: int = typer.Option(0, "--seed", help="Seed of the pasting."),
) -> None:
    """Cut the training side of real labelled sets into chips; their development side is never read."""
    from sitewatch.evaluation.realdata import default_root
    from sitewatch.training.real_chips import write_pasted_chips, write_real_chips

    root = realdata or default_root()
    if root is None or not Path(root).exists():
        raise InputError(str(root or "../shared/realdata"), "no real-data folder; give one with --realdata")
    names = [s.strip() for s in sets.split(",") if s.strip()]
    per_chip = None
    if paste:
        try:
            per_chip = tuple(int(v) for v in paste.split(","))
        except ValueError:
            per_chip = ()
        if len(per_chip) != 2 or not 0 <= per_chip[0] <= per_chip[1]:
            raise InputError("--paste", f"{paste!r}: give FEWEST,MOST, two whole numbers, FEWEST <= MOST")
    with Progress(TextColumn("real images"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("images", total=None)

        def show(n: int, total: int) -> None:
            bar.update(task, completed=n, total=total)

        if per_chip:
            summary = write_pasted_chips(Path(root), names, out, (per_chip[0], per_chip[1]), seed, progress=show)
        else:
            summary = write_real_chips(Path(root), names, out, progress=show)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("images", "cutouts")}))
