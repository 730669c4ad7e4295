"""The alerts outbox: what new images triggered, and the state of each alert's delivery.

Alerts are added inside the transaction that stores the image's events (`add_alerts`), so an
alert exists exactly when its events do. Delivery reads the outbox afterwards: an alert is
`pending` until its webhook answers 2xx (`delivered`) or its retries run out (`dead`);
alerts of a subscription with no webhook are `none` and only feed the site's Atom feed.

A dead alert (its webhook, or one of its e-mails, gave up) stays in the dead-letter list
(`dead_alerts`) until it is replayed (`replay_alerts`): its deliveries are queued again under
the same alert id, so the receiver gets the same `webhook-id` and drops it if it had it.
The web inbox marks alerts acknowledged (`acknowledge_alert`); that touches no delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from sitewatch.errors import CatalogError
from sitewatch.store.catalog import Catalog
from sitewatch.store.models import AlertEmailRow, AlertRow

DELIVERY_STATES = ("pending", "delivered", "dead", "none")


@dataclass(frozen=True)
class Alert:
    id: str
    subscription_id: str
    site: str
    image_id: str
    kind: str  # event, posture, retraction
    title: str
    payload: dict = field(hash=False)
    created: datetime
    event_id: str | None = None
    delivery: str = "none"
    attempts: int = 0
    next_attempt: datetime | None = None
    last_error: str = ""
    delivered: datetime | None = None
    dead_at: datetime | None = None
    replays: int = 0
    acknowledged: datetime | None = None


def _naive(dt: datetime | None) -> datetime | None:
    return None if dt is None else (dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt)


def _aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.replace(tzinfo=UTC)


def _to_alert(r: AlertRow) -> Alert:
    return Alert(r.id, r.subscription_id, r.site, r.image_id, r.kind, r.title, dict(r.payload),
                 _aware(r.created), r.event_id, r.delivery, r.attempts, _aware(r.next_attempt),  # type: ignore[arg-type]
                 r.last_error, _aware(r.delivered), _aware(r.dead_at), r.replays or 0, _aware(r.acknowledged))


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


def subscription_alerts(session: Session, subscription_id: str, kinds: Sequence[str]) -> list[Alert]:
    """A subscription's alerts of these kinds, oldest first, read inside the caller's transaction."""
    rows = session.scalars(select(AlertRow).where(AlertRow.subscription_id == subscription_id,
                                                  AlertRow.kind.in_(kinds))
                           .order_by(AlertRow.created, AlertRow.id)).all()
    return [_to_alert(r) for r in rows]


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
            row.delivery, row.next_attempt, row.dead_at = "dead", None, _naive(now)


def get_alert(catalog: Catalog, alert_id: str) -> Alert:
    with catalog.reading() as s:
        row = s.get(AlertRow, alert_id)
        if row is None:
            raise CatalogError(f"no alert {alert_id!r} in the catalog (sitewatch alerts list)")
        return _to_alert(row)


def _dead_email(alert_id):
    return exists().where(AlertEmailRow.alert_id == alert_id, AlertEmailRow.state == "dead")


def dead_alerts(catalog: Catalog, since: datetime | None = None, until: datetime | None = None,
                site: str | None = None) -> list[Alert]:
    """The dead-letter list: alerts whose webhook or one of whose e-mails gave up, created
    from `since` to `until` (either open), oldest first."""
    with catalog.reading() as s:
        q = select(AlertRow).where(or_(AlertRow.delivery == "dead", _dead_email(AlertRow.id)))
        if since is not None:
            q = q.where(AlertRow.created >= _naive(since))
        if until is not None:
            q = q.where(AlertRow.created <= _naive(until))
        if site is not None:
            q = q.where(AlertRow.site == site)
        return [_to_alert(r) for r in s.scalars(q.order_by(AlertRow.created, AlertRow.id)).all()]


@dataclass
class Replayed:
    webhooks: list[str] = field(default_factory=list)  # alerts whose webhook is queued again
    emails: int = 0  # dead e-mails queued again
    pending: list[str] = field(default_factory=list)  # already queued: left as they are
    nothing: list[str] = field(default_factory=list)  # no webhook, and no dead e-mail


def replay_alerts(catalog: Catalog, alert_ids: Sequence[str], now: datetime, resend: bool = False) -> Replayed:
    """Queue the alerts' deliveries again, due now, in one transaction, each with a fresh
    retry schedule: a dead webhook (or, with `resend`, one already delivered) and every dead
    e-mail. The alert id, hence the webhook-id and the e-mail's Message-ID, stays the same,
    and a delivery still pending is left alone, so replaying twice sends once. CatalogError
    for an id not in the catalog (and nothing is queued)."""
    out = Replayed()
    with catalog.transaction() as s:
        rows = []
        for aid in dict.fromkeys(alert_ids):
            row = s.get(AlertRow, aid)
            if row is None:
                raise CatalogError(f"no alert {aid!r} in the catalog (sitewatch alerts list)")
            rows.append(row)
        for row in rows:
            emails = s.scalars(select(AlertEmailRow).where(AlertEmailRow.alert_id == row.id,
                                                           AlertEmailRow.state == "dead")).all()
            for e in emails:
                e.state, e.attempts, e.next_attempt = "pending", 0, _naive(now)
            out.emails += len(emails)
            again = row.delivery == "dead" or (resend and row.delivery == "delivered")
            if again:
                row.delivery, row.attempts, row.next_attempt, row.dead_at = "pending", 0, _naive(now), None
                out.webhooks.append(row.id)
            elif row.delivery == "pending":
                out.pending.append(row.id)
            if again or emails:
                row.replays = (row.replays or 0) + 1
            elif row.delivery != "pending":
                out.nothing.append(row.id)
    return out


def acknowledge_alert(catalog: Catalog, alert_id: str, now: datetime) -> Alert:
    """Mark an alert acknowledged (the first time counts; again is a no-op)."""
    with catalog.transaction() as s:
        row = s.get(AlertRow, alert_id)
        if row is None:
            raise CatalogError(f"no alert {alert_id!r} in the catalog (sitewatch alerts list)")
        if row.acknowledged is None:
            row.acknowledged = _naive(now)
    return get_alert(catalog, alert_id)
