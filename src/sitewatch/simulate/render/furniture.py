"""Things that stand on the ground and cast shadows but are not equipment: buildings,
hangars, hardened shelters, earth berms, fuel tanks, quay cranes, trees.

Each returns Structures (outline in pixels and height) for the shadow pass and paints its
own top. Nothing here is shaped like a catalogue object, so a detector trained on the
scenes does not learn to call furniture equipment."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from shapely.geometry import Polygon

from sitewatch.domain import SiteGrid
from sitewatch.simulate.render.textures import Palette
from sitewatch.simulate.render.zones import Frame, frame_rect, mask_in, paint, poly_px, window


@dataclass(frozen=True)
class Structure:
    poly_px: np.ndarray  # outline in continuous pixel coordinates
    height_m: float
    base_m: float = 0.0  # raised parts (a crane's boom) cast a shadow detached from their foot


_ROOFS = [(168, 168, 164), (192, 192, 188), (140, 96, 80), (108, 110, 112), (128, 134, 140), (116, 124, 108),
          (176, 170, 154), (150, 150, 146)]


def _lit(normal: tuple[float, float, float], sun: np.ndarray) -> float:
    n = np.asarray(normal, np.float32)
    n = n / np.linalg.norm(n)
    return float(np.clip(0.45 + 0.55 * max(float(n @ sun), 0.0) / max(float(sun[2]), 1e-3), 0.3, 1.2))


def _grid_dir(grid: SiteGrid, f: Frame, along: bool) -> tuple[float, float]:
    """A frame axis as an image-space (east, south) direction."""
    return (f.ax, -f.ay) if along else (-f.ay, -f.ax)


def building(img, grid: SiteGrid, corners_xy, height: float, roof, sun, gable_along: bool | None,
             f: Frame, fine) -> Structure | None:
    pp = poly_px(grid, corners_xy)
    win = window(pp, img.shape[:2])
    if win is None:
        return None
    cov = mask_in(pp, win)
    if gable_along is None:
        # A flat roof: a slightly lighter parapet round a darker, weathered membrane.
        lum = np.float32(_lit((0.0, 0.0, 1.0), sun))
        col = np.asarray(roof, np.float32) * lum * (1.0 + 0.03 * fine[win][..., None])
        inset = 1.0 / grid.gsd_m
        c = pp.mean(axis=0)
        inner = c + (pp - c) * np.maximum(1.0 - inset / np.maximum(np.abs(pp - c), 1e-6), 0.0)
        col = col * (1.0 - 0.07 * mask_in(inner, win)[..., None])
    else:
        # Two roof halves sloping 18 degrees away from the ridge, lit differently by the sun.
        dx, dy = _grid_dir(grid, f, not gable_along)
        rows = np.arange(win[0].start, win[0].stop, dtype=np.float32)[:, None] + 0.5
        cols = np.arange(win[1].start, win[1].stop, dtype=np.float32)[None, :] + 0.5
        cc, cr = pp[:, 0].mean(), pp[:, 1].mean()
        side = np.sign((cols - cc) * dx + (rows - cr) * dy)
        s = math.sin(math.radians(18.0))
        c = math.cos(math.radians(18.0))
        l1 = _lit((dx * s, dy * s, c), sun)
        l2 = _lit((-dx * s, -dy * s, c), sun)
        lum = np.where(side >= 0, l1, l2).astype(np.float32)
        col = np.asarray(roof, np.float32) * lum[..., None]
    paint(img, win, cov, col)
    return Structure(pp, height)


def buildings_in(img, grid: SiteGrid, f: Frame, rng: np.random.Generator, sun, fine, hangars: bool,
                 pal: Palette) -> list[Structure]:
    """Blocks of buildings on a street grid inside a building area."""
    out: list[Structure] = []
    lot = float(rng.uniform(55, 80)) if hangars else float(rng.uniform(24, 45))
    street = float(rng.uniform(8, 14))
    na = max(int(round(f.length / (lot + street))), 1)
    nb = max(int(round(f.width / (lot + street))), 1)
    pa, pb = f.length / na, f.width / nb  # lot pitch that tiles the area exactly
    for i in range(na):
        for j in range(nb):
            if (i or j) and rng.random() < 0.12:
                continue  # an empty lot (never the first, so an area always has a building)
            # At least 8 x 8 m: nothing a detector could mistake for a vehicle or launcher.
            la = max((pa - street) * float(rng.uniform(0.6, 1.0)), 8.0)
            lb = max((pb - street) * float(rng.uniform(0.5, 1.0)), 8.0)
            ca = -f.length / 2 + (i + 0.5) * pa
            cb = -f.width / 2 + (j + 0.5) * pb
            corners = frame_rect(f, ca - la / 2, ca + la / 2, cb - lb / 2, cb + lb / 2)
            h = float(rng.uniform(10, 16)) if hangars else float(rng.uniform(3.5, 12))
            roof = _ROOFS[int(rng.integers(len(_ROOFS)))]
            roof = tuple(float(c * rng.uniform(0.9, 1.05)) for c in roof)
            gable = None if rng.random() < 0.5 and not hangars else bool(la >= lb)  # ridge along the long side
            s = building(img, grid, corners, h, roof, sun, gable, f, fine)
            if s is not None:
                out.append(s)
    return out


def shelters_beside(img, grid: SiteGrid, f: Frame, rng: np.random.Generator, sun, pal: Palette,
                    keep_out) -> list[Structure]:
    """Hardened aircraft shelters in a row behind one long side of a shelter area: arched
    concrete, 8 m high, each opening towards the zone."""
    out = []
    side = 1.0 if rng.random() < 0.5 else -1.0
    width, depth, gap = 24.0, 34.0, float(rng.uniform(12, 25))
    n = max(int(f.length // (width + gap)), 1)
    colour = np.asarray(pal.concrete, np.float32) * np.float32(0.9)
    dx, dy = _grid_dir(grid, f, True)
    for k in range(n):
        ca = -n * (width + gap) / 2 + gap / 2 + k * (width + gap) + width / 2
        b0 = side * (f.width / 2 + 6.0)
        b1 = side * (f.width / 2 + 6.0 + depth)
        corners = frame_rect(f, ca - width / 2, ca + width / 2, min(b0, b1), max(b0, b1))
        if keep_out is not None and Polygon(corners).intersects(keep_out):
            continue
        pp = poly_px(grid, corners)
        win = window(pp, img.shape[:2])
        if win is None:
            continue
        cov = mask_in(pp, win)
        # The arch: shading varies across the shelter's width like a half cylinder.
        rows = np.arange(win[0].start, win[0].stop, dtype=np.float32)[:, None] + 0.5
        cols = np.arange(win[1].start, win[1].stop, dtype=np.float32)[None, :] + 0.5
        cc, cr = pp[:, 0].mean(), pp[:, 1].mean()
        t = ((cols - cc) * dx + (rows - cr) * dy) * grid.gsd_m / (width / 2)
        t = np.clip(t, -1.0, 1.0)
        nx, nz = t, np.sqrt(1.0 - t * t)
        ndots = nx * (dx * sun[0] + dy * sun[1]) + nz * sun[2]
        lum = np.clip(0.45 + 0.55 * np.clip(ndots, 0, None) / max(float(sun[2]), 1e-3), 0.3, 1.3)
        paint(img, win, cov, colour * lum[..., None])
        out.append(Structure(pp, 8.0))
    return out


def berm_ring(img, grid: SiteGrid, poly_xy, rng: np.random.Generator, pal: Palette, sun) -> list[Structure]:
    """Earth berms (revetments) along a site's perimeter, 2.5 m high, open on one side."""
    p = np.asarray(poly_xy, float)
    n = len(p)
    gap = int(rng.integers(n))
    out = []
    colour = np.asarray(pal.soil, np.float32) * np.float32(1.06)
    for i in range(n):
        if i == gap:
            continue
        a, b = p[i], p[(i + 1) % n]
        d = b - a
        L = float(np.hypot(*d))
        if L < 1.0:
            continue
        nrm = np.array([-d[1], d[0]]) / L * 4.0
        quad = [a - nrm * 0.5, b - nrm * 0.5, b + nrm, a + nrm]
        pp = poly_px(grid, quad)
        win = window(pp, img.shape[:2])
        if win is None:
            continue
        lum = _lit((float(nrm[0]), float(-nrm[1]), 4.0), sun)
        paint(img, win, mask_in(pp, win), colour * np.float32(lum))
        out.append(Structure(pp, 2.5))
    return out


