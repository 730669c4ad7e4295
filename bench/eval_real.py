"""Score detection models on real images they never trained on: the detector's measure.

The development side of each real set (`sitewatch.evaluation.realdata`: a fixed quarter of
the Airbus airports and of the empty military aprons, all eight DOTA chips), run through
`sitewatch detect`'s code path and scored per class: AP50, recall and precision at the
operating score, and false items per km² of real ground that has none of the class. With
--baseline-model B, model B is run first on the same images, so the two lines compare in
one command. --sim-scenes N adds simulated AP50 on N fresh scenes (bench/eval_sim.py).

    .venv/bin/python bench/eval_real.py [--model M] [--baseline-model B] [--sets airbus,dota8,empty_airbases,fair1m]
                                        [--dota-gsd 0.25] [--sim-scenes 0] [--floor 0.2]
    .venv/bin/python bench/eval_real.py --model M --split val --sets airbus --pick aircraft
    .venv/bin/python bench/eval_real.py --model M --split val --sets airbus --pick aircraft \
                                        --coarse-lengths 40,50,60,70,80 [--set-coarse]

The second form runs on the validation side (never trained on, never reported) and prints
the aircraft operating point with the best F1 there, as a raw heatmap score for the
model's `class_score_pivots`. The third tries the coarse pass (`detect.model.merge_coarse`)
from each shortest length given, and none, on the validation side, and with --set-coarse
writes the one with the best F1 into the model's `coarse_pass`.

Skips (exit 0, message) when the real-data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from sitewatch.detect.model import DetectionModel, raw_score
from sitewatch.evaluation.real_pixels import best_f1_threshold, detect_real, in_working_range, score_real
from sitewatch.evaluation.realdata import default_root, real_images

ROOT = Path(__file__).resolve().parents[1]


def _line(name: str, set_name: str, scores: dict) -> str:
    parts = []
    for cls, s in scores["classes"].items():
        if s["true"]:
            parts.append(f"{cls} AP50 {s['ap50']:.3f} R {s['recall'] or 0:.3f} P {s['precision'] or 0:.3f} (n={s['true']})")
        else:
            parts.append(f"{cls} {s['false_per_km2']:.2f} false/km²")
    unlabelled = scores.get("found_unlabelled_per_km2", {})
    if unlabelled:
        parts.append("found where none is labelled, per km²: " + ", ".join(f"{c} {v:.1f}" for c, v in unlabelled.items()))
    coarse = f", {scores['left_out_too_coarse']} too coarse left out" if scores.get("left_out_too_coarse") else ""
    for cls, f in scores.get("found_by_centre", {}).items():
        if f["found_share"] is not None:
            by_size = ", ".join(f"{band} m {k}/{n}" for band, (k, n) in f.get("found_by_size_m", {}).items())
            floor = scores.get("found_by_centre_at_floor", {}).get(cls, {}).get("found_share")
            parts.append(f"{cls} centred in {f['found_share']:.3f} of labels ({by_size}; by any candidate {floor}), "
                         f"box/label {f['size_ratio_median']}")
    if scores.get("catalogue_type_share") is not None:
        parts.append(f"civil aircraft given a catalogue type {scores['catalogue_type_share']:.3f}")
    return f"{name} | {set_name} ({scores['images']} images{coarse}, {scores['area_km2']:.2f} km²): " + "; ".join(parts)


def run_model(path: str | None, sets: list[str], root: Path, dota_gsd: float, sim_scenes: int, floor: float,
              split: str = "dev", pick: str | None = None) -> dict:
    model = DetectionModel(path)
    name = f"{model.info.model_id} {model.info.version} ({Path(str(model.path)).name})"
    record: dict = {"model": name, "path": str(model.path), "sets": {}}
    for set_name in sets:
        every = real_images(set_name, root, split=split)
        images = [im for im in every if in_working_range(im, model, dota_gsd)]
        with Progress(TextColumn(f"{set_name:<15}"), BarColumn(), MofNCompleteColumn()) as bar:
            task = bar.add_task(set_name, total=len(images))
            preds, truths, area = detect_real(images, model, dota_gsd, lambda n, t: bar.update(task, completed=n),
                                              floor=floor)
        scores = score_real(images, preds, truths, area, model.info.score_threshold)
        if pick and any(c == pick for im in images for c in im.cls):
            at, f1 = best_f1_threshold(preds, truths, pick, floor)
            pivot = model.info.pivots()[model.info.classes.index(pick)] if model.info.pivots() is not None else 0.5
            scores["best_f1"] = {"class": pick, "score": at, "f1": f1, "raw_pivot": round(raw_score(at, pivot), 4)}
            print(f"{name} | {set_name} {split}: best F1 for {pick} {f1:.3f} at score {at:.2f} "
                  f"(raw heatmap {scores['best_f1']['raw_pivot']:.4f}: class_score_pivots)")
        if set_name == "dota8":
            scores["assumed_gsd_m"] = dota_gsd
        scores["left_out_too_coarse"] = len(every) - len(images)
        scores["score_floor"] = floor
        scores["detections"] = {k: [[d.cls, d.type, round(d.score, 4), *(round(v, 2) for v in d.box)] for d in v]
                                for k, v in preds.items()}
        record["sets"][set_name] = scores
        print(_line(name, set_name, scores))
    if sim_scenes:
        sys.path.insert(0, str(ROOT / "bench"))
        import eval_sim

        sim = eval_sim.main(["--model", str(model.path), "--scenes", str(sim_scenes), "--seed", "150000",
                             "--out", str(ROOT / "bench/out/eval_real_sim.json")])
        record["simulated_ap50"] = {c: v["ap50"] for c, v in sim["per_class"].items()}
        print(f"{name} | simulated, {sim_scenes} scenes from seed 150000: AP50 "
              + ", ".join(f"{c} {v:.3f}" for c, v in record["simulated_ap50"].items() if v is not None))
    return record


def set_pivot(record: dict, args) -> None:
    """Write the picked operating point into the model's class_score_pivots (validation only)."""
    from sitewatch.training.export import with_metadata

    if args.split != "val" or not args.pick or not args.model:
        raise SystemExit("--set-pivot needs --split val, --pick CLASS and --model")
    picked = [s["best_f1"] for s in record["sets"].values() if "best_f1" in s]
    if not picked:
        raise SystemExit(f"no {args.pick} on the validation side of {', '.join(record['sets'])}")
    model = DetectionModel(args.model)
    pivots = {**model.info.class_score_pivots, args.pick: picked[0]["raw_pivot"]}
    with_metadata(Path(args.model), Path(args.model), {"class_score_pivots": json.dumps(pivots)})
    print(f"{args.model}: class_score_pivots = {json.dumps(pivots)}")


