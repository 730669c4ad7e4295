"""Low-level drawing on the site grid: anti-aliased coverage, shadow sweeps, sun geometry.

Pixel coordinates here are continuous (col, row) with (0, 0) the top-left corner of the
top-left pixel, as SiteGrid.to_pixel gives them; cv2 puts pixel centres on integers, so
every call below converts with a -0.5.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

SHIFT = 4  # fixed-point fraction bits passed to cv2 polygon fills
_ONE = 1 << SHIFT
SUPERSAMPLE = 4  # coverage is rendered at this factor and area-averaged


def to_cv(poly_px: np.ndarray, scale: float = 1.0, off: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Continuous pixel coords to cv2 fixed-point vertices at a scale, relative to off (col, row)."""
    p = (poly_px - np.asarray(off)) * scale - 0.5
    return np.round(p * _ONE).astype(np.int32)


def coverage(poly_px: np.ndarray, shape: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Fraction of each pixel covered by a polygon, within an image of `shape` (rows, cols).

    Returns (window slices, float32 coverage of that window) or None when nothing is covered."""
    c0 = max(int(math.floor(poly_px[:, 0].min())), 0)
    r0 = max(int(math.floor(poly_px[:, 1].min())), 0)
    c1 = min(int(math.ceil(poly_px[:, 0].max())), shape[1])
    r1 = min(int(math.ceil(poly_px[:, 1].max())), shape[0])
    if c1 <= c0 or r1 <= r0:
        return None
    s = SUPERSAMPLE
    buf = np.zeros(((r1 - r0) * s, (c1 - c0) * s), np.uint8)
    cv2.fillPoly(buf, [to_cv(poly_px, s, (c0, r0))], 255, cv2.LINE_8, SHIFT)
    cov = cv2.resize(buf, (c1 - c0, r1 - r0), interpolation=cv2.INTER_AREA).astype(np.float32) * (1.0 / 255.0)
    return (slice(r0, r1), slice(c0, c1)), cov


def shadow_offset_px(azimuth_deg: float, elevation_deg: float, gsd_m: float) -> tuple[float, float]:
    """Pixel offset (dcol, drow) of the shadow of a point 1 m above the ground.

    The shadow falls away from the sun, height / tan(elevation) metres long."""
    el = min(max(elevation_deg, 1.0), 90.0)
    if el >= 89.999:
        return 0.0, 0.0
    length_px = 1.0 / math.tan(math.radians(el)) / gsd_m
    a = math.radians(azimuth_deg)
    # The sun at azimuth a is towards (east, north) = (sin a, cos a); the shadow points the
    # other way: east -sin a (columns), north -cos a, i.e. south +cos a (rows).
    return -math.sin(a) * length_px, math.cos(a) * length_px


def sweep_shadow(mask: np.ndarray, poly_px: np.ndarray, z0: float, z1: float, per_m: tuple[float, float]) -> None:
    """Draw into `mask` (uint8, 255 = shadow) the shadow of a prism from z0 to z1 metres.

    The shadow is the union of the outline shifted by z * per_m for z in [z0, z1]: the two
    end copies plus the quad swept by every edge (exact for any simple polygon)."""
    d0 = np.array(per_m) * z0
    d1 = np.array(per_m) * z1
    a = poly_px + d0
    b = poly_px + d1
    if np.abs(d1 - d0).max() < 0.05:
        cv2.fillPoly(mask, [to_cv(b)], 255, cv2.LINE_AA, SHIFT)
        return
    if _is_convex(poly_px):
        hull = cv2.convexHull(np.vstack([a, b]).astype(np.float32)).reshape(-1, 2)
        cv2.fillPoly(mask, [to_cv(hull.astype(float))], 255, cv2.LINE_AA, SHIFT)
        return
    polys = [to_cv(a), to_cv(b)]
    n = len(poly_px)
    for i in range(n):
        j = (i + 1) % n
        polys.append(to_cv(np.array([a[i], a[j], b[j], b[i]])))
    for p in polys:  # one call each: a multi-polygon fill would use the even-odd rule
        cv2.fillPoly(mask, [p], 255, cv2.LINE_AA, SHIFT)


def _is_convex(poly: np.ndarray) -> bool:
    d = np.roll(poly, -1, axis=0) - poly
    cross = d[:, 0] * np.roll(d, -1, axis=0)[:, 1] - d[:, 1] * np.roll(d, -1, axis=0)[:, 0]
    cross = cross[np.abs(cross) > 1e-9]
    return bool(len(cross) == 0 or np.all(cross > 0) or np.all(cross < 0))


def sun_vector(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Unit vector towards the sun in image axes (x = east/columns, y = south/rows, z = up)."""
    a, e = math.radians(azimuth_deg), math.radians(min(max(elevation_deg, 1.0), 90.0))
    return np.array([math.sin(a) * math.cos(e), -math.cos(a) * math.cos(e), math.sin(e)], np.float32)


def lambert(height_m: np.ndarray, gsd_m: float, sun: np.ndarray, ambient: float = 0.45,
            gloss: float = 0.0) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Shading factor of a height field: 1 on flat ground, brighter facing the sun, darker away.

    With gloss > 0 also returns a specular term (Blinn-Phong, viewer overhead): the bright
    streak along the sunward top of a glossy fuselage."""
    gx = cv2.Sobel(height_m, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE) * (1.0 / (8.0 * gsd_m))
    gy = cv2.Sobel(height_m, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE) * (1.0 / (8.0 * gsd_m))
    norm = np.sqrt(gx * gx + gy * gy + 1.0)
    ndots = (-gx * sun[0] - gy * sun[1] + sun[2]) / norm
    flat = max(float(sun[2]), 1e-3)
    shade = np.clip(ambient + (1.0 - ambient) * np.clip(ndots, 0.0, None) / flat, 0.0, 1.35).astype(np.float32)
    if gloss <= 0.0:
        return shade
    half = sun + np.array([0.0, 0.0, 1.0], np.float32)
    half /= np.linalg.norm(half)
    ndoth = np.clip((-gx * half[0] - gy * half[1] + half[2]) / norm, 0.0, 1.0)
    return shade, (gloss * ndoth ** 40).astype(np.float32)
