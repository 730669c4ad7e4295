"""Score detection models on real images they never trained on: the detector's measure.

The development side of each real set (`sitewatch.evaluation.realdata`: a fixed quarter of
the Airbus airports and of the empty military aprons, all eight DOTA chips), run through
`sitewatch detect`'s code path and scored per class: AP50, recall and precision at the
operating score, and false items per km² of real ground that has none of the class. With
--baseline-model B, model B is run first on the same images, so the two lines compare in
one command. --sim-scenes N adds simulated AP50 on N fresh scenes (bench/eval_sim.py).

    .venv/bin/python bench/eval_real.py [--model M] [--baseline-model B] [--sets airbus,dota8,empty_airbases]
                                        [--dota-gsd 0.25] [--sim-scenes 0]

Skips (exit 0, message) when the real-data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from sitewatch.detect.model import DetectionModel
from sitewatch.evaluation.real_pixels import detect_real, score_real
from sitewatch.evaluation.realdata import default_root, real_images

ROOT = Path(__file__).resolve().parents[1]


def _line(name: str, set_name: str, scores: dict) -> str:
    parts = []
    for cls, s in scores["classes"].items():
        if s["true"]:
            parts.append(f"{cls} AP50 {s['ap50']:.3f} R {s['recall'] or 0:.3f} P {s['precision'] or 0:.3f} (n={s['true']})")
        else:
            parts.append(f"{cls} {s['false_per_km2']:.2f} false/km²")
    return f"{name} | {set_name} ({scores['images']} images, {scores['area_km2']:.2f} km²): " + "; ".join(parts)


def run_model(path: str | None, sets: list[str], root: Path, dota_gsd: float, sim_scenes: int) -> dict:
    model = DetectionModel(path)
    name = f"{model.info.model_id} {model.info.version} ({Path(str(model.path)).name})"
    record: dict = {"model": name, "path": str(model.path), "sets": {}}
    for set_name in sets:
        images = real_images(set_name, root, split="dev")
        with Progress(TextColumn(f"{set_name:<15}"), BarColumn(), MofNCompleteColumn()) as bar:
            task = bar.add_task(set_name, total=len(images))
            preds, truths, area = detect_real(images, model, dota_gsd, lambda n, t: bar.update(task, completed=n))
        scores = score_real(images, preds, truths, area, model.info.score_threshold)
        if set_name == "dota8":
            scores["assumed_gsd_m"] = dota_gsd
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


def main(argv: list[str] | None = None) -> dict | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="detector ONNX (default: the shipped one)")
    ap.add_argument("--baseline-model", default=None, help="a second detector, run first on the same images")
    ap.add_argument("--sets", default="airbus,dota8,empty_airbases")
    ap.add_argument("--realdata", default=None, help="real-data folder (default: $SITEWATCH_REALDATA or ../shared/realdata)")
    ap.add_argument("--dota-gsd", type=float, default=0.25, help="GSD (m) assumed for the DOTA chips, which state none")
    ap.add_argument("--sim-scenes", type=int, default=0, help="also score simulated AP50 on this many fresh scenes")
    ap.add_argument("--out", default=str(ROOT / "bench/out/eval_real.json"))
    args = ap.parse_args(argv)
    root = Path(args.realdata) if args.realdata else default_root()
    if root is None or not root.exists():
        print("skipped: no real-data folder (../shared/realdata or $SITEWATCH_REALDATA); real images are not in the repository")
        return None
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    records = []
    if args.baseline_model:
        records.append(run_model(args.baseline_model, sets, root, args.dota_gsd, args.sim_scenes))
    records.append(run_model(args.model, sets, root, args.dota_gsd, args.sim_scenes))
    out = {"split": "dev (never trained on)", "runs": records}
    print(json.dumps(out))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
