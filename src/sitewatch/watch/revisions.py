"""Retracting and revising earlier alerts when a rerun of the site no longer reports their events.

Each taken file reruns the whole site, so the events are computed afresh; an image that arrives
late, with a date between two already processed, splits their pair, and the changes seen
between those two dates are now reported against the late image instead. Event ids are
per-run sequence numbers, so an earlier alert's event is looked for in the rerun by what it
describes: the same kind and class between the same two images, at the same place (within
half the item's length, at least `MATCH_FLOOR_M`).

An earlier event alert whose event the rerun no longer holds gets one retraction alert, in
the transaction that stores the rerun's events; its id is derived from the retracted alert's,
so it is never written twice. A new alert of the image that reports the same item (same kind,
class and type, at the same place, any pair of images) says which earlier alert it `revises`,
and the retraction names it in `revised_by`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from sitewatch.store import Alert
from sitewatch.store.verdict_carry import MATCH_FLOOR_M
from sitewatch.watch.rules import alert_id, envelope, event_json

if TYPE_CHECKING:
    from sitewatch.change.tracking import TrackingResult

RETRACTION = "retraction"
KINDS_SEEN = ("event", RETRACTION)  # the earlier alerts that `revise` needs


def _near(a: Mapping, b: Mapping) -> bool:
    pa, pb = a.get("place"), b.get("place")
    if pa is None or pb is None:
        return True  # an alert from before places were carried: kind, class and images decide
    reach = max(MATCH_FLOOR_M, 0.5 * max(pa["length_m"], pb["length_m"]))
    return math.hypot(pa["x"] - pb["x"], pa["y"] - pb["y"]) <= reach


def held(announced: Mapping, run_events: Sequence[Mapping]) -> bool:
    """Whether the rerun still reports the announced event (both as `rules.event_json`)."""
    return any(e["kind"] == announced["kind"] and e["class"] == announced["class"]
               and (e["before_image"], e["after_image"]) == (announced["before_image"], announced["after_image"])
               and _near(e, announced) for e in run_events)


def same_item(announced: Mapping, new: Mapping) -> bool:
    """Whether a new event reports the change an earlier alert announced, between other images."""
    types = {announced["type"], new["type"]} - {"unknown"}
    return (new["kind"] == announced["kind"] and new["class"] == announced["class"] and len(types) <= 1
            and _near(new, announced))


def _distance(a: Mapping, b: Mapping) -> float:
    pa, pb = a.get("place"), b.get("place")
    return 0.0 if pa is None or pb is None else math.hypot(pa["x"] - pb["x"], pa["y"] - pb["y"])


def _revisers(gone: Sequence[Alert], new: Sequence[Alert]) -> dict[str, Alert]:
    """Retracted alert id -> the new alert that reports the same item; one each, nearest first."""
    pairs = sorted((_distance(g.payload["data"]["event"], n.payload["data"]["event"]), i, j)
                   for i, g in enumerate(gone) for j, n in enumerate(new)
                   if same_item(g.payload["data"]["event"], n.payload["data"]["event"]))
    out: dict[str, Alert] = {}
    used: set[int] = set()
    for _, i, j in pairs:
        if gone[i].id not in out and j not in used:
            out[gone[i].id] = new[j]
            used.add(j)
    return out


def _why(event: Mapping, image_ids: Sequence[str], image_id: str) -> tuple[str, str]:
    """(reason, its words) for an announced event the rerun no longer holds."""
    ids = list(image_ids)
    before, after = event["before_image"], event["after_image"]
    if before in ids and after in ids and ids.index(after) - ids.index(before) > 1:
        return "split", (f"an image that arrived later ({image_id}) lies between the two dates it compared, "
                         "so the change is now reported against that image")
    return "not_found", f"the site's rerun after image {image_id} no longer finds this change"


def _retraction(old: Alert, reviser: Alert | None, image_id: str, image_ids: Sequence[str], when: datetime,
                state: str) -> Alert:
    event = old.payload["data"]["event"]
    reason, why = _why(event, image_ids, image_id)
    aid = alert_id(old.subscription_id, old.image_id, f"retraction|{old.id}")  # once per retracted alert
    revised_by = [reviser.id] if reviser is not None else []
    data = {"alert_id": aid, "site": old.site, "subscription": old.subscription_id, "image_id": image_id,
            "retracted": {"alert_id": old.id, "event_id": event["id"], "event": event},
            "reason": reason, "why": why, "revised_by": revised_by}
    title = f"{old.site}: retracted: {old.title.removeprefix(old.site + ': ')}" + (
        " (revised by a new alert)" if reviser is not None else "")
    return Alert(aid, old.subscription_id, old.site, image_id, RETRACTION, title,
                 envelope("event.retracted", when, data), when, None, state, next_attempt=when)


def _revising(alert: Alert, revised: Sequence[str]) -> Alert:
    envelope_ = dict(alert.payload)
    envelope_["data"] = {**alert.payload["data"], "revises": list(revised)}
    return replace(alert, payload=envelope_, title=f"{alert.title} (revises an earlier alert)")


def revise(new: Sequence[Alert], earlier: Sequence[Alert], tracking: TrackingResult, crs: str, image_id: str,
           when: datetime, delivery: str) -> list[Alert]:
    """The new image's alerts, those that report an item an earlier alert announced marked as
    revising it, followed by one retraction (its delivery state `delivery`) for each earlier
    event alert (of `earlier`: the subscription's event and retraction alerts) whose event the
    rerun's `tracking` no longer holds and that no retraction names yet."""
    retracted = {a.payload["data"]["retracted"]["alert_id"] for a in earlier if a.kind == RETRACTION}
    run = [event_json(e, tracking.pairs[e.id], crs) for e in tracking.events if e.id in tracking.pairs]
    new_ids = {a.id for a in new}
    gone = [a for a in earlier if a.kind == "event" and a.id not in retracted and a.id not in new_ids
            and not held(a.payload["data"]["event"], run)]
    if not gone:
        return list(new)
    revisers = _revisers(gone, [a for a in new if a.kind == "event"])
    revises: dict[str, list[str]] = {}
    for old_id, n in revisers.items():
        revises.setdefault(n.id, []).append(old_id)
    out = [_revising(a, revises[a.id]) if a.id in revises else a for a in new]
    return out + [_retraction(g, revisers.get(g.id), image_id, tracking.image_ids, when, delivery) for g in gone]
