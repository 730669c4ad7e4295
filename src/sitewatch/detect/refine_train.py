"""Training the box refiner (needs the `train` extra: torch, onnx).

Each crop is cut nose-up around a box whose centre was moved off the item's true centre by
about as much as the detector's are (and whose size and heading were disturbed a little);
the targets are where the true centre falls in the crop and the turn from the disturbed
heading to the true axis. Every class is drawn equally often.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sitewatch.detect import box_refiner as br
from sitewatch.detect import crop_data as cd
from sitewatch.detect.crops import nose_up_matrix, warp
from sitewatch.errors import InputError

# The detector's centre error on small items: median 0.6 m on vehicles, 1 m on air
# defence (bench notes in docs/model-card.md); the training spread covers it with room.
CENTRE_SD_M = 0.8
CENTRE_SD_SHARE = 0.04  # plus this share of the length, for the larger items
SIZE_SD = 0.05
HEADING_SD_DEG = 6.0  # the detector's axis error: median 3-5 degrees, a tenth above 11
WRONG_END = 0.5  # the refiner should not care which end is the nose


@dataclass
class RefineTrainConfig:
    data: list[str]
    classes: tuple[str, ...] = ("vehicle", "air_defence")
    gsd_m: float = 0.5
    epochs: int = 10
    batch: int = 128
    lr: float = 3e-3
    crops_per_item: int = 2
    max_per_class: int = 12000
    threads: int = 2
    seed: int = 0


class RefineNet(nn.Module):
    """About 4 M multiply-adds per 48-pixel crop (a tile of 300 cars adds some 15% to the
    detector's time on it); the last features are flattened, not pooled, so where the item
    lies in the crop is kept."""

    def __init__(self):
        super().__init__()
        block = cd.conv_block
        self.body = nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 32, 1), block(32, 64, 2),
                                  block(64, 64, 1))
        side = br.CROP_PX // 8
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * side * side, 64), nn.ReLU(inplace=True), nn.Linear(64, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body((x - 127.0) / 128.0))


def collect_crops(cfg: RefineTrainConfig, progress: Callable[[int, int], None] | None = None):
    """(crops uint8 (N, C, C, 3), classes (N,), targets float32 (N, 3)) from the chip folders."""
    rng = np.random.default_rng(cfg.seed)
    size = br.CROP_PX
    crops, classes, targets = [], [], []
    per_class: dict[str, int] = {}
    for item in cd.items(cfg.data, cfg.gsd_m, cfg.seed, lambda cls, t: cls in cfg.classes, progress):
        if per_class.get(item.cls, 0) >= cfg.max_per_class:
            continue
        per_class[item.cls] = per_class.get(item.cls, 0) + 1
        sd_px = CENTRE_SD_M / cfg.gsd_m + CENTRE_SD_SHARE * item.box[2]
        for _ in range(cfg.crops_per_item):
            box = cd.disturb(item.box, rng, sd_px, SIZE_SD, HEADING_SD_DEG, WRONG_END)
            m = nose_up_matrix(box, size, br.FILL)
            true_in_crop = m @ np.array([item.box[0], item.box[1], 1.0])
            turn = (item.box[4] - box[4] + 90.0) % 180.0 - 90.0  # to the axis: either end will do
            crops.append(np.clip(warp(item.image, m, size), 0, 255).astype(np.uint8))
            classes.append(item.cls)
            targets.append((*((true_in_crop - size / 2.0) / size), turn / br.HEADING_UNIT_DEG))
    if not crops:
        raise InputError(", ".join(cfg.data), f"the chips hold no item of class {', '.join(cfg.classes)}")
    return np.stack(crops), np.array(classes), np.array(targets, np.float32)


def train_refiner(cfg: RefineTrainConfig, crops: np.ndarray, classes: np.ndarray, targets: np.ndarray,
                  progress: Callable[[int, int, float], None] | None = None) -> RefineNet:
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    net = RefineNet()
    y_all = torch.from_numpy(targets)
    counts = {c: int((classes == c).sum()) for c in set(classes.tolist())}
    weights = torch.tensor([1.0 / counts[c] for c in classes.tolist()])

    def loss_of(net: nn.Module, x: torch.Tensor, idx: torch.Tensor, mirrored: bool) -> torch.Tensor:
        y = y_all[idx].clone()
        if mirrored:  # across the axis: the centre's x and the turn change sign
            y[:, 0], y[:, 2] = -y[:, 0], -y[:, 2]
        return F.smooth_l1_loss(net(x), y, beta=0.01)

    return cd.fit(net, crops, weights, cfg.epochs, cfg.batch, cfg.lr, cfg.seed, loss_of, progress)


def export_refiner(net: RefineNet, out: Path, applies_to: list[str], training: dict, metrics: dict) -> Path:
    from sitewatch.detect.export import export_graph

    meta = {"format": br.FORMAT_TAG, "applies_to": json.dumps(sorted(applies_to)), "crop_px": str(br.CROP_PX),
            "fill": repr(br.FILL), "training": json.dumps(training), "metrics": json.dumps(metrics)}
    return export_graph(net.eval(), torch.zeros(1, 3, br.CROP_PX, br.CROP_PX), Path(out), ["crops"], ["correction"],
                        {"crops": {0: "n"}, "correction": {0: "n"}}, meta)


def summary(cfg: RefineTrainConfig, classes: np.ndarray, seconds: float) -> dict:
    return {**asdict(cfg), "crops": int(len(classes)),
            "crops_per_class": {c: int((classes == c).sum()) for c in sorted(set(classes.tolist()))},
            "seconds": round(seconds, 1), "trained": time.strftime("%Y-%m-%d")}
