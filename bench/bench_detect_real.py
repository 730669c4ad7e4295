"""Detection throughput on real airports: the shipped model against a baseline, interleaved.

`bench_detect.py` times a textured scene with nothing on it, so the second look (box
refiners, type and state readers, presence and catalogue checks, which look at each
candidate) costs nothing there. This bench times `detect_scene`, file to detections, on real
Airbus Pleiades airport images of the development side (2560 px at 0.5 m, wrapped as
GeoTIFFs at their stated GSD), where each image holds tens of aircraft, for two models in
the same process, rounds interleaved so machine load falls on both alike.

    .venv/bin/python bench/bench_detect_real.py --baseline-model DIR/sitewatch-ocn.onnx [--images 6] [--rounds 3]

Reads ../shared/realdata (never copied). Prints km²/s per round and model, the median ratio,
and the detections found; writes the JSON record to bench/out/. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="default: the shipped model")
    ap.add_argument("--baseline-model", required=True)
    ap.add_argument("--images", type=int, default=6, help="development-side Airbus images to time")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--root", type=Path, default=None, help="default: ../shared/realdata")
    args = ap.parse_args()

    from sitewatch.detect.inference import detect_scene
    from sitewatch.detect.model import DetectionModel
    from sitewatch.evaluation.real_pixels import write_georeferenced
    from sitewatch.evaluation.realdata import default_root, real_images

    root = args.root or default_root()
    if root is None or not root.exists():
        print("../shared/realdata is not here: nothing to time", file=sys.stderr)
        return 2
    images = real_images("airbus", root, split="dev")[: args.images]
    models = {"model": DetectionModel(args.model), "baseline": DetectionModel(args.baseline_model)}
    record: dict = {"models": {k: f"{m.info.model_id} {m.info.version} ({m.path})" for k, m in models.items()},
                    "images": [im.image_id for im in images], "load_average_1min_before": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        paths = [write_georeferenced(im, im.gsd_m or 0.5, Path(tmp))[0] for im in images]
        rates: dict[str, list[float]] = {k: [] for k in models}
        found: dict[str, int] = {}
        for r in range(args.rounds + 1):  # round 0 warms both up and is not counted
            for name, model in models.items():
                t0 = time.perf_counter()
                dets, area = 0, 0.0
                for p in paths:
                    d, grid, _ = detect_scene(p, model)
                    dets += len(d)
                    area += grid.width * grid.height * grid.transform.a ** 2 / 1e6
                seconds = time.perf_counter() - t0
                found[name] = dets
                if r:
                    rates[name].append(area / seconds)
                    print(f"round {r}: {name} {area / seconds:.3f} km²/s ({dets} detections on {area:.2f} km²)",
                          flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    record.update({"km2": round(area, 3), "km2_per_s": {k: [round(x, 3) for x in v] for k, v in rates.items()},
                   "median_km2_per_s": {k: round(v, 3) for k, v in med.items()}, "detections": found,
                   "ratio_model_to_baseline": round(med["model"] / med["baseline"], 3)})
    print(f"real airports ({len(paths)} Airbus development images, {area:.2f} km²): {record['models']['model']} "
          f"{med['model']:.3f} km²/s, baseline {record['models']['baseline']} {med['baseline']:.3f} km²/s: "
          f"{record['ratio_model_to_baseline']}x (medians of {args.rounds} interleaved rounds)")
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "bench_detect_real.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
