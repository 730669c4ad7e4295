"""Ultralytics' side of the YOLO-OBB comparison (tests/test_yolo_obb_ultralytics.py) and
benchmark (bench/bench_yolo_obb.py). It runs in the separate test environment
`.venv-ultralytics` (`make ultralytics-env`), never in sitewatch's own: Ultralytics is
AGPL-3.0 and a test tool only, and it needs a torch and torchvision that the training
pin (torch 2.13) does not allow beside each other.

    python tests/ultralytics_ref.py export OUT_DIR
        builds a YOLOv8n-obb from its config with DOTA's 15 classes (no download), random
        weights made to give a dense scene, and exports it with Ultralytics' defaults at
        640 and 1024, static (batch 1) and dynamic; prints {name: path} as JSON.
    python tests/ultralytics_ref.py predict JOB.json OUT.json
        JOB: [{"model": path, "imgsz": n, "tiles": path.npy}]: each tiles file an
        (N, H, W, 3) uint8 RGB stack; Ultralytics' own predict (default options) on each
        tile. OUT: per job entry, per tile, {"xywhr", "conf", "cls"} in the tile's pixels.
    python tests/ultralytics_ref.py bench MODEL IMGSZ TILES.npy REPEATS
        seconds per tile of Ultralytics' predict on those tiles, the best of REPEATS passes
        after a warm-up, as JSON.

The weights are random, with every BatchNorm's statistics taken from textured images so
that boxes and scores vary with the pixels, and the class biases set so that a few
hundred candidates of the classes sitewatch maps pass the default threshold: a dense, arbitrary scene for NMS.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

# No network (the DNS look-up that decides "online"), no installs, settings in a temp dir:
# set before Ultralytics is imported, whoever runs this.
os.environ.setdefault("YOLO_OFFLINE", "true")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

# Ultralytics' DOTAv1 class names, as a model trained on DOTA carries them.
DOTA_NAMES = ["plane", "ship", "storage tank", "baseball diamond", "tennis court", "basketball court",
              "ground track field", "harbor", "bridge", "large vehicle", "small vehicle", "helicopter",
              "roundabout", "soccer ball field", "swimming pool"]
EXPORTS = {"static640": (640, False), "dynamic640": (640, True), "static1024": (1024, False),
           "dynamic1024": (1024, True)}
SEED = 0
# Class-score biases: the classes sitewatch's default (DOTA) map keeps, and the rest, set so
# that a 640 tile gives a few hundred boxes of ours, near the 300-box cap.
MAPPED = (0, 1, 9, 10, 11)  # plane, ship, large vehicle, small vehicle, helicopter
MAPPED_BIAS, OTHER_BIAS = -2.0, -6.0


def texture(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A smooth random RGB texture, h x w x 3 uint8."""
    small = rng.integers(0, 255, (h // 16 + 1, w // 16 + 1, 3)).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def export(out: Path) -> dict[str, str]:
    import torch
    import yaml
    from ultralytics import YOLO
    from ultralytics.nn.tasks import yaml_model_load

    out.mkdir(parents=True, exist_ok=True)
    cfg = yaml_model_load("yolov8n-obb.yaml")  # shipped inside the package
    cfg["nc"] = len(DOTA_NAMES)
    cfg_path = out / "yolov8n-obb-dota.yaml"  # the 'n' in the name picks the scale
    cfg_path.write_text(yaml.safe_dump(cfg))
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    model = YOLO(str(cfg_path), task="obb")
    net = model.model
    net.names = dict(enumerate(DOTA_NAMES))
    x = torch.from_numpy(np.stack([texture(rng, 640, 640) for _ in range(8)])).permute(0, 3, 1, 2).float() / 255
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = None  # a plain average over the batch below
            mod.reset_running_stats()
    net.train()
    with torch.no_grad():
        net(x)
    net.eval()
    bias = torch.full((len(DOTA_NAMES),), OTHER_BIAS)
    bias[list(MAPPED)] = MAPPED_BIAS
    for branch in net.model[-1].cv3:
        with torch.no_grad():
            branch[-1].bias.copy_(bias)
    pt = out / "rand.pt"
    model.save(str(pt))
    paths = {}
    for name, (imgsz, dynamic) in EXPORTS.items():
        got = Path(YOLO(str(pt), task="obb").export(format="onnx", imgsz=imgsz, dynamic=dynamic))
        paths[name] = str(got.rename(out / f"{name}.onnx"))
    return paths


def predict(job_path: Path, out_path: Path) -> None:
    from ultralytics import YOLO

    results = []
    models: dict[str, object] = {}
    for entry in json.loads(job_path.read_text()):
        model = models.setdefault(entry["model"], YOLO(entry["model"], task="obb"))
        per_tile = []
        for tile in np.load(entry["tiles"]):
            obb = model.predict(np.ascontiguousarray(tile[..., ::-1]), imgsz=entry["imgsz"], verbose=False)[0].obb
            per_tile.append({"xywhr": obb.xywhr.numpy().tolist(), "conf": obb.conf.numpy().tolist(),
                             "cls": obb.cls.numpy().astype(int).tolist()})
        results.append(per_tile)
    out_path.write_text(json.dumps(results))


def bench(model_path: str, imgsz: int, tiles_path: str, repeats: int) -> dict[str, float]:
    from ultralytics import YOLO

    model = YOLO(model_path, task="obb")
    tiles = [np.ascontiguousarray(t[..., ::-1]) for t in np.load(tiles_path)]
    model.predict(tiles[0], imgsz=imgsz, verbose=False)  # warm-up: the session and the predictor
    best = float("inf")
    n = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for t in tiles:
            n += len(model.predict(t, imgsz=imgsz, verbose=False)[0].obb)
        best = min(best, (time.perf_counter() - t0) / len(tiles))
    return {"seconds_per_tile": best, "boxes": n / repeats}


def main(argv: list[str]) -> int:
    if argv[:1] == ["export"] and len(argv) == 2:
        print(json.dumps(export(Path(argv[1]))))
    elif argv[:1] == ["predict"] and len(argv) == 3:
        predict(Path(argv[1]), Path(argv[2]))
    elif argv[:1] == ["bench"] and len(argv) == 5:
        print(json.dumps(bench(argv[1], int(argv[2]), argv[3], int(argv[4]))))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
