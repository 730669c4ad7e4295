"""`sitewatch train`: train the oriented detector and export it to ONNX (needs the train extra)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sitewatch.cli.main import app
from sitewatch.errors import InputError


@app.command("train")
def train_command(
    data: list[Path] = typer.Option(..., "--data", help="Chip folder(s): ours, or images/ + labels/ (YOLO-OBB/DOTA)."),
    out: Path = typer.Option(Path("runs/detect/model.onnx"), "--out", help="ONNX model to write."),
    checkpoint: Path = typer.Option(Path("runs/detect/checkpoint.pt"), "--checkpoint", help="Checkpoint file."),
    resume: bool = typer.Option(False, "--resume", help="Continue from --checkpoint."),
    steps: int = typer.Option(2000, "--steps", help="Total optimiser steps (resume continues up to this)."),
    batch: int = typer.Option(8, "--batch"),
    chip: int = typer.Option(320, "--chip", help="Training crop size in pixels."),
    lr: float = typer.Option(2e-3, "--lr"),
    gsd: float = typer.Option(0.5, "--gsd", help="Model GSD in metres."),
    data_gsd: float = typer.Option(None, "--data-gsd", help="GSD of text-labelled chips (DOTA/YOLO-OBB)."),
    class_map: str = typer.Option(None, "--class-map", help="For text labels: name=class,... (default: DOTA)."),
    pretrained: bool = typer.Option(True, "--pretrained/--no-pretrained", help="Start from ImageNet Lite0."),
    threads: int = typer.Option(2, "--threads"),
    freeze_blocks: int = typer.Option(3, "--freeze-blocks", help="Keep the stem and this many early Lite0 blocks "
                                                                "at their ImageNet weights (0: train all)."),
    minutes: float = typer.Option(None, "--minutes", help="Wall-clock budget; the learning-rate schedule follows "
                                                         "time and training stops when it is spent."),
    seed: int = typer.Option(0, "--seed"),
    init_from: Path = typer.Option(None, "--init-from", help="Fine-tune: start from this checkpoint's weights "
                                                             "with a fresh optimiser and schedule."),
    offset_by_size: float = typer.Option(0.0, "--offset-by-size", help="Weight of a centre loss relative to the "
                                                                       "object's length and width (as IoU sees it)."),
    model_id: str = typer.Option("sitewatch-ocn", "--model-id"),
    version: str = typer.Option("0.1.0", "--version"),
) -> None:
    """Train (or resume), then export the ONNX model with its metadata."""
    try:
        from sitewatch.detect.train import TrainConfig, export, train
    except ImportError as exc:
        raise InputError("sitewatch train", f"needs the train extra (pip install 'sitewatch[train]'): {exc}") from exc
    from sitewatch.detect.labels import parse_class_map

    cfg = TrainConfig(data=[str(d) for d in data], out=str(out), checkpoint=str(checkpoint), resume=resume,
                      steps=steps, batch=batch, chip=chip, lr=lr, gsd_m=gsd, data_gsd=data_gsd,
                      class_map=parse_class_map(class_map) if class_map or data_gsd else None,
                      pretrained=pretrained, threads=threads, seed=seed, minutes=minutes, freeze_blocks=freeze_blocks, model_id=model_id, version=version,
                      init_from=str(init_from) if init_from else None, offset_by_size=offset_by_size)
    with Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeRemainingColumn()) as bar:
        task = bar.add_task("", total=steps)

        def show(step: int, total: int, losses: dict) -> None:
            text = " ".join(f"{k} {v:.3f}" for k, v in losses.items())
            bar.update(task, completed=step, description=text)
            if not bar.console.is_terminal and step % 50 == 0:
                print(f"step {step}/{total} {text}", flush=True)  # logs of background runs

        summary = train(cfg, progress=show)
    path = export(cfg, summary)
    print(json.dumps({"model": str(path), **summary}))