# Each tile shrunk twice: 0.5 m tiles seen at 1 m, where a 70 m aircraft looks 35 m long.
COARSE_FACTOR = 2


def pick_coarse(args, sets: list[str], root: Path) -> None:
    """The coarse pass's shortest item of class --pick with the best F1 on the validation
    side (no pass among the choices); written into --model with --set-coarse."""
    from sitewatch.training.export import with_metadata

    if args.split != "val" or not args.pick:
        raise SystemExit("--coarse-lengths needs --split val and --pick CLASS")
    model = DetectionModel(args.model)
    base = model.info
    images = [im for s in sets for im in real_images(s, root, split="val")
              if args.pick in im.cls and in_working_range(im, model, args.dota_gsd)]
    f1: dict[float, float] = {}
    for length in [0.0, *(float(v) for v in args.coarse_lengths.split(","))]:
        model.info = replace(base, coarse_factor=COARSE_FACTOR if length else 0,
                             coarse_min_length_m={args.pick: length} if length else {})
        preds, truths, _ = detect_real(images, model, args.dota_gsd, floor=args.floor)
        f1[length] = best_f1_threshold(preds, truths, args.pick, args.floor)[1]
        print(f"coarse pass for {args.pick} from {length:g} m: best F1 {f1[length]:.4f}" if length
              else f"no coarse pass: best F1 {f1[length]:.4f}")
    best = max(f1, key=lambda k: f1[k])
    if not best:
        print("no coarse pass is best; nothing written")
    elif args.set_coarse:
        spec = {"factor": COARSE_FACTOR, "min_length_m": {**base.coarse_min_length_m, args.pick: best}}
        with_metadata(Path(str(model.path)), Path(str(model.path)), {"coarse_pass": json.dumps(spec)})
        print(f"{model.path}: coarse_pass = {json.dumps(spec)}")


def main(argv: list[str] | None = None) -> dict | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="detector ONNX (default: the shipped one)")
    ap.add_argument("--baseline-model", default=None, help="a second detector, run first on the same images")
    ap.add_argument("--sets", default="airbus,dota8,empty_airbases,fair1m")
    ap.add_argument("--realdata", default=None, help="real-data folder (default: $SITEWATCH_REALDATA or ../shared/realdata)")
    ap.add_argument("--dota-gsd", type=float, default=0.25, help="GSD (m) assumed for the DOTA chips, which state none")
    ap.add_argument("--sim-scenes", type=int, default=0, help="also score simulated AP50 on this many fresh scenes")
    ap.add_argument("--floor", type=float, default=0.2, help="lowest score kept (AP is measured down to it)")
    ap.add_argument("--split", default="dev", choices=("dev", "val"),
                    help="dev: the reported side; val: the side that chooses operating points (with --pick)")
    ap.add_argument("--pick", default=None, metavar="CLASS", help="print the operating score of CLASS with the best F1")
    ap.add_argument("--set-pivot", action="store_true",
                    help="with --split val --pick: write that operating point into --model (class_score_pivots)")
    ap.add_argument("--coarse-lengths", default=None, metavar="M,M,...",
                    help="with --split val --pick: try the coarse pass from each of these lengths (m)")
    ap.add_argument("--set-coarse", action="store_true",
                    help="with --coarse-lengths: write the best into --model (coarse_pass)")
    ap.add_argument("--out", default=str(ROOT / "bench/out/eval_real.json"))
    args = ap.parse_args(argv)
    root = Path(args.realdata) if args.realdata else default_root()
    if root is None or not root.exists():
        print("skipped: no real-data folder (../shared/realdata or $SITEWATCH_REALDATA); real images are not in the repository")
        return None
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    if args.coarse_lengths:
        pick_coarse(args, sets, root)
        return None
    records = []
    if args.baseline_model:
        records.append(run_model(args.baseline_model, sets, root, args.dota_gsd, args.sim_scenes, args.floor,
                                 args.split, args.pick))
    records.append(run_model(args.model, sets, root, args.dota_gsd, args.sim_scenes, args.floor, args.split, args.pick))
    if args.set_pivot:
        set_pivot(records[-1], args)
    out = {"split": args.split + " (never trained on)", "runs": records}
    print(json.dumps({"split": out["split"], "runs": [{**r, "sets": {k: {kk: vv for kk, vv in v.items() if kk != "detections"}
                                                                for k, v in r["sets"].items()}} for r in records]}))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
