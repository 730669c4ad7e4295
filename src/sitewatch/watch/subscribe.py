"""A subscription as `sitewatch subscriptions add` and the REST API take it and show it: its
sources and rules checked and put in the form the catalog stores, and the public view of a
stored subscription or alert (webhook URLs without query or credentials, secrets never)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from sitewatch.errors import InputError
from sitewatch.store import Alert, Subscription, WatchSource
from sitewatch.watch.email import check_address
from sitewatch.watch.rules import AlertRules
from sitewatch.watch.stac_api import ApiSource, check_api_url
from sitewatch.watch.stac_remote import check_catalog_url, is_url
from sitewatch.watch.webhooks import check_url, shown_url


def subscription_parts(folders: Sequence[str] = (), stacs: Sequence[str] = (), stac_api: str | None = None,
                       collections: Sequence[str] = (), asset: str | None = None,
                       kinds: Sequence[str] | None = None, classes: Sequence[str] | None = None,
                       min_confidence: float = 0.5, posture: bool = True, webhook: str | None = None,
                       emails: Sequence[str] = ()) -> tuple[list[tuple[str, str]], dict]:
    """The (kind, location) sources and the stored rules of a new subscription; InputError
    naming the option at fault. Folder and catalog paths are taken as given (absolute); a
    static catalog may also be an http(s) URL (https, or http to loopback)."""
    sources = [("folder", f) for f in folders] + [("stac", check_catalog_url(s) if is_url(s) else s) for s in stacs]
    if stac_api is not None:
        if not collections:
            raise InputError("collection", "a STAC API source needs the collection to search")
        url = check_api_url(stac_api)
        sources += [("stac-api", ApiSource(url, c, asset).to_location()) for c in collections]
    elif collections or asset:
        raise InputError("collection", "is for a STAC API source; give its URL")
    if not sources:
        raise InputError("sources", "give at least one folder, static STAC catalog or STAC API to watch")
    default = AlertRules()
    rules = AlertRules(tuple(kinds or default.kinds), tuple(classes or default.classes), min_confidence, posture)
    if webhook is not None:
        check_url(webhook)
    stored = rules.to_json()
    if emails:
        stored["email"] = sorted({check_address(a) for a in emails})
    return sources, stored


def source_json(src: WatchSource) -> dict:
    if src.kind == "stac-api":
        api = ApiSource.from_location(src.location)
        return {"kind": src.kind, "location": api.url, "collection": api.collection, "asset": api.asset}
    if src.kind == "stac" and is_url(src.location):
        return {"kind": src.kind, "location": shown_url(src.location)}
    return {"kind": src.kind, "location": src.location}


def shown_source(src: WatchSource) -> str:
    if src.kind == "stac-api":
        return "STAC API " + ApiSource.from_location(src.location).shown()
    if src.kind == "stac" and is_url(src.location):
        return "static STAC catalog " + shown_url(src.location)
    return src.location


def subscription_json(sub: Subscription) -> dict:
    """What listings show of a subscription: whether a secret is set, never the secret."""
    return {"id": sub.id, "site": sub.site, "sources": [source_json(x) for x in sub.sources],
            "rules": dict(sub.rules), "webhook": shown_url(sub.webhook_url) if sub.webhook_url else None,
            "secret_set": sub.has_secret, "created": sub.created.isoformat()}


def _when(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


def alert_json(a: Alert, dead_emails: int = 0) -> dict:
    """An alert as `alerts list --json` and the REST API show it, with the web page that
    reviews its event (or, for a posture alert, the site)."""
    review = f"/#site={quote(a.site, safe='')}" + (f"&event={quote(a.event_id, safe='')}" if a.event_id else "")
    return {"id": a.id, "subscription": a.subscription_id, "site": a.site, "image_id": a.image_id, "kind": a.kind,
            "event_id": a.event_id, "title": a.title, "created": _when(a.created), "delivery": a.delivery,
            "attempts": a.attempts, "last_error": a.last_error, "delivered": _when(a.delivered),
            "dead_at": _when(a.dead_at), "replays": a.replays, "emails_dead": dead_emails,
            "acknowledged": _when(a.acknowledged), "review": review, **_revision_links(a), "payload": a.payload}


def _revision_links(a: Alert) -> dict:
    """The earlier alert a retraction retracts, and those an event alert revises."""
    data = a.payload.get("data", {})
    return {"retracts": data.get("retracted", {}).get("alert_id"), "revises": list(data.get("revises", ()))}
