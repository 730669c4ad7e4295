"""Drawing placed objects: planform dispatch, shadows, shading and compositing.

Each object is drawn only inside its own pixel window. Its parts are rasterised with
anti-aliased coverage, stacked bottom-up into colour, opacity and a height map; the height
map gives the Lambert shading for the date's sun, and each part's prism gives its shadow.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from sitewatch import equipment
from sitewatch.domain import SiteGrid
from sitewatch.simulate.render.aircraft import PLANFORMS, aircraft_parts
from sitewatch.simulate.render.paint import camo_weight, scheme_for
from sitewatch.simulate.render.parts import Part, fit_to_box, rect
from sitewatch.simulate.render.raster import coverage, lambert, sweep_shadow, to_cv
from sitewatch.simulate.render.rotorcraft import HELIS, blade_phase, helicopter_parts
from sitewatch.simulate.render.ships import ship_parts
from sitewatch.simulate.render.vehicles import vehicle_parts
from sitewatch.simulate.scene import PlacedObject

# Glossy paint on aircraft, a little on ships, matte on vehicles; highlights are near white.
_GLOSS = {"aircraft": 0.35, "helicopter": 0.2, "ship": 0.1}
_SPECULAR = np.array([250.0, 250.0, 245.0], np.float32)


def object_parts(obj: PlacedObject) -> list[Part]:
    """The object's parts in its local frame, filling obj.box exactly."""
    L, W = obj.box.length, obj.box.width
    if obj.type in PLANFORMS:
        return aircraft_parts(obj.type, L, W, obj.state, obj.wings_swept)
    if obj.type in HELIS:
        return helicopter_parts(obj.type, L, W, obj.state, blade_phase(obj.appearance_seed))
    if obj.cls == "ship":
        return ship_parts(obj.type, L, W)
    if obj.cls in ("vehicle", "air_defence"):
        return vehicle_parts(obj.type, L, W, obj.state)
    # A type the renderer has no drawing for: a plain body so the box is still honoured.
    return fit_to_box([Part(rect(-L / 2, L / 2, -W / 2, W / 2), 0.0, 2.0, "paint", rounded=True)], L, W)


def _role(obj: PlacedObject) -> str:
    try:
        return equipment.get(obj.type).role
    except KeyError:
        return "truck"


def local_to_pixel(obj: PlacedObject, grid: SiteGrid, poly: np.ndarray) -> np.ndarray:
    """Local (u, v) metres to continuous pixel (col, row) on the grid."""
    h = math.radians(obj.box.heading_deg)
    sh, ch = math.sin(h), math.cos(h)
    cc, rc = grid.to_pixel(obj.box.cx, obj.box.cy)
    u, v = poly[:, 0], poly[:, 1]
    col = cc + (u * sh - v * ch) / grid.gsd_m
    row = rc - (u * ch + v * sh) / grid.gsd_m
    return np.stack([col, row], axis=1)


