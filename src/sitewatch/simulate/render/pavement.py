"""Paved and prepared surfaces: apron concrete, runways, taxiways, helipads, parking,
gravel pads, each with the markings and wear an analyst expects to see."""

from __future__ import annotations

import cv2
import numpy as np

from sitewatch.domain import SiteGrid
from sitewatch.simulate.render.textures import Palette, smoothstep
from sitewatch.simulate.render.zones import Frame, frame_coords, paint


def _line(d: np.ndarray, half_w: float, gsd: float) -> np.ndarray:
    """Anti-aliased cover of a line |d| <= half_w (d in metres), at least a third of a pixel."""
    hw = max(half_w, gsd * 0.35)
    return np.clip((hw - np.abs(d)) / gsd + 0.5, 0.0, 1.0) * min(1.0, half_w / (gsd * 0.35))


def _hash01(i: np.ndarray, j: np.ndarray, seed: int) -> np.ndarray:
    """A repeatable 0..1 value per integer cell (slab tones, stains)."""
    h = (i.astype(np.int64) * 73856093) ^ (j.astype(np.int64) * 19349663) ^ (seed * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h ^ (h >> 16)) & 0xFFFF).astype(np.float32) / 65535.0


def concrete(img, grid: SiteGrid, win, cover, f: Frame, pal: Palette, mid: np.ndarray, fine: np.ndarray,
             seed: int, slab_m: float, tone: float = 1.0) -> None:
    """Concrete slabs aligned with the zone: per-slab tone, dark joints, oil stains, wear."""
    a, b = frame_coords(grid, win, f)
    ia, ib = np.floor(a / slab_m), np.floor(b / slab_m)
    slab = _hash01(ia, ib, seed) - 0.5
    # Repaired or re-laid patches: one block of 4 x 4 slabs in eight is a different pour.
    patch = _hash01(np.floor(ia / 4), np.floor(ib / 4), seed + 1)
    slab = slab + np.where(patch > 0.875, (patch - 0.9375) * 4.0, 0.0)
    g = grid.gsd_m
    ja = _line(a - slab_m * np.round(a / slab_m), 0.08, g)  # joints at every slab edge
    jb = _line(b - slab_m * np.round(b / slab_m), 0.08, g)
    joints = np.maximum(ja, jb)
    m = mid[win]
    stains = smoothstep(2.2, 3.2, m) * 0.25  # oil and fuel stains on about one percent of the surface
    lum = tone * (1.0 + 0.035 * slab + 0.025 * fine[win] + 0.03 * mid[win]) * (1.0 - 0.13 * joints) * (1.0 - stains)
    col = np.asarray(pal.concrete, np.float32) * lum[..., None]
    paint(img, win, cover, col)


def asphalt(img, win, cover, pal: Palette, mid: np.ndarray, fine: np.ndarray, tone: float = 1.0) -> None:
    lum = tone * (1.0 + 0.06 * mid[win] + 0.05 * fine[win])
    paint(img, win, cover, np.asarray(pal.asphalt, np.float32) * lum[..., None])


def gravel(img, win, cover, pal: Palette, mid: np.ndarray, fine: np.ndarray) -> None:
    lum = 1.0 + 0.06 * mid[win] + 0.12 * fine[win]
    paint(img, win, cover, np.asarray(pal.gravel, np.float32) * lum[..., None])


def runway(img, grid: SiteGrid, win, cover, f: Frame, pal: Palette, mid, fine, seed: int, ends: tuple[bool, bool],
           paved_concrete: bool) -> None:
    """Runway surface with edge lines, centreline dashes, threshold bars, aiming points and
    touchdown-zone marks, and rubber deposits where wheels touch down."""
    if paved_concrete:
        concrete(img, grid, win, cover, f, pal, mid, fine, seed, 7.5, tone=0.92)
    else:
        asphalt(img, win, cover, pal, mid, fine)
    a, b = frame_coords(grid, win, f)
    g = grid.gsd_m
    half_l, half_w = f.length / 2, f.width / 2
    white = np.zeros_like(a)
    white = np.maximum(white, _line(np.abs(b) - (half_w - 1.5), 0.45, g))  # edge lines
    dash = ((a + half_l) % 50.0) < 30.0  # 30 m dashes, 20 m gaps
    white = np.maximum(white, _line(b, 0.45, g) * dash)
    rubber = np.zeros_like(a)
    for k, present in enumerate(ends):
        if not present:
            continue
        s = 1.0 if k == 0 else -1.0  # distance from this end, inwards
        d = half_l - s * a
        near = (d > 6.0) & (d < 36.0)
        bars = (np.abs(b) < half_w - 3.0) & (np.abs(np.abs(b) - 1.5) > 1.5)
        keys = (np.abs(((np.abs(b) - 3.0) % 3.6) - 1.8) < 0.9)
        white = np.maximum(white, (near & bars & keys).astype(np.float32))
        aim = (d > 300.0) & (d < 345.0) & (np.abs(np.abs(b) - half_w * 0.45) < 4.5)
        white = np.maximum(white, aim.astype(np.float32))
        for t in (150.0, 450.0, 600.0):  # touchdown zone pairs
            tz = (d > t) & (d < t + 22.5) & (np.abs(np.abs(b) - half_w * 0.4) < 1.0)
            white = np.maximum(white, tz.astype(np.float32))
        rubber = np.maximum(rubber, smoothstep(100.0, 250.0, d) * (1.0 - smoothstep(500.0, 800.0, d))
                            * (1.0 - smoothstep(half_w * 0.15, half_w * 0.45, np.abs(b))))
    paint(img, win, cover * white * 0.92, pal.marking_white)
    dark = rubber * np.clip(0.3 + 0.15 * mid[win] + 0.1 * fine[win], 0.0, 0.6)
    paint(img, win, cover * dark, (38.0, 38.0, 40.0))


