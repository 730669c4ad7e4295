"""Score recovered events against the change truth: precision, recall and F1 per kind.

A recovered event matches a true one when the kind and the image pair agree and the event
points at the true item: its centre lies within `tolerance_m` of the true item's centre (where
it stands after the change, or where it stood for a departure), or inside the true item's
footprint when the truth gives one. The footprint matters for long items: a detector that
places a 74 m submarine's centre 20 m along its hull still names that submarine, and no other
item can stand inside its hull. Each true event is matched at most once (Hungarian
assignment, nearest first).

`what_images_show` turns both sides into what an image pair can show at all (the
"recoverable" figures of `bench/bench_change.py`). `moves_as_comings_and_goings` rewrites the
moves of classes whose items cannot be told apart
(ships of one class at 0.5 m) as what an image pair can show of them: one departure from the
old place and one arrival at the new one, on both the true and the recovered side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from sitewatch.domain import EVENT_KINDS, Event
from sitewatch.equipment import get as equipment_type


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
    # For a move: where the item stood before it and its heading then; None: not a move,
    # or not known.
    from_x: float | None = None
    from_y: float | None = None
    from_heading_deg: float | None = None
    # Cloud hid the item on a date the change needs seen (the earlier for an arrival, the
    # later for a departure, either for a move or a change of state): no image pair shows it.
    hidden: bool = False

    def covers(self, x: float, y: float) -> bool:
        """Whether the site point (x, y) lies inside the true item's footprint."""
        if self.length_m <= 0 or self.width_m <= 0:
            return False
        along, across = self.offset(x, y)
        return abs(along) <= self.length_m / 2 and abs(across) <= self.width_m / 2

    def offset(self, x: float, y: float) -> tuple[float, float]:
        """The site point (x, y) from the true item's centre: along its axis, and across it."""
        h = math.radians(self.heading_deg)
        dx, dy = x - self.x, y - self.y
        return dx * math.sin(h) + dy * math.cos(h), dx * math.cos(h) - dy * math.sin(h)


@dataclass(frozen=True)
class KindScore:
    kind: str
    tp: int
    fp: int
    fn: int
    # Which ones were wrong, for looking into them: predicted events matched to no truth
    # event, and truth events no prediction matched.
    false: tuple[Event, ...] = field(default=(), compare=False, repr=False)
    missed: tuple[TruthEvent, ...] = field(default=(), compare=False, repr=False)

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


def _near(t: TruthEvent, x: float, y: float, tolerance_m: float) -> bool:
    """Whether a reported event at (x, y) stands where the true one does."""
    return math.hypot(x - t.x, y - t.y) <= tolerance_m or t.covers(x, y)


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
                    if _near(t, x, y, tolerance_m):
                        cost[i, j] = math.hypot(x - t.x, y - t.y)
        hits: list[tuple[int, int]] = []
        if cost.size:
            rows, cols = linear_sum_assignment(cost)
            hits = [(r, c) for r, c in zip(rows, cols) if cost[r, c] < 1e6]
        hit_pred, hit_truth = {r for r, _ in hits}, {c for _, c in hits}
        tp = len(hits)
        scores[kind] = KindScore(kind, tp, len(pe) - tp, len(te) - tp,
                                 tuple(e for i, (e, _) in enumerate(pe) if i not in hit_pred),
                                 tuple(t for j, t in enumerate(te) if j not in hit_truth))
    return scores


def moves_as_comings_and_goings(
    predicted: Sequence[Event],
    predicted_pairs: Sequence[tuple[str, str]],
    truth: Sequence[TruthEvent],
    classes: Sequence[str] = ("ship",),
) -> tuple[list[Event], list[tuple[str, str]], list[TruthEvent]]:
    """Moves of items of `classes` rewritten, on both sides, as a departure and an arrival.

    One frigate of a class is every other frigate of that class at 0.5 m: no image tells "it
    moved from berth 2 to berth 5" from "one left berth 2, another came to berth 5". The
    simulator draws both stories equally often, so scoring either as the other's miss would
    grade a coin toss. Truth moves need their origin (`from_x`, `from_y`); one without is
    left as a move."""
    events: list[Event] = []
    pairs: list[tuple[str, str]] = []
    for e, pr in zip(predicted, predicted_pairs):
        if e.kind == "moved" and e.cls in classes:
            events += [replace(e, kind="departed", after=None), replace(e, kind="arrived", before=None)]
            pairs += [pr, pr]
        else:
            events.append(e)
            pairs.append(pr)
    true: list[TruthEvent] = []
    for t in truth:
        if t.kind == "moved" and t.from_x is not None and t.from_y is not None \
                and _class_of(t.type) in classes:
            heading = t.heading_deg if t.from_heading_deg is None else t.from_heading_deg
            gone = replace(t, kind="departed", x=t.from_x, y=t.from_y, heading_deg=heading)
            come = replace(t, kind="arrived")
            true += [replace(e, from_x=None, from_y=None, from_heading_deg=None) for e in (gone, come)]
        else:
            true.append(t)
    return events, pairs, true


