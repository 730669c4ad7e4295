"""Per-date nuisances: cloud and its shadow, haze, colour balance, misregistration, blur,
sensor noise. None of them is a change at the site; all come from Conditions and date_seed."""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
from scipy.ndimage import map_coordinates

from sitewatch.simulate.scene import SceneSpec


def misregistration_matrix(shape: tuple[int, int], shift_px: tuple[float, float], rotation_deg: float) -> np.ndarray:
    """2x3 affine (cv2 pixel-centre coordinates) taking a true pixel p to R (p - c) + c + shift.

    c is the image centre, R turns clockwise on the image (x right, y down) by rotation_deg."""
    h, w = shape
    t = math.radians(rotation_deg)
    R = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])  # the centre of the image in cv2 coordinates
    off = c + np.asarray(shift_px, float) - R @ c
    return np.hstack([R, off[:, None]])


HAZE_COLOUR = np.array([198.0, 204.0, 214.0], np.float32)  # a bright, slightly blue veil
CLOUD_COLOUR = np.array([238.0, 238.0, 242.0], np.float32)
CLOUD_HEIGHT_M = 600.0  # low cumulus; sets how far a cloud's shadow lies from the cloud
CLOUD_STEP = 8  # px of the image per cell of the cloud field
CLOUD_MAX_OPACITY = 0.95  # the densest cloud still lets a trace of the ground through


