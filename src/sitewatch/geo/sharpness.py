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


def edge_blur_px(gray: np.ndarray, probe_px: float = 2.0, percentile: float = 99.5) -> float | None:
    """The blur (Gaussian sigma, pixels) of the sharpest edges of a 2-D image; None when it
    has no edges to measure (flat, or all one value)."""
    g = np.asarray(gray, dtype=np.float32)
    if g.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {g.shape}")
    before = _strong_gradient(g, percentile)
    if before <= 1e-6:
        return None
    ratio = min(_strong_gradient(cv2.GaussianBlur(g, (0, 0), probe_px), percentile) / before, 0.999)
    return float(probe_px * ratio / np.sqrt(1.0 - ratio * ratio))


def _strong_gradient(g: np.ndarray, percentile: float) -> float:
    magnitude = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
    return float(np.percentile(magnitude, percentile))
