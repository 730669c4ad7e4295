"""Real military aircraft on real ground: found, and typed or called `unknown`, by a model.

The development side of the real cut-outs of eleven Russian military types
(`sitewatch.evaluation.cutouts`: never trained on), each pasted at --headings headings with a
shadow on bare ground of the Airbus development airports at 0.5 m, run through `sitewatch
detect`'s code path. Printed per model: aircraft AP50, recall and precision at the operating
score (IoU 0.5 against the pasted aircraft's axis-aligned box), and, of those found, for the
six catalogue types the share given a right type, `unknown` or a wrong type, and for the
five the catalogue lacks (A-50, MiG-29, MiG-31, Tu-160, Tu-95) the share called `unknown`;
how the footprints of those found fit their own types by size (`equipment.size_matches`,
both catalogue tables) and how long the boxes are against the types' sizes; and for a model
with a catalogue check, that check alone on every pasted aircraft, found or not.
With --baseline-model B, model B is run first on the same scenes.

    .venv/bin/python bench/eval_military.py [--model M] [--baseline-model B] [--headings 6] [--gsd 0.5]

--gsd 0.25 (or 0.15) measures finer imagery: the cut-outs, photographed finer than that,
are brought down to it and pasted on the Airbus ground enlarged to it (the ground is then
smoother than a real image at that GSD; the aircraft are not).

Skips (exit 0, message) when the real-data folder is absent. Few cut-outs (about fourteen on
the development side), so each figure moves in steps of several per cent.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from sitewatch.detect.model import DetectionModel
from sitewatch.evaluation.cutouts import pasted_scenes, sizing_of, typing_of
from sitewatch.evaluation.real_pixels import detect_real, score_real
from sitewatch.evaluation.realdata import default_root

ROOT = Path(__file__).resolve().parents[1]


def check_on_crops(model: DetectionModel, pairs: list) -> dict | None:
    """The catalogue check alone, on a crop of every pasted aircraft (found or not), scaled
    to 0.85 of its axis-aligned box as the check learnt: the share called outside the
    catalogue, of the catalogue types and of the others."""
    check = model.catalogue_check
    if check is None:
        return None
    calls: dict[bool, list[bool]] = {True: [], False: []}
    for image, cutout in pairs:
        rgb = cv2.cvtColor(cv2.imread(str(image.path)), cv2.COLOR_BGR2RGB).astype(np.float32)
        cx, cy, h, w, _ = image.boxes[0]
        side = 0.85 * max(h, w)
        p = check.outside(rgb, np.array([[cx, cy, side, side, 0.0]]), np.array(["aircraft"]))[0]
        calls[cutout.in_catalogue].append(bool(p >= check.threshold))
    return {"catalogue types called unknown": [round(float(np.mean(calls[True])), 4), len(calls[True])],
            "other types called unknown": [round(float(np.mean(calls[False])), 4), len(calls[False])]}


def run_model(path: str | None, pairs: list, split: str) -> dict:
    model = DetectionModel(path)
    name = f"{model.info.model_id} {model.info.version} ({Path(str(model.path)).name})"
    images = [image for image, _ in pairs]
    with Progress(TextColumn("military cut-outs"), BarColumn(), MofNCompleteColumn()) as bar:
        task = bar.add_task("", total=len(images))
        preds, truths, area = detect_real(images, model, None, lambda n, t: bar.update(task, completed=n))
    threshold = model.info.score_threshold
    scores = score_real(images, preds, truths, area, threshold)
    typing = typing_of(pairs, preds, truths, threshold)
    a = scores["classes"]["aircraft"]
    cat, out = typing["catalogue"], typing["outside"]
    print(f"{name} | military cut-outs {split} ({len(images)} scenes, {len({c.path for _, c in pairs})} aircraft): "
          f"aircraft AP50 {a['ap50']:.3f} R {a['recall'] or 0:.3f} P {a['precision'] or 0:.3f}; "
          f"catalogue types found {cat['found']}: right {cat['right']}, unknown {cat['unknown']}, wrong {cat['wrong']}; "
          f"types outside the catalogue found {out['found']}: unknown {out['unknown']}, given a catalogue type "
          f"{out['named']}")
    sizing = sizing_of(pairs, preds, truths, threshold)
    if sizing["found"]:
        over = sizing["measured_over_true"]
        print(f"{name} | footprints of the {sizing['found']} found: own type among the size fits "
              f"{sizing['own_type_fits']:.3f} (median {sizing['median_types_fitted']:.0f} types fit), own role among "
              f"the fitting roles {sizing['own_role_fits']:.3f} (median {sizing['median_roles_fitted']:.0f} roles); "
              "measured over true long and short side, median: "
              + ", ".join(f"{k} {v[0]:.2f} and {v[1]:.2f} ({v[2]})" for k, v in over.items()))
    crops = check_on_crops(model, pairs)
    if crops:
        (a_share, a_n), (b_share, b_n) = crops.values()
        print(f"{name} | catalogue check on every pasted aircraft: catalogue types called unknown {a_share:.3f} "
              f"(of {a_n}), other types {b_share:.3f} (of {b_n})")
    return {"model": name, "path": str(model.path), "scores": scores, "typing": typing, "sizing": sizing,
            "check_on_crops": crops}


def main(argv: list[str] | None = None) -> dict | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="detector ONNX (default: the shipped one)")
    ap.add_argument("--baseline-model", default=None, help="a second detector, run first on the same scenes")
    ap.add_argument("--realdata", default=None, help="real-data folder (default: $SITEWATCH_REALDATA or ../shared/realdata)")
    ap.add_argument("--headings", type=int, default=6, help="pastes of each cut-out, at evenly spread headings")
    ap.add_argument("--split", default="dev", choices=("dev", "val"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gsd", type=float, default=0.5,
                    help="scene GSD in metres; finer than 0.5 the Airbus ground is enlarged, the aircraft stay real")
    ap.add_argument("--out", default=str(ROOT / "bench/out/eval_military.json"))
    args = ap.parse_args(argv)
    root = Path(args.realdata) if args.realdata else default_root()
    if root is None or not (root / "military_aircraft" / "chips").is_dir():
        print("skipped: no real military cut-outs (../shared/realdata or $SITEWATCH_REALDATA); they are not in the "
              "repository")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        pairs = pasted_scenes(root, args.split, args.headings, Path(tmp), args.seed, args.gsd)
        models = [m for m in (args.baseline_model, args.model) if m] or [None]
        if args.baseline_model and not args.model:
            models.append(None)
        records = [run_model(m, pairs, args.split) for m in models]
    out = {"split": args.split + " (never trained on)", "headings": args.headings, "gsd_m": args.gsd, "runs": records}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
