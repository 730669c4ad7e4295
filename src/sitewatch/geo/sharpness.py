"""How blurred an image is: the Gaussian blur of its sharpest edges, in pixels.

Why: the detector's vehicles fail on blurred coarse images (docs/model-card.md, "0.8.0":
vehicle AP50 0.95 under 0.2 m of blur, 0.13 above 0.8 m), and an analyst should know when
an image is one of those. GSD alone does not say it.

Method (re-blur): blur the image again by a known Gaussian of `probe_px` and compare the
strongest gradients before and after. A step edge blurred by sigma b has a peak gradient
proportional to 1/b; blurred again by s, to 1/sqrt(b^2 + s^2). Their ratio r gives
b = s r / sqrt(1 - r^2). The strongest gradients (a high percentile) are the image's
sharpest edges: roofs, markings, vehicles. A perfectly sharp step reads about 0.8 px (the
pixel and the gradient operator), so the answer is the blur of the image as sampled, which
is what a detector sees.
"""

from __future__ import annotations

import cv2
import numpy as np

SHARP_STEP_PX = 0.8  # what a perfectly sharp step edge reads
# From this edge blur on the ground (metres) simulated vehicle recall falls: 0.64 on images
# this blurred against 0.94 on the others (bench/eval_blur.py; docs/model-card.md, working
# range). Detection warns about such images, and the assessment says so.
BLURRED_FOR_VEHICLES_M = 0.7


def edge_blur_px(gray: np.ndarray, probe_px: float = 2.0, percentile: float = 99.5,
                 valid: np.ndarray | None = None) -> float | None:
    """The blur (Gaussian sigma, pixels) of the sharpest edges of a 2-D image; None when it
    has no edges to measure (flat, or all one value). valid: a boolean mask of the pixels
    that hold data; gradients within 3 px of the rest are left out (the edge of the data is
    no edge of the scene)."""
    g = np.asarray(gray, dtype=np.float32)
    if g.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {g.shape}")
    keep = None
    if valid is not None:
        keep = cv2.erode(np.asarray(valid, np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        if keep.sum() < 64:
            return None
    before = _strong_gradient(g, percentile, keep)
    if before <= 1e-6:
        return None
    ratio = min(_strong_gradient(cv2.GaussianBlur(g, (0, 0), probe_px), percentile, keep) / before, 0.999)
    return float(probe_px * ratio / np.sqrt(1.0 - ratio * ratio))


def _strong_gradient(g: np.ndarray, percentile: float, keep: np.ndarray | None = None) -> float:
    magnitude = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
    return float(np.percentile(magnitude if keep is None else magnitude[keep], percentile))


def sampled_edge_blur_px(image: np.ndarray, crop_px: int = 512, per_side: int = 2) -> float | None:
    """The median edge blur (pixels) of per_side x per_side crops of crop_px, centred on a
    regular grid over an (H, W) or (H, W, bands) image (the bands averaged), so a large
    image is measured in milliseconds; None when no crop has edges. Zero pixels (all bands)
    are taken for no data, and the edge of the data is left out of the measure."""
    img = np.asarray(image)
    gray = img.mean(axis=2, dtype=np.float32) if img.ndim == 3 else img.astype(np.float32)
    h, w = gray.shape
    blurs = []
    for i in range(per_side):
        for j in range(per_side):
            cy, cx = int((i + 0.5) * h / per_side), int((j + 0.5) * w / per_side)
            r0, c0 = max(0, cy - crop_px // 2), max(0, cx - crop_px // 2)
            crop = gray[r0:r0 + crop_px, c0:c0 + crop_px]
            if crop.size and crop.max() > 0:
                blurs.append(edge_blur_px(crop, valid=crop > 0))
    measured = [b for b in blurs if b is not None]
    return float(np.median(measured)) if measured else None
