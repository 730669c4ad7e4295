"""The watch over the REST API, on the web sample (sitewatch.web.sample): subscriptions listed,
added and removed (writes need the token; a secret goes in and never comes out; folders and
local catalogs only inside the data folder, catalog URLs https or loopback), the alerts inbox
listed, acknowledged and replayed, each alert linked to its event's review page, and the inbox
page served."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from test_web_api import AUTH, is_problem, make_client  # noqa: E402

from sitewatch.store import Alert, add_alerts, add_subscription, events_for_site, open_catalog  # noqa: E402
from sitewatch.web.sample import SITE  # noqa: E402

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
T0 = datetime(2024, 12, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def data_dir(tmp_path_factory, tmp_path):
    """A private copy of the sample (the cache test_web_api builds, shared by the session)."""
    from sitewatch.web.sample import sample_cache, sample_copy

    d = tmp_path / "data"
    sample_copy(sample_cache(tmp_path_factory.getbasetemp() / "web-sample-cache"), d)
    return d


def _alerts(data_dir) -> tuple[str, str]:
    """A subscription of the sample site with two alerts on its first event and its posture,
    the first of them dead; returns the subscription id and the event id."""
    with open_catalog(data_dir / "catalog.db") as cat:
        event = events_for_site(cat, SITE)[0]
        sub = add_subscription(cat, SITE, [("folder", str(data_dir / "inbox"))], {}, "http://127.0.0.1:9/hook", SECRET)
        alerts = [Alert("alert_e1", sub.id, SITE, "img", "event", f"{SITE}: an event",
                        {"data": {"alert_id": "alert_e1"}}, T0, event.id, "dead", attempts=12,
                        last_error="http://127.0.0.1:9/hook answered 500 (not 2xx)"),
                  Alert("alert_p1", sub.id, SITE, "img", "posture", f"{SITE}: posture now withdrawal",
                        {"data": {"alert_id": "alert_p1"}}, T0.replace(hour=10), None, "delivered", attempts=1)]
        with cat.transaction() as s:
            add_alerts(s, alerts)
    return sub.id, event.id


def test_subscriptions_are_listed_without_secrets_and_writes_need_the_token(data_dir):
    (data_dir / "inbox").mkdir()
    body = {"site": SITE, "folders": ["inbox"], "kinds": ["arrived"], "classes": ["aircraft"], "min_confidence": 0.7,
            "webhook": "http://127.0.0.1:9/hook?token=abc", "webhook_secret": SECRET}
    with make_client(data_dir) as client:
        is_problem(client.post("/api/subscriptions", json=body), 401)
        is_problem(client.post("/api/subscriptions", json=body, headers={"Authorization": "Bearer wrong"}), 401)
        assert client.get("/api/subscriptions").json() == []
        r = client.post("/api/subscriptions", json=body, headers=AUTH)
        assert r.status_code == 201, r.text
        made = r.json()
        listed = client.get("/api/subscriptions")
        one_site = client.get("/api/subscriptions", params={"site": "elsewhere"}).json()
        gone_unauth = client.delete(f"/api/subscriptions/{made['id']}")
        gone = client.delete(f"/api/subscriptions/{made['id']}", headers=AUTH)
        again = client.delete(f"/api/subscriptions/{made['id']}", headers=AUTH)
        after = client.get("/api/subscriptions").json()
    assert made["sources"] == [{"kind": "folder", "location": str((data_dir / "inbox").resolve())}]
    assert made["rules"] == {"kinds": ["arrived"], "classes": ["aircraft"], "min_confidence": 0.7,
                             "posture_change": True}
    assert made["webhook"] == "http://127.0.0.1:9/hook?..." and made["secret_set"] is True
    assert listed.json() == [made] and one_site == []
    for text in (r.text, listed.text):
        assert SECRET not in text and SECRET[6:] not in text and "token=abc" not in text
    is_problem(gone_unauth, 401)
    assert gone.status_code == 204 and after == []
    is_problem(again, 404)


@pytest.mark.parametrize("change, word", [
    ({"folders": ["../.."]}, "outside the server's data folder"),
    ({"folders": ["/etc"]}, "outside the server's data folder"),
    ({"folders": ["\0"]}, "control character"),
    ({"stac_catalogs": ["inbox\0/catalog.json"]}, "control character"),
    ({"stac_catalogs": ["http://catalog.example.org/catalog.json"]}, "loopback"),
    ({"stac_catalogs": ["ftp://catalog.example.org/catalog.json"]}, "https"),
    ({"webhook": "http://127.0.0.1:9/h\0ook"}, "control character"),
    ({"emails": ["analyst\n@example.org"]}, "control character"),
    ({"webhook": "http://hooks.example.org/in"}, "https"),
    ({"webhook_secret": None}, "webhook_secret"),
    ({"webhook_secret": "whsec_c2hvcnQ="}, "24 to 64"),
    ({"folders": [], "stac_api": {"url": "ftp://stac.example.org", "collections": ["vhr"]}}, "http"),
    ({"kinds": ["exploded"]}, "exploded"),
    ({"site": "nowhere"}, "nowhere"),
])
def test_a_subscription_the_api_refuses_is_a_problem_and_stores_nothing(data_dir, change, word):
    body = {"site": SITE, "folders": ["inbox"], "webhook": "http://127.0.0.1:9/hook", "webhook_secret": SECRET,
            **change}
    with make_client(data_dir) as client:
        r = client.post("/api/subscriptions", json=body, headers=AUTH)
        assert client.get("/api/subscriptions").json() == []
    assert r.status_code in (404, 422), r.text
    assert word in is_problem(r, r.status_code)["detail"] and SECRET[6:] not in r.text


def test_a_static_catalog_at_an_https_url_is_taken_as_given(data_dir):
    """A URL is not a path in the data folder: it passes the webhooks' https-or-loopback rule."""
    url = "https://catalog.example.org/stac/catalog.json"
    with make_client(data_dir) as client:
        r = client.post("/api/subscriptions", json={"site": SITE, "stac_catalogs": [url]}, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["sources"] == [{"kind": "stac", "location": url}]


def test_the_inbox_lists_acknowledges_and_links_each_alert_to_its_event_review(data_dir):
    _, event_id = _alerts(data_dir)
    with make_client(data_dir) as client:
        listed = client.get("/api/alerts").json()
        refused = client.post("/api/alerts/alert_e1/acknowledge")
        acked = client.post("/api/alerts/alert_e1/acknowledge", headers=AUTH)
        again = client.post("/api/alerts/alert_e1/acknowledge", headers=AUTH)
        open_ones = client.get("/api/alerts", params={"unacknowledged": "true"}).json()
        dead = client.get("/api/alerts", params={"dead": "true"}).json()
        missing = client.post("/api/alerts/alert_nope/acknowledge", headers=AUTH)
        page = client.get("/alerts")
        script = client.get("/static/alerts.js")
    assert [a["id"] for a in listed] == ["alert_p1", "alert_e1"]  # newest first
    e1 = listed[1]
    assert e1["review"] == f"/#site={SITE}&event={event_id}" and listed[0]["review"] == f"/#site={SITE}"
    assert e1["delivery"] == "dead" and e1["acknowledged"] is None
    is_problem(refused, 401)
    assert acked.status_code == 200 and acked.json()["acknowledged"] is not None
    assert again.json()["acknowledged"] == acked.json()["acknowledged"]  # the first time stays
    assert [a["id"] for a in open_ones] == ["alert_p1"]
    assert [a["id"] for a in dead] == ["alert_e1"]
    is_problem(missing, 404)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="/static/alerts.js"' in page.text and script.status_code == 200
    assert "Content-Security-Policy" in page.headers


def test_replay_over_the_api_needs_the_token_and_queues_the_dead_alert_once(data_dir):
    _alerts(data_dir)
    with make_client(data_dir) as client:
        is_problem(client.post("/api/alerts/alert_e1/replay"), 401)
        first = client.post("/api/alerts/alert_e1/replay", headers=AUTH).json()
        second = client.post("/api/alerts/alert_e1/replay", headers=AUTH).json()
        one = client.get("/api/alerts/alert_e1").json()
    assert first == {"webhooks": ["alert_e1"], "emails": 0, "pending": []}
    assert second == {"webhooks": [], "emails": 0, "pending": ["alert_e1"]}
    assert (one["delivery"], one["attempts"], one["replays"]) == ("pending", 0, 1)


def test_the_openapi_document_has_the_watch_endpoints_and_no_secret_in_any_response(data_dir):
    from openapi_spec_validator import validate

    with make_client(data_dir) as client:
        doc = client.get("/api/openapi.json").json()
    validate(doc)
    for path in ("/api/subscriptions", "/api/subscriptions/{sub_id}", "/api/alerts", "/api/alerts/{alert_id}",
                 "/api/alerts/{alert_id}/acknowledge", "/api/alerts/{alert_id}/replay"):
        assert path in doc["paths"], path
    out = json.dumps(doc["components"]["schemas"]["SubscriptionOut"])
    assert "webhook_secret" not in out


def test_a_retraction_and_the_alert_that_revises_show_their_kind_and_links_over_the_api(data_dir):
    sub_id, _ = _alerts(data_dir)
    retraction = Alert("alert_r1", sub_id, SITE, "img2", "retraction", f"{SITE}: retracted: an event",
                       {"type": "sitewatch.event.retracted",
                        "data": {"alert_id": "alert_r1", "retracted": {"alert_id": "alert_e1", "event_id": "E1"},
                                 "reason": "split", "why": "a later image lies between its dates",
                                 "revised_by": ["alert_e2"]}}, T0.replace(hour=11))
    reviser = Alert("alert_e2", sub_id, SITE, "img2", "event", f"{SITE}: an event (revises an earlier alert)",
                    {"data": {"alert_id": "alert_e2", "revises": ["alert_e1"]}}, T0.replace(hour=11))
    with open_catalog(data_dir / "catalog.db") as cat, cat.transaction() as s:
        add_alerts(s, [retraction, reviser])
    with make_client(data_dir) as client:
        listed = {a["id"]: a for a in client.get("/api/alerts").json()}
        doc = client.get("/api/openapi.json").json()
    assert (listed["alert_r1"]["kind"], listed["alert_r1"]["retracts"], listed["alert_r1"]["revises"]) == (
        "retraction", "alert_e1", [])
    assert (listed["alert_e2"]["kind"], listed["alert_e2"]["retracts"], listed["alert_e2"]["revises"]) == (
        "event", None, ["alert_e1"])
    assert listed["alert_r1"]["review"] == f"/#site={SITE}"
    assert {"retracts", "revises"} <= set(doc["components"]["schemas"]["AlertOut"]["properties"])