def tanks_in(img, grid: SiteGrid, f: Frame, rng: np.random.Generator, sun) -> list[Structure]:
    out = []
    r = float(rng.uniform(6, 11))
    step = 2 * r + float(rng.uniform(6, 12))
    na, nb = max(int(f.length // step), 1), max(int(f.width // step), 1)
    for i in range(na):
        for j in range(nb):
            ca = -na * step / 2 + step / 2 + i * step
            cb = -nb * step / 2 + step / 2 + j * step
            cx, cy = f.cx + ca * f.ax - cb * f.ay, f.cy + ca * f.ay + cb * f.ax
            t = np.linspace(0, 2 * math.pi, 32, endpoint=False)
            pp = poly_px(grid, np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1))
            win = window(pp, img.shape[:2])
            if win is None:
                continue
            tone = float(rng.uniform(175, 215))
            paint(img, win, mask_in(pp, win), np.float32(tone * _lit((0, 0, 1), sun)) * np.ones(3, np.float32))
            out.append(Structure(pp, float(rng.uniform(8, 13))))
    return out


def trees(img, grid: SiteGrid, rng: np.random.Generator, pal: Palette, sun, free, density_per_ha: float,
          clump) -> list[Structure]:
    """Scattered trees and bushes on open land (where `free` is set), denser where `clump` is high."""
    H, W = img.shape[:2]
    area_ha = H * W * grid.gsd_m ** 2 / 1e4
    n = int(area_ha * density_per_ha)
    if n == 0:
        return []
    cols = rng.uniform(0, W, n)
    rows = rng.uniform(0, H, n)
    radii = rng.uniform(1.2, 4.0, n)
    keep = rng.random(n)
    out = []
    base = np.asarray(pal.vegetation, np.float32) * np.array([0.72, 0.8, 0.68], np.float32)
    for c, r, rad, k in zip(cols, rows, radii, keep):
        ic, ir = int(c), int(r)
        if not free[ir, ic] or k > 0.25 + 0.75 * float(clump[ir, ic] > 0.4):
            continue
        t = np.linspace(0, 2 * math.pi, 14, endpoint=False)
        wob = 1.0 + 0.12 * np.sin(3 * t + k * 20)
        pp = np.stack([c + rad / grid.gsd_m * wob * np.cos(t), r + rad / grid.gsd_m * wob * np.sin(t)], axis=1)
        win = window(pp, (H, W))
        if win is None:
            continue
        cov = mask_in(pp, win)
        yy = np.arange(win[0].start, win[0].stop, dtype=np.float32)[:, None] + 0.5 - r
        xx = np.arange(win[1].start, win[1].stop, dtype=np.float32)[None, :] + 0.5 - c
        rr = rad / grid.gsd_m
        lum = 0.85 + 0.3 * np.clip((xx * sun[0] + yy * sun[1]) / max(rr, 1.0), -1, 1)
        lum = lum * (1.0 + 0.12 * rng.standard_normal(lum.shape).astype(np.float32))  # leafy, clumped crown
        paint(img, win, cov, base * lum[..., None])
        out.append(Structure(pp, float(rad * rng.uniform(1.2, 2.4))))
    return out


def crane(img, grid: SiteGrid, f: Frame, a: float, b: float, sun, water_side: float = 1.0) -> list[Structure]:
    """A portal crane: four legs on a 10 m square, a frame on top and a boom reaching over
    the water (water_side: +1 if the water lies towards +b of the quay's frame, else -1)."""
    out = []
    colour = np.array([176.0, 150.0, 60.0], np.float32) * np.float32(_lit((0, 0, 1), sun))
    beams = [(a - 5, a + 5, b - 5, b - 4), (a - 5, a + 5, b + 4, b + 5), (a - 5, a - 4, b - 5, b + 5),
             (a + 4, a + 5, b - 5, b + 5)]
    for a0, a1, b0, b1 in beams:  # the frame, 20-22 m up
        pp = poly_px(grid, frame_rect(f, a0, a1, b0, b1))
        win = window(pp, img.shape[:2])
        if win is not None:
            paint(img, win, mask_in(pp, win), colour)
        out.append(Structure(pp, 22.0, 20.0))
    for da in (-4.5, 4.5):
        for db in (-4.5, 4.5):  # legs
            out.append(Structure(poly_px(grid, frame_rect(f, a + da - 0.5, a + da + 0.5, b + db - 0.5, b + db + 0.5)),
                                 20.0))
    side = 1.0 if water_side >= 0 else -1.0
    pp = poly_px(grid, frame_rect(f, a - 0.8, a + 0.8, min(b, b + side * 32), max(b, b + side * 32)))
    win = window(pp, img.shape[:2])
    if win is not None:
        paint(img, win, mask_in(pp, win), colour)
    out.append(Structure(pp, 30.0, 27.0))
    return out
