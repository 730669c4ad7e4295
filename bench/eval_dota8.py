"""Score a detection model on the real DOTA chips in ../shared/realdata/dota8.

The chips are 1024 x 1024 Google Earth crops without georeferencing; DOTA gives their GSD
only as "roughly 0.1 to 0.5 m". Each chip is therefore given a synthetic north-up UTM
georeference at an assumed GSD (default: a sweep over 0.15, 0.25 and 0.35 m, reported
separately), run through the same code path as `sitewatch detect` (resampled to the
model's GSD), and scored against its YOLO-OBB labels mapped through the same transform.
Classes: 0 plane -> aircraft, 1 ship -> ship, 9 large vehicle and 10 small vehicle ->
vehicle, 11 helicopter -> helicopter; the rest (courts, harbours, ...) are not ours.
Labels carry no nose direction and no type, so only class, box and recall are scored.

    .venv/bin/python bench/eval_dota8.py [--model M] [--gsd 0.15,0.25,0.35]

Skips (exit 0, message) when ../shared/realdata is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import rasterio
from affine import Affine

ROOT = Path(__file__).resolve().parents[1]
DOTA8 = ROOT.parent / "shared" / "realdata" / "dota8"
if not DOTA8.exists():
    DOTA8 = Path("/work/shared/realdata/dota8")


def main(argv: list[str] | None = None) -> dict | None:
    from sitewatch.detect import geometry
    from sitewatch.detect.inference import detect_scene
    from sitewatch.detect.labels import parse_class_map, read_yolo_obb
    from sitewatch.detect.model import DetectionModel
    from sitewatch.evaluation.detection import Labelled, evaluate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--gsd", default="0.15,0.25,0.35", help="assumed chip GSDs (m), each scored separately")
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--out", default="bench/out/eval_dota8.json")
    args = ap.parse_args(argv)
    if not (DOTA8 / "images").exists():
        print(f"skipped: {DOTA8} is absent (real chips are not part of the repository)")
        return None
    model = DetectionModel(args.model)
    thr = model.info.score_threshold if args.threshold is None else args.threshold
    cmap = parse_class_map(None)
    images = sorted(p for p in (DOTA8 / "images").rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    results = {}
    for gsd in (float(g) for g in args.gsd.split(",")):
        preds, truths = {}, {}
        with tempfile.TemporaryDirectory() as tmp:
            for img_path in images:
                label = next((DOTA8 / "labels").rglob(f"{img_path.stem}.txt"), None)
                rgb = cv2.cvtColor(cv2.imread(str(img_path)), cv2.COLOR_BGR2RGB)
                h, w = rgb.shape[:2]
                t = Affine(gsd, 0, 500000.0, 0, -gsd, 4000000.0)
                tif = Path(tmp) / f"{img_path.stem}.tif"
                with rasterio.open(tif, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8",
                                   crs="EPSG:32636", transform=t) as ds:
                    ds.write(rgb.transpose(2, 0, 1))
                dets, _, _ = detect_scene(tif, model, score_threshold=min(thr, 0.05))
                preds[img_path.stem] = [Labelled(d.cls, (d.box.cx, d.box.cy, d.box.length, d.box.width,
                                                         d.box.heading_deg), d.type, d.state, d.score)
                                        for d in dets]
                found = read_yolo_obb(label, w, h, cmap) if label else []
                boxes = geometry.boxes_pixel_to_map(np.array([f.box for f in found]).reshape(-1, 5), t)
                truths[img_path.stem] = [Labelled(f.cls, tuple(b), directed=False) for f, b in zip(found, boxes)]
        r = evaluate(preds, truths, score_threshold=thr)
        results[f"{gsd:g}"] = r
        ap50 = {c: r["per_class"][c]["ap50"] for c in ("aircraft", "ship", "vehicle")}
        rec = {c: r["per_class"][c]["recall"] for c in ("aircraft", "ship", "vehicle")}
        print(f"dota8 at assumed GSD {gsd:g} m: AP50 {ap50}, recall {rec} at score {thr}")
    record = {"model": f"{model.info.model_id} {model.info.version}", "chips": len(images),
              "assumption": "chip GSD unknown; synthetic north-up georeference at each assumed GSD",
              "by_assumed_gsd": results}
    print(json.dumps(record))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main()
    sys.exit(0)
