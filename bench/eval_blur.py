"""How vehicle recall falls with image blur, and whether the edge-blur estimate sees it.

Random air-base scenes (every GSD of eval_sim's, seeds of their own), each date detected
through `sitewatch detect`'s code path. Per image: the simulator's blur in metres on the
ground (its blur sigma in native pixels times the GSD), the edge blur detection measured
on the pixels it read (`RunStats.edge_blur_m`, `sitewatch.geo.sharpness`), and the vehicles
found at IoU 0.5 at the operating threshold. Prints recall per band of the measured blur,
recall on the images detection warns about (from BLURRED_FOR_VEHICLES_M up) and on the
rest, and how well the measure follows the true blur.

    .venv/bin/python bench/eval_blur.py [--scenes 60] [--seed 170000] [--model M]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from eval_sim import GSDS, SCENE_M, labelled

from sitewatch.detect.inference import BLURRED_FOR_VEHICLES_M, detect_scene
from sitewatch.detect.labels import read_geojson_objects
from sitewatch.detect.model import DetectionModel
from sitewatch.evaluation.detection import match_image
from sitewatch.simulate import simulate_scenario
from sitewatch.simulate.random_scenario import random_scenario

BANDS_M = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 10.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--seed", type=int, default=170000)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    model = DetectionModel(args.model)
    thr = model.info.score_threshold
    rows = []  # (true blur m, estimated blur m, vehicles, found)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.scenes):
            gsd = GSDS[i % len(GSDS)]
            scenario = random_scenario(args.seed + i, kind="airbase", gsd_m=gsd, size_px=int(SCENE_M / gsd), n_dates=2)
            result = simulate_scenario(scenario, Path(tmp) / f"s{i}")
            dates = scenario.sites[0].dates
            for image, truth_path, date in zip(result.images, result.truths, dates):
                with warnings.catch_warnings():  # the blur warning is what is measured here, not news
                    warnings.simplefilter("ignore")
                    dets, grid, stats = detect_scene(image, model, score_threshold=thr)
                truth = [t for t in read_geojson_objects(truth_path, grid.crs) if t.cls == "vehicle" and not t.difficult]
                if not truth:
                    continue
                found = match_image([d for d in labelled(dets) if d.cls == "vehicle"], truth, 0.5)
                rows.append((date.conditions.blur_sigma_px * gsd, stats.edge_blur_m, len(truth), int((found >= 0).sum())))
    rows = [r for r in rows if r[1] is not None]
    true, est = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    bands = []
    for lo, hi in zip(BANDS_M, BANDS_M[1:]):
        sel = [r for r in rows if lo <= r[1] < hi]
        n, hit = sum(r[2] for r in sel), sum(r[3] for r in sel)
        bands.append({"estimated_blur_m": [lo, hi], "images": len(sel), "vehicles": n,
                      "recall": round(hit / n, 3) if n else None})
    corr = float(np.corrcoef(true, est)[0, 1]) if len(rows) > 2 else None
    warned = {}
    for name, sel in (("warned", [r for r in rows if r[1] >= BLURRED_FOR_VEHICLES_M]),
                      ("not warned", [r for r in rows if r[1] < BLURRED_FOR_VEHICLES_M])):
        n = sum(r[2] for r in sel)
        warned[name] = {"images": len(sel), "vehicles": n, "recall": round(sum(r[3] for r in sel) / n, 3) if n else None}
    print(f"vehicle recall at IoU 0.5 by estimated blur ({len(rows)} images with vehicles; estimate against the "
          f"simulator's blur: correlation {corr:.2f}): " +
          ", ".join(f"{b['estimated_blur_m'][0]}-{b['estimated_blur_m'][1]} m {b['recall']} ({b['vehicles']})"
                    for b in bands if b["vehicles"]) +
          f"; warned from {BLURRED_FOR_VEHICLES_M} m: " +
          ", ".join(f"{k} {v['recall']} ({v['vehicles']} vehicles, {v['images']} images)" for k, v in warned.items()))
    print(json.dumps({"bench": "eval_blur", "scenes": args.scenes, "seed": args.seed, "model": str(model.path),
                      "correlation_with_true_blur": corr, "bands": bands,
                      "warning_from_m": BLURRED_FOR_VEHICLES_M, "by_warning": warned}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
