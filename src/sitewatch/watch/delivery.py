"""Delivering the outbox: each pending alert whose time has come is sent to its
subscription's webhook, and then marked delivered, retried later, or dead.

Retries follow the schedule the Standard Webhooks specification suggests (5 s, 5 min,
30 min, 2 h, 5 h, then every 10 h), each wait jittered by up to a fifth so that many failed
deliveries do not come back at once, for about three days in all; a Retry-After the
receiver sends is honoured when it asks for longer. An alert whose subscription was removed,
or whose webhook URL is no longer allowed, is dead at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sitewatch.errors import InputError
from sitewatch.store import Catalog, due_alerts, list_subscriptions, record_attempt, webhook_secret
from sitewatch.watch.webhooks import send

# Seconds to wait after the 1st, 2nd, ... failed attempt; after the last, the alert is dead.
RETRY_AFTER_S = (5, 300, 1800, 7200, 18000, 36000, 36000, 36000, 36000, 36000, 36000)
JITTER = 0.2
MAX_RETRY_AFTER_S = 36000  # a receiver's Retry-After is honoured up to this


def next_wait_s(attempts: int, asked_s: float | None = None, rng: random.Random | None = None) -> float | None:
    """Seconds before the next try after `attempts` failed ones (None: give up)."""
    if attempts > len(RETRY_AFTER_S):
        return None
    base = RETRY_AFTER_S[attempts - 1] * (1 + JITTER * (rng or random).random())
    if asked_s is not None:
        base = max(base, min(asked_s, MAX_RETRY_AFTER_S))
    return base


@dataclass
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    dead: int = 0



def deliver_due(catalog: Catalog, now: datetime | None = None, sender=send, timeout_s: float = 15.0) -> DeliveryReport:
    """One attempt at every due alert; returns what became of them."""
    now = now or datetime.now(UTC)
    report = DeliveryReport()
    subs = {s.id: s for s in list_subscriptions(catalog)}
    for alert in due_alerts(catalog, now):
        sub = subs.get(alert.subscription_id)
        secret = webhook_secret(catalog, alert.subscription_id) if sub else None
        if sub is None or sub.webhook_url is None or secret is None:
            record_attempt(catalog, alert.id, now, False, "the subscription or its webhook is gone")
            report.dead += 1
            continue
        try:
            attempt = sender(sub.webhook_url, secret, alert.id, alert.payload, now, timeout_s=timeout_s)
        except InputError as exc:  # the URL is not allowed (any more)
            record_attempt(catalog, alert.id, now, False, str(exc))
            report.dead += 1
            continue
        if attempt.ok:
            record_attempt(catalog, alert.id, now, True)
            report.delivered += 1
            continue
        wait = next_wait_s(alert.attempts + 1, attempt.retry_after_s)
        record_attempt(catalog, alert.id, now, False, attempt.error,
                       None if wait is None else now + timedelta(seconds=wait))
        if wait is None:
            report.dead += 1
        else:
            report.retried += 1
    return report
