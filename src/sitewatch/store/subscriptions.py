"""Subscriptions: a site watched for new imagery, its sources, its alert rules and its webhook.

The rules are kept as the JSON the watch package writes (`sitewatch.watch.rules`); the store
does not read them. A webhook's secret is written here and read back only by
`webhook_secret`, for signing: listings say whether one is set, never what it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from sitewatch.errors import CatalogError
from sitewatch.store.catalog import Catalog
from sitewatch.store.models import SiteRow, SubscriptionRow, WatchSourceRow

# a local or network folder; a static STAC catalog (JSON file); a STAC API collection (JSON:
# url, collection, asset; see sitewatch.watch.stac_api)
SOURCE_KINDS = ("folder", "stac", "stac-api")


@dataclass(frozen=True)
class WatchSource:
    id: int
    subscription_id: str
    kind: str
    location: str


@dataclass(frozen=True)
class Subscription:
    id: str
    site: str
    sources: tuple[WatchSource, ...]
    rules: Mapping
    webhook_url: str | None
    has_secret: bool
    created: datetime


def _to_subscription(row: SubscriptionRow, sources: Sequence[WatchSourceRow]) -> Subscription:
    return Subscription(row.id, row.site, tuple(WatchSource(s.id, s.subscription_id, s.kind, s.location) for s in sources),
                        dict(row.rules), row.webhook_url, bool(row.webhook_secret), row.created.replace(tzinfo=UTC))


def add_subscription(catalog: Catalog, site: str, sources: Sequence[tuple[str, str]], rules: Mapping,
                     webhook_url: str | None = None, webhook_secret: str | None = None) -> Subscription:
    """Store a subscription of a site with its sources ((kind, location) pairs), in one
    transaction. CatalogError for an unknown site, no source, or a source kind not known."""
    if not sources:
        raise CatalogError(f"a subscription of site {site!r} needs at least one source")
    for kind, _ in sources:
        if kind not in SOURCE_KINDS:
            raise CatalogError(f"source kind {kind!r} is not one of {', '.join(SOURCE_KINDS)}")
    sub_id = uuid.uuid4().hex[:12]
    with catalog.transaction() as s:
        if s.get(SiteRow, site) is None:
            known = ", ".join(s.scalars(select(SiteRow.name).order_by(SiteRow.name)).all()) or "none"
            raise CatalogError(f"no site named {site!r} in the catalog (known: {known})")
        s.add(SubscriptionRow(id=sub_id, site=site, rules=dict(rules), webhook_url=webhook_url,
                              webhook_secret=webhook_secret, created=datetime.now(UTC).replace(tzinfo=None)))
        s.flush()
        for kind, location in sources:
            s.add(WatchSourceRow(subscription_id=sub_id, kind=kind, location=location))
    return get_subscription(catalog, sub_id)


def list_subscriptions(catalog: Catalog, site: str | None = None) -> list[Subscription]:
    """Every subscription (of one site, if given), oldest first."""
    with catalog.reading() as s:
        q = select(SubscriptionRow).order_by(SubscriptionRow.created, SubscriptionRow.id)
        if site is not None:
            q = q.where(SubscriptionRow.site == site)
        rows = s.scalars(q).all()
        sources = s.scalars(select(WatchSourceRow).order_by(WatchSourceRow.id)).all()
        by_sub: dict[str, list[WatchSourceRow]] = {}
        for src in sources:
            by_sub.setdefault(src.subscription_id, []).append(src)
        return [_to_subscription(r, by_sub.get(r.id, [])) for r in rows]


def get_subscription(catalog: Catalog, sub_id: str) -> Subscription:
    for sub in list_subscriptions(catalog):
        if sub.id == sub_id:
            return sub
    raise CatalogError(f"no subscription {sub_id!r} in the catalog (sitewatch subscriptions list)")


def remove_subscription(catalog: Catalog, sub_id: str) -> None:
    """Delete a subscription, its sources and the record of files they took (its alerts stay)."""
    with catalog.transaction() as s:
        row = s.get(SubscriptionRow, sub_id)
        if row is None:
            raise CatalogError(f"no subscription {sub_id!r} in the catalog (sitewatch subscriptions list)")
        s.delete(row)


def webhook_secret(catalog: Catalog, sub_id: str) -> str | None:
    """The subscription's webhook secret, for signing deliveries only."""
    with catalog.reading() as s:
        row = s.get(SubscriptionRow, sub_id)
        return None if row is None else row.webhook_secret


def set_webhook_secret(catalog: Catalog, sub_id: str, secret: str) -> None:
    """Replace the subscription's webhook secret(s) (space-separated, newest first)."""
    with catalog.transaction() as s:
        row = s.get(SubscriptionRow, sub_id)
        if row is None:
            raise CatalogError(f"no subscription {sub_id!r} in the catalog (sitewatch subscriptions list)")
        if row.webhook_url is None:
            raise CatalogError(f"subscription {sub_id!r} has no webhook, so no secret to rotate")
        row.webhook_secret = secret
