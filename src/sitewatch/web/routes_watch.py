"""Watching sites over the REST API: subscriptions (list, add, remove) and the alerts inbox
(list, acknowledge, replay), and the inbox page at /alerts.

Writes need the token, as every write does. Secrets go in and never come out: a new
subscription's `webhook_secret` is stored for signing, and listings say only whether one is
set. Folders and static STAC catalogs a subscription made here may watch must lie inside
the server's data folder: the token lets a client choose what the server reads, not let it
read any file the server can."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path as FsPath
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, field_validator

from sitewatch.store import (
    acknowledge_alert,
    add_subscription,
    dead_alerts,
    dead_email_counts,
    get_alert,
    list_alerts,
    list_subscriptions,
    remove_subscription,
    replay_alerts,
)
from sitewatch.watch.stac_remote import is_url
from sitewatch.watch.subscribe import alert_json, subscription_json, subscription_parts
from sitewatch.watch.webhooks import check_secret
from sitewatch.web.problems import Problem
from sitewatch.web.routes_catalog import PROBLEMS, WRITE_PROBLEMS, catalog
from sitewatch.web.schemas import Open
from sitewatch.web.security import require_token

router = APIRouter()
INBOX_PAGE = FsPath(str(resources.files("sitewatch.web") / "static" / "alerts.html"))
AlertId = Path(..., max_length=64, description="the alert's id (its webhook-id)")


def _printable(value: Any) -> Any:
    """Refuse a control character (NUL, newline, ...) anywhere in a text field: no path, URL,
    address or name holds one, and PostgreSQL refuses NUL in text. The error names the field, not
    the value, which may be a secret."""
    for text in value if isinstance(value, list) else [value]:
        if isinstance(text, str) and any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise ValueError("holds a control character")
    return value


class StacApiIn(BaseModel):
    url: str = Field(max_length=2000, description="the STAC API's landing page")
    collections: list[str] = Field(min_length=1, max_length=20)
    asset: str | None = Field(None, max_length=200, description="take only this asset key of each item")

    _printable = field_validator("*")(_printable)


class SubscriptionIn(BaseModel):
    site: str = Field(max_length=200)
    folders: list[str] = Field(default_factory=list, max_length=20,
                               description="folders inside the server's data folder (relative to it, or absolute)")
    stac_catalogs: list[str] = Field(default_factory=list, max_length=20,
                                     description="static STAC catalogs (catalog.json) inside the data folder, "
                                                 "or at an https URL (http only to loopback)")
    stac_api: StacApiIn | None = None
    kinds: list[str] | None = Field(None, description="event kinds that alert (default: all)")
    classes: list[str] | None = Field(None, description="equipment classes that alert (default: all)")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    posture_change: bool = True
    webhook: str | None = Field(None, max_length=2000, description="Standard Webhooks receiver (https, or http "
                                                                    "to loopback)")
    webhook_secret: str | None = Field(None, max_length=400, description="whsec_ + base64 of 24 to 64 bytes; "
                                                                         "stored, never returned")
    emails: list[str] = Field(default_factory=list, max_length=20)

    _printable = field_validator("*")(_printable)


class SubscriptionOut(Open):
    id: str
    site: str
    sources: list[dict[str, Any]]
    rules: dict[str, Any]
    webhook: str | None = Field(description="without its query or credentials")
    secret_set: bool
    created: str


class AlertOut(Open):
    id: str
    site: str
    kind: str = Field(description="event, posture, or retraction (an earlier alert whose event a rerun no "
                      "longer reports, as when a late image lies between its dates)")
    title: str
    created: str
    delivery: str = Field(description="pending, delivered, dead, or none (no webhook)")
    acknowledged: str | None
    review: str = Field(description="the web page that reviews the alert's event (or its site)")
    retracts: str | None = Field(None, description="a retraction's retracted alert id")
    revises: list[str] = Field([], description="the earlier alerts an event alert revises (each retracted)")


class ReplayOut(BaseModel):
    webhooks: list[str] = Field(description="alerts whose webhook is queued again")
    emails: int = Field(description="dead e-mails queued again")
    pending: list[str] = Field(description="already queued, left as they are")


def _inside_data(request: Request, given: str, what: str) -> str:
    root = FsPath(request.app.state.settings.data_dir).resolve()
    target = (root / given).resolve()
    if target != root and root not in target.parents:
        raise Problem(422, f"{what} {given!r} is outside the server's data folder; subscriptions made over the API "
                      "watch only what lies inside it")
    return str(target)


@router.get("/api/subscriptions", response_model=list[SubscriptionOut], tags=["watch"])
def get_subscriptions(site: str | None = Query(None, max_length=200), cat=Depends(catalog)):
    """The subscriptions `sitewatch watch` watches (webhook URLs without their query; secrets never)."""
    return [subscription_json(s) for s in list_subscriptions(cat, site=site)]


@router.post("/api/subscriptions", status_code=201, response_model=SubscriptionOut, responses=WRITE_PROBLEMS,
             dependencies=[Depends(require_token)], tags=["watch"])
def post_subscription(body: SubscriptionIn, request: Request, cat=Depends(catalog)):
    """Watch a site (needs the token): its sources, the findings that alert, where alerts go."""
    api = body.stac_api
    sources, rules = subscription_parts(
        [_inside_data(request, f, "folder") for f in body.folders],
        [f if is_url(f) else _inside_data(request, f, "STAC catalog") for f in body.stac_catalogs],
        api.url if api else None, api.collections if api else (), api.asset if api else None,
        body.kinds, body.classes, body.min_confidence, body.posture_change, body.webhook, body.emails)
    if (body.webhook is None) != (body.webhook_secret is None):
        raise Problem(422, "a webhook needs its webhook_secret (whsec_...), and a secret needs a webhook")
    secret = check_secret(body.webhook_secret, "webhook_secret") if body.webhook_secret else None
    return subscription_json(add_subscription(cat, body.site, sources, rules, body.webhook, secret))


@router.delete("/api/subscriptions/{sub_id}", status_code=204, response_class=Response, responses=WRITE_PROBLEMS,
               dependencies=[Depends(require_token)], tags=["watch"])
def delete_subscription(sub_id: str = Path(..., max_length=32), cat=Depends(catalog)):
    """Stop watching (needs the token); the subscription's alerts stay."""
    remove_subscription(cat, sub_id)
    return Response(status_code=204)


