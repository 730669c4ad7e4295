"""Co-registration arithmetic: illumination-robust images, phase correlation on many
windows, and a robust similarity fit that ignores windows with real change.

Pure numpy/OpenCV on arrays; reading pixels from files is geo.align's job.

Matrices are 2x3 (a, b, c; d, e, f) acting on pixel coordinates (col, row), y down:
col' = a*col + b*row + c, row' = d*col + e*row + f. A rotation by t clockwise on the
screen is [[cos t, -sin t], [sin t, cos t]].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
# Phase-correlation peak below which a window is noise, not a match: two independent noise
# fields give peaks of 0.03-0.06 on 256 x 256 windows, matching texture 0.5-0.95.
MIN_RESPONSE = 0.1


SHADOW_QUANTILE = 0.3  # the darkest 30% of a window is lifted to this level before gradients


def structure(img: np.ndarray, valid: np.ndarray | None = None, shadow_quantile: float = SHADOW_QUANTILE) -> np.ndarray:
    """Illumination-normalised structure: gradient magnitude of the lightly smoothed image,
    then zero mean and unit variance over the valid pixels. Gain, offset, haze and (to first
    order) gamma changes leave it unchanged; invalid pixels become 0.

    Shadows move with the sun between dates, and their edges would pull the estimate
    towards the shadow side (by about a tenth of a pixel for dates a week apart). The
    darkest `shadow_quantile` of the window is therefore lifted to that quantile's level
    first: shadow interiors go flat and shadow edges lose most of their contrast, while the
    ground's own texture is kept."""
    f = img.astype(np.float32)
    if shadow_quantile > 0:
        vals = f[valid] if valid is not None else f.reshape(-1)
        if vals.size:
            k = int(shadow_quantile * (vals.size - 1))
            f = np.maximum(f, np.partition(vals, k)[k]).astype(np.float32, copy=False)
    f = cv2.GaussianBlur(f, (0, 0), 1.0)  # type: ignore[assignment]  # float32 in, float32 out
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    # compress the dynamic range so a few bright edges do not dominate, and local contrast
    # (which haze and gain change) matters less than where the edges are
    mag = np.sqrt(mag)
    if valid is not None:
        vals = mag[valid]
        if vals.size == 0:
            return np.zeros_like(mag)
        mu, sd = float(vals.mean()), float(vals.std())
        out = (mag - mu) / (sd + 1e-6)
        out[~valid] = 0.0
        return out
    return (mag - mag.mean()) / (mag.std() + 1e-6)


_HANN: dict[tuple[int, int], np.ndarray] = {}


def hann(shape: tuple[int, int]) -> np.ndarray:
    if shape not in _HANN:
        _HANN[shape] = cv2.createHanningWindow((shape[1], shape[0]), cv2.CV_64F)
    return _HANN[shape]


@dataclass(frozen=True)
class WindowShift:
    """The shift measured in one window: the target's content sits at the reference's
    position + (dx, dy). Centre is the window centre in grid pixels."""

    cx: float
    cy: float
    dx: float
    dy: float
    response: float


def window_shift(ref: np.ndarray, tgt: np.ndarray, cx: float, cy: float,
                 max_fraction: float = 0.25) -> WindowShift | None:
    """Phase correlation of two equal-size structure windows, refined to a fraction of a
    pixel; None if either is blank, the peak is too weak (flat ground, noise, change), or
    the shift exceeds max_fraction of the window (aliased or wrong)."""
    if ref.std() == 0 or tgt.std() == 0:
        return None
    w = hann(ref.shape)
    (dx, dy), resp = cv2.phaseCorrelate(ref.astype(np.float64), tgt.astype(np.float64), w)
    if not (resp >= MIN_RESPONSE and math.isfinite(dx) and math.isfinite(dy)):
        return None
    if abs(dx) > ref.shape[1] * max_fraction or abs(dy) > ref.shape[0] * max_fraction:
        return None
    return WindowShift(cx, cy, float(dx), float(dy), float(resp))