def pixel_to_local(obj: PlacedObject, grid: SiteGrid, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local (u, v) metres of pixel centres (rows, cols are index arrays, broadcastable)."""
    h = math.radians(obj.box.heading_deg)
    sh, ch = math.sin(h), math.cos(h)
    cc, rc = grid.to_pixel(obj.box.cx, obj.box.cy)
    dx = (cols + 0.5 - cc) * grid.gsd_m  # east
    dy = (rc - rows - 0.5) * grid.gsd_m  # north
    return (dx * sh + dy * ch).astype(np.float32), (-dx * ch + dy * sh).astype(np.float32)


def draw_shadows(mask: np.ndarray, obj: PlacedObject, parts: list[Part], grid: SiteGrid,
                 per_m: tuple[float, float]) -> None:
    if per_m == (0.0, 0.0):
        return
    for p in parts:
        if p.casts_shadow and p.z1 > 0.05 and p.alpha > 0.5:
            sweep_shadow(mask, local_to_pixel(obj, grid, p.poly), p.z0, p.z1, per_m)


def draw_instance(labels: np.ndarray, obj: PlacedObject, parts: list[Part], grid: SiteGrid, label: int) -> None:
    for p in parts:
        cv2.fillPoly(labels, [to_cv(local_to_pixel(obj, grid, p.poly))], int(label), cv2.LINE_8, 4)


def draw_object(img: np.ndarray, obj: PlacedObject, parts: list[Part], grid: SiteGrid, sun: np.ndarray) -> None:
    """Composite one object over img (float32, H x W x 3) in place."""
    px = [local_to_pixel(obj, grid, p.poly) for p in parts]
    allp = np.vstack(px)
    H, W = img.shape[:2]
    c0 = max(int(math.floor(allp[:, 0].min())) - 2, 0)
    r0 = max(int(math.floor(allp[:, 1].min())) - 2, 0)
    c1 = min(int(math.ceil(allp[:, 0].max())) + 2, W)
    r1 = min(int(math.ceil(allp[:, 1].max())) + 2, H)
    if c1 <= c0 or r1 <= r0:
        return
    h, w = r1 - r0, c1 - c0
    scheme = scheme_for(obj.cls, _role(obj), obj.appearance_seed)
    col = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    height = np.zeros((h, w), np.float32)
    rows = np.arange(r0, r1, dtype=np.float32)[:, None]
    cols = np.arange(c0, c1, dtype=np.float32)[None, :]
    camo = None
    if scheme.camo is not None:
        u, v = pixel_to_local(obj, grid, rows, cols)
        camo = camo_weight(scheme, u, v)[..., None]
    tone_rng = np.random.default_rng([obj.appearance_seed, 0x70E])
    for part, poly in zip(parts, px):
        got = coverage(poly - (c0, r0), (h, w))
        if got is None:
            continue
        (rs, cs), cov = got
        a = cov * part.alpha
        rgb = np.array(scheme.colours[part.material], np.float32)
        rgb = rgb * (1.0 + scheme.sheen * float(tone_rng.uniform(-1.0, 1.0)))
        if part.material == "paint" and camo is not None:
            wgt = camo[rs, cs]
            fill = rgb * (1.0 - wgt) + np.array(scheme.camo, np.float32) * wgt
        else:
            fill = rgb
        a3 = a[..., None]
        col[rs, cs] = col[rs, cs] * (1.0 - a3) + fill * a3
        alpha[rs, cs] = alpha[rs, cs] + a * (1.0 - alpha[rs, cs])
        if part.alpha >= 0.5:
            inside = cov > 0.5
            if part.rounded:
                d = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 3)
                dmax = max(float(d.max()), 1.0)
                t = np.clip(d / dmax, 0.0, 1.0)
                z = part.z0 + (part.z1 - part.z0) * np.sqrt(1.0 - (1.0 - t) ** 2)
            else:
                z = np.float32(part.z1)
            hs = height[rs, cs]
            height[rs, cs] = np.where(inside, z, hs)
    # Continue the object's heights a little beyond its outline so the rim is shaded like
    # the surface it belongs to, not like a wall dropping to the ground.
    rim = cv2.dilate(height, np.ones((5, 5), np.uint8))
    gloss = _GLOSS.get(obj.cls, 0.05)
    shade, spec = lambert(np.where(height > 0, height, rim), grid.gsd_m, sun, gloss=gloss)
    # Panels, grime and repairs: a faint mottle fixed by the appearance seed.
    mottle = cv2.GaussianBlur(tone_rng.standard_normal((h, w), dtype=np.float32), (0, 0), 0.8)
    shade *= 1.0 + 0.035 * mottle
    win = img[r0:r1, c0:c1]
    a3 = alpha[..., None]
    win *= 1.0 - a3
    win += col * shade[..., None]
    win += (spec * alpha)[..., None] * _SPECULAR
