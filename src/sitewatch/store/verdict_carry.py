"""Which new event an analyst's verdict belongs to after a site is reprocessed.

Reprocessing stores a site's events afresh, and event ids are per-run sequence numbers, so
an id says nothing about the finding across runs: a verdict is carried by what the event
describes instead. Same kind and class, the same pair of images, and a box centre within
half the item's length (at least MATCH_FLOOR_M) of the old one."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sitewatch.domain import Detection, Event

# Two boxes of one item on two runs of the same images differ by detector jitter, well under
# a metre at 0.5 m GSD; 3 m still tells apart two cars parked side by side (1.8 m wide + gap).
MATCH_FLOOR_M = 3.0


@dataclass(frozen=True)
class HeldVerdicts:
    """An old event's verdicts (oldest first), with the facts that identify its finding."""

    event_id: str
    kind: str
    cls: str
    before_image: str | None
    after_image: str | None
    centre: tuple[float, float]
    length: float
    history: tuple[tuple[str, str, datetime], ...]  # (verdict, note, created)


def anchor(before: Detection | None, after: Detection | None) -> tuple[tuple[float, float], float]:
    """Where an event is: its later box if it has one (arrivals, moves), else its earlier."""
    d = after if after is not None else before
    if d is None:
        raise ValueError("an event needs a before or an after detection")
    return (d.box.cx, d.box.cy), d.box.length


def same_finding(held: HeldVerdicts, event: Event) -> bool:
    if event.kind != held.kind or event.cls != held.cls:
        return False
    if (event.before.image_id if event.before else None) != held.before_image:
        return False
    if (event.after.image_id if event.after else None) != held.after_image:
        return False
    (x, y), length = anchor(event.before, event.after)
    return math.hypot(x - held.centre[0], y - held.centre[1]) <= max(MATCH_FLOOR_M, 0.5 * max(length, held.length))


def assign(held: Sequence[HeldVerdicts], events: Sequence[Event]) -> tuple[dict[str, HeldVerdicts], list[HeldVerdicts]]:
    """new event id -> the held verdicts it takes over, and the held verdicts no new event
    describes. Each new event takes at most one old event's verdicts; among candidates the
    nearest wins, so two neighbouring items do not swap verdicts."""
    pairs = []
    for i, h in enumerate(held):
        for e in events:
            if same_finding(h, e):
                (x, y), _ = anchor(e.before, e.after)
                pairs.append((math.hypot(x - h.centre[0], y - h.centre[1]), i, e.id))
    taken: dict[str, HeldVerdicts] = {}
    placed: set[int] = set()
    for _, i, eid in sorted(pairs):
        if i in placed or eid in taken:
            continue
        taken[eid] = held[i]
        placed.add(i)
    return taken, [h for i, h in enumerate(held) if i not in placed]