def global_shift(ref: np.ndarray, ref_valid: np.ndarray, tgt: np.ndarray, tgt_valid: np.ndarray) -> WindowShift | None:
    """The translation of the whole (decimated) overlap: one phase correlation of the two
    structure images, allowed up to a third of the image. Large scene change still leaves
    a peak where the stable ground (roads, runways, field edges) agrees; None without one."""
    h, w = ref.shape
    return window_shift(structure(ref, ref_valid), structure(tgt, tgt_valid), w / 2, h / 2, max_fraction=1 / 3)


def shifted(img: np.ndarray, dx: float, dy: float, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """img resampled so that out(x, y) = img(x + dx, y + dy): a target whose content sits
    (dx, dy) away brought back over the reference; 0 outside."""
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=interpolation | cv2.WARP_INVERSE_MAP)


def changed_share(ref: np.ndarray, ref_valid: np.ndarray, tgt: np.ndarray, tgt_valid: np.ndarray,
                  cell: int = 16, min_ncc: float = 0.3) -> float | None:
    """Share of the textured overlap whose structure differs between two co-registered
    images: cells of cell x cell pixels, valid in both, with texture in at least one, whose
    structure correlation is below min_ncc. Flat cells (open water, bare apron) say nothing
    and are not counted. None without any cell to judge."""
    valid = ref_valid & tgt_valid
    a, b = structure(ref, valid, shadow_quantile=0), structure(tgt, valid, shadow_quantile=0)
    h, w = a.shape
    changed = judged = 0
    for y in range(0, h - cell + 1, cell):
        for x in range(0, w - cell + 1, cell):
            if valid[y:y + cell, x:x + cell].mean() < 0.9:
                continue
            ca, cb = a[y:y + cell, x:x + cell], b[y:y + cell, x:x + cell]
            if max(ca.std(), cb.std()) < 0.5:  # no texture in either (structure has unit variance overall)
                continue
            judged += 1
            ncc = float(np.mean((ca - ca.mean()) * (cb - cb.mean())) / (ca.std() * cb.std() + 1e-6))
            changed += ncc < min_ncc
    return changed / judged if judged else None


# --- model fitting ------------------------------------------------------------------------

def fit_similarity(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Least-squares similarity (scale, rotation, translation) mapping src -> dst, (N, 2)."""
    n = len(src)
    w = np.ones(n) if weights is None else weights
    a = np.zeros((2 * n, 4))
    a[0::2] = np.column_stack([src[:, 0], -src[:, 1], np.ones(n), np.zeros(n)])
    a[1::2] = np.column_stack([src[:, 1], src[:, 0], np.zeros(n), np.ones(n)])
    b = dst.reshape(-1)
    sw = np.sqrt(np.repeat(w, 2))
    p, *_ = np.linalg.lstsq(a * sw[:, None], b * sw, rcond=None)
    ca, sb, tx, ty = p
    return np.array([[ca, -sb, tx], [sb, ca, ty]])


def fit_rigid(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares rotation and translation (no scale) mapping src -> dst."""
    w = np.ones(len(src)) if weights is None else weights
    w = w / w.sum()
    cs, cd = w @ src, w @ dst
    a, b = src - cs, dst - cd
    num = float(np.sum(w * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])))
    den = float(np.sum(w * (a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1])))
    t = math.atan2(num, den)
    r = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return np.hstack([r, (cd - r @ cs)[:, None]])


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


@dataclass(frozen=True)
class Fit:
    matrix: np.ndarray
    inliers: np.ndarray  # boolean per correspondence
    rms: float  # of the inliers, pixels


