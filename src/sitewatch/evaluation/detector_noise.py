"""A detector noise model: true objects in, Detections out, with controlled errors.

It lets the change logic be tested and benchmarked on known answers without running the
detector: position and heading jitter, size error, missed items, spurious items, type
confusion and score variation. Every draw comes from the caller's numpy Generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sitewatch import equipment
from sitewatch.domain import Detection, OrientedBox, Site
from sitewatch.simulate.scene import PlacedObject


@dataclass(frozen=True)
class DetectorNoise:
    position_sigma_m: float = 0.5
    heading_sigma_deg: float = 3.0
    size_sigma_frac: float = 0.03
    miss_rate: float = 0.0
    spurious_per_image: float = 0.0  # Poisson mean of false detections per image
    type_error_rate: float = 0.0  # chance to name another type of the same class
    score_range: tuple[float, float] = (0.75, 0.98)
    spurious_score_range: tuple[float, float] = (0.3, 0.6)


def noisy_detections(
    objects: Sequence[PlacedObject],
    image_id: str,
    site: Site,
    noise: DetectorNoise,
    rng: np.random.Generator,
) -> list[Detection]:
    out: list[Detection] = []
    for o in objects:
        if rng.random() < noise.miss_rate:
            continue
        typ = o.type
        type_score = float(rng.uniform(*noise.score_range))
        if rng.random() < noise.type_error_rate:
            others = [t.name for t in equipment.types_of_class(o.cls) if t.name != o.type]
            if others:
                typ = str(rng.choice(others))
                type_score = float(rng.uniform(0.4, 0.6))
        b = o.box
        box = OrientedBox(
            b.cx + rng.normal(0, noise.position_sigma_m),
            b.cy + rng.normal(0, noise.position_sigma_m),
            b.length * (1 + rng.normal(0, noise.size_sigma_frac)),
            b.width * (1 + rng.normal(0, noise.size_sigma_frac)),
            b.heading_deg + rng.normal(0, noise.heading_sigma_deg),
        )
        out.append(Detection(box, o.cls, typ, o.state, float(rng.uniform(*noise.score_range)), type_score,
                             float(rng.uniform(*noise.score_range)), image_id, None, "noise-model", "1"))
    left, bottom, right, top = site.grid.bounds
    for _ in range(int(rng.poisson(noise.spurious_per_image))):
        box = OrientedBox(rng.uniform(left, right), rng.uniform(bottom, top), rng.uniform(4, 9),
                          rng.uniform(2, 3), rng.uniform(0, 360))
        out.append(Detection(box, "vehicle", "truck", "normal", float(rng.uniform(*noise.spurious_score_range)),
                             0.5, 0.9, image_id, None, "noise-model", "1"))
    return out
