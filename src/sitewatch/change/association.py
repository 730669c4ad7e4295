"""Which item one source saw is which item another source saw of the same moment.

Two providers' images of one place disagree in georeference by metres (an image kept on its
own georeference, a radar image never co-registered to an optical one). So the shift between
the two sets of sightings is estimated first: every pair of one class within MAX_OFFSET_M
votes for its displacement, the displacement that most pairs agree with (within
VOTE_RADIUS_M) wins, and the median of its voters refines it. Where fewer than MIN_VOTES
pairs agree the sightings are too few to tell a shift from a coincidence: no shift is
taken out, and the gate widens to MAX_OFFSET_M instead. With the shift taken out, a global
assignment (the Hungarian method) pairs sightings of one class within the gate.

Classes only, never types or states: a radar image tells an aircraft from a ship, not an
Su-34 from an Su-24M, and a state may be what changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from sitewatch.domain import Detection

# The largest georeference offset between two sources that is looked for (the 0-10 m,
# plus the detectors' own centre error).
MAX_OFFSET_M = 12.0
# Two displacements this close (metres) vote for the same shift: twice the centre error of
# two sightings of one item (about 0.5 m each, per axis).
VOTE_RADIUS_M = 1.5
MIN_VOTES = 3
# After the shift, two sightings pair within this distance, or a quarter of the item's
# length where that is larger (a long hull's centre is less sure).
GATE_M = 2.5
GATE_PER_LENGTH = 0.25
_NO = 1e9


@dataclass(frozen=True)
class Association:
    """pairs: (index in a, index in b, distance in metres after the shift); shift: (dx, dy)
    in metres that carries a's frame onto b's (b = a + shift); votes: how many pairs agreed
    on it (0 where no shift was estimated)."""

    pairs: tuple[tuple[int, int, float], ...]
    shift: tuple[float, float]
    votes: int
    unmatched_a: tuple[int, ...] = field(default=())
    unmatched_b: tuple[int, ...] = field(default=())

    def partner_of(self, i: int) -> int | None:
        return next((j for a, j, _ in self.pairs if a == i), None)


def _centres(dets: Sequence[Detection]) -> np.ndarray:
    return np.array([[d.box.cx, d.box.cy] for d in dets], float).reshape(-1, 2)


def estimate_shift(a: Sequence[Detection], b: Sequence[Detection],
                   max_offset_m: float = MAX_OFFSET_M) -> tuple[tuple[float, float], int]:
    """The shift (dx, dy) from a's frame to b's and how many same-class pairs agree on it;
    ((0, 0), 0) where fewer than MIN_VOTES agree."""
    if not a or not b:
        return (0.0, 0.0), 0
    ca, cb = _centres(a), _centres(b)
    same = np.array([[da.cls == db.cls for db in b] for da in a], bool)
    disp = cb[None, :, :] - ca[:, None, :]
    near = same & (np.hypot(disp[..., 0], disp[..., 1]) <= max_offset_m)
    votes = disp[near]
    if len(votes) < MIN_VOTES:
        return (0.0, 0.0), 0
    gap = np.hypot(votes[:, None, 0] - votes[None, :, 0], votes[:, None, 1] - votes[None, :, 1])
    agree = gap <= VOTE_RADIUS_M
    counts = agree.sum(axis=1)
    # among the most agreed displacements, the one whose voters lie closest together
    best = int(np.flatnonzero(counts == counts.max())[np.argmin(
        [gap[k][agree[k]].mean() for k in np.flatnonzero(counts == counts.max())])])
    if counts[best] < MIN_VOTES:
        return (0.0, 0.0), 0
    voters = votes[agree[best]]
    dx, dy = np.median(voters, axis=0)
    return (float(dx), float(dy)), int(counts[best])


def gate_m(d: Detection) -> float:
    return max(GATE_M, GATE_PER_LENGTH * d.box.length)


def associate(a: Sequence[Detection], b: Sequence[Detection], max_offset_m: float = MAX_OFFSET_M) -> Association:
    """Pair the sightings of two sources of one moment (see the module doc)."""
    shift, votes = estimate_shift(a, b, max_offset_m)
    if not a or not b:
        return Association((), shift, votes, tuple(range(len(a))), tuple(range(len(b))))
    ca, cb = _centres(a), _centres(b)
    moved = ca + np.array(shift)
    dist = np.hypot(moved[:, None, 0] - cb[None, :, 0], moved[:, None, 1] - cb[None, :, 1])
    cost = np.full(dist.shape, _NO)
    for i, da in enumerate(a):
        gate = gate_m(da) if votes else max_offset_m
        for j, db in enumerate(b):
            if da.cls == db.cls and dist[i, j] <= gate:
                cost[i, j] = dist[i, j]
    rows, cols = linear_sum_assignment(cost)
    pairs = tuple((int(i), int(j), float(dist[i, j])) for i, j in zip(rows, cols) if cost[i, j] < _NO)
    used_a, used_b = {p[0] for p in pairs}, {p[1] for p in pairs}
    return Association(pairs, shift, votes, tuple(i for i in range(len(a)) if i not in used_a),
                       tuple(j for j in range(len(b)) if j not in used_b))


def nearest_at(b: Sequence[Detection], cls: str, x: float, y: float, gate: float) -> int | None:
    """The index of b's sighting of `cls` nearest (x, y), within `gate` metres; None if none."""
    best, best_d = None, gate
    for j, d in enumerate(b):
        if d.cls != cls:
            continue
        dist = float(np.hypot(d.box.cx - x, d.box.cy - y))
        if dist <= best_d:
            best, best_d = j, dist
    return best
