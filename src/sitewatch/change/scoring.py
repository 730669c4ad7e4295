"""Score recovered events against the change truth: precision, recall and F1 per kind.

A recovered event matches a true one when the kind and the image pair agree and the event
points at the true item: its centre lies within `tolerance_m` of the true item's centre (where
it stands after the change, or where it stood for a departure), or inside the true item's
footprint when the truth gives one. The footprint matters for long items: a detector that
places a 74 m submarine's centre 20 m along its hull still names that submarine, and no other
item can stand inside its hull. Each true event is matched at most once (Hungarian
assignment, nearest first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from sitewatch.domain import EVENT_KINDS, Event


@dataclass(frozen=True)
class TruthEvent:
    kind: str
    before_image: str
    after_image: str
    x: float  # site CRS, where the item is after the change (before, for a departure)
    y: float
    type: str = ""
    track_id: str = ""
    # The true item's footprint (metres, heading clockwise from grid north); 0: unknown.
    length_m: float = 0.0
    width_m: float = 0.0
    heading_deg: float = 0.0

    def covers(self, x: float, y: float) -> bool:
        """Whether the site point (x, y) lies inside the true item's footprint."""
        if self.length_m <= 0 or self.width_m <= 0:
            return False
        h = math.radians(self.heading_deg)
        dx, dy = x - self.x, y - self.y
        along = dx * math.sin(h) + dy * math.cos(h)
        across = dx * math.cos(h) - dy * math.sin(h)
        return abs(along) <= self.length_m / 2 and abs(across) <= self.width_m / 2


@dataclass(frozen=True)
class KindScore:
    kind: str
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def event_location(e: Event) -> tuple[float, float]:
    d = e.before if e.kind == "departed" else e.after
    assert d is not None, f"event {e.id} of kind {e.kind} lacks its detection"
    return d.box.cx, d.box.cy


def score_events(
    predicted: Sequence[Event],
    predicted_pairs: Sequence[tuple[str, str]],
    truth: Sequence[TruthEvent],
    tolerance_m: float = 5.0,
    min_confidence: float = 0.0,
) -> dict[str, KindScore]:
    """predicted_pairs[i] is the (before, after) image pair of predicted[i]."""
    scores: dict[str, KindScore] = {}
    for kind in EVENT_KINDS:
        pe = [(e, pr) for e, pr in zip(predicted, predicted_pairs) if e.kind == kind and e.confidence >= min_confidence]
        te = [t for t in truth if t.kind == kind]
        cost = np.full((len(pe), len(te)), 1e6)
        for i, (e, pr) in enumerate(pe):
            x, y = event_location(e)
            for j, t in enumerate(te):
                if pr == (t.before_image, t.after_image):
                    d = math.hypot(x - t.x, y - t.y)
                    if d <= tolerance_m or t.covers(x, y):
                        cost[i, j] = d
        tp = 0
        if cost.size:
            rows, cols = linear_sum_assignment(cost)
            tp = int(sum(cost[r, c] < 1e6 for r, c in zip(rows, cols)))
        scores[kind] = KindScore(kind, tp, len(pe) - tp, len(te) - tp)
    return scores
