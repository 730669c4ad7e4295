"""The ground (placeholder while the full ground is written)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sitewatch.simulate.scene import SceneSpec


@dataclass(frozen=True)
class Structure:
    poly_px: np.ndarray
    height_m: float


def render_ground(spec: SceneSpec) -> tuple[np.ndarray, list[Structure]]:
    g = spec.site.grid
    base = np.array([150, 140, 120] if spec.site.kind == "airbase" else [40, 70, 95], np.float32)
    img = np.empty((g.height_px, g.width_px, 3), np.float32)
    img[:] = base
    return img, []
