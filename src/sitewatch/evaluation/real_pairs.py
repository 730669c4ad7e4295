"""The true comings and goings of a real image pair with labelled planes on both dates.

The Airbus set shows three airports on two dates (`realdata.AIRBUS_PAIRS`), every plane
boxed on both. What the pair shows happened between them is found from the labels alone,
never from sitewatch's own output: the second date's boxes are brought into the first
date's pixel frame by the pair's own offset (measured independently of sitewatch, e.g.
`geo.synthetic.stable_shift`), and each plane of the first date is paired with one of the
second of like size at the same stand. Such a pair stayed (it may be another plane of that
size: no image pair tells a swap at a gate from a plane that stayed); an unpaired plane of
the first date departed, one of the second arrived, so a widebody replaced at its gate by a
narrowbody is one departure and one arrival.

Same stand: the two boxes' centres lie within STAND_FRACTION of the longer plane's length.
A re-parked plane then still overlaps its own earlier outline, and the next stand is at
least a wingspan away. Like size: the boxes' longer sides differ by at most SIZE_RATIO
(boxes are axis-aligned, so one plane turned on its stand changes its box by up to
about 1.4). On the three pairs, the planes paired so lie 0.4-12 m apart; by eye, every
pair at one stand with sides 1.47 times apart or more is two planes of different sizes, and
each of those 1.17-1.29 apart shows planes of one size (`tests/test_align_realpairs.py`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment

from sitewatch.evaluation.event_scoring import TruthEvent

STAND_FRACTION = 0.5
SIZE_RATIO = 1.4


def same_stand_pairs(a: np.ndarray, b: np.ndarray, gsd_m: float) -> list[tuple[int, int]]:
    """(i, j): plane i of the first date and plane j of the second (pixel boxes of one frame,
    `realdata.RealImage.boxes`) of like size at the same stand, nearest first (one to one)."""
    if not len(a) or not len(b):
        return []
    dist = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1]) * gsd_m
    side_a, side_b = a[:, None, 2:4].max(axis=2), b[None, :, 2:4].max(axis=2)
    longest, shortest = np.maximum(side_a, side_b) * gsd_m, np.minimum(side_a, side_b) * gsd_m
    alike = longest <= SIZE_RATIO * shortest
    cost = np.where((dist <= STAND_FRACTION * longest) & alike, dist, 1e9)
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(rows, cols) if cost[i, j] < 1e9]


def pair_truth(first: np.ndarray, second: np.ndarray, offset_px: tuple[float, float], gsd_m: float,
               to_site: Callable[[float, float], tuple[float, float]], before_image: str,
               after_image: str) -> tuple[list[TruthEvent], int]:
    """The arrivals and departures the labels show, and how many planes stayed.

    first, second: (N, 5) axis-aligned pixel boxes of the two dates, each in its own image;
    offset_px: where the second image's content sits relative to the first's (dx, dy px);
    to_site: a pixel of the first image's frame to site coordinates (metres). A departure
    stands where the plane stood, an arrival where it stands now; the footprint is the
    label's box (length along the image's rows, so heading 0 on a north-up image)."""
    second = np.asarray(second, float).reshape(-1, 5).copy()
    second[:, 0] -= offset_px[0]
    second[:, 1] -= offset_px[1]
    first = np.asarray(first, float).reshape(-1, 5)
    pairs = same_stand_pairs(first, second, gsd_m)
    stayed_first, stayed_second = {i for i, _ in pairs}, {j for _, j in pairs}

    def event(kind: str, box: np.ndarray) -> TruthEvent:
        x, y = to_site(float(box[0]), float(box[1]))
        return TruthEvent(kind, before_image, after_image, x, y, length_m=float(box[2]) * gsd_m,
                          width_m=float(box[3]) * gsd_m, heading_deg=0.0)

    events = [event("departed", b) for i, b in enumerate(first) if i not in stayed_first]
    events += [event("arrived", b) for j, b in enumerate(second) if j not in stayed_second]
    return events, len(pairs)
