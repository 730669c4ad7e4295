"""Smooth random fields and palettes for the ground, generated at low resolution and
upsampled, so a 4096 x 4096 scene costs a handful of cv2.resize calls.

Fields are scaled in metres (a feature size), not pixels, so the same site looks the same
at any GSD."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


def field(rng: np.random.Generator, shape: tuple[int, int], gsd_m: float, scale_m: float) -> np.ndarray:
    """Zero-mean, unit-ish variance smooth noise with features about scale_m across."""
    h, w = shape
    step = max(scale_m / gsd_m, 1.0)  # pixels per lattice cell
    lh, lw = max(int(math.ceil(h / step)) + 3, 3), max(int(math.ceil(w / step)) + 3, 3)
    lo = rng.standard_normal((lh, lw), dtype=np.float32)
    if step <= 1.0:
        return lo[:h, :w].copy()
    # Output pixel (x, y) samples the lattice at (x, y) / step: exact scale, and the cost is
    # the output's size however coarse the lattice.
    m = np.array([[1.0 / step, 0.0, 0.0], [0.0, 1.0 / step, 0.0]])
    return cv2.warpAffine(lo, m, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)


def fbm(rng: np.random.Generator, shape: tuple[int, int], gsd_m: float, scales_m: tuple[float, ...],
        weights: tuple[float, ...] | None = None) -> np.ndarray:
    """A sum of fields at several scales (fractal-like variation), normalised to unit std.

    Summed on a grid k times coarser (k up to 4, keeping at least 3 pixels per cell of the
    finest scale) and upsampled once: the field is smooth at that scale, and this costs a
    sixteenth of summing at full resolution."""
    weights = weights or tuple(1.0 / (i + 1) for i in range(len(scales_m)))
    h, w = shape
    k = max(1, min(4, int(min(scales_m) / gsd_m / 3.0)))
    lh, lw = -(-h // k) + 1, -(-w // k) + 1
    out = np.zeros((lh, lw), np.float32)
    for s, wgt in zip(scales_m, weights):
        out += field(rng, (lh, lw), gsd_m * k, s) * np.float32(wgt)
    sd = float(out.std()) or 1.0
    out *= np.float32(1.0 / sd)
    if k == 1:
        return out[:h, :w]
    return cv2.resize(out, (lw * k, lh * k), interpolation=cv2.INTER_LINEAR)[:h, :w]


def mix(a: np.ndarray | tuple, b: np.ndarray | tuple, t: np.ndarray) -> np.ndarray:
    """Per-pixel blend of two colours (t in 0..1, shape (h, w)) -> (h, w, 3) float32."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    t3 = t[..., None]
    return a * (1.0 - t3) + b * t3


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class Palette:
    soil: tuple[float, float, float]
    soil2: tuple[float, float, float]
    vegetation: tuple[float, float, float]
    concrete: tuple[float, float, float]
    asphalt: tuple[float, float, float]
    gravel: tuple[float, float, float]
    water: tuple[float, float, float]
    water_shallow: tuple[float, float, float]
    marking_white: tuple[float, float, float]
    marking_yellow: tuple[float, float, float]
    veg_cover: float  # fraction of open land under vegetation


def _j(rng: np.random.Generator, rgb: tuple[float, float, float], amount: float) -> tuple[float, float, float]:
    d = rng.normal(0.0, amount, 3) * 0.3 + rng.normal(0.0, amount)
    return tuple(float(np.clip(c + x, 8, 245)) for c, x in zip(rgb, d))  # type: ignore[return-value]


_SOILS = [((170, 158, 134), (146, 132, 110)),  # dry Mediterranean soil
          ((156, 142, 120), (130, 116, 96)),  # brown
          ((184, 176, 158), (160, 152, 136)),  # pale limestone dust
          ((160, 136, 114), (134, 112, 94)),  # faded terra rossa
          ((146, 144, 130), (120, 120, 108))]  # grey steppe
_VEG = [(112, 116, 90), (124, 122, 96), (100, 108, 84), (130, 126, 100), (92, 100, 80)]
_WATER = [((34, 62, 78), (64, 104, 108)), ((28, 52, 72), (60, 96, 110)), ((40, 70, 74), (80, 112, 104)),
          ((24, 46, 66), (52, 86, 100))]


def palette(rng: np.random.Generator) -> Palette:
    s1, s2 = _SOILS[int(rng.integers(len(_SOILS)))]
    w1, w2 = _WATER[int(rng.integers(len(_WATER)))]
    conc = float(rng.uniform(150, 200))
    tint = rng.normal(0.0, 4.0, 3)
    asph = float(rng.uniform(62, 100))
    return Palette(
        soil=_j(rng, s1, 8), soil2=_j(rng, s2, 8), vegetation=_j(rng, _VEG[int(rng.integers(len(_VEG)))], 6),
        concrete=tuple(float(conc + t) for t in tint), asphalt=tuple(float(asph + t * 0.5) for t in tint),
        gravel=_j(rng, (150, 144, 132), 10), water=_j(rng, w1, 4), water_shallow=_j(rng, w2, 6),
        marking_white=(226.0, 226.0, 220.0), marking_yellow=_j(rng, (206, 172, 70), 8),
        veg_cover=float(rng.uniform(0.1, 0.45)))
