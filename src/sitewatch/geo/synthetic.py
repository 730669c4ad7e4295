"""Synthetic georeferenced rasters with a known answer, for tests and benchmarks of
ingestion and co-registration (the full scene simulator lives in sitewatch.simulate).

A ground texture (smooth noise at several scales, with buildings and paved strips) is
sampled with a known misregistration (shift and rotation about the image centre), then
given a different look (gain, offset, gamma, haze), and optionally a truly changed patch.

Misregistration convention, the simulator's: the ground point that belongs at pixel q
appears at p = c + R(q - c) + s, with s = (dx east, dy south) in pixels and R a rotation
clockwise on the screen (y grows downwards) by rotation_deg about the image centre c.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import calculate_default_transform, reproject


def ground_texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """float32 ground in 0..1: multi-scale smooth noise plus rectangles and strips."""
    rng = np.random.default_rng(seed)
    out = np.zeros((height, width), np.float32)
    for sigma, weight in ((24.0, 0.5), (6.0, 0.3), (1.5, 0.2)):
        small = (max(4, int(height / sigma)), max(4, int(width / sigma)))
        noise = rng.standard_normal(small).astype(np.float32)
        layer = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
        out += weight * layer / (layer.std() + 1e-6)
    out = (out - out.min()) / (np.ptp(out) + 1e-6) * 0.6 + 0.2
    n_buildings = max(4, height * width // 6000)
    for _ in range(n_buildings):
        h, w = rng.integers(6, 40, size=2)
        y, x = rng.integers(0, max(1, height - h)), rng.integers(0, max(1, width - w))
        out[y:y + h, x:x + w] = rng.uniform(0.05, 0.95)
    for _ in range(max(1, height // 400)):  # paved strips
        y = int(rng.integers(0, height))
        cv2.line(out, (0, y), (width - 1, int(y + rng.integers(-height // 8, height // 8 + 1))),
                 float(rng.uniform(0.3, 0.9)), int(rng.integers(3, 12)))
    return out


def misregistration_matrix(dx: float, dy: float, rotation_deg: float, width: int, height: int) -> np.ndarray:
    """2x3 matrix taking a true pixel q to where it appears, p = c + R(q - c) + s."""
    t = math.radians(rotation_deg)
    cs, sn = math.cos(t), math.sin(t)
    cx, cy = width / 2.0, height / 2.0
    r = np.array([[cs, -sn], [sn, cs]])
    off = np.array([cx, cy]) - r @ np.array([cx, cy]) + np.array([dx, dy])
    return np.hstack([r, off[:, None]])


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2x3 matrices: the map x -> a(b(x))."""
    a3 = np.vstack([a, [0, 0, 1]])
    b3 = np.vstack([b, [0, 0, 1]])
    return (a3 @ b3)[:2]


def invert(m: np.ndarray) -> np.ndarray:
    return np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]


