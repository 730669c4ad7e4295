"""What the detector reports on the real images no one has labelled: the two DOTA bus depots.

`../shared/realdata/unlabelled/dota_buslots_{1,2}.jpg` are Google Earth chips of bus depots
(DOTA imagery: academic use only; never trained on). Their GSD is not stated: a school bus
(about 12 m) spans about 85 px, so about 0.14 m. Each is written as a GeoTIFF at --gsd and
run through `detect`'s code path; printed per image: the items reported per class at the
operating score (0.5) and between 0.2 and it. There are no labels, so no AP: by eye the
first holds over 100 buses, the second about 90 buses and some 50 cars; every bus is a
vehicle the detector should report.

    .venv/bin/python bench/count_unlabelled.py [--gsd 0.14] [--realdata DIR]

Skips (exit 0, message) when the real-data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from sitewatch.detect.inference import detect_scene
from sitewatch.detect.model import DetectionModel
from sitewatch.evaluation.real_pixels import write_georeferenced
from sitewatch.evaluation.realdata import RealImage, default_root

IMAGES = ("dota_buslots_1", "dota_buslots_2")


def main(argv: list[str] | None = None) -> dict | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gsd", type=float, default=0.14, help="the GSD the images are taken to have, metres")
    ap.add_argument("--model", default=None)
    ap.add_argument("--realdata", default=None, help="real-data folder (default: $SITEWATCH_REALDATA or ../shared/realdata)")
    args = ap.parse_args(argv)
    root = Path(args.realdata) if args.realdata else default_root()
    if root is None or not (root / "unlabelled").is_dir():
        print("skipped: no ../shared/realdata/unlabelled (or $SITEWATCH_REALDATA); it is not in the repository")
        return None
    model = DetectionModel(args.model)
    out: dict = {"model": f"{model.info.model_id} {model.info.version}", "gsd_m": args.gsd, "images": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in IMAGES:
            image = RealImage("unlabelled", name, root / "unlabelled" / f"{name}.jpg", args.gsd, np.zeros((0, 5)), (),
                              False, (), "dev")
            path, _, (h, w) = write_georeferenced(image, args.gsd, Path(tmp))
            dets, _, _ = detect_scene(path, model, image_id=name, score_threshold=0.2)
            sure = Counter(d.cls for d in dets if d.score >= 0.5)
            unsure = Counter(d.cls for d in dets if d.score < 0.5)
            out["images"][name] = {"km2": round(h * w * args.gsd**2 / 1e6, 4), "at_0.5": dict(sure),
                                   "0.2_to_0.5": dict(unsure)}
            print(f"{name} at {args.gsd} m ({out['images'][name]['km2']} km²): at 0.5 {dict(sure) or 'nothing'}; "
                  f"0.2-0.5 {dict(unsure) or 'nothing'}")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
