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
# The hull refiner's training boxes: ships slide along the hull (up to a fifth of it) and
# come out a tenth short, but stay within a couple of metres across it.
HULL_ALONG_SHARE = 0.08
HULL_ACROSS_SHARE, HULL_ACROSS_M = 0.1, 1.0  # of the width, plus
HULL_SIZE_SD = 0.08
HULL_HEADING_SD_DEG = 4.0


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
    hull: bool = False  # the hull refiner: a long, narrow crop, and a length answer

    @property
    def crop(self) -> tuple[int, int, float]:
        """(height, width, fill) of the crops."""
        return (br.HULL_CROP_PX, br.HULL_CROP_W, br.HULL_FILL) if self.hull else (br.CROP_PX, br.CROP_PX, br.FILL)


class RefineNet(nn.Module):
    """About 4 M multiply-adds per 48-pixel crop (a tile of 300 cars adds some 15% to the
    detector's time on it); the last features are flattened, not pooled, so where the item
    lies in the crop is kept. n_out: 3 (centre, turn) or 4 (and the length)."""

    def __init__(self, height: int = br.CROP_PX, width: int = br.CROP_PX, n_out: int = 3):
        super().__init__()
        block = cd.conv_block
        self.body = nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 32, 1), block(32, 64, 2),
                                  block(64, 64, 1))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * (height // 8) * (width // 8), 64), nn.ReLU(inplace=True),
                                  nn.Linear(64, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body((x - 127.0) / 128.0))


def collect_crops(cfg: RefineTrainConfig, progress: Callable[[int, int], None] | None = None):
    """(crops uint8 (N, H, W, 3), classes (N,), targets float32 (N, 3 or 4)) from the chip folders."""
    rng = np.random.default_rng(cfg.seed)
    height, width, fill = cfg.crop
    crops, classes, targets = [], [], []
    per_class: dict[str, int] = {}
    for item in cd.items(cfg.data, cfg.gsd_m, cfg.seed, lambda cls, t: cls in cfg.classes, progress):
        if per_class.get(item.cls, 0) >= cfg.max_per_class:
            continue
        per_class[item.cls] = per_class.get(item.cls, 0) + 1
        for _ in range(cfg.crops_per_item):
            if cfg.hull:
                across = HULL_ACROSS_SHARE * item.box[3] + HULL_ACROSS_M / cfg.gsd_m
                box = cd.disturb(item.box, rng, HULL_ALONG_SHARE * item.box[2], HULL_SIZE_SD, HULL_HEADING_SD_DEG,
                                 WRONG_END, across)
            else:
                sd_px = CENTRE_SD_M / cfg.gsd_m + CENTRE_SD_SHARE * item.box[2]
                box = cd.disturb(item.box, rng, sd_px, SIZE_SD, HEADING_SD_DEG, WRONG_END)
            m = nose_up_matrix(box, height, fill, width)
            x, y = m @ np.array([item.box[0], item.box[1], 1.0])
            turn = (item.box[4] - box[4] + 90.0) % 180.0 - 90.0  # to the axis: either end will do
            crops.append(np.clip(warp(item.image, m, height, width), 0, 255).astype(np.uint8))
            classes.append(item.cls)
            target = ((x - width / 2.0) / width, (y - height / 2.0) / height, turn / br.HEADING_UNIT_DEG)
            targets.append(target + ((np.log(item.box[2] / box[2]),) if cfg.hull else ()))
    if not crops:
        raise InputError(", ".join(cfg.data), f"the chips hold no item of class {', '.join(cfg.classes)}")
    return np.stack(crops), np.array(classes), np.array(targets, np.float32)


def train_refiner(cfg: RefineTrainConfig, crops: np.ndarray, classes: np.ndarray, targets: np.ndarray,
                  progress: Callable[[int, int, float], None] | None = None) -> RefineNet:
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    height, width, _ = cfg.crop
    net = RefineNet(height, width, targets.shape[1])
    y_all = torch.from_numpy(targets)
    counts = {c: int((classes == c).sum()) for c in set(classes.tolist())}
    weights = torch.tensor([1.0 / counts[c] for c in classes.tolist()])

    def loss_of(net: nn.Module, x: torch.Tensor, idx: torch.Tensor, mirrored: bool) -> torch.Tensor:
        y = y_all[idx].clone()
        if mirrored:  # across the axis: the centre's x and the turn change sign
            y[:, 0], y[:, 2] = -y[:, 0], -y[:, 2]
        return F.smooth_l1_loss(net(x), y, beta=0.01)

    return cd.fit(net, crops, weights, cfg.epochs, cfg.batch, cfg.lr, cfg.seed, loss_of, progress)


def export_refiner(net: RefineNet, out: Path, applies_to: list[str], training: dict, metrics: dict,
                   crop: tuple[int, int, float] = (br.CROP_PX, br.CROP_PX, br.FILL)) -> Path:
    from sitewatch.detect.export import export_graph

    height, width, fill = crop
    meta = {"format": br.FORMAT_TAG, "applies_to": json.dumps(sorted(applies_to)), "crop_px": str(height),
            "fill": repr(fill), "training": json.dumps(training), "metrics": json.dumps(metrics)}
    if width != height:
        meta["crop_w"] = str(width)
    return export_graph(net.eval(), torch.zeros(1, 3, height, width), Path(out), ["crops"], ["correction"],
                        {"crops": {0: "n"}, "correction": {0: "n"}}, meta)


def summary(cfg: RefineTrainConfig, classes: np.ndarray, seconds: float) -> dict:
    return {**asdict(cfg), "crops": int(len(classes)),
            "crops_per_class": {c: int((classes == c).sum()) for c in sorted(set(classes.tolist()))},
            "seconds": round(seconds, 1), "trained": time.strftime("%Y-%m-%d")}