def _class_of(type_name: str) -> str | None:
    try:
        return equipment_type(type_name).cls
    except KeyError:
        return None


def same_spot_swaps(truth: Sequence[TruthEvent]) -> set[int]:
    """Indices of true events no image can show: an item leaves and another of the same type
    takes its spot (`_same_spot`) in the same interval. The pixels see one item that stayed,
    or that changed state."""
    out: set[int] = set()
    for i, t in enumerate(truth):
        for j, u in enumerate(truth):
            if {t.kind, u.kind} == {"arrived", "departed"} and t.type == u.type \
                    and (t.before_image, t.after_image) == (u.before_image, u.after_image) \
                    and _same_spot(t, u):
                out |= {i, j}
    return out


def _same_spot(t: TruthEvent, u: TruthEvent) -> bool:
    """Whether u stands where t stood: within half the length of t's centre. A hull is long
    and narrow: another one within half a length but more than a beam to the side lies
    alongside, at another place on the quay, and the images show it there (the matching's
    hull gate, `sitewatch.change.matching`, draws the same line)."""
    if _class_of(t.type) == "ship" and t.width_m > 0 and abs(t.offset(u.x, u.y)[1]) > max(t.width_m, u.width_m):
        return False
    return math.hypot(u.x - t.x, u.y - t.y) < 0.5 * max(t.length_m, u.length_m, 1.0)


def moves_that_were_comings_and_goings(
    predicted: Sequence[Event],
    predicted_pairs: Sequence[tuple[str, str]],
    truth: Sequence[TruthEvent],
    tolerance_m: float = 5.0,
) -> tuple[list[Event], list[tuple[str, str]]]:
    """Claimed moves restated as a departure and an arrival where the truth has exactly that:
    an item of the move's type leaving its start and another of that type coming to its end
    in the same interval. One S-400 launcher is every other one at 0.5 m: "it moved 10 m" and
    "one left, another came 10 m away" look the same, so neither reading is wrong. A state
    change claimed on the moved item goes too: the two stories differ in it alone."""
    used: set[int] = set()
    restated: set[tuple[str, tuple[str, str]]] = set()  # (track id, pair) of restated moves
    events: list[Event] = []
    pairs: list[tuple[str, str]] = []
    for e, pr in zip(predicted, predicted_pairs):
        if e.kind == "moved" and e.before is not None and e.after is not None:
            ends = []
            for kind, d in (("departed", e.before), ("arrived", e.after)):
                ends.append(next((i for i, t in enumerate(truth) if i not in used and t.kind == kind
                                  and t.type == e.type and pr == (t.before_image, t.after_image)
                                  and _near(t, d.box.cx, d.box.cy, tolerance_m)), None))
            if None not in ends:
                used.update(ends)
                restated.add((e.track_id, pr))
                events += [replace(e, kind="departed", after=None), replace(e, kind="arrived", before=None)]
                pairs += [pr, pr]
                continue
        events.append(e)
        pairs.append(pr)
    kept = [(e, pr) for e, pr in zip(events, pairs)
            if not (e.kind == "state_changed" and (e.track_id, pr) in restated)]
    return [e for e, _ in kept], [pr for _, pr in kept]


def what_images_show(
    predicted: Sequence[Event],
    predicted_pairs: Sequence[tuple[str, str]],
    truth: Sequence[TruthEvent],
    tolerance_m: float = 5.0,
) -> tuple[list[Event], list[tuple[str, str]], list[TruthEvent]]:
    """Both sides restated as what an image pair can show.

    - Ship moves become a departure and an arrival (`moves_as_comings_and_goings`).
    - Same-spot swaps (`same_spot_swaps`) leave the truth, found once ship moves are so
      restated: a Kilo that moves off its berth while another comes to it leaves a Kilo
      there on both dates. A state change reported on such a spot is left out too, neither
      right nor wrong: a Mi-24 with its rotors off replaced by a whole one is, in the
      pixels, one Mi-24 that got its rotors back.
    - A claimed move whose ends are a true departure and a true arrival of its type is that
      departure and that arrival (`moves_that_were_comings_and_goings`).
    - Changes that cloud hid (`TruthEvent.hidden`) leave the truth, and any event reported
      on their spot in their interval is left out, neither right nor wrong."""
    predicted, predicted_pairs, truth = moves_as_comings_and_goings(predicted, predicted_pairs, truth)
    swaps = same_spot_swaps(truth)
    spots = [truth[i] for i in swaps]
    clouded = [t for t in truth if t.hidden]
    kept = [t for i, t in enumerate(truth) if i not in swaps and not t.hidden]
    events, pairs = [], []
    for e, pr in zip(predicted, predicted_pairs):
        x, y = event_location(e)
        if any(pr == (t.before_image, t.after_image) and _near(t, x, y, tolerance_m) for t in clouded):
            continue
        if e.kind == "state_changed":
            if any(pr == (t.before_image, t.after_image) and _near(t, x, y, tolerance_m) for t in spots):
                continue
        events.append(e)
        pairs.append(pr)
    events, pairs = moves_that_were_comings_and_goings(events, pairs, kept, tolerance_m)
    return events, pairs, kept
