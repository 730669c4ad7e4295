"""Webhook deliveries from the alerts outbox: signed as Standard Webhooks says (checked by
an independent HMAC and by the library's verifier), sent to a real HTTP server on loopback,
retried after a failure and received exactly once, never redirected, never to plain http
elsewhere, and no secret in any output."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_change_pixel import SITE

from sitewatch.errors import InputError
from sitewatch.store import Alert, add_alerts, add_site, add_subscription, list_alerts, open_catalog
from sitewatch.watch.delivery import RETRY_AFTER_S, deliver_due
from sitewatch.watch.feed import atom_feed
from sitewatch.watch.webhooks import body_bytes, check_url, new_secret, shown_url, signed_headers
from tests.webhook_receiver import Receiver

EXE = str(Path(sys.executable).with_name("sitewatch"))
T0 = datetime(2024, 12, 10, 9, 0, tzinfo=UTC)
# 32 bytes, base64: a secret the test knows, so the signature can be recomputed by hand
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def test_the_signature_is_hmac_sha256_of_id_timestamp_body_under_the_secret_bytes():
    body = body_bytes({"type": "sitewatch.event", "data": {"site": "painted", "n": 1}})
    headers = signed_headers(SECRET, "alert_abc", T0, body)
    ts = str(int(T0.timestamp()))
    expected = base64.b64encode(hmac.new(bytes(range(32)), f"alert_abc.{ts}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    assert headers == {"webhook-id": "alert_abc", "webhook-timestamp": ts, "webhook-signature": "v1," + expected}


def test_webhook_urls_are_https_or_loopback_and_are_shown_without_query_or_credentials():
    for ok in ("https://hooks.example.org/a", "http://127.0.0.1:9000/hook", "http://[::1]:80/", "http://localhost/x"):
        assert check_url(ok) == ok
    for bad in ("http://hooks.example.org/a", "ftp://127.0.0.1/", "https:///nohost", "file:///etc/passwd"):
        with pytest.raises(InputError):
            check_url(bad)
    assert shown_url("https://user:pw@hooks.example.org:8443/in?token=s3cret") == "https://hooks.example.org:8443/in?..."


@pytest.fixture
def receiver_factory():
    made = []

    def make(statuses, extra_headers=None):
        made.append(Receiver(statuses, extra_headers))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _alert(sub_id: str, n: int = 1) -> Alert:
    payload = {"type": "sitewatch.event", "timestamp": T0.isoformat(), "data": {"alert_id": f"alert_{n}"}}
    return Alert(f"alert_{n}", sub_id, SITE.name, "img1", "event", f"painted: item {n} arrived", payload, T0,
                 f"painted-E01-{n:03d}", "pending", next_attempt=T0)


def _outbox(tmp_path, url: str, n_alerts: int = 1):
    cat = open_catalog(tmp_path / "catalog.db")
    add_site(cat, SITE)
    sub = add_subscription(cat, SITE.name, [("folder", str(tmp_path / "inbox"))], {}, url, SECRET)
    with cat.transaction() as s:
        add_alerts(s, [_alert(sub.id, n) for n in range(1, n_alerts + 1)])
    return cat


def test_a_receiver_that_fails_once_gets_the_alert_exactly_once_on_the_retry(tmp_path, receiver_factory):
    from standardwebhooks.webhooks import Webhook

    rx = receiver_factory([500, 200])
    with _outbox(tmp_path, rx.url) as cat:
        first = deliver_due(cat, now=T0)
        assert (first.delivered, first.retried, first.dead) == (0, 1, 0)
        # the first retry waits 5 s plus at most a fifth: nothing is due 4 s on
        assert deliver_due(cat, now=T0 + timedelta(seconds=4)).retried == 0 and len(rx.requests) == 1
        second = deliver_due(cat, now=T0 + timedelta(seconds=RETRY_AFTER_S[0] * 1.2 + 1))
        assert second.delivered == 1
        assert deliver_due(cat, now=T0 + timedelta(days=4)).delivered == 0  # never again
        (alert,) = list_alerts(cat)
    assert (alert.delivery, alert.attempts) == ("delivered", 2)
    assert len(rx.requests) == 2
    ids = {h["webhook-id"] for _, h, _ in rx.requests}
    assert ids == {"alert_1"}  # the same id on the retry: receivers drop repeats by it
    bodies = {b for _, _, b in rx.requests}
    assert len(bodies) == 1
    for _, headers, body in rx.requests:  # each attempt verifies with the library's verifier
        # the verifier refuses timestamps 5 min from its clock: check against the attempt's own time
        when = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
        assert Webhook(SECRET).sign(headers["webhook-id"], when, body) == headers["webhook-signature"]
    assert json.loads(body)["data"]["alert_id"] == "alert_1"


def test_a_delivery_signed_now_passes_the_library_verifier(tmp_path, receiver_factory):
    from standardwebhooks.webhooks import Webhook

    rx = receiver_factory([200])
    with _outbox(tmp_path, rx.url) as cat:
        assert deliver_due(cat).delivered == 1  # now: within the verifier's tolerance
    (_, headers, body), = rx.requests
    assert Webhook(SECRET).verify(body, headers)["data"]["alert_id"] == "alert_1"


def test_a_redirect_is_not_followed_and_the_alert_stays_pending(tmp_path, receiver_factory):
    rx = receiver_factory([302], {302: {"location": "/elsewhere"}})
    with _outbox(tmp_path, rx.url) as cat:
        assert deliver_due(cat, now=T0).retried == 1
        (alert,) = list_alerts(cat)
    assert [p for p, _, _ in rx.requests] == ["/hook"]
    assert alert.delivery == "pending" and "302" in alert.last_error and "not followed" in alert.last_error


def test_a_429_retry_after_is_honoured(tmp_path, receiver_factory):
    rx = receiver_factory([429], {429: {"retry-after": "120"}})
    with _outbox(tmp_path, rx.url) as cat:
        deliver_due(cat, now=T0)
        (alert,) = list_alerts(cat)
    assert alert.next_attempt is not None and alert.next_attempt >= T0 + timedelta(seconds=120)


def test_an_unreachable_receiver_is_retried_then_given_up_after_the_schedule(tmp_path, receiver_factory):
    rx = receiver_factory([])
    url = rx.url
    rx.close()  # nothing listens there any more
    with _outbox(tmp_path, url) as cat:
        now = T0
        for _ in range(len(RETRY_AFTER_S)):
            assert deliver_due(cat, now=now).retried == 1
            now = list_alerts(cat)[0].next_attempt
        assert deliver_due(cat, now=now).dead == 1
        (alert,) = list_alerts(cat)
    assert alert.delivery == "dead" and alert.attempts == len(RETRY_AFTER_S) + 1
    assert sum(RETRY_AFTER_S) / 86400 > 2.5  # about three days of retries
    assert SECRET not in alert.last_error


def test_the_cli_never_prints_the_secret(tmp_path):
    db = tmp_path / "catalog.db"
    with open_catalog(db) as cat:
        add_site(cat, SITE)
    secret_file = tmp_path / "hook.secret"
    (tmp_path / "inbox").mkdir()
    r = subprocess.run([EXE, "subscriptions", "add", "--site", SITE.name, "--folder", str(tmp_path / "inbox"),
                        "--webhook", "http://127.0.0.1:9/hook?token=abc", "--secret-file", str(secret_file),
                        "--db", str(db)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    secret = secret_file.read_text().strip()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert secret_file.stat().st_mode & 0o077 == 0  # owner-only
    listed = subprocess.run([EXE, "subscriptions", "list", "--json", "--db", str(db)], capture_output=True, text=True,
                            timeout=120)
    for out in (r.stdout + r.stderr, listed.stdout + listed.stderr):
        assert secret not in out and secret[6:] not in out and "token=abc" not in out
    (sub,) = json.loads(listed.stdout)
    assert sub["secret_set"] is True and sub["webhook"] == "http://127.0.0.1:9/hook?..."
    refused = subprocess.run([EXE, "subscriptions", "add", "--site", SITE.name, "--folder", str(tmp_path / "inbox"),
                              "--webhook", "http://hooks.example.org/", "--secret-file", str(secret_file), "--db",
                              str(db)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "https" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_the_atom_feed_has_one_entry_per_alert_newest_first_with_stable_ids():
    import xml.etree.ElementTree as ET

    alerts = [_alert("s1", 1), Alert("alert_2", "s1", "painted", "img2", "posture", "painted: posture now withdrawal",
                                     {"data": {"posture": {"headline": "a withdrawal is likely"}}},
                                     T0 + timedelta(hours=1))]
    doc = atom_feed("painted", alerts)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = ET.fromstring(doc)
    assert root.find("a:id", ns).text == "urn:sitewatch:site:painted"
    entries = root.findall("a:entry", ns)
    assert [e.find("a:id", ns).text for e in entries] == ["urn:sitewatch:alert:alert_2", "urn:sitewatch:alert:alert_1"]
    assert entries[0].find("a:content", ns).text == "a withdrawal is likely"
    assert root.find("a:updated", ns).text == "2024-12-10T10:00:00Z"
    assert atom_feed("painted", list(reversed(alerts))) == doc


def test_new_secrets_are_32_random_bytes():
    a, b = new_secret(), new_secret()
    assert a != b and len(base64.b64decode(a[6:])) == 32


def test_the_web_app_serves_the_site_feed(tmp_path):
    import xml.etree.ElementTree as ET

    from fastapi.testclient import TestClient

    from sitewatch.web import create_app
    from sitewatch.web.settings import WebSettings

    _outbox(tmp_path, "http://127.0.0.1:9/hook", n_alerts=2).close()
    settings = WebSettings(data_dir=tmp_path, db=str(tmp_path / "catalog.db"))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.get(f"/api/sites/{SITE.name}/alerts.atom")
        missing = client.get("/api/sites/nowhere/alerts.atom")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    entries = ET.fromstring(r.content).findall("{http://www.w3.org/2005/Atom}entry")
    assert len(entries) == 2 and SECRET not in r.text
    assert missing.status_code == 404
