"""Training the catalogue check (needs the `train` extra: torch, onnx).

The check learns "a type the catalogue knows" from
- the simulator's aircraft (every one a catalogue type), cut from chip folders;
- real cut-outs of catalogue types (Il-76, Su-24M, Su-25, Su-34, Su-35, Tu-22M3) pasted on
  real ground (`evaluation.cutouts`);
and "a type it lacks" from
- the real civil aircraft of the Airbus airports (training side of `evaluation.realdata`);
- real cut-outs of Russian types the catalogue lacks (A-50, MiG-29, MiG-31, Tu-160, Tu-95).
Both answers thus have real pixels, and both have military aircraft, so that "real" or
"military" alone does not decide it. Every crop is turned to a random heading (the real
labels have none, and a check that learned "nose-up means simulated" would be useless), and
the four sources are drawn in set shares (`SHARES`).

The threshold is chosen on held-out crops: the lowest probability at which no more than
`MAX_FALSE_UNKNOWN_SIMULATED` of the held-out simulated aircraft and no more than
`MAX_FALSE_UNKNOWN_REAL` of the validation side's real catalogue cut-outs would lose their
type. The validation sides (Airbus airports, cut-outs) are measured at it and written into
the check's metrics; the development sides are left to the benchmarks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sitewatch.detect.second_look import catalogue_check as cc
from sitewatch.detect.second_look.crops import nose_up_crop
from sitewatch.errors import InputError
from sitewatch.evaluation import cutouts as co
from sitewatch.evaluation.realdata import real_images
from sitewatch.training import crop_data as cd
from sitewatch.training.export import export_graph

# Shares of each batch: (outside the catalogue?, source).
# The real catalogue cut-outs are the few real pixels of "known" (about 23 airframes on the
# training side), so they weigh more than their number.
SHARES = {(False, "simulated"): 0.25, (False, "cut-outs"): 0.25, (True, "airbus"): 0.35, (True, "cut-outs"): 0.15}
# The most of the held-out simulated aircraft, and of the held-out real catalogue cut-outs,
# that the chosen threshold may strip of their type. The real figure is looser: the check
# has seen few real airframes of catalogue types, and a stricter one cost most civil
# aircraft their `unknown` on the validation side.
MAX_FALSE_UNKNOWN_SIMULATED = 0.02
MAX_FALSE_UNKNOWN_REAL = 0.2
GROUND_PX = 192  # side of the real ground a cut-out is pasted on (96 m at 0.5 m)


@dataclass
class CatalogueTrainConfig:
    data: list[str]
    realdata: str
    gsd_m: float = 0.5
    max_simulated: int = 5000  # simulated aircraft cut (one crop each)
    airbus_crops: int = 2  # crops per real civil aircraft
    pastes: int = 40  # pastes per training cut-out (held-out ones: a quarter)
    epochs: int = 10
    batch: int = 64
    lr: float = 3e-3
    threads: int = 2
    seed: int = 0
    counts: dict = field(default_factory=dict)  # filled in: crops per side and source


@dataclass
class CatalogueCrops:
    """Nose-up crops, uint8 (N, C, C, 3), each with whether it is outside the catalogue,
    its source, and whether it is held out."""

    crops: np.ndarray
    outside: np.ndarray
    source: np.ndarray
    held_out: np.ndarray

    def take(self, keep: np.ndarray) -> CatalogueCrops:
        return CatalogueCrops(self.crops[keep], self.outside[keep], self.source[keep], self.held_out[keep])


class _Collector:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.crops: list[np.ndarray] = []
        self.rows: list[tuple[bool, str, bool]] = []

    def add(self, image: np.ndarray, centre: tuple[float, float], side_px: float, outside: bool, source: str,
            held_out: bool) -> None:
        """One crop at a random heading and a sensor-like blur, scaled to `side_px`."""
        box = np.array([centre[0], centre[1], side_px, side_px, self.rng.uniform(0.0, 360.0)])
        crop = nose_up_crop(image, box, cc.CROP_PX, cc.FILL)
        sigma = self.rng.uniform(0.0, 1.0)
        if sigma > 0.3:
            crop = cv2.GaussianBlur(crop, (0, 0), sigma)
        self.crops.append(np.clip(crop, 0, 255).astype(np.uint8))
        self.rows.append((outside, source, held_out))

    def result(self) -> CatalogueCrops:
        outside, source, held = zip(*self.rows)
        return CatalogueCrops(np.stack(self.crops), np.array(outside), np.array(source), np.array(held))


def collect_crops(cfg: CatalogueTrainConfig, progress: Callable[[int, int], None] | None = None) -> CatalogueCrops:
    """The crops of all four sources: training sides for learning, validation sides (and one
    simulated item in seven) held out."""
    rng = np.random.default_rng(cfg.seed)
    root = Path(cfg.realdata)
    got = _Collector(rng)
    steps = 3
    for n, item in enumerate(cd.items(cfg.data, cfg.gsd_m, cfg.seed, lambda c, t: c == "aircraft" and bool(t))):
        if n >= cfg.max_simulated:
            break
        length, width = item.box[2], item.box[3]
        got.add(item.image, (item.box[0], item.box[1]), max(length, width) * rng.uniform(0.9, 1.1), False,
                "simulated", n % 7 == 0)
    if progress:
        progress(1, steps)
    for split, held in (("train", False), ("val", True)):
        for image in real_images("airbus", root, split=split):
            rgb = _rgb(image.path)
            for box in image.boxes:
                for _ in range(cfg.airbus_crops if not held else 1):
                    # an axis-aligned label is up to 1.4 times the aircraft's longer side
                    got.add(rgb, (box[0], box[1]), max(box[2], box[3]) * rng.uniform(0.7, 1.0), True, "airbus", held)
    if progress:
        progress(2, steps)
    for split, held in (("train", False), ("val", True)):
        ground = co.bare_ground(real_images("airbus", root, split=split), GROUND_PX, rng)
        for cutout in co.military_cutouts(root, split=split):
            for _ in range(cfg.pastes if not held else max(1, cfg.pastes // 4)):
                image, box = _pasted(cutout, next(ground), cfg.gsd_m, rng)
                got.add(image, (box[0], box[1]), max(box[2], box[3]) * rng.uniform(0.7, 1.0), not cutout.in_catalogue,
                        "cut-outs", held)
    if progress:
        progress(3, steps)
    found = got.result()
    for outside in (False, True):
        for source in ("simulated", "airbus", "cut-outs"):
            for held, word in ((False, "train"), (True, "held out")):
                k = int(((found.outside == outside) & (found.source == source) & (found.held_out == held)).sum())
                if k:
                    cfg.counts[f"{'outside' if outside else 'catalogue'} {source} {word}"] = k
    for (outside, source) in SHARES:
        if not ((found.outside == outside) & (found.source == source) & ~found.held_out).any():
            raise InputError(cfg.realdata if source != "simulated" else ", ".join(cfg.data),
                             f"no {source} crops {'outside' if outside else 'of'} the catalogue to learn from")
    return found


def _rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(str(path), "cannot read image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32)


def _pasted(cutout: co.Cutout, ground: np.ndarray, gsd_m: float, rng: np.random.Generator):
    """The cut-out at about `gsd_m` (sized within 10%), on the ground at a random place
    near the middle, heading and sun."""
    aircraft = co.read_cutout(cutout, gsd_m / rng.uniform(0.9, 1.1))
    centre = tuple(GROUND_PX / 2 + rng.uniform(-8, 8, 2))
    return co.paste(ground, aircraft, centre, rng.uniform(0, 360), rng.uniform(0, 360), rng.uniform(20, 80), gsd_m,
                    rng.uniform(*co.MTF_SIGMA_PX))


def train_check(cfg: CatalogueTrainConfig, detector_classes: tuple[str, ...], found: CatalogueCrops,
                progress: Callable[[int, int, float], None] | None = None) -> nn.Module:
    """One logit per detector class, the aircraft one trained; sources drawn in `SHARES`."""
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    train = found.take(~found.held_out)
    net = cd.ReaderNet(len(detector_classes))
    column = detector_classes.index("aircraft")
    y_all = torch.from_numpy(train.outside.astype(np.float32))
    weights = np.zeros(len(train.outside))
    for (outside, source), share in SHARES.items():
        cell = (train.outside == outside) & (train.source == source)
        weights[cell] = share / cell.sum()

    def loss_of(net: nn.Module, x: torch.Tensor, idx: torch.Tensor, mirrored: bool) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(net(x)[:, column], y_all[idx])

    return cd.fit(net, train.crops, torch.from_numpy(weights), cfg.epochs, cfg.batch, cfg.lr, cfg.seed, loss_of,
                  progress)


def outside_probability(net: nn.Module, detector_classes: tuple[str, ...], crops: np.ndarray) -> np.ndarray:
    """The trained network's probability of "outside the catalogue" for uint8 crops."""
    column = detector_classes.index("aircraft")
    out = []
    with torch.no_grad():
        for k in range(0, len(crops), 256):
            x = torch.from_numpy(crops[k:k + 256]).permute(0, 3, 1, 2).float()
            out.append(torch.sigmoid(net(x)[:, column]).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def choose_threshold(p: np.ndarray, found: CatalogueCrops) -> float:
    """The lowest probability (0.5 to 0.99) at which at most MAX_FALSE_UNKNOWN_SIMULATED of
    the held-out simulated aircraft and MAX_FALSE_UNKNOWN_REAL of the held-out real
    catalogue cut-outs are called outside the catalogue."""
    sim = p[found.held_out & (found.source == "simulated")]
    real = p[found.held_out & ~found.outside & (found.source == "cut-outs")]
    if not len(sim) or not len(real):
        raise InputError("held-out crops", "no held-out simulated aircraft or real catalogue cut-outs to choose "
                                           "the threshold on")
    t = max(np.quantile(sim, 1.0 - MAX_FALSE_UNKNOWN_SIMULATED), np.quantile(real, 1.0 - MAX_FALSE_UNKNOWN_REAL))
    return float(min(0.99, max(0.5, t + 1e-4)))


def held_out_metrics(p: np.ndarray, found: CatalogueCrops, threshold: float) -> dict:
    """Per held-out source and side: the share called outside the catalogue at `threshold`."""
    out: dict = {"threshold": round(threshold, 4)}
    for outside in (False, True):
        for source in ("simulated", "airbus", "cut-outs"):
            cell = found.held_out & (found.outside == outside) & (found.source == source)
            if cell.any():
                key = f"{'outside' if outside else 'catalogue'} {source}: called outside"
                out[key] = [round(float((p[cell] >= threshold).mean()), 4), int(cell.sum())]
    return out


def export_check(net: nn.Module, out: Path, detector_classes: tuple[str, ...], threshold: float, training: dict,
                 metrics: dict) -> Path:
    meta = {"format": cc.FORMAT_TAG, "classes": json.dumps(list(detector_classes)),
            "applies_to": json.dumps(["aircraft"]), "crop_px": str(cc.CROP_PX), "fill": str(cc.FILL),
            "threshold": f"{threshold:.4f}", "training": json.dumps(training), "metrics": json.dumps(metrics)}
    return export_graph(net.eval(), torch.zeros(1, 3, cc.CROP_PX, cc.CROP_PX), Path(out), ["crops"], ["outside"],
                        {"crops": {0: "n"}, "outside": {0: "n"}}, meta)


def summary(cfg: CatalogueTrainConfig, seconds: float) -> dict:
    return {**asdict(cfg), "shares": {f"{'outside' if o else 'catalogue'} {s}": v for (o, s), v in SHARES.items()},
            "crops": int(sum(cfg.counts.values())), "seconds": round(seconds, 1), "trained": time.strftime("%Y-%m-%d")}