def taxiway(img, grid: SiteGrid, win, cover, f: Frame, pal: Palette, mid, fine) -> None:
    asphalt(img, win, cover, pal, mid, fine, tone=1.04)
    a, b = frame_coords(grid, win, f)
    g = grid.gsd_m
    yellow = np.maximum(_line(b, 0.3, g), _line(np.abs(b) - (f.width / 2 - 1.2), 0.22, g))
    paint(img, win, cover * yellow * 0.9, pal.marking_yellow)


def tyre_marks(img, grid: SiteGrid, win, cover, seed: int) -> None:
    """Scuffs where wheels turned: faint dark arcs, a few per hectare."""
    rs, cs = win
    h, w = rs.stop - rs.start, cs.stop - cs.start
    g = grid.gsd_m
    rng = np.random.default_rng([seed, 0x7E4])
    n = int(h * w * g * g / 2500.0 * rng.uniform(0.3, 1.0))
    if n == 0:
        return
    m = np.zeros((h, w), np.uint8)
    for _ in range(min(n, 400)):
        c = (int(rng.uniform(0, w) * 16), int(rng.uniform(0, h) * 16))
        r = float(rng.uniform(8, 30)) / g
        start = float(rng.uniform(0, 360))
        cv2.ellipse(m, c, (int(r * 16), int(r * 16)), 0.0, start, start + float(rng.uniform(20, 70)),
                    int(rng.uniform(60, 140)), max(int(round(0.5 / g)), 1), cv2.LINE_AA, 4)
    dark = m.astype(np.float32) * np.float32(0.35 / 255.0)
    paint(img, win, cover * dark, (40.0, 40.0, 42.0))


def lead_in_lines(img, grid: SiteGrid, win, cover, pal: Palette, seed: int) -> None:
    """Painted yellow lead-in curves: quarter arcs of 25-60 m radius, one per ~2 ha."""
    rs, cs = win
    h, w = rs.stop - rs.start, cs.stop - cs.start
    g = grid.gsd_m
    rng = np.random.default_rng([seed, 0x1EAD])
    n = int(h * w * g * g / 20000.0 * rng.uniform(0.5, 1.5))
    m = np.zeros((h, w), np.uint8)
    for _ in range(min(n, 60)):
        c = (int(rng.uniform(0, w) * 16), int(rng.uniform(0, h) * 16))
        r = float(rng.uniform(25, 60)) / g
        start = 90.0 * int(rng.integers(4))
        cv2.ellipse(m, c, (int(r * 16), int(r * 16)), 0.0, start, start + 90.0, 255,
                    max(int(round(0.3 / g)), 1), cv2.LINE_AA, 4)
    paint(img, win, cover * m.astype(np.float32) * np.float32(0.75 / 255.0), pal.marking_yellow)


def apron(img, grid: SiteGrid, win, cover, f: Frame, pal: Palette, mid, fine, seed: int,
          helipad: bool = False) -> None:
    concrete(img, grid, win, cover, f, pal, mid, fine, seed, 5.0 + 2.5 * (seed % 2))
    tyre_marks(img, grid, win, cover, seed)
    if not helipad:
        lead_in_lines(img, grid, win, cover, pal, seed)
    a, b = frame_coords(grid, win, f)
    g = grid.gsd_m
    # Taxi lanes along the apron: yellow lead lines near both long edges.
    yellow = _line(np.abs(b) - f.width * 0.42, 0.25, g) * (np.abs(a) < f.length / 2 - 4)
    if helipad:  # a helipad's centre line instead of taxi lanes
        yellow = _line(b, 0.25, g) * (np.abs(a) < f.length / 2 - 4)
    paint(img, win, cover * yellow * 0.85, pal.marking_yellow)
