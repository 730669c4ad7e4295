"""Which findings of a new image alert: a subscription's rules, and the alerts they give.

A subscription names the event kinds and equipment classes it cares about, the lowest event
confidence worth an alert, and whether a change of the site's posture alerts. An event
belongs to the new image when the image is one of the two dates it compares; each such event
that passes the rules gives one alert, and a posture that differs from the one stored before
the image gives one more. Alert ids are derived from the subscription, the image and the
finding, so the same finding of the same image never makes two alerts.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sitewatch.domain import CLASSES, EVENT_KINDS, Assessment, Event
from sitewatch.errors import InputError
from sitewatch.store import Alert
from sitewatch.store.verdict_carry import anchor

NO_POSTURE = "insufficient_evidence"  # what a site with no stored assessment is taken to show


@dataclass(frozen=True)
class AlertRules:
    kinds: tuple[str, ...] = EVENT_KINDS
    classes: tuple[str, ...] = CLASSES
    min_confidence: float = 0.5
    posture_change: bool = True

    def __post_init__(self) -> None:
        for option, given, known in (("event kinds", self.kinds, EVENT_KINDS), ("classes", self.classes, CLASSES)):
            wrong = [x for x in given if x not in known]
            if wrong:
                raise InputError(option, f"{', '.join(wrong)} not known; choose from {', '.join(known)}")
        if not (math.isfinite(self.min_confidence) and 0.0 <= self.min_confidence <= 1.0):
            raise InputError("minimum confidence", f"must be a number from 0 to 1, got {self.min_confidence}")

    def to_json(self) -> dict:
        return {"kinds": list(self.kinds), "classes": list(self.classes), "min_confidence": self.min_confidence,
                "posture_change": self.posture_change}

    @classmethod
    def from_json(cls, j: Mapping) -> AlertRules:
        default = cls()
        return cls(tuple(j.get("kinds", default.kinds)), tuple(j.get("classes", default.classes)),
                   float(j.get("min_confidence", default.min_confidence)),
                   bool(j.get("posture_change", default.posture_change)))

    def admits(self, event: Event) -> bool:
        return event.kind in self.kinds and event.cls in self.classes and event.confidence >= self.min_confidence


def alert_id(subscription_id: str, image_id: str, finding: str) -> str:
    return "alert_" + hashlib.sha256(f"{subscription_id}|{image_id}|{finding}".encode()).hexdigest()[:32]


def event_json(e: Event, pair: tuple[str, str], crs: str) -> dict:
    """An event as alerts carry it. `place` is where the item stands (its later box, or its
    earlier if it left), in metres of the site CRS: a rerun finds the event again by it
    (`watch.revisions`), as event ids are per-run sequence numbers."""
    (x, y), length = anchor(e.before, e.after)
    return {"id": e.id, "kind": e.kind, "class": e.cls, "type": e.type, "zone": e.zone,
            "confidence": round(e.confidence, 4), "note": e.note,
            "state_before": e.before.state if e.before else None, "state_after": e.after.state if e.after else None,
            "before_image": pair[0], "after_image": pair[1],
            "place": {"x": round(x, 2), "y": round(y, 2), "length_m": round(length, 2), "crs": crs}}


def event_alert_id(subscription_id: str, image_id: str, e: Event, pair: tuple[str, str]) -> str:
    return alert_id(subscription_id, image_id, f"event|{e.kind}|{e.track_id}|{pair[0]}|{pair[1]}")


def envelope(kind: str, when: datetime, data: dict) -> dict:
    # The payload shape Standard Webhooks recommends: type, timestamp, data.
    return {"type": f"sitewatch.{kind}", "timestamp": when.isoformat(), "data": data}


def delivery_state(deliver: bool) -> str:
    """An alert's first delivery state: `pending` for a webhook to call, else `none` (the feed)."""
    return "pending" if deliver else "none"


def event_title(site: str, e: Event) -> str:
    where = f" ({e.zone})" if e.zone else ""
    what = {"arrived": "arrived", "departed": "no longer seen", "moved": "moved",
            "state_changed": f"now {e.after.state if e.after else 'changed'}"}[e.kind]
    return f"{site}: {e.type if e.type != 'unknown' else e.cls} {what}{where}, confidence {e.confidence:.2f}"


def triggered_alerts(rules: AlertRules, subscription_id: str, site: str, image_id: str, events: Sequence[Event],
                     pairs: Mapping[str, tuple[str, str]], previous: Assessment | None, now: Assessment,
                     when: datetime, deliver: bool, crs: str = "") -> list[Alert]:
    """The alerts a new image gives under the rules: one per admitted event of the image, and
    one for a posture change. deliver: the subscription has a webhook (alerts start pending).
    crs: the site's, which the events' places are in."""
    state = delivery_state(deliver)
    out = []
    for e in events:
        pair = pairs.get(e.id)
        if pair is None or image_id not in pair or not rules.admits(e):
            continue
        data = {"site": site, "subscription": subscription_id, "image_id": image_id,
                "event": event_json(e, pair, crs)}
        aid = event_alert_id(subscription_id, image_id, e, pair)
        out.append(Alert(aid, subscription_id, site, image_id, "event", event_title(site, e),
                         envelope("event", when, {"alert_id": aid, **data}), when, e.id, state, next_attempt=when))
    was = previous.posture if previous is not None else NO_POSTURE
    if rules.posture_change and now.posture != was:
        aid = alert_id(subscription_id, image_id, f"posture|{was}|{now.posture}")
        data = {"alert_id": aid, "site": site, "subscription": subscription_id, "image_id": image_id,
                "posture": {"was": was, "now": now.posture, "likelihood": now.likelihood,
                            "confidence": now.confidence, "headline": now.headline}}
        title = f"{site}: posture now {now.posture.replace('_', ' ')} (was {was.replace('_', ' ')})"
        out.append(Alert(aid, subscription_id, site, image_id, "posture", title, envelope("posture", when, data),
                         when, None, state, next_attempt=when))
    return out