def observe(ground: np.ndarray, dx: float, dy: float, rotation_deg: float) -> np.ndarray:
    """The ground as seen with that misregistration (same size, edges replicated)."""
    h, w = ground.shape
    m = misregistration_matrix(dx, dy, rotation_deg, w, h)
    return cv2.warpAffine(ground, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


@dataclass(frozen=True)
class Look:
    """Illumination differences that are not change: out = haze + (1-haze)*gain*x^gamma + offset."""

    gain: float = 1.0
    offset: float = 0.0
    gamma: float = 1.0
    haze: float = 0.0
    noise: float = 0.0  # standard deviation, in 0..1 units


def restyle(img: np.ndarray, look: Look, seed: int = 0) -> np.ndarray:
    out = np.power(np.clip(img, 0, 1), look.gamma) * look.gain + look.offset
    out = look.haze + (1 - look.haze) * out
    if look.noise:
        out = out + np.random.default_rng(seed).normal(0, look.noise, img.shape).astype(np.float32)
    return np.clip(out, 0, 1).astype(np.float32)


def change_patch(img: np.ndarray, fraction: float, seed: int = 1) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Replace a square covering `fraction` of the image by unrelated texture (true change).
    Returns the image and the patch as (row, col, height, width)."""
    h, w = img.shape
    side = int(math.sqrt(fraction * h * w))
    rng = np.random.default_rng(seed)
    r, c = int(rng.integers(0, h - side)), int(rng.integers(0, w - side))
    out = img.copy()
    out[r:r + side, c:c + side] = ground_texture(side, side, seed + 1000)
    return out, (r, c, side, side)


def to_dtype(img: np.ndarray, dtype: str) -> np.ndarray:
    scale = {"uint8": 255.0, "uint16": 4095.0}.get(dtype)  # 12-bit data in uint16, as satellites deliver
    if scale is None:
        return img.astype(dtype)
    return np.clip(np.round(img * scale), 1, scale).astype(dtype)  # 0 stays free for nodata


def write_geotiff(path, data: np.ndarray, crs: str, transform: Affine, nodata: float | None = None,
                  tiled: bool = True, tags: dict | None = None, overviews: bool = False,
                  compress: str | None = "deflate") -> str:
    """Write (bands, h, w) or (h, w) data as a GeoTIFF, tiled 256 x 256 with overviews on request."""
    if data.ndim == 2:
        data = data[None]
    profile = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
               "dtype": data.dtype.name, "crs": crs, "transform": transform, "nodata": nodata}
    if tiled:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if compress:
        profile["compress"] = compress
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if tags:
            dst.update_tags(**tags)
        if overviews:
            dst.build_overviews([2, 4, 8, 16], Resampling.average)
    return str(path)


def wrap_pixels(path, data: np.ndarray, crs: str, origin: tuple[float, float], gsd_m: float,
                shift_m: tuple[float, float] = (0.0, 0.0), to_crs: str | None = None,
                to_gsd_m: float | None = None) -> str:
    """Write plain pixels (an array from a JPEG or PNG) as a GeoTIFF whose top-left corner
    is at origin (x, y in crs) with square pixels of gsd_m, its georeference wrong by
    shift_m (east, south metres: the content then lies that far east and south of where it
    belongs). to_crs and to_gsd_m reproject it (cubic) to another CRS or pixel size, as a
    second provider would deliver it. 0 is nodata, so data values are lifted to at least 1."""
    if data.ndim == 2:
        data = data[None]
    data = np.maximum(data, 1)
    east, south = shift_m
    transform = Affine(gsd_m, 0.0, origin[0] + east, 0.0, -gsd_m, origin[1] - south)
    if to_crs is None and to_gsd_m is None:
        return write_geotiff(path, data, crs, transform, nodata=0)
    dst_crs = to_crs or crs
    h, w = data.shape[1:]
    left, top = transform.c, transform.f
    bounds = (left, top - h * gsd_m, left + w * gsd_m, top)
    t, dw, dh = calculate_default_transform(crs, dst_crs, w, h, *bounds)
    if to_gsd_m is not None:  # same footprint, pixels of to_gsd_m (in the new CRS's units per metre)
        k = to_gsd_m / gsd_m
        t = t * Affine.scale(k)
        dw, dh = max(1, round(dw / k)), max(1, round(dh / k))
    out = np.zeros((data.shape[0], dh, dw), data.dtype)
    reproject(data, out, src_transform=transform, src_crs=crs, dst_transform=t, dst_crs=dst_crs,
              src_nodata=0, dst_nodata=0, resampling=Resampling.cubic)
    return write_geotiff(path, out, dst_crs, t, nodata=0)


def stable_shift(ref: np.ndarray, tgt: np.ndarray, stable: np.ndarray, patch: int = 256,
                 min_correlation: float = 0.5) -> tuple[float, float, int]:
    """An estimate of the shift between two single-band images that shares nothing with
    sitewatch's own (intensity ECC, not phase correlation of gradients): OpenCV's
    findTransformECC, translation only, on every patch x patch tile lying wholly on stable
    ground (stable: boolean, True where nothing changed), and the median (dx, dy) of those
    that converge with a correlation of at least min_correlation. The target's content sits
    at the reference's position + (dx, dy). Returns (dx, dy, tiles used); (nan, nan, 0)
    when no tile qualifies."""
    h, w = ref.shape
    found = []
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 200, 1e-6)
    for y in range(0, h - patch + 1, patch // 2):
        for x in range(0, w - patch + 1, patch // 2):
            if stable[y:y + patch, x:x + patch].mean() < 0.99:
                continue
            a = ref[y:y + patch, x:x + patch].astype(np.float32)
            b = tgt[y:y + patch, x:x + patch].astype(np.float32)
            if a.std() < 1 or b.std() < 1:
                continue
            try:
                cc, warp = cv2.findTransformECC(a, b, np.eye(2, 3, dtype=np.float32), cv2.MOTION_TRANSLATION,
                                                criteria, None, 5)  # type: ignore[call-overload]
            except cv2.error:  # did not converge
                continue
            if cc >= min_correlation:
                found.append((float(warp[0, 2]), float(warp[1, 2])))
    if not found:
        return math.nan, math.nan, 0
    d = np.median(np.array(found), axis=0)
    return float(d[0]), float(d[1]), len(found)