@router.get("/api/alerts", response_model=list[AlertOut], tags=["watch"])
def get_alerts(site: str | None = Query(None, max_length=200),
               unacknowledged: bool = Query(False, description="only the alerts not yet acknowledged"),
               dead: bool = Query(False, description="only the dead letters (a delivery gave up), oldest first"),
               limit: int = Query(100, ge=1, le=1000), cat=Depends(catalog)):
    """The alerts inbox, newest first."""
    alerts = dead_alerts(cat, site=site) if dead else list_alerts(cat, site=site)
    if unacknowledged:
        alerts = [a for a in alerts if a.acknowledged is None]
    counts = dead_email_counts(cat)
    return [alert_json(a, counts.get(a.id, 0)) for a in alerts[:limit]]


@router.get("/api/alerts/{alert_id}", response_model=AlertOut, responses=PROBLEMS, tags=["watch"])
def get_one_alert(alert_id: str = AlertId, cat=Depends(catalog)):
    return alert_json(get_alert(cat, alert_id), dead_email_counts(cat).get(alert_id, 0))


@router.post("/api/alerts/{alert_id}/acknowledge", response_model=AlertOut, responses=WRITE_PROBLEMS,
             dependencies=[Depends(require_token)], tags=["watch"])
def post_acknowledge(alert_id: str = AlertId, cat=Depends(catalog)):
    """Mark the alert acknowledged (needs the token); the first acknowledgement's time stays."""
    a = acknowledge_alert(cat, alert_id, datetime.now(UTC))
    return alert_json(a, dead_email_counts(cat).get(alert_id, 0))


@router.post("/api/alerts/{alert_id}/replay", response_model=ReplayOut, responses=WRITE_PROBLEMS,
             dependencies=[Depends(require_token)], tags=["watch"])
def post_replay(alert_id: str = AlertId, cat=Depends(catalog)):
    """Queue the alert's deliveries again under its id (needs the token), as `sitewatch alerts
    replay --id`; the watcher's next pass sends them."""
    r = replay_alerts(cat, [alert_id], datetime.now(UTC), resend=True)
    return {"webhooks": r.webhooks, "emails": r.emails, "pending": r.pending}


@router.api_route("/alerts", methods=["GET", "HEAD"], include_in_schema=False)
def inbox_page():
    return FileResponse(INBOX_PAGE, media_type="text/html; charset=utf-8")
