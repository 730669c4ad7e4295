"""The ground of a site: the same on every date, from the site (kind, zones) and site_seed.

Open land (soil, dry vegetation, tracks, roads, trees) is generated everywhere, then each
zone is drawn by its kind: runways, taxiways, aprons, helipads, shelters, parking,
air-defence pads with berms, building areas, storage, water, berths, quays and piers.
A site with no zones (a detector training chip) gets open water for a naval base; for an
air base a concrete apron, or now and then asphalt or open ground.

Returns the float32 RGB ground and the structures (buildings, shelters, berms, trees,
cranes) whose shadows the date's sun casts.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from shapely.geometry import Polygon
from shapely.ops import unary_union

from sitewatch.domain import Zone
from sitewatch.simulate.render import pavement
from sitewatch.simulate.render.furniture import Structure, berm_ring, buildings_in, crane, shelters_beside, tanks_in, trees
from sitewatch.simulate.render.raster import sun_vector
from sitewatch.simulate.render.textures import fbm, palette, smoothstep
from sitewatch.simulate.render.zones import frame_of, mask_in, paint, poly_px, window
from sitewatch.simulate.scene import SceneSpec

__all__ = ["Structure", "render_ground"]

WATER_KINDS = ("water", "berth")
_ORDER = ("building_area", "storage", "parking", "air_defence_site", "runway", "taxiway", "apron", "helipad",
          "shelter_area", "water", "berth", "quay", "pier")
_ROW_BLOCK = 512


def _land(img: np.ndarray, pal, large: np.ndarray, mid: np.ndarray, fine: np.ndarray) -> None:
    """Soil with patches of dry vegetation and a per-pixel grain.

    The colour varies smoothly, so it is computed on every 4th pixel and upsampled; only
    the grain is per pixel."""
    H, W = img.shape[:2]
    k = 4
    lg, md = large[::k, ::k], mid[::k, ::k]
    thr = float(np.quantile(md * 0.6 + lg * 0.5, 1.0 - pal.veg_cover))
    soil, soil2, veg = (np.asarray(c, np.float32) for c in (pal.soil, pal.soil2, pal.vegetation))
    t = smoothstep(-1.2, 1.2, lg)[..., None]
    v = smoothstep(thr - 0.5, thr + 0.5, md * 0.6 + lg * 0.5)[..., None]
    low = soil * (1.0 - t) + soil2 * t
    low = low * (1.0 - v * 0.7) + veg * (v * 0.7)
    low *= (1.0 + 0.04 * md)[..., None]
    # Straight into the image: stretching the smooth colour by under one coarse cell is
    # invisible, and it spares a full-size temporary.
    cv2.resize(low, (W, H), dst=img, interpolation=cv2.INTER_LINEAR)
    for r in range(0, H, _ROW_BLOCK):
        sl = slice(r, r + _ROW_BLOCK)
        img[sl] *= (1.0 + 0.045 * fine[sl])[..., None]


def _roads(img, grid, rng, pal, mid, fine) -> None:
    """Two or three roads and dirt tracks crossing the open land (zones are drawn over them)."""
    H, W = img.shape[:2]
    g = grid.gsd_m
    for k in range(int(rng.integers(1, 4))):
        ang = rng.uniform(0, math.pi)
        c = np.array([rng.uniform(0, W), rng.uniform(0, H)])
        d = np.array([math.cos(ang), math.sin(ang)])
        span = math.hypot(W, H)
        t = np.linspace(-span, span, 24)
        bend = np.cumsum(rng.normal(0, 0.04, len(t)))
        pts = c + t[:, None] * d + (t * bend)[:, None] * np.array([-d[1], d[0]]) * 0.02
        dirt = k > 0 and rng.random() < 0.5
        width = (3.0 if dirt else float(rng.uniform(6, 9))) / g
        m = np.zeros((H, W), np.uint8)
        cv2.polylines(m, [np.round((pts - 0.5) * 16).astype(np.int32)], False, 255, max(int(round(width)), 1),
                      cv2.LINE_AA, 4)
        ys, xs = np.nonzero(m)  # a road is thin: work on its pixels only
        if len(ys) == 0:
            continue
        cov = (m[ys, xs].astype(np.float32) / 255.0)[:, None]
        if dirt:
            col = np.asarray(pal.soil, np.float32) * np.float32(1.12)
            cov = cov * 0.5
        else:
            col = np.asarray(pal.asphalt, np.float32) * (1.05 * (1.0 + 0.06 * mid[ys, xs] + 0.05 * fine[ys, xs]))[:, None]
        img[ys, xs] = img[ys, xs] * (1.0 - cov) + col * cov


def _farmland(img, grid, rng, pal, large, mid) -> None:
    """Cultivated plots around the site: a tilted grid of fields, ploughed, cropped or
    stubble, where the large-scale field says the land is farmed."""
    H, W = img.shape[:2]
    g = grid.gsd_m
    pitch = float(rng.uniform(60, 160)) / g
    ang = float(rng.uniform(0, math.pi / 2))
    d = np.array([math.cos(ang), math.sin(ang)])
    n = np.array([-d[1], d[0]])
    thr = float(rng.uniform(-0.3, 0.6))
    tones = [np.asarray(pal.soil2, np.float32) * 0.88, np.asarray(pal.vegetation, np.float32) * np.float32(1.04),
             np.asarray(pal.soil, np.float32) * np.array([1.06, 1.03, 0.95], np.float32),
             np.asarray(pal.vegetation, np.float32) * np.array([0.85, 0.95, 0.8], np.float32)]
    span = int(math.hypot(H, W) / pitch) + 2
    centre = np.array([W / 2, H / 2])
    for i in range(-span // 2 - 1, span // 2 + 1):
        for j in range(-span // 2 - 1, span // 2 + 1):
            la = pitch * float(rng.uniform(0.94, 0.99))  # fields tile the farmed land, with a track between
            lb = pitch * float(rng.uniform(0.94, 0.99))
            c = centre + d * (i * pitch) + n * (j * pitch)
            keep = rng.random()
            if not (0 <= c[0] < W and 0 <= c[1] < H) or large[int(c[1]), int(c[0])] < thr or keep < 0.12:
                continue
            corners = np.array([c + d * sa * la / 2 + n * sb * lb / 2 for sa, sb in ((-1, -1), (1, -1), (1, 1), (-1, 1))])
            win = window(corners, (H, W))
            if win is None:
                continue
            tone = tones[int(rng.integers(len(tones)))] * np.float32(rng.uniform(0.92, 1.08))
            lum = 1.0 + 0.05 * mid[win]
            if rng.random() < 0.5:  # furrows or crop rows, 1.5-4 m apart, along the field
                rows = np.arange(win[0].start, win[0].stop, dtype=np.float32)[:, None] + 0.5
                cols = np.arange(win[1].start, win[1].stop, dtype=np.float32)[None, :] + 0.5
                along_n = ((cols - c[0]) * n[0] + (rows - c[1]) * n[1]) * g
                lum = lum * (1.0 + 0.045 * np.sin(along_n * (2 * math.pi / float(rng.uniform(1.5, 4.0)))))
            col = tone * lum[..., None]
            paint(img, win, mask_in(corners, win) * np.float32(rng.uniform(0.5, 0.85)), col)


def _kind(z: Zone) -> str:
    if z.kind == "pier" and "breakwater" in z.name.lower():
        return "breakwater"
    return z.kind


def render_ground(spec: SceneSpec) -> tuple[np.ndarray, list[Structure]]:
    site = spec.site
    grid = site.grid
    H, W = grid.height_px, grid.width_px
    rng = np.random.default_rng([spec.site_seed, 0x6A0D])
    pal = palette(rng)
    g = grid.gsd_m
    large = fbm(rng, (H, W), g, (260.0, 110.0, 45.0))
    mid = fbm(rng, (H, W), g, (18.0, 7.0, 3.0))
    fine = rng.standard_normal((H, W), dtype=np.float32)
    # Grain a little coarser than a pixel (gravel, tufts, cracks), rescaled to unit std.
    fine = cv2.GaussianBlur(fine, (0, 0), 0.7)
    fine *= np.float32(2.0)
    img = np.empty((H, W, 3), np.float32)
    # The sun of a fixed reference date shades roofs and berms: it is part of the ground's
    # look, not of the date (shadows, which do move, come from the date's sun).
    ref_sun = sun_vector(150.0, 50.0)
    structures: list[Structure] = []
    zones = list(site.zones)
    if not zones:
        whole = ((grid.origin_x - 10 * g, grid.origin_y + 10 * g), (grid.origin_x + (W + 10) * g, grid.origin_y + 10 * g),
                 (grid.origin_x + (W + 10) * g, grid.origin_y - (H + 10) * g),
                 (grid.origin_x - 10 * g, grid.origin_y - (H + 10) * g))
        # A bare grid (a training chip): open water for a naval base; for an air base a
        # concrete apron mostly, sometimes asphalt or open ground (domain randomisation).
        if site.kind == "airbase":
            pick = float(np.random.default_rng([spec.site_seed, 0xC41]).random())
            kind = "apron" if pick < 0.6 else ("parking" if pick < 0.8 else None)
        else:
            kind = "water"
        zones = [Zone("ground", kind, whole)] if kind else []
    _land(img, pal, large, mid, fine)
    if site.zones:
        _farmland(img, grid, rng, pal, large, mid)
    _roads(img, grid, rng, pal, mid, fine)
    occupied = np.zeros((H, W), np.uint8)
    water = np.zeros((H, W), np.uint8)
    keep_out = _keep_out(zones)
    ordered = sorted(enumerate(zones), key=lambda iz: (_ORDER.index(iz[1].kind) if iz[1].kind in _ORDER else 99, iz[0]))
    for idx, z in ordered:
        pp = poly_px(grid, z.polygon)
        win = window(pp, (H, W))
        if win is None:
            continue
        cov = mask_in(pp, win)
        f = frame_of(z.polygon)
        zr = np.random.default_rng([spec.site_seed, 0x20E, idx])
        kind = _kind(z)
        occupied[win] = np.maximum(occupied[win], (cov > 0).astype(np.uint8))
        if kind == "runway":
            ends = _ends_inside(grid, f)
            pavement.runway(img, grid, win, cov, f, pal, mid, fine, int(zr.integers(1 << 30)), ends,
                            paved_concrete=bool(zr.random() < 0.35))
        elif kind == "taxiway":
            pavement.taxiway(img, grid, win, cov, f, pal, mid, fine)
        elif kind in ("apron", "helipad", "shelter_area"):
            pavement.apron(img, grid, win, cov, f, pal, mid, fine, int(zr.integers(1 << 30)), helipad=kind == "helipad")
            if kind == "shelter_area":
                structures += shelters_beside(img, grid, f, zr, ref_sun, pal, keep_out(idx))
        elif kind == "parking":
            pavement.asphalt(img, win, cov, pal, mid, fine, tone=1.1)
        elif kind == "air_defence_site":
            pavement.gravel(img, win, cov, pal, mid, fine)
            pavement.tyre_marks(img, grid, win, cov * 1.5, int(zr.integers(1 << 30)))  # tracks in the gravel
            structures += berm_ring(img, grid, z.polygon, zr, pal, ref_sun)
        elif kind == "storage":
            pavement.gravel(img, win, cov, pal, mid, fine)
            structures += tanks_in(img, grid, f, zr, ref_sun)
        elif kind == "building_area":
            pavement.asphalt(img, win, cov, pal, mid, fine, tone=1.15)
            structures += buildings_in(img, grid, f, zr, ref_sun, fine, "hangar" in z.name.lower(), pal)
        elif kind in WATER_KINDS:
            water[win] = np.maximum(water[win], (cov * 255).astype(np.uint8))
        elif kind == "quay":
            pavement.concrete(img, grid, win, cov, f, pal, mid, fine, int(zr.integers(1 << 30)), 6.0, tone=0.95)
            side = _water_side(f, zones)
            for k in range(int(f.length // 120.0)):
                structures += crane(img, grid, f, -f.length / 2 + 60.0 + k * 120.0, 0.0, ref_sun, side)
        elif kind == "pier":
            pavement.concrete(img, grid, win, cov, f, pal, mid, fine, int(zr.integers(1 << 30)), 4.0, tone=0.9)
            structures.append(Structure(pp, 2.0))
        elif kind == "breakwater":
            rock = np.asarray(pal.gravel, np.float32) * (0.85 + 0.25 * np.clip(mid[win] + 0.8 * fine[win], -1.5, 1.5))[..., None]
            paint(img, win, cov, rock)
            structures.append(Structure(pp, 3.0))
    if water.any():
        _water(img, water, pal, large, mid, fine, rng, g, zones, grid)
    free = (occupied == 0) & (water == 0)
    if site.zones and free.any():
        structures += trees(img, grid, rng, pal, ref_sun, free, float(rng.uniform(0.5, 4.0)), mid)
    return img, structures


def _water(img, water, pal, large, mid, fine, rng, g, zones, grid) -> None:
    """Open water with a slow colour drift, ripples, and lighter shallows along the shore.

    Piers, quays and breakwaters are redrawn over the water so they stand in it."""
    H, W = water.shape
    ripple_dir = rng.uniform(0, math.pi)
    k = 2 * math.pi / float(rng.uniform(4.0, 9.0))
    shore = cv2.GaussianBlur(water, (0, 0), max(4.0 / g, 1.0))
    deep, shallow = np.asarray(pal.water, np.float32), np.asarray(pal.water_shallow, np.float32)
    cx, cy = math.cos(ripple_dir) * k * g, math.sin(ripple_dir) * k * g
    for r in range(0, H, _ROW_BLOCK):
        sl = slice(r, r + _ROW_BLOCK)
        m = water[sl].astype(np.float32) / 255.0
        if not m.any():
            continue
        rows = np.arange(sl.start, min(sl.start + _ROW_BLOCK, H), dtype=np.float32)[:, None]
        cols = np.arange(W, dtype=np.float32)[None, :]
        wave = np.sin(cols * cx + rows * cy + mid[sl] * 2.0) * 0.5 + 0.5
        near = 1.0 - smoothstep(0.55, 0.98, shore[sl].astype(np.float32) / 255.0)
        t = np.clip(near * 0.8 + 0.12 * large[sl], 0, 1)[..., None]
        col = deep * (1 - t) + shallow * t
        col *= (1.0 + 0.05 * large[sl] + 0.035 * wave * (1 + 0.5 * mid[sl]) + 0.015 * fine[sl])[..., None]
        paint(img, (sl, slice(0, W)), m, col)
    # Quays, piers and breakwaters stand in the water: redraw their tops over it.
    for z in zones:
        if z.kind in ("pier", "quay"):
            pp = poly_px(grid, z.polygon)
            win = window(pp, (H, W))
            if win is None:
                continue
            cov = mask_in(pp, win)
            f = frame_of(z.polygon)
            zr = np.random.default_rng([len(z.name), 0x51])
            if _kind(z) == "breakwater":
                shade = 0.85 + 0.25 * np.clip(mid[win] + 0.8 * fine[win], -1.5, 1.5)
                rock = np.asarray(pal.gravel, np.float32) * shade[..., None]
                paint(img, win, cov, rock)
            else:
                pavement.concrete(img, grid, win, cov, f, pal, mid, fine, int(zr.integers(1 << 30)), 4.0,
                                  tone=0.9 if z.kind == "pier" else 0.95)


def _water_side(f, zones) -> float:
    """+1 when the site's water lies towards +b of a quay's frame, -1 when towards -b."""
    pts = [p for z in zones if z.kind in WATER_KINDS for p in z.polygon]
    if not pts:
        return 1.0
    wx, wy = np.mean([p[0] for p in pts]), np.mean([p[1] for p in pts])
    b = -(wx - f.cx) * f.ay + (wy - f.cy) * f.ax
    return 1.0 if b >= 0 else -1.0


def _ends_inside(grid, f) -> tuple[bool, bool]:
    """Whether each end of a runway lies inside the image (so its threshold is drawn)."""
    left, bottom, right, top = grid.bounds
    out = []
    for s in (1.0, -1.0):
        x = f.cx + s * f.length / 2 * f.ax
        y = f.cy + s * f.length / 2 * f.ay
        out.append(left + 20 < x < right - 20 and bottom + 20 < y < top - 20)
    return out[0], out[1]


def _keep_out(zones):
    """For zone i, the union of every other zone (shelters must not stand on them)."""
    polys = [Polygon(z.polygon).buffer(0) for z in zones]

    def other(i: int):
        rest = [p for j, p in enumerate(polys) if j != i]
        return unary_union(rest) if rest else None

    return other
