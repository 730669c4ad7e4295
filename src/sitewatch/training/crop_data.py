"""Training material for the second-look models (state reader, box refiner): the items of
chip folders, boxes disturbed the way the detector's are off, and photometric jitter.

Needs torch (the training side only).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sitewatch.domain import CLASSES
from sitewatch.errors import InputError
from sitewatch.geo.sun import SunPosition
from sitewatch.training import targets as tg

# How the readers' crops are disturbed: the detector's centres are off by about 1 m on small
# items and a few per cent of the length on large ones; its headings by a few degrees.
CENTRE_JITTER = 0.06  # share of the length, sd along and across
SIZE_JITTER = 0.08
HEADING_JITTER_DEG = 6.0
WRONG_END = 0.15  # share of crops turned tail-up (a detector heading 180 degrees off)


@dataclass(frozen=True)
class Item:
    image: np.ndarray  # the whole chip at the model GSD
    box: np.ndarray  # (5,) pixel box
    type_name: str  # "" when the label does not say
    cls: str
    state: int
    sun: SunPosition | None = None  # as seen on the chip; None for chips written without it


def items(data: list[str], gsd_m: float, seed: int, wanted: Callable[[str, str], bool],
          progress: Callable[[int, int], None] | None = None) -> Iterator[Item]:
    """The labelled items of our chip folders (meta/*.json) for which wanted(class, type),
    chips in a seeded random order."""
    chips = []
    for d in data:
        chips += [c for c in tg.load_chip_dir(Path(d), gsd_m) if c[2] == "meta"]
    if not chips:
        raise InputError(", ".join(data), "no sitewatch chips (meta/*.json) to cut crops from")
    order = np.random.default_rng(seed).permutation(len(chips))
    for n, k in enumerate(order):
        image_path, label_path, kind = chips[int(k)]
        meta = json.loads(Path(label_path).read_text())
        if any(wanted(o["cls"], o["type"]) for o in meta["objects"]):
            sample = tg.read_sample(image_path, label_path, kind, gsd_m)
            sun = (SunPosition(float(meta["sun_azimuth_deg"]), float(meta["sun_elevation_deg"]))
                   if "sun_azimuth_deg" in meta else None)
            for box, c, t, s in zip(sample.boxes, sample.cls, sample.type, sample.state):
                name = tg.TYPES[t] if t >= 0 else ""
                if wanted(CLASSES[c], name):
                    yield Item(sample.image, box, name, CLASSES[c], int(s), sun)
        if progress:
            progress(n + 1, len(order))


def disturb(box: np.ndarray, rng: np.random.Generator, centre_sd_px: float, size_sd: float, heading_sd_deg: float,
            wrong_end: float, across_sd_px: float | None = None) -> np.ndarray:
    """A copy of a pixel box with its centre moved (sd along the axis, and across it:
    `across_sd_px` when given, else the same), its size scaled, its heading turned, and with
    probability `wrong_end` its nose and tail swapped."""
    cx, cy, length, width, heading = box
    if across_sd_px is None:
        along, across = rng.normal(0, centre_sd_px, 2)
    else:
        along, across = rng.normal(0, centre_sd_px), rng.normal(0, across_sd_px)
    h = np.radians(heading)
    cx += along * np.sin(h) + across * np.cos(h)
    cy += -along * np.cos(h) + across * np.sin(h)
    length *= 1 + rng.normal(0, size_sd)
    width *= 1 + rng.normal(0, size_sd)
    heading += rng.normal(0, heading_sd_deg) + (180.0 if rng.random() < wrong_end else 0.0)
    return np.array([cx, cy, length, width, heading % 360.0])


def photometric(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per-crop contrast, brightness, colour balance, grey and noise (x: (B, 3, H, W) 0..255),
    the ranges of the detector's own augmentation."""
    b = x.shape[0]

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, *shape, generator=gen)

    x = x * u(0.7, 1.3, 1, 1, 1) + u(-30, 30, 1, 1, 1)
    x = x * u(0.85, 1.15, 3, 1, 1)
    grey = (torch.rand(b, generator=gen) < 0.15).view(b, 1, 1, 1)
    x = torch.where(grey, x.mean(dim=1, keepdim=True).expand_as(x), x)
    x = x + torch.randn(x.shape, generator=gen) * u(0, 6, 1, 1, 1)
    return x.clamp(0, 255)


def fit(net: torch.nn.Module, crops: np.ndarray, weights: torch.Tensor, epochs: int, batch: int, lr: float, seed: int,
        loss_of: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, bool], torch.Tensor],
        progress: Callable[[int, int, float], None] | None = None) -> torch.nn.Module:
    """Train `net` on uint8 (N, C, C, 3) crops: batches drawn with `weights` (replacement),
    mirrored across the axis half the time (a legal view of any item), photometric jitter,
    AdamW with a one-cycle schedule. loss_of(net, x, idx, mirrored) gives a batch's loss."""
    gen = torch.Generator().manual_seed(seed)
    x_all = torch.from_numpy(crops).permute(0, 3, 1, 2)
    total = epochs * max(1, len(crops) // batch)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total)
    net.train()
    running = None
    for step in range(total):
        idx = torch.multinomial(weights, batch, replacement=True, generator=gen)
        x = x_all[idx].float()
        mirrored = torch.rand(1, generator=gen).item() < 0.5
        if mirrored:
            x = x.flip(3)
        loss = loss_of(net, photometric(x, gen), idx, mirrored)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if progress:
            progress(step + 1, total, running)
    net.eval()
    return net


def conv_block(cin: int, cout: int, stride: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False), torch.nn.BatchNorm2d(cout),
                               torch.nn.ReLU(inplace=True))


class ReaderNet(torch.nn.Module):
    """The readers' classifier (state, type): about 120k parameters and 26 M multiply-adds
    per 112-pixel crop, against some 9,000 M for the detector on a 1024-pixel tile. Down to
    a quarter early (the crops' detail is in shapes a few pixels across, which two strided
    3x3 layers keep), then stages at 1/4 and 1/8; mean and max pooling at the end, so a
    detail at one end of the crop counts wherever it falls."""

    def __init__(self, n_outputs: int):
        super().__init__()
        self.body = torch.nn.Sequential(conv_block(3, 16, 2), conv_block(16, 32, 2), conv_block(32, 32, 1),
                                        conv_block(32, 64, 2), conv_block(64, 64, 1), conv_block(64, 96, 2))
        self.head = torch.nn.Linear(192, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body((x - 127.0) / 128.0)
        return self.head(torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1))
