"""What the second look costs: the box refiner and the state reader against the detector,
on the same 1024 px tile, in one process.

`bench_detect.py` measures throughput on textured ground with hardly an object on it, where
the second look has nothing to do. Its cost grows with the number of items on a tile (a car
park, a row of helicopters), so this times the detector on one tile, then the refiner and
the reader on 10, 100 and 300 items of that tile, through the same per-tile call that
`DetectionModel.run` makes, and prints each as a share of the detector's time.

    .venv/bin/python bench/bench_second_look.py [--model M] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

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


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    model = DetectionModel(args.model)
    if model.box_refiner is None or model.state_reader is None:
        raise SystemExit(f"{model.path}: needs both a box refiner and a state reader")
    rng = np.random.default_rng(0)
    size = model.tile_size
    batch = rng.integers(60, 200, (1, 3, size, size)).astype(np.float32)
    companions = (model.box_refiner, model.state_reader)
    model.box_refiner = model.state_reader = None
    detector_s = best_of(lambda: model.raw(batch), args.repeats)
    record = {"bench": "second_look", "model": f"{model.info.model_id} {model.info.version}", "tile_px": size,
              "detector_ms": round(detector_s * 1000, 1), "items": {}}
    print(f"detector, one {size} px tile: {detector_s * 1000:.0f} ms")
    for n in (10, 100, 300):
        # Cars and Mi-8s (pixel boxes at 0.5 m) spread over the tile, timed through the same
        # call `run` makes per tile, with one companion attached at a time.
        centres = rng.uniform(20, size - 20, (n, 2))
        headings = rng.uniform(0, 360, n)
        cars = _detections(np.column_stack([centres, np.full(n, 9.0), np.full(n, 3.6), headings]), "vehicle", "car")
        helis = _detections(np.column_stack([centres, np.full(n, 50.0), np.full(n, 42.0), headings]), "helicopter",
                            "Mi-8/17")
        model.box_refiner = companions[0]
        refine_s = best_of(lambda: model.second_look(batch[0], cars), args.repeats)
        model.box_refiner, model.state_reader = None, companions[1]
        read_s = best_of(lambda: model.second_look(batch[0], helis), args.repeats)
        model.state_reader = None
        record["items"][n] = {"refiner_ms": round(refine_s * 1000, 1), "reader_ms": round(read_s * 1000, 1),
                              "refiner_share": round(refine_s / detector_s, 3), "reader_share": round(read_s / detector_s, 3)}
        print(f"{n:4d} items: refiner {refine_s * 1000:6.1f} ms ({refine_s / detector_s:5.1%} of the detector), "
              f"state reader {read_s * 1000:6.1f} ms ({read_s / detector_s:5.1%})")
    model.box_refiner, model.state_reader = companions
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
