"""Training the type reader (needs the `train` extra: torch, onnx).

Crops come from the chip folders the detector trains on, one or more per item of the chosen
classes, cut nose-up from a box disturbed the way the detector's boxes are off. Every type
is drawn equally often, so the reader's logits carry no prior of their own; the catalogue's
size likelihood is added to them at run time.
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

from sitewatch.detect.second_look import type_reader as tr
from sitewatch.detect.second_look.crops import nose_up_crop
from sitewatch.errors import InputError
from sitewatch.training import crop_data as cd
from sitewatch.training.export import export_graph

CLASSES_READ = ("aircraft", "helicopter", "ship", "air_defence")


@dataclass
class TypeTrainConfig:
    data: list[str]
    types: tuple[str, ...]  # the detector's types, in its order
    type_classes: tuple[str, ...]  # the class of each
    classes: tuple[str, ...] = CLASSES_READ
    gsd_m: float = 0.5
    epochs: int = 8
    batch: int = 64
    lr: float = 3e-3
    crops_per_item: int = 2
    max_per_type: int = 1500  # items per type, to bound memory and time
    threads: int = 2
    seed: int = 0
    # The crop: crop_px along the item's axis, crop_w across it (None: square), the box's
    # longer side spanning `fill` of crop_px (type_reader's CROP_PX and FILL, or its HULL_*).
    crop_px: int = tr.CROP_PX
    crop_w: int | None = None
    fill: float = tr.FILL


def collect_crops(cfg: TypeTrainConfig,
                  progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(crops uint8 (N, crop_px, crop_w or crop_px, 3), type indices (N,)) from the chip folders."""
    rng = np.random.default_rng(cfg.seed)
    index = {t: i for i, t in enumerate(cfg.types)}
    crops, labels = [], []
    per_type: dict[str, int] = {}
    for item in cd.items(cfg.data, cfg.gsd_m, cfg.seed, lambda cls, t: cls in cfg.classes and t in index, progress):
        if per_type.get(item.type_name, 0) >= cfg.max_per_type:
            continue
        per_type[item.type_name] = per_type.get(item.type_name, 0) + 1
        for _ in range(cfg.crops_per_item):
            box = cd.disturb(item.box, rng, cd.CENTRE_JITTER * item.box[2], cd.SIZE_JITTER, cd.HEADING_JITTER_DEG,
                             cd.WRONG_END)
            crop = nose_up_crop(item.image, box, cfg.crop_px, cfg.fill, cfg.crop_w)
            crops.append(np.clip(crop, 0, 255).astype(np.uint8))
            labels.append(index[item.type_name])
    if not crops:
        raise InputError(", ".join(cfg.data), f"the chips hold no typed item of class {', '.join(cfg.classes)}")
    return np.stack(crops), np.array(labels)


def same_class_mask(type_classes: tuple[str, ...]) -> torch.Tensor:
    """(T, T): which types compete with each type (those of its class)."""
    return torch.tensor([[a == b for b in type_classes] for a in type_classes])


def train_reader(cfg: TypeTrainConfig, crops: np.ndarray, labels: np.ndarray,
                 progress: Callable[[int, int, float], None] | None = None) -> nn.Module:
    """Train on the crops, each type drawn equally often; logits of other classes' types
    are masked, so the reader learns to tell apart only the look-alikes of one class."""
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    net = cd.ReaderNet(len(cfg.types))
    y_all = torch.from_numpy(labels)
    allowed = same_class_mask(cfg.type_classes)[y_all]
    counts = np.bincount(labels, minlength=len(cfg.types))
    weights = torch.tensor(1.0 / counts[labels])

    def loss_of(net: nn.Module, x: torch.Tensor, idx: torch.Tensor, mirrored: bool) -> torch.Tensor:
        return F.cross_entropy(net(x).masked_fill(~allowed[idx], -1e4), y_all[idx])

    return cd.fit(net, crops, weights, cfg.epochs, cfg.batch, cfg.lr, cfg.seed, loss_of, progress)


def export_reader(net: nn.Module, cfg: TypeTrainConfig, out: Path, applies_to: list[str], with_head: list[str],
                  training: dict, metrics: dict) -> Path:
    meta = {"format": tr.FORMAT_TAG, "types": json.dumps(list(cfg.types)), "applies_to": json.dumps(sorted(applies_to)),
            "with_head": json.dumps(sorted(with_head)), "crop_px": str(cfg.crop_px), "fill": str(cfg.fill),
            "training": json.dumps(training), "metrics": json.dumps(metrics)}
    if cfg.crop_w:
        meta["crop_w"] = str(cfg.crop_w)
    return export_graph(net.eval(), torch.zeros(1, 3, cfg.crop_px, cfg.crop_w or cfg.crop_px), Path(out), ["crops"],
                        ["type"], {"crops": {0: "n"}, "type": {0: "n"}}, meta)


def summary(cfg: TypeTrainConfig, labels: np.ndarray, seconds: float) -> dict:
    counts = np.bincount(labels, minlength=len(cfg.types))
    return {**{k: v for k, v in asdict(cfg).items() if k not in ("types", "type_classes")}, "crops": int(len(labels)),
            "crops_per_type": {t: int(n) for t, n in zip(cfg.types, counts) if n},
            "seconds": round(seconds, 1), "trained": time.strftime("%Y-%m-%d")}
