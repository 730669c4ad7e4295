"""The alerts outbox: what new images triggered, and the state of each alert's delivery.

Alerts are added inside the transaction that stores the image's events (`add_alerts`), so an
alert exists exactly when its events do. Delivery reads the outbox afterwards: an alert is
`pending` until its webhook answers 2xx (`delivered`) or its retries run out (`dead`);
alerts of a subscription with no webhook are `none` and only feed the site's Atom feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.errors import CatalogError
from sitewatch.store.catalog import Catalog
from sitewatch.store.models import AlertRow

DELIVERY_STATES = ("pending", "delivered", "dead", "none")


@dataclass(frozen=True)
class Alert:
    id: str
    subscription_id: str
    site: str
    image_id: str
    kind: str  # event, posture
    title: str
    payload: dict = field(hash=False)
    created: datetime
    event_id: str | None = None
    delivery: str = "none"
    attempts: int = 0
    next_attempt: datetime | None = None
    last_error: str = ""
    delivered: datetime | None = None


def _naive(dt: datetime | None) -> datetime | None:
    return None if dt is None else (dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt)


def _aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.replace(tzinfo=UTC)


def _to_alert(r: AlertRow) -> Alert:
    return Alert(r.id, r.subscription_id, r.site, r.image_id, r.kind, r.title, dict(r.payload),
                 _aware(r.created), r.event_id, r.delivery, r.attempts, _aware(r.next_attempt),  # type: ignore[arg-type]
                 r.last_error, _aware(r.delivered))


def add_alerts(session: Session, alerts: Sequence[Alert]) -> int:
    """Add alerts inside the caller's transaction; an id already there is left as it is (an
    alert is never written twice). Returns how many were new."""
    new = 0
    for a in alerts:
        if session.get(AlertRow, a.id) is not None:
            continue
        session.add(AlertRow(id=a.id, subscription_id=a.subscription_id, site=a.site, image_id=a.image_id,
                             kind=a.kind, event_id=a.event_id, title=a.title, payload=dict(a.payload),
                             created=_naive(a.created), delivery=a.delivery, attempts=0,
                             next_attempt=_naive(a.next_attempt), last_error="", delivered=None))
        new += 1
    session.flush()
    return new


def list_alerts(catalog: Catalog, site: str | None = None, subscription_id: str | None = None,
                limit: int | None = None) -> list[Alert]:
    """Alerts, newest first (of one site or subscription, if given)."""
    with catalog.reading() as s:
        q = select(AlertRow).order_by(AlertRow.created.desc(), AlertRow.id)
        if site is not None:
            q = q.where(AlertRow.site == site)
        if subscription_id is not None:
            q = q.where(AlertRow.subscription_id == subscription_id)
        if limit is not None:
            q = q.limit(limit)
        return [_to_alert(r) for r in s.scalars(q).all()]


def due_alerts(catalog: Catalog, now: datetime) -> list[Alert]:
    """Pending alerts whose next attempt is due, oldest first."""
    with catalog.reading() as s:
        rows = s.scalars(select(AlertRow).where(AlertRow.delivery == "pending", AlertRow.next_attempt <= _naive(now))
                         .order_by(AlertRow.created, AlertRow.id)).all()
        return [_to_alert(r) for r in rows]


def record_attempt(catalog: Catalog, alert_id: str, now: datetime, delivered: bool, error: str = "",
                   next_attempt: datetime | None = None) -> None:
    """One delivery attempt's outcome: delivered, retried at next_attempt, or (neither) dead."""
    with catalog.transaction() as s:
        row = s.get(AlertRow, alert_id)
        if row is None:
            raise CatalogError(f"no alert {alert_id!r} in the catalog")
        row.attempts += 1
        row.last_error = error
        if delivered:
            row.delivery, row.delivered, row.next_attempt = "delivered", _naive(now), None
        elif next_attempt is not None:
            row.next_attempt = _naive(next_attempt)
        else:
            row.delivery, row.next_attempt = "dead", None
