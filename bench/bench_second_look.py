"""What the second look costs: the box refiners, the hull refiners, the type reader and the
state reader against the detector, on the same 1024 px tile, in one process.

`bench_detect.py` measures throughput on textured ground with hardly an object on it, where
the second look has nothing to do. Its cost grows with the number of items on a tile (a car
park, a row of helicopters), so this times the detector on one tile, then the refiners and
the readers on 10, 100 and 300 items of that tile, through the same per-tile call that
`DetectionModel.run` makes, and prints each as a share of the detector's time: the box
refiners on cars and on helicopters (each class has its own), the hull refiners on S-400
launchers (the box refiner runs on them first, as in `run`), the hull type reader on
frigates, the presence check on cars and the catalogue check on aircraft where the model
has them, and the coarse pass (the tile shrunk, `DetectionModel.coarse_pass`) where its
metadata asks for one.

With --scenes K it also runs `sitewatch detect`'s path over K busy simulated airbase scenes
(0.5 m, seeds 424500+) twice: with the presence check decoding down to its metadata floor,
and down to the lowest score a sure "present" can still lift to the threshold
(`Verifier.decode_floor`, the shipped behaviour). It prints the candidates checked and the
seconds of each, and whether the two outputs are the same.

    .venv/bin/python bench/bench_second_look.py [--model M] [--repeats 5] [--scenes 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sitewatch.detect.model import DetectionModel, RawDetections


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _detections(boxes: np.ndarray, cls: str, type_name: str) -> RawDetections:
    n = len(boxes)
    names = lambda v: np.full(n, v, dtype=object)  # noqa: E731
    return RawDetections(boxes, names(cls), np.full(n, 0.9), names(type_name), np.full(n, 0.9), names("normal"),
                         np.full(n, 0.9))


def decode_floor_on_scenes(model: DetectionModel, scenes: int) -> dict:
    """The presence check's candidates and time over busy scenes, decoding down to the
    metadata floor against the shipped decode floor; same output expected."""
    from sitewatch.detect.inference import detect_scene
    from sitewatch.simulate import simulate_scenario
    from sitewatch.simulate.random_scenario import random_scenario

    check = model.verifiers[0]
    shipped = check.decode_floor
    checked = {"metadata": 0, "shipped": 0}
    seconds = {"metadata": 0.0, "shipped": 0.0}
    same = True
    presence = check.presence

    def counting(which):
        def look(image, boxes, classes):
            checked[which] += len(boxes)
            return presence(image, boxes, classes)
        return look

    with tempfile.TemporaryDirectory() as tmp:
        for i in range(scenes):
            scenario = random_scenario(424500 + i, kind="airbase", gsd_m=0.5, size_px=1200, n_dates=1, density=1.5)
            image = simulate_scenario(scenario, Path(tmp) / f"s{i}").images[0]
            out = {}
            for which in ("metadata", "shipped"):
                check.decode_floor = (lambda t: min(t, check.floor)) if which == "metadata" else shipped
                check.presence = counting(which)
                t0 = time.perf_counter()
                out[which] = detect_scene(image, model)[0]
                seconds[which] += time.perf_counter() - t0
            same &= out["metadata"] == out["shipped"]
    check.decode_floor, check.presence = shipped, presence
    print(f"{scenes} busy scenes, 600 m at 0.5 m: the presence check looked at {checked['metadata']} candidates "
          f"decoding down to its floor {check.floor} ({seconds['metadata']:.1f} s), {checked['shipped']} down to "
          f"{shipped(model.info.score_threshold):.3f} ({seconds['shipped']:.1f} s); same detections: {same}")
    return {"scenes": scenes, "checked": checked, "seconds": {k: round(v, 2) for k, v in seconds.items()},
            "same_detections": bool(same)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scenes", type=int, default=0,
                    help="also compare the presence check's decode floors over this many busy scenes")
    args = ap.parse_args(argv)
    model = DetectionModel(args.model)
    if not model.box_refiners or model.state_reader is None or model.type_reader is None:
        raise SystemExit(f"{model.path}: needs a box refiner, a type reader and a state reader")
    rng = np.random.default_rng(0)
    size = model.tile_size
    batch = rng.integers(60, 200, (1, 3, size, size)).astype(np.float32)
    refiners, hulls = model.box_refiners, model.hull_refiners
    type_reader, state_reader, verifiers = model.type_reader, model.state_reader, model.verifiers
    hull_type_reader, catalogue_check = model.hull_type_reader, model.catalogue_check

    def attach(k: int | None) -> None:
        """Companions k alone (0 box refiners, 1 type reader, 2 state reader, 3 box and hull
        refiners, 4 presence check, 5 hull type reader, 6 catalogue check), or none."""
        model.box_refiners = refiners if k in (0, 3) else ()
        model.hull_refiners = hulls if k == 3 else ()
        model.type_reader = type_reader if k == 1 else None
        model.state_reader = state_reader if k == 2 else None
        model.verifiers = verifiers if k == 4 else ()
        model.hull_type_reader = hull_type_reader if k == 5 else None
        model.catalogue_check = catalogue_check if k == 6 else None

    attach(None)
    detector_s = best_of(lambda: model.raw(batch), args.repeats)
    record = {"bench": "second_look", "model": f"{model.info.model_id} {model.info.version}", "tile_px": size,
              "detector_ms": round(detector_s * 1000, 1), "items": {}}
    print(f"detector, one {size} px tile: {detector_s * 1000:.0f} ms")
    if model.info.coarse_factor:
        coarse_s = best_of(lambda: model.coarse_pass(batch, model.info.score_threshold), args.repeats)
        record["coarse_pass_ms"] = round(coarse_s * 1000, 1)
        print(f"coarse pass, the same tile shrunk {model.info.coarse_factor} times: {coarse_s * 1000:.0f} ms "
              f"({coarse_s / detector_s:.1%} of the detector)")
    for n in (10, 100, 300):
        # Cars, Su-34s and Mi-8s (pixel boxes at 0.5 m) spread over the tile, timed through
        # the same call `run` makes per tile, with one companion attached at a time.
        centres = rng.uniform(20, size - 20, (n, 2))
        headings = rng.uniform(0, 360, n)

        def items(length_px: float, width_px: float, cls: str, type_name: str) -> RawDetections:
            boxes = np.column_stack([centres, np.full(n, length_px), np.full(n, width_px), headings])
            return _detections(boxes, cls, type_name)

        looks = {"refiner": (0, items(9.0, 3.6, "vehicle", "car")),
                 "heli_refiner": (0, items(50.0, 42.0, "helicopter", "Mi-8/17")),
                 "launcher_refiners": (3, items(27.0, 6.4, "air_defence", "S-400 launcher")),
                 "type_reader": (1, items(46.6, 29.4, "aircraft", "Su-34")),
                 "state_reader": (2, items(50.0, 42.0, "helicopter", "Mi-8/17"))}
        if hull_type_reader is not None:
            looks["hull_type_reader"] = (5, items(250.0, 30.0, "ship", "Admiral Grigorovich frigate"))
        if verifiers:
            looks["presence_check"] = (4, items(9.0, 3.6, "vehicle", "car"))
        if catalogue_check is not None:
            looks["catalogue_check"] = (6, items(46.6, 29.4, "aircraft", "Su-34"))
        row = {}
        for name, (k, dets) in looks.items():
            attach(k)
            seconds = best_of(lambda: model.second_look(batch[0], dets), args.repeats)
            row[f"{name}_ms"], row[f"{name}_share"] = round(seconds * 1000, 1), round(seconds / detector_s, 3)
        record["items"][n] = row
        print(f"{n:4d} items: " + ", ".join(f"{name.replace('_', ' ')} {row[name + '_ms']:6.1f} ms "
                                            f"({row[name + '_share']:5.1%} of the detector)" for name in looks))
    model.box_refiners, model.hull_refiners = refiners, hulls
    model.type_reader, model.state_reader, model.verifiers = type_reader, state_reader, verifiers
    model.hull_type_reader, model.catalogue_check = hull_type_reader, catalogue_check
    if args.scenes and verifiers:
        record["decode_floor"] = decode_floor_on_scenes(model, args.scenes)
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
