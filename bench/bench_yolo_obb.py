"""Throughput per tile of a bring-your-own YOLO-OBB export (issue 28): sitewatch's adapter
against Ultralytics' own ONNX predict, on the same tiles, in one command.

The exports are Ultralytics' own (`tests/ultralytics_ref.py export`: a YOLOv8n-obb with
DOTA's 15 classes and random weights that give a dense scene, exported with Ultralytics'
defaults). Both sides run the same file through ONNX Runtime on the CPU, each with its own
session settings:

- Ultralytics: `YOLO(export).predict(tile)` one tile a call (its default), in the separate
  test environment `.venv-ultralytics` (`make ultralytics-env`): its letterbox, the
  network, its probiou NMS, its results;
- sitewatch: `YoloObbModel.run` on the same tiles (float32, as the tile reader gives
  them): padding, the network, decoding, probiou NMS, our classes; one tile a call, and for
  a dynamic export also two (`sitewatch detect`'s default batch).

Each side's figure is the best of --repeats passes over the tiles after a warm-up; the two
sides alternate for --rounds rounds (the machine may be shared). The ratio is printed of the
medians over the rounds and of the best rounds (the latter the nearer to an idle machine).
Tiling, reading and the seam merge are not in either figure (`bench_detect.py` measures those).

    .venv/bin/python bench/bench_yolo_obb.py [--exports static640,dynamic640,static1024,dynamic1024]
        [--tiles 8] [--repeats 3] [--rounds 2]

It prints one line per export and writes a JSON record to bench/out/bench_yolo_obb.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from sitewatch.detect.labels import parse_class_map
from sitewatch.detect.yolo_obb import YoloObbModel

ROOT = Path(__file__).resolve().parents[1]
ENV = Path(os.environ.get("SITEWATCH_ULTRALYTICS_ENV", ROOT / ".venv-ultralytics"))
REF = ROOT / "tests" / "ultralytics_ref.py"
SIZES = {"static640": 640, "dynamic640": 640, "static1024": 1024, "dynamic1024": 1024}


def ref(args: list[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(YOLO_CONFIG_DIR=str(cwd / "yolo-config"), YOLO_OFFLINE="true", YOLO_AUTOINSTALL="false")
    r = subprocess.run([str(ENV / "bin" / "python"), str(REF), *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=1800)
    if r.returncode:
        sys.exit(f"tests/ultralytics_ref.py {args[0]} failed:\n{r.stderr[-3000:]}")
    return r.stdout


def tiles_of(side: int, n: int, seed: int) -> np.ndarray:
    """n textured side x side RGB uint8 tiles (as the comparison test's images)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        small = rng.integers(0, 255, (side // 16 + 1, side // 16 + 1, 3)).astype(np.uint8)
        out.append(cv2.resize(small, (side, side), interpolation=cv2.INTER_CUBIC))
    return np.stack(out)


def ours_per_tile(model: YoloObbModel, tiles: np.ndarray, batch: int, repeats: int) -> tuple[float, float]:
    """Best seconds per tile over `repeats` passes, and the boxes a pass."""
    x = tiles.transpose(0, 3, 1, 2).astype(np.float32)
    model.run(x[:batch])  # warm-up
    best, boxes = float("inf"), 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        boxes = sum(len(d) for i in range(0, len(x), batch) for d in model.run(x[i:i + batch]))
        best = min(best, (time.perf_counter() - t0) / len(x))
    return best, boxes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exports", default=",".join(SIZES), help="which of " + ", ".join(SIZES))
    ap.add_argument("--tiles", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    names = [n for n in args.exports.split(",") if n]
    if not set(names) <= set(SIZES):
        ap.error(f"--exports: each one of {', '.join(SIZES)}")
    if not (ENV / ".installed").exists():
        sys.exit(f"Ultralytics' test environment {ENV} is missing: `make ultralytics-env` builds it")
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        exports = json.loads(ref(["export", str(work / "models")], work))
        for name in names:
            side = SIZES[name]
            tiles = tiles_of(side, args.tiles, seed=side)
            np.save(work / "tiles.npy", tiles)
            model = YoloObbModel(exports[name], parse_class_map(None), gsd_m=0.5)
            batches = [1, 2] if model.shape.batch is None else [1]
            theirs, ours = [], {b: [] for b in batches}
            for _ in range(args.rounds):
                got = json.loads(ref(["bench", exports[name], str(side), str(work / "tiles.npy"),
                                      str(args.repeats)], work))
                theirs.append(got["seconds_per_tile"])
                for b in batches:
                    ours[b].append(ours_per_tile(model, tiles, b, args.repeats)[0])
            t, tb = statistics.median(theirs), min(theirs)
            rec = {"export": name, "tiles": args.tiles, "ultralytics_s_per_tile": t, "ultralytics_best": tb,
                   "ultralytics_rounds": theirs}
            line = f"{name}: Ultralytics predict {t * 1000:.0f} ms/tile (best {tb * 1000:.0f})"
            for b in batches:
                o, ob = statistics.median(ours[b]), min(ours[b])
                rec.update({f"sitewatch_batch{b}_s_per_tile": o, f"sitewatch_batch{b}_best": ob,
                            f"sitewatch_batch{b}_rounds": ours[b], f"ratio_batch{b}": o / t,
                            f"ratio_batch{b}_best": ob / tb})
                line += (f"; sitewatch batch {b} {o * 1000:.0f} ms/tile (best {ob * 1000:.0f}): {o / t:.2f} x "
                         f"Ultralytics' time (best {ob / tb:.2f} x)")
            print(line, flush=True)
            records.append(rec)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_yolo_obb.json").write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
