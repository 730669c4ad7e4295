"""Training the box refiner (needs the `train` extra: torch, onnx).

Each crop is cut nose-up around a box whose centre was moved off the item's true centre by
about as much as the detector's are (and whose size and heading were disturbed a little);
the targets are where the true centre falls in the crop and the turn from the disturbed
heading to the true axis. Every class is drawn equally often.

With `sun`, the refiner also takes where the shadows fall in each crop
(`box_refiner.sun_features`), from the sun the chip was rendered under; on a share of the
crops (SUN_UNKNOWN) it is given as unknown, so that it also works without one.
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

from sitewatch.detect.second_look import box_refiner as br
from sitewatch.detect.second_look.crops import nose_up_matrix, warp
from sitewatch.domain import STATES
from sitewatch.errors import InputError
from sitewatch.training import crop_data as cd
from sitewatch.training.export import export_graph

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
SUN_UNKNOWN = 0.2  # share of crops whose sun is withheld


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
    sun: bool = False  # the refiner also takes the sun (`box_refiner.sun_features`)
    # Only items in these states (empty: all). A refiner for one state runs once the state
    # is read (`DetectionModel.refine_by_state`), on boxes the catalogue's outline sized.
    states: tuple[str, ...] = ()
    members: int = 1  # networks trained from seeds seed, seed+1, ... whose answers are averaged

    @property
    def crop(self) -> tuple[int, int, float]:
        """(height, width, fill) of the crops."""
        return (br.HULL_CROP_PX, br.HULL_CROP_W, br.HULL_FILL) if self.hull else (br.CROP_PX, br.CROP_PX, br.FILL)


class Averaged(nn.Module):
    """The mean answer of several refiners: one file, one session at run time. Refiners
    trained from different seeds differ by up to 0.1 in air-defence AP50 on the same
    scenes; their mean is steadier than any one of them."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.sun = members[0].sun

    def forward(self, x: torch.Tensor, sun: torch.Tensor | None = None) -> torch.Tensor:
        return torch.stack([m(x, sun) for m in self.members]).mean(dim=0)