def robust_similarity(src: np.ndarray, dst: np.ndarray, weights: np.ndarray, threshold: float,
                      iterations: int = 300, seed: int = 0, rigid: bool = False,
                      max_bound: float | None = None, l1: bool = False) -> Fit | None:
    """RANSAC over two-point similarity hypotheses, then weighted least squares on the
    consensus set, re-selected until stable. Windows over real change disagree with the
    consensus and are dropped. rigid: the final model has no scale (rotation and shift
    only). None with fewer than three correspondences.

    The consensus is re-selected within 3 robust sigmas of the current fit, between
    threshold / 4 and max_bound (threshold when None). A max_bound above the threshold
    lets the consensus widen to the real spread of the ground: two dates seen from
    different angles, or orthorectified on different elevation models, disagree locally
    by a pixel or two even on flat ground, and the narrow RANSAC mode of such a field is
    one arbitrary part of it, not its centre. l1: the final model minimises the sum of
    the consensus' distances, not of their squares (reweighted least squares), so it sits
    at the median of such a field, which a one-sided tail (buildings leaning away from a
    slanted view) does not drag."""
    bound = threshold if max_bound is None else max_bound
    final = fit_rigid if rigid else fit_similarity
    n = len(src)
    if n < 3:
        return None
    rng = np.random.default_rng(seed)
    best = np.zeros(n, bool)
    best_score = -1.0
    for _ in range(iterations):
        i, j = rng.choice(n, 2, replace=False)
        if np.hypot(*(src[i] - src[j])) < 1e-6:
            continue
        m = fit_similarity(src[[i, j]], dst[[i, j]])
        err = np.linalg.norm(apply(m, src) - dst, axis=1)
        inl = err < threshold
        score = float(weights[inl].sum())
        if score > best_score:
            best, best_score = inl, score
    if best.sum() < 3:
        return None
    inl = best
    m = final(src[inl], dst[inl], weights[inl])
    for _ in range(20):
        err = np.linalg.norm(apply(m, src) - dst, axis=1)
        # consensus: within the threshold, and within 3 robust sigmas of the current fit
        sigma = 1.4826 * float(np.median(err[inl])) if inl.any() else threshold
        new = err < min(bound, max(3.0 * sigma, threshold / 4))
        if new.sum() < 3 or np.array_equal(new, inl):
            break
        inl = new
        m = final(src[inl], dst[inl], weights[inl])
    if l1:
        floor = threshold / 20  # keeps a window sitting on the fit from taking all the weight
        for _ in range(20):
            err = np.linalg.norm(apply(m, src) - dst, axis=1)
            m = final(src[inl], dst[inl], weights[inl] / np.maximum(err[inl], floor))
    err = np.linalg.norm(apply(m, src) - dst, axis=1)
    rms = float(np.sqrt(np.mean(err[inl] ** 2)))
    return Fit(m, inl, rms)


def correspondences(shifts: list[WindowShift], current: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference points, where the same ground is in the target's plain reprojection, and
    weights, from shifts measured on the target resampled with `current`."""
    src = np.array([[s.cx, s.cy] for s in shifts], float).reshape(-1, 2)
    moved = np.array([[s.cx + s.dx, s.cy + s.dy] for s in shifts], float).reshape(-1, 2)
    dst = apply(current, moved)
    w = np.array([s.response for s in shifts], float)
    return src, dst, w


def describe(m: np.ndarray, width: int, height: int) -> tuple[float, float, float, float]:
    """(dx, dy, rotation_deg clockwise, scale) of a matrix, the shift taken at the centre."""
    cx, cy = width / 2.0, height / 2.0
    px, py = apply(m, np.array([[cx, cy]]))[0]
    rot = math.degrees(math.atan2(m[1, 0], m[0, 0]))
    scale = math.hypot(m[0, 0], m[1, 0])
    return float(px - cx), float(py - cy), rot, scale


def scale_matrix(m: np.ndarray, factor: float) -> np.ndarray:
    """The same geometric map expressed on a grid `factor` times coarser."""
    out = m.copy()
    out[:, 2] = m[:, 2] / factor
    return out


def window_centres(width: int, height: int, size: int, count: int, margin: int = 0) -> list[tuple[int, int]]:
    """Top-left corners of up to count x count windows spread evenly over the grid."""
    usable_w = width - 2 * margin - size
    usable_h = height - 2 * margin - size
    if usable_w < 0 or usable_h < 0:
        return []
    nx = max(1, min(count, usable_w // max(1, size // 2) + 1))
    ny = max(1, min(count, usable_h // max(1, size // 2) + 1))
    xs = np.linspace(margin, margin + usable_w, nx).round().astype(int)
    ys = np.linspace(margin, margin + usable_h, ny).round().astype(int)
    return [(int(x), int(y)) for y in ys for x in xs]
