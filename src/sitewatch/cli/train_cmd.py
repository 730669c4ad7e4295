"""`sitewatch train`: train the oriented detector and export it to ONNX (needs the train extra)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sitewatch.cli.main import app
from sitewatch.errors import InputError

T = TypeVar("T")  # what a trainer's crop collection gives


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
    init_from: Path = typer.Option(None, "--init-from", help="Fine-tune: start from this checkpoint's weights, "
                                                             "or a detector ONNX file's (its batch-norm statistics "
                                                             "then stay frozen), with a fresh optimiser and schedule."),
    offset_by_size: float = typer.Option(0.0, "--offset-by-size", help="Weight of a centre loss relative to the "
                                                                       "object's length and width (as IoU sees it)."),
    outline_size: bool = typer.Option(True, "--outline-size/--no-outline-size",
                                      help="Axis-aligned real labels teach the size through the box around the "
                                           "predicted outline (off: the centre only)."),
    outline_heading: bool = typer.Option(False, "--outline-heading", help="That box also turns the predicted heading "
                                                                         "(default: heading held fixed there)."),
    sensor_look: bool = typer.Option(False, "--sensor-look", help="Augment with a satellite product's look too: "
                                                                 "sharpening halos, an 11-bit stretch, JPEG."),
    model_id: str = typer.Option("sitewatch-ocn", "--model-id"),
    version: str = typer.Option("0.1.0", "--version"),
) -> None:
    """Train (or resume), then export the ONNX model with its metadata."""
    from sitewatch.detect.labels import parse_class_map
    from sitewatch.training.train import TrainConfig, export, train

    cfg = TrainConfig(data=[str(d) for d in data], out=str(out), checkpoint=str(checkpoint), resume=resume,
                      steps=steps, batch=batch, chip=chip, lr=lr, gsd_m=gsd, data_gsd=data_gsd,
                      class_map=parse_class_map(class_map) if class_map or data_gsd else None,
                      pretrained=pretrained, threads=threads, seed=seed, minutes=minutes, freeze_blocks=freeze_blocks,
                      model_id=model_id, version=version,
                      init_from=str(init_from) if init_from else None, offset_by_size=offset_by_size,
                      sensor_look=sensor_look, outline_size=outline_size, outline_heading=outline_heading)
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


# Options shared by the second-look commands (train-states, train-types, train-refiner).
CHIPS = typer.Option(..., "--data", help="Chip folder(s) written by `sitewatch dataset`.")
DETECTOR = typer.Option(..., "--detector", help="The detector it is for; a copy of it that names the new companion "
                                                "is written beside the companion.")
COPY_VERSION = typer.Option(None, "--version", help="Version of the detector copy (its outputs change).")
THREADS = typer.Option(2, "--threads")
SEED = typer.Option(0, "--seed")


@app.command("train-states")
def train_states_command(
    data: list[Path] = CHIPS,
    detector: Path = DETECTOR,
    out_dir: Path = typer.Option(Path("runs/states"), "--out-dir", help="Folder for the reader and the detector copy."),
    applies_to: str = typer.Option(None, "--applies-to", help="Types the reader re-reads, comma-separated "
                                                              "(default: every type with more than one state)."),
    epochs: int = typer.Option(12, "--epochs"),
    version: str = COPY_VERSION,
    threads: int = THREADS,
    seed: int = SEED,
) -> None:
    """Train the state reader on nose-up crops of the chips' items, and attach it to a detector."""
    from sitewatch.detect.model import DetectionModel
    from sitewatch.training import state_train as st

    det = DetectionModel(detector)  # refuses a missing or foreign detector before any work
    kinds = st.stateful_types()
    chosen = [t.strip() for t in applies_to.split(",")] if applies_to else sorted(kinds)
    unknown = [t for t in chosen if t not in kinds]
    if unknown:
        raise InputError("--applies-to", f"{', '.join(unknown)}: not a type with more than one state "
                                         f"(those are {', '.join(sorted(kinds))})")
    cfg = st.StateTrainConfig(data=[str(d) for d in data], gsd_m=det.gsd_m, epochs=epochs, threads=threads, seed=seed)
    t0 = time.monotonic()
    (crops, types, states), net = _crops_then_training(
        lambda show: st.collect_crops(cfg, show), lambda found, show: st.train_reader(cfg, *found, show))
    training = st.summary(cfg, crops, types, states, time.monotonic() - t0)
    reader_name = f"{detector.stem}.states.onnx"
    reader = st.export_reader(net, out_dir / reader_name, chosen, training, {})
    _attach_and_report(detector, out_dir, "state_reader", reader, version, training, applies_to=chosen)