def _cloud_field(shape: tuple[int, int], spec: SceneSpec,
                 rng: np.random.Generator) -> tuple[np.ndarray, int, int, float, float]:
    """The clouds of one date as a low-resolution density field over the image grown by the
    shadow offset: (field, pad rows, pad cols, shadow offset in columns, in rows). A cell
    of the field is CLOUD_STEP px; field[pad_r + r / CLOUD_STEP, pad_c + c / CLOUD_STEP]
    is the density over image pixel (c, r) before the 0.95 cap."""
    c = spec.conditions
    g = spec.site.grid
    h, w = shape
    el = max(c.sun_elevation_deg, 5.0)
    off_m = CLOUD_HEIGHT_M / math.tan(math.radians(el)) if el < 89.9 else 0.0
    a = math.radians(c.sun_azimuth_deg)
    dcol, drow = -math.sin(a) * off_m / g.gsd_m, math.cos(a) * off_m / g.gsd_m
    step = CLOUD_STEP
    pad_c, pad_r = int(abs(dcol)) // step + 2, int(abs(drow)) // step + 2
    lh, lw = h // step + 2 * pad_r + 2, w // step + 2 * pad_c + 2
    cell = max(220.0 / (g.gsd_m * step), 1.0)  # cloud cells about 220 m across
    lo = np.zeros((lh, lw), np.float32)
    for k, wgt in ((1.0, 1.0), (0.45, 0.5), (0.2, 0.25)):
        gh, gw = int(lh / (cell * k)) + 3, int(lw / (cell * k)) + 3
        lat = rng.standard_normal((gh, gw), dtype=np.float32)
        lo += cv2.resize(lat, (int(gw * cell * k), int(gh * cell * k)), interpolation=cv2.INTER_CUBIC)[:lh, :lw] * wgt
    # Threshold on the image's own part of the field, so cloud_cover is this image's share.
    own = lo[pad_r:pad_r + h // step + 1, pad_c:pad_c + w // step + 1]
    thr = float(np.quantile(own, 1.0 - min(max(c.cloud_cover, 0.0), 1.0)))
    # Density rises over a wide band above the threshold: thin wispy edges, dense cores.
    soft = np.sqrt(np.clip((lo - thr) / 0.9, 0.0, 1.0))
    return soft, pad_r, pad_c, dcol, drow


def _clouds(shape: tuple[int, int], spec: SceneSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Soft-edged clouds covering about cloud_cover of the image, and their shadows, which
    lie CLOUD_HEIGHT_M / tan(elevation) away from the sun: (cloud opacity, shadow)."""
    h, w = shape
    step = CLOUD_STEP
    soft, pad_r, pad_c, dcol, drow = _cloud_field(shape, spec, rng)

    def crop(dc: float, dr: float) -> np.ndarray:
        r0, c0 = pad_r + int(round(dr / step)), pad_c + int(round(dc / step))
        part = soft[r0:r0 + h // step + 2, c0:c0 + w // step + 2]
        return cv2.resize(part, (int(part.shape[1] * step), int(part.shape[0] * step)),
                          interpolation=cv2.INTER_LINEAR)[:h, :w]

    shadow = crop(-dcol, -drow)  # the cloud over p shades p + offset, so p is shaded by p - offset
    cloud = crop(0.0, 0.0)
    cloud *= np.float32(CLOUD_MAX_OPACITY)
    return cloud, shadow


def cloud_sampler(spec: SceneSpec) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """sample(cols, rows) -> the cloud opacity (0 clear .. 0.95) that `render_scene` lays over
    the given true pixel positions (continuous, origin at the top-left corner) of this
    date's image, without drawing the image: the same random draws as `apply_conditions`,
    made once here, sampled as its full-resolution resize would be. Zeros where the date
    has no cloud."""
    if spec.conditions.cloud_cover <= 0:
        return lambda cols, rows: np.zeros(np.broadcast(np.asarray(cols), np.asarray(rows)).shape)
    g = spec.site.grid
    soft, pad_r, pad_c, _, _ = _cloud_field((g.height_px, g.width_px), spec, _date_rng(spec))

    def sample(cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
        # cv2's linear resize by CLOUD_STEP reads source (x + 0.5) / step - 0.5 for pixel x.
        r = pad_r + (np.floor(np.asarray(rows, float)) + 0.5) / CLOUD_STEP - 0.5
        c = pad_c + (np.floor(np.asarray(cols, float)) + 0.5) / CLOUD_STEP - 0.5
        return CLOUD_MAX_OPACITY * map_coordinates(soft, [r, c], order=1, mode="nearest")

    return sample


def _haze(shape: tuple[int, int], spec: SceneSpec, rng: np.random.Generator) -> np.ndarray:
    """Strength of an additive veil that lifts darks and lowers contrast, a little uneven."""
    haze = min(max(spec.conditions.haze, 0.0), 1.0)
    h, w = shape
    lo = cv2.resize(rng.uniform(0.85, 1.15, (4, 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return (0.75 * haze) * lo


def _atmosphere(img: np.ndarray, spec: SceneSpec, rng: np.random.Generator) -> None:
    """Cloud shadow, cloud, haze and colour balance in one pass over row blocks:
    img = ((img * (1 - 0.45 shadow) * (1 - cloud) + cloud colour) * (1 - t) + haze * t) * gains."""
    c = spec.conditions
    h, w = img.shape[:2]
    cloud = shadow = t = None
    if c.cloud_cover > 0:
        cloud, shadow = _clouds((h, w), spec, rng)
    if c.haze > 0:
        t = _haze((h, w), spec, rng)
    gains = np.asarray(c.colour_balance, np.float32)
    plain_gains = bool(np.allclose(gains, 1.0))
    if cloud is None and t is None and plain_gains:
        return
    step = 128
    for r in range(0, h, step):
        sl = slice(r, r + step)
        blk = img[sl]
        if cloud is not None:
            cl = cloud[sl]
            blk *= ((1.0 - 0.45 * shadow[sl]) * (1.0 - cl))[..., None]
            # Denser parts are brighter; thin parts let the ground through and look grey.
            blk += CLOUD_COLOUR * (cl * (0.8 + 0.2 * cl))[..., None]
        if t is not None:
            tt = t[sl]
            blk *= (1.0 - tt)[..., None]
            blk += HAZE_COLOUR * tt[..., None]
        if not plain_gains:
            blk *= gains


def _pansharpen_bleed(img: np.ndarray, sigma: float) -> None:
    """Colour is sharper in luminance than in hue: pan-sharpened products carry the colour
    bands at a coarser GSD. Blur the colour difference from luminance, keep luminance."""
    ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
    for band in (1, 2):
        ycc[..., band] = cv2.GaussianBlur(np.ascontiguousarray(ycc[..., band]), (0, 0), sigma)
    cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB, dst=img)


def _date_rng(spec: SceneSpec) -> np.random.Generator:
    """The nuisances' random stream; the clouds are its first draws (`cloud_sampler`)."""
    return np.random.default_rng([spec.date_seed, 0xDA7E])


def apply_conditions(img: np.ndarray, spec: SceneSpec) -> np.ndarray:
    c = spec.conditions
    rng = _date_rng(spec)
    h, w = img.shape[:2]
    _atmosphere(img, spec, rng)
    M = misregistration_matrix((h, w), c.shift_px, c.rotation_deg)
    if not np.allclose(M, [[1, 0, 0], [0, 1, 0]]):
        img = cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if c.blur_sigma_px > 0:
        cv2.GaussianBlur(img, (0, 0), c.blur_sigma_px, dst=img)
        _pansharpen_bleed(img, 2.0 * c.blur_sigma_px)
    if c.noise_sigma > 0:
        # Mostly luminance noise (the bands share a detector), a little per band: the per-band
        # part reuses the same draw displaced by a few pixels, independent where it lands.
        noise = rng.standard_normal((h + 8, w + 8), dtype=np.float32)
        lum = noise[4:4 + h, 4:4 + w] * np.float32(c.noise_sigma * 0.9)
        for band, (dr, dc) in enumerate(((0, 7), (7, 0), (7, 7))):
            img[..., band] += lum + noise[dr:dr + h, dc:dc + w] * np.float32(c.noise_sigma * 0.45)
    np.clip(img, 0, 255, out=img)
    return cv2.convertScaleAbs(img)  # rounds to nearest and saturates to uint8 in one pass
