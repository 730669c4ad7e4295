"""Training the state reader (needs the `train` extra: torch, onnx).

Crops come from the same chip folders the detector trains on (`sitewatch dataset`), one per
item of a type with more than one state, cut nose-up from a box disturbed the way the
detector's boxes are off (centre, size, heading, and now and then the wrong end as the
nose), so the reader learns from what it will be shown. Every type-state cell is drawn
equally often, so a rare raised nose weighs as much as the many closed ones.
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

from sitewatch import equipment
from sitewatch.detect.second_look import state_reader as sr
from sitewatch.domain import STATES
from sitewatch.errors import InputError
from sitewatch.training import crop_data as cd
from sitewatch.training.export import export_graph


@dataclass
class StateTrainConfig:
    data: list[str]
    gsd_m: float = 0.5
    epochs: int = 12
    batch: int = 64
    lr: float = 3e-3
    crops_per_item: int = 2
    max_per_cell: int = 1500  # items per type-state cell, to bound memory and time
    threads: int = 2
    seed: int = 0


def stateful_types() -> dict[str, tuple[str, ...]]:
    return {t.name: t.states for t in equipment.CATALOGUE.values() if len(t.states) > 1}


def collect_crops(cfg: StateTrainConfig,
                  progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crops uint8 (N, C, C, 3), type names (N,), state indices (N,)) from the chip folders."""
    kinds = stateful_types()
    rng = np.random.default_rng(cfg.seed)
    crops, types, states = [], [], []
    per_cell: dict[tuple[str, int], int] = {}
    for item in cd.items(cfg.data, cfg.gsd_m, cfg.seed, lambda cls, t: t in kinds, progress):
        key = (item.type_name, item.state)
        if per_cell.get(key, 0) >= cfg.max_per_cell:
            continue
        per_cell[key] = per_cell.get(key, 0) + 1
        for _ in range(cfg.crops_per_item):
            box = cd.disturb(item.box, rng, cd.CENTRE_JITTER * item.box[2], cd.SIZE_JITTER, cd.HEADING_JITTER_DEG,
                             cd.WRONG_END)
            crops.append(np.clip(sr.crop(item.image, box), 0, 255).astype(np.uint8))
            types.append(item.type_name)
            states.append(item.state)
    if not crops:
        raise InputError(", ".join(cfg.data), "the chips hold no item of a type with more than one state")
    return np.stack(crops), np.array(types), np.array(states)


def _allowed_mask(types: np.ndarray) -> torch.Tensor:
    kinds = stateful_types()
    return torch.tensor([[s in kinds[t] for s in STATES] for t in types])


def train_reader(cfg: StateTrainConfig, crops: np.ndarray, types: np.ndarray, states: np.ndarray,
                 progress: Callable[[int, int, float], None] | None = None) -> nn.Module:
    """Train on the crops, each type-state cell drawn equally often; logits outside the
    item's own states are masked, so the reader learns to tell apart only what can differ."""
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    net = cd.ReaderNet(len(STATES))
    y_all = torch.from_numpy(states)
    allowed = _allowed_mask(types)
    cells: dict[tuple[str, int], int] = {}
    for key in zip(types.tolist(), states.tolist()):
        cells[key] = cells.get(key, 0) + 1
    weights = torch.tensor([1.0 / cells[k] for k in zip(types.tolist(), states.tolist())])

    def loss_of(net: nn.Module, x: torch.Tensor, idx: torch.Tensor, mirrored: bool) -> torch.Tensor:
        return F.cross_entropy(net(x).masked_fill(~allowed[idx], -1e4), y_all[idx])

    return cd.fit(net, crops, weights, cfg.epochs, cfg.batch, cfg.lr, cfg.seed, loss_of, progress)


def export_reader(net: nn.Module, out: Path, applies_to: list[str], training: dict, metrics: dict) -> Path:
    meta = {"format": sr.FORMAT_TAG, "states": json.dumps(list(STATES)), "applies_to": json.dumps(sorted(applies_to)),
            "crop_px": str(sr.CROP_PX), "training": json.dumps(training), "metrics": json.dumps(metrics)}
    return export_graph(net.eval(), torch.zeros(1, 3, sr.CROP_PX, sr.CROP_PX), Path(out), ["crops"], ["state"],
                        {"crops": {0: "n"}, "state": {0: "n"}}, meta)


def summary(cfg: StateTrainConfig, crops: np.ndarray, types: np.ndarray, states: np.ndarray, seconds: float) -> dict:
    counts: dict[str, int] = {}
    for t, s in zip(types.tolist(), states.tolist()):
        counts[f"{t} / {STATES[s]}"] = counts.get(f"{t} / {STATES[s]}", 0) + 1
    return {**asdict(cfg), "crops": int(len(crops)),
            "crops_per_cell": counts, "seconds": round(seconds, 1), "trained": time.strftime("%Y-%m-%d")}