@app.command("train-types")
def train_types_command(
    data: list[Path] = CHIPS,
    detector: Path = DETECTOR,
    out_dir: Path = typer.Option(Path("runs/types"), "--out-dir", help="Folder for the reader and the detector copy."),
    classes: str = typer.Option("aircraft,helicopter,ship", "--classes", help="Classes whose types it learns."),
    applies_to: str = typer.Option(None, "--applies-to", help="Classes whose types it re-reads at run time, "
                                                              "comma-separated (default: all it learns)."),
    with_head: str = typer.Option(None, "--with-head", help="Of those, classes whose reading is weighed with the "
                                                            "detector's own type answer, comma-separated."),
    hull: bool = typer.Option(False, "--hull", help="A hull type reader: crops long along the item and narrow "
                                                     "across it, at a finer scale (for ships); it takes its classes "
                                                     "over from the detector's square type reader."),
    epochs: int = typer.Option(8, "--epochs"),
    max_per_type: int = typer.Option(1500, "--max-per-type", min=1,
                                     help="At most this many items of each type are cut (two crops each)."),
    version: str = COPY_VERSION,
    threads: int = THREADS,
    seed: int = SEED,
) -> None:
    """Train a type reader on nose-up crops of the chips' items, and attach it to a detector."""
    from sitewatch.detect.model import DetectionModel
    from sitewatch.training import type_train as tt

    det = DetectionModel(detector)
    chosen = _classes_option(classes)
    applied = _classes_option(applies_to) if applies_to else chosen
    if set(applied) - set(chosen):
        raise InputError("--applies-to", f"{', '.join(sorted(set(applied) - set(chosen)))}: not among --classes")
    weighed = _classes_option(with_head) if with_head else ()
    if set(weighed) - set(applied):
        raise InputError("--with-head", f"{', '.join(sorted(set(weighed) - set(applied)))}: not re-read (--applies-to)")
    from sitewatch.detect.second_look import type_reader as tr

    crop: dict[str, Any] = dict(crop_px=tr.HULL_CROP_PX, crop_w=tr.HULL_CROP_W, fill=tr.HULL_FILL) if hull else {}
    cfg = tt.TypeTrainConfig(data=[str(d) for d in data], types=det.info.types,
                             type_classes=tuple(det.info.type_classes[t] for t in det.info.types), classes=chosen,
                             gsd_m=det.gsd_m, epochs=epochs, threads=threads, seed=seed, max_per_type=max_per_type,
                             **crop)
    t0 = time.monotonic()
    (_, labels), net = _crops_then_training(
        lambda show: tt.collect_crops(cfg, show), lambda found, show: tt.train_reader(cfg, *found, show))
    training = tt.summary(cfg, labels, time.monotonic() - t0)
    name = f"{detector.stem}.{'hull-types' if hull else 'types'}.onnx"
    reader = tt.export_reader(net, cfg, out_dir / name, list(applied), list(weighed), training, {})
    _attach_and_report(detector, out_dir, "hull_type_reader" if hull else "type_reader", reader, version, training,
                       classes=list(chosen), applies_to=sorted(applied), with_head=sorted(weighed))


def _classes_option(classes: str) -> tuple[str, ...]:
    """A --classes value as a tuple of our classes, or InputError naming the unknown ones."""
    from sitewatch.domain import CLASSES

    chosen = tuple(c.strip() for c in classes.split(",") if c.strip())
    unknown = [c for c in chosen if c not in CLASSES]
    if unknown or not chosen:
        raise InputError("--classes", f"{', '.join(unknown) or 'none given'}: the classes are {', '.join(CLASSES)}")
    return chosen


