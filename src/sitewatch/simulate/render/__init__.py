"""The simulator's renderer: a SceneSpec in, a north-up RGB image on the site grid out.

Entry points:
- render_scene(spec) -> (H, W, 3) uint8, row 0 = north edge of spec.site.grid, pixel
  (col, row) centred at grid.to_map(col + 0.5, row + 0.5);
- render_instance_masks(spec) -> (H, W) int32: object i of spec.objects has id i + 1, 0 is
  none, drawn on the true grid (before misregistration);
- render_ground(spec) -> (float32 H x W x 3 ground, structures): the date-independent
  ground before shadows and nuisances, and what stands on it (buildings, shelters, berms,
  trees, cranes) with heights for the shadow pass.

Order of work: ground (site_seed only) -> shadows of ground structures and objects (the
date's sun) -> objects (appearance_seed) -> cloud, haze, colour balance -> misregistration
-> blur and colour bleed -> sensor noise (date_seed) -> uint8.

Modules: parts (Part and shape helpers), aircraft / rotorcraft / ships / vehicles
(planforms per class), paint (schemes), objects (drawing objects), raster (coverage,
shadows, shading), textures / zones / pavement / furniture / ground (the ground), nuisance
(per-date effects), checks (refusing specs it cannot draw).
"""

from __future__ import annotations

import cv2
import numpy as np

from sitewatch.simulate.render.checks import check_spec
from sitewatch.simulate.render.ground import render_ground
from sitewatch.simulate.render.nuisance import apply_conditions
from sitewatch.simulate.render.objects import draw_instance, draw_object, draw_shadows, object_parts
from sitewatch.simulate.render.raster import SHIFT, shadow_offset_px, sun_vector, sweep_shadow, to_cv
from sitewatch.simulate.scene import SceneSpec

# Fraction of direct light a shadow removes per channel: skylight fills shadows, bluish.
SHADOW_DEPTH = np.array([0.58, 0.55, 0.47], np.float32)


def render_instance_masks(spec: SceneSpec) -> np.ndarray:
    check_spec(spec)
    g = spec.site.grid
    labels = np.zeros((g.height_px, g.width_px), np.int32)
    for i, obj in enumerate(spec.objects):
        draw_instance(labels, obj, object_parts(obj), g, i + 1)
    return labels


def render_scene(spec: SceneSpec) -> np.ndarray:
    check_spec(spec)
    g = spec.site.grid
    c = spec.conditions
    ground, structures = render_ground(spec)
    img = ground  # float32, owned here
    per_m = shadow_offset_px(c.sun_azimuth_deg, c.sun_elevation_deg, g.gsd_m)
    sun = sun_vector(c.sun_azimuth_deg, c.sun_elevation_deg)
    all_parts = [object_parts(o) for o in spec.objects]
    if per_m != (0.0, 0.0):
        shadow = np.zeros((g.height_px, g.width_px), np.uint8)
        for s in structures:
            sweep_shadow(shadow, s.poly_px, s.base_m, s.height_m, per_m)
        for s in structures:  # a roof or a canopy is not in its own shadow
            if s.base_m == 0.0:
                cv2.fillPoly(shadow, [to_cv(s.poly_px)], 0, cv2.LINE_8, SHIFT)
        for obj, parts in zip(spec.objects, all_parts):
            draw_shadows(shadow, obj, parts, g, per_m)
        _darken(img, shadow)
        del shadow
    for obj, parts in zip(spec.objects, all_parts):
        draw_object(img, obj, parts, g, sun)
    return apply_conditions(img, spec)


def _darken(img: np.ndarray, shadow: np.ndarray) -> None:
    """img *= 1 - depth * shadow, by row blocks to keep temporaries small."""
    step = 256
    for r in range(0, img.shape[0], step):
        s = shadow[r:r + step]
        if not s.any():
            continue
        f = 1.0 - s[..., None].astype(np.float32) * (SHADOW_DEPTH / 255.0)
        img[r:r + step] *= f


__all__ = ["render_scene", "render_instance_masks", "render_ground"]