class RefineNet(nn.Module):
    """About 4 M multiply-adds per 48-pixel crop (a tile of 300 cars adds some 15% to the
    detector's time on it); the last features are flattened, not pooled, so where the item
    lies in the crop is kept. n_out: 3 (centre, turn) or 4 (and the length). With `sun`,
    the sun features join the flattened image features."""

    def __init__(self, height: int = br.CROP_PX, width: int = br.CROP_PX, n_out: int = 3, sun: bool = False):
        super().__init__()
        block = cd.conv_block
        self.sun = sun
        self.body = nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 32, 1), block(32, 64, 2),
                                  block(64, 64, 1), nn.Flatten())
        n_in = 64 * (height // 8) * (width // 8) + (3 if sun else 0)
        self.head = nn.Sequential(nn.Linear(n_in, 64), nn.ReLU(inplace=True), nn.Linear(64, n_out))

    def forward(self, x: torch.Tensor, sun: torch.Tensor | None = None) -> torch.Tensor:
        f = self.body((x - 127.0) / 128.0)
        return self.head(torch.cat([f, sun], dim=1) if self.sun else f)


def collect_crops(cfg: RefineTrainConfig,
                  progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(crops uint8 (N, H, W, 3), classes (N,), targets float32 (N, 3 or 4), sun features
    float32 (N, 3), zeros where unknown or withheld) from the chip folders."""
    rng = np.random.default_rng(cfg.seed)
    sun_rng = np.random.default_rng(cfg.seed + 1)  # its own stream: the crops stay those drawn without the sun
    height, width, fill = cfg.crop
    crops, classes, targets, suns = [], [], [], []
    per_class: dict[str, int] = {}
    for item in cd.items(cfg.data, cfg.gsd_m, cfg.seed, lambda cls, t: cls in cfg.classes, progress):
        if per_class.get(item.cls, 0) >= cfg.max_per_class or (cfg.states and STATES[item.state] not in cfg.states):
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
            known = cfg.sun and sun_rng.random() >= SUN_UNKNOWN
            suns.append(br.sun_features([m], item.sun if known else None)[0])
    if not crops:
        raise InputError(", ".join(cfg.data), f"the chips hold no item of class {', '.join(cfg.classes)}")
    if cfg.sun and not any(s[2] for s in suns):
        raise InputError(", ".join(cfg.data), "the chips do not record their sun (written before sitewatch "
                                              "recorded it); write them again with `sitewatch dataset`, or train "
                                              "without --sun")
    return np.stack(crops), np.array(classes), np.array(targets, np.float32), np.stack(suns)


def train_refiner(cfg: RefineTrainConfig, crops: np.ndarray, classes: np.ndarray, targets: np.ndarray,
                  suns: np.ndarray, progress: Callable[[int, int, float], None] | None = None) -> nn.Module:
    """One refiner, or with cfg.members > 1 the average of that many, each from its own
    seed (the first from cfg.seed, as a single refiner is)."""
    torch.set_num_threads(max(1, cfg.threads))
    if cfg.members <= 1:
        return _train_one(cfg, cfg.seed, crops, classes, targets, suns, progress)
    members = []
    for k in range(cfg.members):
        def member_progress(step: int, total: int, loss: float, k: int = k) -> None:
            if progress:
                progress(k * total + step, cfg.members * total, loss)
        members.append(_train_one(cfg, cfg.seed + k, crops, classes, targets, suns, member_progress))
    return Averaged(members).eval()


def _train_one(cfg: RefineTrainConfig, seed: int, crops: np.ndarray, classes: np.ndarray, targets: np.ndarray,
               suns: np.ndarray, progress: Callable[[int, int, float], None] | None) -> RefineNet:
    torch.manual_seed(seed)
    height, width, _ = cfg.crop
    net = RefineNet(height, width, targets.shape[1], cfg.sun)
    y_all = torch.from_numpy(targets)
    sun_all = torch.from_numpy(suns)
    counts = {c: int((classes == c).sum()) for c in set(classes.tolist())}
    weights = torch.tensor([1.0 / counts[c] for c in classes.tolist()])

    def loss_of(net: nn.Module, x: torch.Tensor, idx: torch.Tensor, mirrored: bool) -> torch.Tensor:
        y, sun = y_all[idx].clone(), sun_all[idx].clone()
        if mirrored:  # across the axis: the centre's x, the turn and the shadows' x change sign
            y[:, 0], y[:, 2], sun[:, 0] = -y[:, 0], -y[:, 2], -sun[:, 0]
        return F.smooth_l1_loss(net(x, sun), y, beta=0.01)

    return cd.fit(net, crops, weights, cfg.epochs, cfg.batch, cfg.lr, seed, loss_of, progress)


def export_refiner(net: nn.Module, out: Path, applies_to: list[str], training: dict, metrics: dict,
                   crop: tuple[int, int, float] = (br.CROP_PX, br.CROP_PX, br.FILL),
                   states: tuple[str, ...] = ()) -> Path:
    height, width, fill = crop
    meta = {"format": br.FORMAT_TAG, "applies_to": json.dumps(sorted(applies_to)), "crop_px": str(height),
            "fill": repr(fill), "training": json.dumps(training), "metrics": json.dumps(metrics)}
    if states:
        meta["applies_to_states"] = json.dumps(sorted(states))
    if width != height:
        meta["crop_w"] = str(width)
    if net.sun:
        return export_graph(net.eval(), (torch.zeros(1, 3, height, width), torch.zeros(1, 3)), Path(out),
                            ["crops", "sun_features"], ["correction"],
                            {"crops": {0: "n"}, "sun_features": {0: "n"}, "correction": {0: "n"}}, meta)
    return export_graph(net.eval(), torch.zeros(1, 3, height, width), Path(out), ["crops"], ["correction"],
                        {"crops": {0: "n"}, "correction": {0: "n"}}, meta)


def summary(cfg: RefineTrainConfig, classes: np.ndarray, seconds: float) -> dict:
    return {**asdict(cfg), "crops": int(len(classes)),
            "crops_per_class": {c: int((classes == c).sum()) for c in sorted(set(classes.tolist()))},
            "seconds": round(seconds, 1), "trained": time.strftime("%Y-%m-%d")}
