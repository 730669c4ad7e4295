"""What the second look costs: the box refiner and the state reader against the detector,
on the same 1024 px tile, in one process.

`bench_detect.py` measures throughput on textured ground with hardly an object on it, where
the second look has nothing to do. Its cost grows with the number of items on a tile (a car
park, a row of helicopters), so this times the detector on one tile, then the refiner and
the reader on 10, 100 and 300 items of that tile, and prints each as a share of the
detector's time.

    .venv/bin/python bench/bench_second_look.py [--model M] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from sitewatch.detect.model import DetectionModel


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


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
    tile = rng.integers(60, 200, (size, size, 3)).astype(np.float32)
    batch = tile.transpose(2, 0, 1)[None].copy()
    companions = (model.box_refiner, model.state_reader)
    model.box_refiner = model.state_reader = None
    detector_s = best_of(lambda: model.raw(batch), args.repeats)
    model.box_refiner, model.state_reader = companions
    record = {"bench": "second_look", "model": f"{model.info.model_id} {model.info.version}", "tile_px": size,
              "detector_ms": round(detector_s * 1000, 1), "items": {}}
    print(f"detector, one {size} px tile: {detector_s * 1000:.0f} ms")
    for n in (10, 100, 300):
        # Car-sized and helicopter-sized boxes (pixels at 0.5 m) spread over the tile.
        cars = np.column_stack([rng.uniform(20, size - 20, (n, 2)), np.full(n, 9.0), np.full(n, 3.6),
                                rng.uniform(0, 360, n)])
        helis = cars.copy()
        helis[:, 2:4] = (40.0, 40.0)
        refine_s = best_of(lambda: model.box_refiner.refine(tile, cars), args.repeats)
        read_s = best_of(lambda: model.state_reader.read(tile, helis), args.repeats)
        record["items"][n] = {"refiner_ms": round(refine_s * 1000, 1), "reader_ms": round(read_s * 1000, 1),
                              "refiner_share": round(refine_s / detector_s, 3), "reader_share": round(read_s / detector_s, 3)}
        print(f"{n:4d} items: refiner {refine_s * 1000:6.1f} ms ({refine_s / detector_s:5.1%} of the detector), "
              f"state reader {read_s * 1000:6.1f} ms ({read_s / detector_s:5.1%})")
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