@app.command("train-refiner")
def train_refiner_command(
    data: list[Path] = CHIPS,
    detector: Path = DETECTOR,
    out_dir: Path = typer.Option(Path("runs/refiner"), "--out-dir", help="Folder for the refiner and the detector copy."),
    classes: str = typer.Option(None, "--classes", help="Classes whose boxes it refines (default: vehicle,air_defence; "
                                                        "with --hull: ship)."),
    hull: bool = typer.Option(False, "--hull", help="A hull refiner, for long items: a crop long along the axis and "
                                                    "narrow across it, and an answer for the length too."),
    sun: bool = typer.Option(False, "--sun", help="The refiner also takes the sun (from each image's acquisition time "
                                                  "and place) to tell items from their shadows; needs chips that "
                                                  "record their sun."),
    members: int = typer.Option(1, "--members", min=1, max=8,
                                help="Train this many refiners from consecutive seeds and average their answers "
                                     "(steadier; each costs its training time, and its share of run time)."),
    states: str = typer.Option(None, "--states", help="A state refiner: only items in these states, comma-separated "
                                                      "(for example rotor_removed); it runs once the state is read."),
    epochs: int = typer.Option(10, "--epochs"),
    version: str = COPY_VERSION,
    threads: int = THREADS,
    seed: int = SEED,
) -> None:
    """Train the box refiner (or, with --hull, the hull refiner; with --states, a refiner for items in those
    states) on crops around displaced boxes, and attach it to a detector."""
    from sitewatch.detect.model import DetectionModel
    from sitewatch.domain import STATES
    from sitewatch.training import refine_train as rt

    det = DetectionModel(detector)
    chosen = _classes_option(classes or ("ship" if hull else "vehicle,air_defence"))
    in_states = tuple(s.strip() for s in states.split(",") if s.strip()) if states else ()
    if states is not None and (not in_states or set(in_states) - set(STATES)):
        raise InputError("--states", f"{', '.join(sorted(set(in_states) - set(STATES))) or 'none given'}: "
                                     f"the states are {', '.join(STATES)}")
    cfg = rt.RefineTrainConfig(data=[str(d) for d in data], classes=chosen, gsd_m=det.gsd_m, epochs=epochs,
                               threads=threads, seed=seed, hull=hull, sun=sun, members=members, states=in_states)
    t0 = time.monotonic()
    (_, found, _, _), net = _crops_then_training(
        lambda show: rt.collect_crops(cfg, show), lambda data, show: rt.train_refiner(cfg, *data, show))
    training = rt.summary(cfg, found, time.monotonic() - t0)
    # One refiner file per set of classes (the default sets keep the plain names); a new one
    # replaces those of its kind that take any of its classes, and joins the others.
    key, suffix, default = ("hull_refiner", "hull", {"ship"}) if hull else ("box_refiner", "refiner",
                                                                           {"vehicle", "air_defence"})
    name = f"{detector.stem}.{suffix}{'' if set(chosen) == default else '-' + '-'.join(chosen)}.onnx"
    kind = det.hull_refiners if hull else det.box_refiners
    if in_states:  # state refiners are a kind of their own, run later
        key, kind = "state_refiner", det.state_refiners
        name = f"{detector.stem}.{suffix}-{'-'.join(chosen)}-{'-'.join(in_states)}.onnx"
    keep = tuple(r.path.name for r in kind if r.path.name != name and not set(r.info.applies_to) & set(chosen))
    refiner = rt.export_refiner(net, out_dir / name, list(chosen), training, {}, cfg.crop, in_states)
    _attach_and_report(detector, out_dir, key, refiner, version, training, keep, classes=list(chosen))


