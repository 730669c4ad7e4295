"""The simulator's renderer: a SceneSpec in, a north-up RGB image on the site grid out.

Entry points:
- render_scene(spec) -> (H, W, 3) uint8, row 0 = north edge of spec.site.grid;
- render_instance_masks(spec) -> (H, W) int32, object i of spec.objects has id i + 1,
  drawn on the true grid (before misregistration).
"""

from __future__ import annotations

import cv2
import numpy as np

from sitewatch.simulate.scene import SceneSpec

_SHIFT = 4  # fixed-point bits for cv2.fillPoly sub-pixel vertices
_ONE = 1 << _SHIFT


def _box_pixels(spec: SceneSpec, box) -> np.ndarray:
    g = spec.site.grid
    pts = [g.to_pixel(x, y) for x, y in box.corners()]
    # cv2 fills the pixel whose centre lies inside; pixel (c, r) centre is at (c+0.5, r+0.5).
    return np.round((np.asarray(pts) - 0.5) * _ONE).astype(np.int32)


def render_instance_masks(spec: SceneSpec) -> np.ndarray:
    g = spec.site.grid
    out = np.zeros((g.height_px, g.width_px), np.int32)
    for i, obj in enumerate(spec.objects):
        cv2.fillPoly(out, [_box_pixels(spec, obj.box)], i + 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return out


def render_scene(spec: SceneSpec) -> np.ndarray:
    g = spec.site.grid
    rng = np.random.default_rng(spec.site_seed)
    base = np.array([150, 140, 120] if spec.site.kind == "airbase" else [40, 70, 95], np.uint8)
    img = np.empty((g.height_px, g.width_px, 3), np.uint8)
    img[:] = base
    for obj in spec.objects:
        r = np.random.default_rng(obj.appearance_seed)
        colour = tuple(int(v) for v in r.integers(160, 220, 3))
        cv2.fillPoly(img, [_box_pixels(spec, obj.box)], colour, lineType=cv2.LINE_8, shift=_SHIFT)
    del rng
    return img


__all__ = ["render_scene", "render_instance_masks"]
