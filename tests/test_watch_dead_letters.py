"""Dead letters: an alert whose webhook kept failing for the whole retry schedule is dead,
listed by `sitewatch alerts list --dead`, and `sitewatch alerts replay` (by id, or by the
time the alerts were created) queues it again; a real receiver on loopback then gets it
under the same webhook-id and the same body, verified by the standardwebhooks library, and
only once however often it was replayed before it was sent."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from test_watch_webhooks import SECRET, T0, _alert, _outbox

from sitewatch.store import (
    Alert,
    add_alerts,
    add_site,
    add_subscription,
    dead_alerts,
    get_alert,
    list_emails,
    open_catalog,
    queue_emails,
    record_attempt,
    record_email,
    replay_alerts,
)
from sitewatch.watch.delivery import RETRY_AFTER_S, deliver_due
from tests.webhook_receiver import Receiver

EXE = str(Path(sys.executable).with_name("sitewatch"))
ATTEMPTS = len(RETRY_AFTER_S) + 1  # the first try and one per wait of the schedule


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120)


def _until_dead(cat) -> datetime:
    """Drive the whole retry schedule (each attempt at its due time); the time it died."""
    now = T0
    for _ in range(ATTEMPTS - 1):
        assert deliver_due(cat, now=now).retried == 1
        now = get_alert(cat, "alert_1").next_attempt
    assert deliver_due(cat, now=now).dead == 1
    return now


def test_a_dead_alert_is_listed_and_replayed_under_the_same_webhook_id_and_sent_once(tmp_path):
    from standardwebhooks.webhooks import Webhook

    rx = Receiver([500] * ATTEMPTS)  # fails every try of the schedule, then answers 200
    try:
        db = tmp_path / "catalog.db"
        with _outbox(tmp_path, rx.url) as cat:
            died = _until_dead(cat)
            dead = get_alert(cat, "alert_1")
        assert (dead.delivery, dead.attempts, dead.dead_at) == ("dead", ATTEMPTS, died)
        listed = _cli("alerts", "list", "--dead", "--json", "--db", str(db))
        assert listed.returncode == 0, listed.stderr
        (row,) = json.loads(listed.stdout)
        assert (row["id"], row["delivery"], row["attempts"]) == ("alert_1", "dead", ATTEMPTS)
        assert "answered 500" in row["last_error"] and SECRET not in listed.stdout

        first = _cli("alerts", "replay", "--id", "alert_1", "--db", str(db))
        assert first.returncode == 0, first.stderr
        assert "1 webhook(s)" in first.stdout
        # replayed again before the watcher sent it: left pending, then sent now, once
        second = _cli("alerts", "replay", "--id", "alert_1", "--deliver", "--db", str(db))
        assert second.returncode == 0, second.stderr
        assert "0 webhook(s)" in second.stdout and "1 still pending" in second.stdout
        assert "1 delivered" in second.stdout
        assert len(rx.requests) == ATTEMPTS + 1
        with open_catalog(db) as cat:
            after = get_alert(cat, "alert_1")
            assert dead_alerts(cat) == [] and deliver_due(cat).delivered == 0
        assert (after.delivery, after.attempts, after.replays, after.dead_at) == ("delivered", 1, 1, None)
        assert set(rx.ids()) == {"alert_1"}
        assert len({r.body for r in rx.requests}) == 1  # the same bytes as every earlier try
        _, headers, body = rx.requests[-1]
        assert Webhook(SECRET).verify(body, headers)["data"]["alert_id"] == "alert_1"
        assert json.loads(_cli("alerts", "list", "--dead", "--json", "--db", str(db)).stdout) == []
    finally:
        rx.close()


def _dated_alert(sub_id: str, n: int, created: datetime) -> Alert:
    a = _alert(sub_id, n)
    return Alert(a.id, a.subscription_id, a.site, a.image_id, a.kind, a.title, a.payload, created, a.event_id,
                 "pending", next_attempt=created)


def test_replay_by_time_queues_only_the_dead_letters_created_in_the_window(tmp_path):
    rx = Receiver()
    try:
        db = tmp_path / "catalog.db"
        with open_catalog(db) as cat:
            from test_watch_webhooks import SITE

            add_site(cat, SITE)
            sub = add_subscription(cat, SITE.name, [("folder", str(tmp_path / "inbox"))], {}, rx.url, SECRET)
            # dead letters created on the 10th, 11th and 12th; on the 11th also one delivered
            days = {1: T0, 2: T0 + timedelta(days=1), 3: T0 + timedelta(days=2), 4: T0 + timedelta(days=1, hours=2)}
            with cat.transaction() as s:
                add_alerts(s, [_dated_alert(sub.id, n, when) for n, when in days.items()])
            for n in (1, 2, 3):
                record_attempt(cat, f"alert_{n}", T0 + timedelta(days=4), False, "gave up")
            record_attempt(cat, "alert_4", T0 + timedelta(days=1, hours=2), True)
            assert [a.id for a in dead_alerts(cat)] == ["alert_1", "alert_2", "alert_3"]
        r = _cli("alerts", "replay", "--since", "2024-12-11", "--until", "2024-12-11", "--deliver", "--db", str(db))
        assert r.returncode == 0, r.stderr
        assert rx.ids() == ["alert_2"]
        with open_catalog(db) as cat:
            assert [a.id for a in dead_alerts(cat)] == ["alert_1", "alert_3"]
            assert get_alert(cat, "alert_4").attempts == 1  # delivered before: not sent again by time
        nothing = _cli("alerts", "replay", "--since", "2024-12-20", "--db", str(db))
        assert nothing.returncode == 0 and "no dead letters" in nothing.stdout
    finally:
        rx.close()


def test_an_unknown_id_is_one_line_of_error_and_queues_nothing(tmp_path):
    db = tmp_path / "catalog.db"
    with _outbox(tmp_path, "http://127.0.0.1:9/hook") as cat:
        record_attempt(cat, "alert_1", T0, False, "gave up")
    r = _cli("alerts", "replay", "--id", "alert_1", "--id", "alert_nope", "--db", str(db))
    assert r.returncode == 1 and "alert_nope" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    with open_catalog(db) as cat:
        assert get_alert(cat, "alert_1").delivery == "dead"  # the known one was not queued either
    both = _cli("alerts", "replay", "--id", "alert_1", "--since", "2024-12-01", "--db", str(db))
    assert both.returncode == 1 and "--id" in both.stderr


def test_a_dead_email_is_a_dead_letter_and_replay_queues_it_again_with_a_fresh_schedule(tmp_path):
    with _outbox(tmp_path, "http://127.0.0.1:9/hook") as cat:
        with cat.transaction() as s:
            queue_emails(s, ["alert_1"], ["analyst@example.org"], T0)
        record_attempt(cat, "alert_1", T0, True)  # the webhook got it
        record_email(cat, "alert_1", "analyst@example.org", T0, False, "relay refused")  # the e-mail gave up
        assert [a.id for a in dead_alerts(cat)] == ["alert_1"]
        later = T0 + timedelta(days=5)
        r = replay_alerts(cat, ["alert_1"], later)
        assert (r.webhooks, r.emails, r.nothing) == ([], 1, [])
        (q,) = list_emails(cat)
        assert (q.state, q.attempts) == ("pending", 0)
        assert get_alert(cat, "alert_1").replays == 1 and dead_alerts(cat) == []
        # nothing dead any more: a second replay (without resend) finds nothing to send
        assert replay_alerts(cat, ["alert_1"], later).nothing == ["alert_1"]
        assert get_alert(cat, "alert_1").delivered == T0.astimezone(UTC)
