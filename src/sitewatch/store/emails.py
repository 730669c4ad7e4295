"""The e-mail outbox: each alert's message to each of its subscription's recipients.

Rows are queued inside the transaction that stores the alert (`queue_emails`), so an e-mail
exists exactly when its alert does, and a second queueing of the same alert and recipient
is a no-op. Delivery reads them afterwards, like the webhook outbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch.errors import CatalogError
from sitewatch.store.alerts import Alert, _to_alert
from sitewatch.store.catalog import Catalog
from sitewatch.store.models import AlertEmailRow, AlertRow


@dataclass(frozen=True)
class QueuedEmail:
    alert: Alert
    recipient: str
    state: str  # pending, sent, dead
    attempts: int
    last_error: str


def _naive(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.astimezone(UTC).replace(tzinfo=None)


def queue_emails(session: Session, alert_ids: Iterable[str], recipients: Sequence[str], now: datetime) -> int:
    """Queue each alert for each recipient, in the caller's transaction; returns how many new."""
    added = 0
    for aid in alert_ids:
        for to in recipients:
            if session.get(AlertEmailRow, (aid, to)) is None:
                session.add(AlertEmailRow(alert_id=aid, recipient=to, state="pending", attempts=0,
                                          next_attempt=_naive(now), last_error=""))
                added += 1
    session.flush()
    return added


def _queued(row: AlertEmailRow, alert: AlertRow) -> QueuedEmail:
    return QueuedEmail(_to_alert(alert), row.recipient, row.state, row.attempts, row.last_error)


def due_emails(catalog: Catalog, now: datetime) -> list[QueuedEmail]:
    """Pending e-mails whose next attempt is due, oldest alert first."""
    with catalog.reading() as s:
        rows = s.execute(select(AlertEmailRow, AlertRow).join(AlertRow, AlertRow.id == AlertEmailRow.alert_id)
                         .where(AlertEmailRow.state == "pending", AlertEmailRow.next_attempt <= _naive(now))
                         .order_by(AlertRow.created, AlertRow.id, AlertEmailRow.recipient)).all()
        return [_queued(r, a) for r, a in rows]


def list_emails(catalog: Catalog, alert_id: str | None = None) -> list[QueuedEmail]:
    with catalog.reading() as s:
        q = select(AlertEmailRow, AlertRow).join(AlertRow, AlertRow.id == AlertEmailRow.alert_id)
        if alert_id is not None:
            q = q.where(AlertEmailRow.alert_id == alert_id)
        rows = s.execute(q.order_by(AlertRow.created, AlertRow.id, AlertEmailRow.recipient)).all()
        return [_queued(r, a) for r, a in rows]


def record_email(catalog: Catalog, alert_id: str, recipient: str, now: datetime, sent: bool, error: str = "",
                 next_attempt: datetime | None = None) -> None:
    """An attempt's outcome: sent; pending again at next_attempt; or dead (neither)."""
    with catalog.transaction() as s:
        row = s.get(AlertEmailRow, (alert_id, recipient))
        if row is None:
            raise CatalogError(f"no e-mail of alert {alert_id!r} to {recipient!r} in the catalog")
        row.attempts += 1
        row.last_error = error[:2000]
        if sent:
            row.state, row.sent, row.next_attempt = "sent", _naive(now), None
        elif next_attempt is not None:
            row.state, row.next_attempt = "pending", _naive(next_attempt)
        else:
            row.state, row.next_attempt = "dead", None


def dead_email_counts(catalog: Catalog) -> dict[str, int]:
    """Alert id -> how many of its e-mails gave up (alerts with none are absent)."""
    with catalog.reading() as s:
        rows = s.execute(select(AlertEmailRow.alert_id, func.count()).where(AlertEmailRow.state == "dead")
                         .group_by(AlertEmailRow.alert_id)).all()
        return {aid: int(n) for aid, n in rows}
