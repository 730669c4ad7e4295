"""Per-date nuisances: cloud and its shadow, haze, colour balance, misregistration, blur,
sensor noise. None of them is a change at the site; all come from Conditions and date_seed."""

from __future__ import annotations

import math

import cv2
import numpy as np

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


def apply_conditions(img: np.ndarray, spec: SceneSpec) -> np.ndarray:
    c = spec.conditions
    rng = np.random.default_rng([spec.date_seed, 0xDA7E])
    h, w = img.shape[:2]
    M = misregistration_matrix((h, w), c.shift_px, c.rotation_deg)
    if not np.allclose(M, [[1, 0, 0], [0, 1, 0]]):
        img = cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if c.blur_sigma_px > 0:
        cv2.GaussianBlur(img, (0, 0), c.blur_sigma_px, dst=img)
    gains = np.asarray(c.colour_balance, np.float32)
    if not np.allclose(gains, 1.0):
        img *= gains
    if c.noise_sigma > 0:
        noise = rng.standard_normal((h, w), dtype=np.float32)
        noise *= c.noise_sigma
        img += noise[..., None]
    out = np.empty((h, w, 3), np.uint8)
    np.clip(img, 0, 255, out=img)
    np.rint(img, out=img)
    out[:] = img
    return out