@app.command("train-verifier")
def train_verifier_command(
    detector: Path = DETECTOR,
    out_dir: Path = typer.Option(Path("runs/verifier"), "--out-dir", help="Folder for the check and the detector copy."),
    classes: str = typer.Option("air_defence", "--classes", help="Classes whose detections it checks and rescores."),
    scenes: int = typer.Option(600, "--scenes", min=1, help="Fresh simulated scenes to collect detections on."),
    first_seed: int = typer.Option(300000, "--first-seed", help="Seed of the first scene (keep apart from the "
                                                                 "benchmarks' seeds)."),
    crops: list[Path] = typer.Option(None, "--crops", help="Train on crops collected before (.npz, repeatable) "
                                                           "instead of collecting."),
    collect_only: bool = typer.Option(False, "--collect-only", help="Collect and save the crops, train nothing."),
    held_out: list[Path] = typer.Option(None, "--held-out", help="Crops (.npz, repeatable) to measure the trained "
                                                                 "check on, written into its metrics."),
    real_chips: list[Path] = typer.Option(None, "--real-chips", help="Also collect on these chip folders of "
                                                                     "`sitewatch dataset-real` (real training-side "
                                                                     "ground, repeatable): real items and real "
                                                                     "hard negatives."),
    none_on_real: str = typer.Option("", "--none-on-real", help="Classes the --real-chips hold none of, looked at "
                                                                "by eye (ship, for inland airports): each detection "
                                                                "of them there is taught absent."),
    floor: float = typer.Option(0.2, "--floor", min=0.01, max=1.0, help="Lowest detector score the check looks at."),
    weight: float = typer.Option(0.5, "--weight", min=0.0, max=1.0, help="Weight of the check's answer against "
                                                                         "the detector's score (geometric mean)."),
    epochs: int = typer.Option(12, "--epochs"),
    version: str = COPY_VERSION,
    threads: int = THREADS,
    seed: int = SEED,
) -> None:
    """Train the presence check on the detector's own detections on fresh simulated scenes (right ones and
    mistakes), and attach it to a detector. Collected crops are saved in --out-dir
    (verifier-crops-SEED-SCENES.npz) for --crops."""
    import numpy as np

    from sitewatch.detect.model import DetectionModel
    from sitewatch.training import verify_train as vt

    det = DetectionModel(detector)
    cfg = vt.VerifyTrainConfig(classes=_classes_option(classes), scenes=scenes, first_seed=first_seed, floor=floor,
                               weight=weight, epochs=epochs, threads=threads, seed=seed,
                               none_on_real=_classes_option(none_on_real) if none_on_real else ())
    t0 = time.monotonic()

    def collect(show):
        if crops:
            parts = [vt.load_crops(crops, floor)]
        else:
            found = vt.collect_crops(cfg, detector, show)
            print(f"crops saved: {vt.save_crops(out_dir / f'verifier-crops-{first_seed}-{scenes}.npz', found, cfg)}")
            parts = [found]
        for folder in real_chips or []:
            real = vt.collect_real_crops(cfg, detector, vt.chip_folder_images(folder), show)
            print(f"crops saved: {vt.save_crops(out_dir / f'verifier-crops-{folder.name}.npz', real, cfg)}")
            parts.append(real)
        source = ", ".join(map(str, [*(crops or [detector]), *(real_chips or [])]))
        return vt.chosen_crops(cfg, vt.CropSet.join(parts), source)

    if collect_only:
        with Progress(BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
            task = bar.add_task("", total=None)
            collect(lambda n, total: bar.update(task, completed=n, total=total))
        print(json.dumps({"counts": cfg.counts, "seconds": round(time.monotonic() - t0, 1)}))
        return
    held = vt.load_crops(held_out, floor) if held_out else None  # read first: a bad file stops before training
    found, net = _crops_then_training(collect, lambda found, show: vt.train_verifier(cfg, det.info.classes, found,
                                                                                     show))
    training = vt.summary(cfg, found, time.monotonic() - t0)
    metrics = {}
    if held is not None:
        held = held.take(np.isin(held.classes, cfg.classes))
        metrics = {"held_out": ", ".join(map(str, held_out)), **vt.held_out_metrics(net, det.info.classes, held)}
    # The detector's other checks (of other classes) stay; a check beside them is named by its classes.
    keep = tuple(v.path.name for v in det.verifiers if not set(v.info.applies_to) & set(cfg.classes))
    name = f"{detector.stem}.verifier-{'-'.join(cfg.classes)}.onnx" if keep else f"{detector.stem}.verifier.onnx"
    check = vt.export_verifier(net, out_dir / name, det.info.classes, cfg, training, metrics)
    _attach_and_report(detector, out_dir, "verifier", check, version, training, keep, classes=list(cfg.classes),
                       counts=cfg.counts, metrics=metrics)


@app.command("train-catalogue-check")
def train_catalogue_check_command(
    data: list[Path] = CHIPS,
    detector: Path = DETECTOR,
    realdata: Path = typer.Option(None, "--realdata", help="The real labelled sets (default: $SITEWATCH_REALDATA or "
                                                           "../shared/realdata); only their training and validation "
                                                           "sides are read."),
    out_dir: Path = typer.Option(Path("runs/catalogue"), "--out-dir", help="Folder for the check and the detector copy."),
    max_simulated: int = typer.Option(5000, "--max-simulated", min=10, help="Simulated aircraft cut from the chips."),
    pastes: int = typer.Option(40, "--pastes", min=1, help="Pastes of each real cut-out on real ground."),
    epochs: int = typer.Option(10, "--epochs"),
    version: str = COPY_VERSION,
    threads: int = THREADS,
    seed: int = SEED,
) -> None:
    """Train the catalogue check (is a detected aircraft of a type the catalogue knows?) on simulated aircraft,
    real civil aircraft and real military cut-outs, and attach it to a detector."""
    from sitewatch.detect.model import DetectionModel
    from sitewatch.evaluation.realdata import default_root
    from sitewatch.training import catalogue_train as ct

    det = DetectionModel(detector)
    root = realdata or default_root()
    if root is None or not Path(root).is_dir():
        raise InputError(str(root or "--realdata"), "no real-data folder: the check learns from real aircraft")
    cfg = ct.CatalogueTrainConfig(data=[str(d) for d in data], realdata=str(root), gsd_m=det.gsd_m,
                                  max_simulated=max_simulated, pastes=pastes, epochs=epochs, threads=threads, seed=seed)
    t0 = time.monotonic()
    found, net = _crops_then_training(lambda show: ct.collect_crops(cfg, show),
                                      lambda found, show: ct.train_check(cfg, det.info.classes, found, show))
    held = found.take(found.held_out)
    p = ct.outside_probability(net, det.info.classes, held.crops)
    threshold = ct.choose_threshold(p, held)
    metrics = ct.held_out_metrics(p, held, threshold)
    training = ct.summary(cfg, time.monotonic() - t0)
    check = ct.export_check(net, out_dir / f"{detector.stem}.catalogue.onnx", det.info.classes, threshold, training,
                            metrics)
    _attach_and_report(detector, out_dir, "catalogue_check", check, version, training, counts=cfg.counts,
                       metrics=metrics)


def _attach_and_report(detector: Path, out_dir: Path, key: str, companion: Path, version: str | None, training: dict,
                       keep: tuple[str, ...] = (), **record) -> None:
    """Write the detector copy that names `companion` (after `keep`) under `key`, and print
    the JSON record."""
    from sitewatch.training.export import attach_companion

    copy = attach_companion(detector, out_dir, key, companion.name, version, keep)
    print(json.dumps({key: str(companion), "detector": str(copy), **record, "crops": training["crops"],
                      "seconds": training["seconds"]}))


def _crops_then_training(collect: Callable[[Callable[[int, int], None]], T],
                         train: Callable[[T, Callable[[int, int, float], None]], Any]) -> tuple[T, Any]:
    """collect(progress) then train(collected, progress) under one two-stage progress bar;
    returns what each gave."""
    with Progress(TextColumn("{task.fields[stage]}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.description}"), TimeRemainingColumn()) as bar:
        task = bar.add_task("", total=None, stage="cutting crops")
        collected = collect(lambda n, total: bar.update(task, completed=n, total=total))
        bar.update(task, stage="training", completed=0, total=None)
        net = train(collected, lambda step, total, loss: bar.update(task, completed=step, total=total,
                                                                     description=f"loss {loss:.4f}"))
    return collected, net
