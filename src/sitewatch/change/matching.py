"""Match the detections of two dates on the site grid with a global assignment.

Two passes, both solved with the Hungarian method (scipy's linear_sum_assignment):

1. *Stay*: each item of the earlier date is paired with a detection of the later date that
   lies within its stay gate (see `stay_gate_m`), scored on distance, class, type, size and
   heading. Class disagreement is forbidden; a confident type disagreement costs as much as a
   full gate of distance. When the caller can look at the pixels, a type disagreement is
   settled by them: if the ground under the pair clearly changed, another item now stands
   where the first one stood (a Su-34 parked where a Su-24M was), and the pair is forbidden;
   if it did not change, it is the same item and the detector named it differently, and the
   pair is allowed whatever the type scores.
2. *Move*: what is left on both sides is paired again, anywhere on the site, but only
   between detections of the same known type (a "moved" event claims the same item, so the
   evidence must name it), never for ships or vehicles (`MatchParams.move_classes`), and,
   when the caller can look at the pixels, only from a place that emptied to a place that
   filled; scored on distance and shape.

Everything still unpaired afterwards is a candidate arrival (later date) or departure
(earlier date); `sitewatch.change.tracking` decides, across all dates, which it is.

The stay gate. An item that has not moved is seen again within the detector's localisation
error (about 1 m for a box at 0.5 m GSD) plus the residual misalignment (<= 0.2 px, i.e.
0.1 m at 0.5 m GSD, after `align`). A real move of a parked item is at least a fraction of
its own length: aircraft and vehicles are re-parked, not nudged. We therefore call an item
"moved" once its centre has shifted by more than
``max(0.5 * item length, 3 m + 3 * alignment sigma)``: half the length keeps large items
(an An-124 jittering by 3 m) from moving, and the 3 m floor keeps small ones (a car whose
box is 4.5 m long) from moving on detector noise alone.

Ships are the exception (`MatchParams.hull_classes`). A hull is long and even along its
length, so the detector's error in placing its centre runs along the hull (tens of metres
on a 74 m submarine) while its error across the hull stays small; and a berth holds one
hull on its axis. Their gate is an ellipse on the hull's axis: `hull_along_fraction` of the
length along it, the width (at least the floor) across it. A ship rafted alongside is a
beam away and falls outside; one moored bow to stern is a length away and falls outside.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from sitewatch.change.events import CONTRADICTS, SUPPORTS, SURE_TYPE
from sitewatch.domain import UNKNOWN_TYPE, Detection
from sitewatch.equipment import get as equipment_type
from sitewatch.equipment import is_known_type

FORBIDDEN = 1e6


@dataclass(frozen=True)
class MatchParams:
    """Weights and gates of the matching cost. Distances in metres."""

    align_sigma_m: float = 0.1  # 0.2 px residual at 0.5 m GSD
    stay_floor_m: float = 3.0
    stay_fraction_of_length: float = 0.5
    max_move_m: float | None = None  # None: anywhere on the site
    type_weight: float = 1.0  # cost of a confident type disagreement (one gate's worth)
    size_weight: float = 0.5  # per unit of |log size ratio|
    heading_weight: float = 0.3  # per 180 degrees of heading difference
    max_cost: float = 2.0  # pairs above this are not the same item
    min_move_type_score: float = 0.5  # a move needs a named type on both dates
    confident_type_score: float = SURE_TYPE  # two types this sure and different: not the same item
    # Classes whose type the detector reads well enough (99% of aircraft, 97-100% of
    # helicopters, 100% of ships since 0.9.0's hull type reader; model card) that two sure,
    # different names on one spot mean two items, whatever the pixels say: a Su-34 parked
    # where a Su-24M stood changes little under the box, yet it is another aircraft, and a
    # Ropucha moored where a frigate lay changes a grey hull for a grey hull. Air defence
    # is read less surely.
    replacement_classes: tuple[str, ...] = ("aircraft", "helicopter", "ship")
    # Both names at least this sure. 0.98 until session 16; at 0.95 a Su-34 named at 0.98
    # where a Su-24M stood is two aircraft (change benchmark seed 5004), and no item that
    # stayed on the 150 benchmark scenes was split.
    replacement_type_score: float = 0.95
    # Classes whose items may be claimed to have moved. Ships of one class look alike at
    # 0.5 m and leave and come in port, so a ship at a new berth is reported as one
    # departure and one arrival rather than as the same hull moved. Cars and trucks come
    # and go all day and one car is every other car: a car gone here and a car come there
    # are a departure and an arrival, never "the same car moved".
    move_classes: tuple[str, ...] = ("aircraft", "helicopter", "air_defence")
    # Classes gated along their axis (see the module doc), and how far along it.
    hull_classes: tuple[str, ...] = ("ship",)
    hull_along_fraction: float = 0.75
    # Classes whose length, in one state, tells two items apart at one spot: the detector
    # measures an aircraft's length to 5-10 % (model card), so one seen max_length_ratio
    # times longer or shorter on another date is another aircraft, whatever its type says
    # (civil airliners are all `unknown`: issue 32's real Pleiades pairs have widebodies
    # replaced by narrowbodies at their gates, 1.5-2x). Swing wings change the span, not
    # the length; a state change (a nose visor raised) is forgiven.
    length_classes: tuple[str, ...] = ("aircraft",)
    max_length_ratio: float = 1.4


@dataclass(frozen=True)
class Pair:
    before: int  # index into the earlier date's detections
    after: int  # index into the later date's detections
    cost: float
    moved: bool
    distance_m: float


@dataclass
class MatchResult:
    pairs: list[Pair] = field(default_factory=list)
    unmatched_before: list[int] = field(default_factory=list)
    unmatched_after: list[int] = field(default_factory=list)


def stay_gate_m(a: Detection, b: Detection, params: MatchParams) -> float:
    """The largest centre shift that still counts as "not moved" for this pair."""
    length = max(a.box.length, b.box.length)
    return max(params.stay_fraction_of_length * length, params.stay_floor_m + 3.0 * params.align_sigma_m)


def stay_distance(a: Detection, b: Detection, params: MatchParams) -> float:
    """The centre shift from a to b in units of the stay gate: at most 1 means "not moved"."""
    dx, dy = b.box.cx - a.box.cx, b.box.cy - a.box.cy
    if a.cls in params.hull_classes and a.cls == b.cls:
        h = math.radians(a.box.heading_deg)
        along = dx * math.sin(h) + dy * math.cos(h)
        across = dx * math.cos(h) - dy * math.sin(h)
        floor = params.stay_floor_m + 3.0 * params.align_sigma_m
        gate_along = max(params.hull_along_fraction * max(a.box.length, b.box.length), floor)
        gate_across = max(max(a.box.width, b.box.width), floor)
        return math.hypot(along / gate_along, across / gate_across)
    return math.hypot(dx, dy) / stay_gate_m(a, b, params)


def heading_difference_deg(h1: float, h2: float) -> float:
    """Smallest absolute angle between two headings, in [0, 180]."""
    d = abs(h1 - h2) % 360.0
    return 360.0 - d if d > 180.0 else d


def _known(d: Detection) -> bool:
    return d.type != UNKNOWN_TYPE and d.type != ""


def _types_disagree(a: Detection, b: Detection, params: MatchParams) -> bool:
    """Both dates name a type with confidence, and not the same one: another item now
    stands in that place (a Su-34 where a Su-24M was), not the same item."""
    return (_known(a) and _known(b) and a.type != b.type
            and min(a.type_score, b.type_score) >= params.confident_type_score)


def replacement_evidence(det: Detection, others: Sequence[Detection], params: MatchParams) -> float:
    """How sure we are that another item now stands where `det` stood (or stood where it
    stands): a detection of the other date, of the same class, within det's stay gate, that
    names another type surely (both type scores at least `replacement_type_score`, classes
    in `replacement_classes`). 0 when there is none; else the lower of the two type scores."""
    if det.cls not in params.replacement_classes or not _known(det) or det.type_score < params.replacement_type_score:
        return 0.0
    best = 0.0
    for o in others:
        if o.cls == det.cls and _known(o) and o.type != det.type and o.type_score >= params.replacement_type_score \
                and stay_distance(det, o, params) <= 1.0:
            best = max(best, min(det.type_score, o.type_score))
    return best


def same_or_unnamed_type(a: Detection, b: Detection) -> bool:
    """The two detections name the same type, or one of them names none."""
    return not (_known(a) and _known(b)) or a.type == b.type


def state_change_of_one_item(before: Detection, after: Detection) -> bool:
    """Whether before -> after reads as one item changing state: the item's type (as named
    on the later date) has the earlier state too. "An S-400 launcher, erect" followed by
    "a 92N6 radar, deployed" on one spot is no radar that changed state (a radar is never
    erect): the type was misread on one date, or another item stands there."""
    if before.state == after.state:
        return False
    if not _known(after) or not is_known_type(after.type):
        return True
    return before.state in equipment_type(after.type).states


def _type_cost(a: Detection, b: Detection, params: MatchParams) -> float:
    if same_or_unnamed_type(a, b):
        return 0.0
    return params.type_weight * min(a.type_score, b.type_score)


def _shape_cost(a: Detection, b: Detection, params: MatchParams) -> float:
    # A change of state (rotor removed, nose open) changes the outline; forgive size then.
    size_w = params.size_weight * (0.3 if a.state != b.state else 1.0)
    size = abs(math.log(a.box.length / b.box.length)) + abs(math.log(a.box.width / b.box.width))
    heading = heading_difference_deg(a.box.heading_deg, b.box.heading_deg) / 180.0
    return size_w * min(size, 2.0) + params.heading_weight * heading


def _other_length(a: Detection, b: Detection, params: MatchParams) -> bool:
    """Whether a and b, in one state, differ in length too much to be one item."""
    if a.cls not in params.length_classes or a.state != b.state:
        return False
    longer, shorter = max(a.box.length, b.box.length), min(a.box.length, b.box.length)
    return longer > params.max_length_ratio * shorter


def stay_cost(a: Detection, b: Detection, params: MatchParams,
              pixel_change: Callable[[], float] | None = None) -> float:
    """Cost of calling b the same item as a, in the same place; FORBIDDEN outside the gate.

    pixel_change, when given, says how much the ground under the two boxes changed between
    the dates (0-1); it is asked only inside the gate and only when the named types differ,
    and it settles that disagreement (see the module doc)."""
    if a.cls != b.cls or _other_length(a, b, params):
        return FORBIDDEN
    shift = stay_distance(a, b, params)
    if shift > 1.0:
        return FORBIDDEN
    if pixel_change is not None and _known(a) and _known(b) and a.type != b.type:
        change = pixel_change()
        if change >= SUPPORTS or (change >= CONTRADICTS and _types_disagree(a, b, params)):
            return FORBIDDEN
    elif _types_disagree(a, b, params):
        return FORBIDDEN
    cost = shift ** 2 + _type_cost(a, b, params) + _shape_cost(a, b, params)
    return cost if cost <= params.max_cost else FORBIDDEN


def move_cost(a: Detection, b: Detection, params: MatchParams, scale_m: float) -> float:
    """Cost of calling b the same item as a after a move; FORBIDDEN unless both dates name
    the same type with some confidence."""
    if a.cls != b.cls or not (_known(a) and _known(b)) or a.type != b.type or a.cls not in params.move_classes:
        return FORBIDDEN
    if min(a.type_score, b.type_score) < params.min_move_type_score:
        return FORBIDDEN
    d = math.hypot(a.box.cx - b.box.cx, a.box.cy - b.box.cy)
    if params.max_move_m is not None and d > params.max_move_m:
        return FORBIDDEN
    # Heading is no evidence once an item has been re-parked; size still is.
    size = abs(math.log(a.box.length / b.box.length)) + abs(math.log(a.box.width / b.box.width))
    size_w = params.size_weight * (0.3 if a.state != b.state else 1.0)
    cost = d / scale_m + size_w * min(size, 2.0)
    return cost if cost <= params.max_cost else FORBIDDEN


def _assign(cost: np.ndarray) -> list[tuple[int, int, float]]:
    if cost.size == 0:
        return []
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c), float(cost[r, c])) for r, c in zip(rows, cols) if cost[r, c] < FORBIDDEN]


def match(
    before: Sequence[Detection],
    after: Sequence[Detection],
    params: MatchParams | None = None,
    site_extent_m: float = 2000.0,
    can_leave: Callable[[int], bool] | None = None,
    can_arrive: Callable[[int], bool] | None = None,
    pair_change: Callable[[int, int], float] | None = None,
) -> MatchResult:
    """Pair the detections of two dates: first items that stayed, then items that moved.

    site_extent_m scales the distance term of the move pass (the site's diagonal is a good
    value), so that among several candidates of one type the nearest wins. can_leave(i) and
    can_arrive(j), when given, are asked only about items left over by the stay pass: whether
    the earlier item's place really emptied and the later item's place really filled (the
    pixels say so). Only such items may form a move; the others were missed by the detector
    on one of the dates. pair_change(i, j), when given, is asked about stay candidates whose
    named types differ: how much the ground under them changed (see `stay_cost`).
    """
    params = params or MatchParams()
    result = MatchResult()
    nb, na = len(before), len(after)
    cost = np.full((nb, na), FORBIDDEN)
    for i, a in enumerate(before):
        for j, b in enumerate(after):
            asked = None if pair_change is None else (lambda i=i, j=j: pair_change(i, j))
            cost[i, j] = stay_cost(a, b, params, asked)
    used_b: set[int] = set()
    used_a: set[int] = set()
    for i, j, c in _assign(cost):
        a, b = before[i], after[j]
        d = math.hypot(a.box.cx - b.box.cx, a.box.cy - b.box.cy)
        result.pairs.append(Pair(i, j, c, moved=False, distance_m=d))
        used_b.add(i)
        used_a.add(j)

    left_b = [i for i in range(nb) if i not in used_b and (can_leave is None or can_leave(i))]
    left_a = [j for j in range(na) if j not in used_a and (can_arrive is None or can_arrive(j))]
    mcost = np.full((len(left_b), len(left_a)), FORBIDDEN)
    for r, i in enumerate(left_b):
        for c, j in enumerate(left_a):
            mcost[r, c] = move_cost(before[i], after[j], params, max(site_extent_m, 1.0))
    for r, c, cst in _assign(mcost):
        i, j = left_b[r], left_a[c]
        a, b = before[i], after[j]
        d = math.hypot(a.box.cx - b.box.cx, a.box.cy - b.box.cy)
        result.pairs.append(Pair(i, j, cst, moved=True, distance_m=d))
        used_b.add(i)
        used_a.add(j)

    result.pairs.sort(key=lambda p: (p.before, p.after))
    result.unmatched_before = [i for i in range(nb) if i not in used_b]
    result.unmatched_after = [j for j in range(na) if j not in used_a]
    return result
