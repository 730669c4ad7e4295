"""E-mail alerts over SMTP with STARTTLS, to a real aiosmtpd relay on loopback that requires
STARTTLS and a login (its certificate made by openssl for the test). The small base's two
dates land in a watched folder; the 6 alerts of test_watch go once each to the recipient,
over TLS; a relay that is down first leaves them queued and retried; a relay without
STARTTLS is refused."""

from __future__ import annotations

import shutil
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest

aiosmtpd = pytest.importorskip("aiosmtpd")
if shutil.which("openssl") is None:
    pytest.skip("openssl is needed to make the test relay's certificate", allow_module_level=True)

import ssl  # noqa: E402

from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

from sitewatch.store import add_subscription, list_alerts, list_emails, open_catalog  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SITE = "smallbase"
RULES = {"kinds": ["departed", "arrived"], "classes": ["air_defence", "aircraft"], "min_confidence": 0.5,
         "posture_change": True, "email": ["analyst@example.org"]}
USER, PASSWORD = "sitewatch", "relay-password-not-logged"


class Inbox:
    def __init__(self):
        self.messages: list[tuple[bool, bytes]] = []  # (over TLS, the message)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((session.ssl is not None, envelope.content))
        return "250 OK"


def _auth(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "relay.key", d / "relay.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return key, crt


def _relay(cert, port: int, tls: bool = True) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    kwargs: dict = {"authenticator": _auth, "auth_require_tls": True}
    if tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(cert[1]), str(cert[0]))
        kwargs.update(tls_context=ctx, require_starttls=True)
    c = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    c.start()
    return c, inbox


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    import sitewatch

    folder = tmp_path_factory.mktemp("smallbase-email")
    sitewatch.simulate_scenario(ROOT / "scenarios" / "smallbase.yaml", folder / "scenes")
    return folder / "scenes" / SITE


def test_alerts_are_mailed_once_each_over_starttls_and_retried_while_the_relay_is_down(scenes, cert, tmp_path,
                                                                                      monkeypatch):
    import sitewatch
    from sitewatch.detect.model import DetectionModel
    from sitewatch.watch import Watcher
    from sitewatch.watch.email import SmtpSettings, deliver_emails

    port = _free_port()
    for k, v in {"SITEWATCH_SMTP_HOST": "127.0.0.1", "SITEWATCH_SMTP_PORT": str(port),
                 "SITEWATCH_SMTP_FROM": "sitewatch@example.org", "SITEWATCH_SMTP_USER": USER,
                 "SITEWATCH_SMTP_PASSWORD": PASSWORD, "SITEWATCH_SMTP_CAFILE": str(cert[1])}.items():
        monkeypatch.setenv(k, v)
    db, inbox_dir = tmp_path / "catalog.db", tmp_path / "inbox"
    inbox_dir.mkdir()
    said: list[str] = []
    with open_catalog(db) as cat:
        sitewatch.add_sites(cat, ROOT / "scenarios" / "smallbase.yaml")
        add_subscription(cat, SITE, [("folder", str(inbox_dir))], RULES)
        w = Watcher(cat, DetectionModel(), tmp_path / "out", settle_s=0.0, say=said.append)
        for day in ("2024-12-05", "2024-12-10"):
            shutil.copyfile(scenes / f"{day}.tif", inbox_dir / f".{day}.part")
            (inbox_dir / f".{day}.part").rename(inbox_dir / f"{day}.tif")
        report = w.run_pass()  # the relay is not up yet
        assert len(report.processed) == 2 and report.email.retried == 6 and report.email.sent == 0
        queued = list_emails(cat)
        assert len(queued) == 6 and all(q.state == "pending" and q.attempts == 1 for q in queued)
        assert all(PASSWORD not in q.last_error for q in queued)

        relay, inbox = _relay(cert, port)
        try:
            later = datetime.now(UTC) + timedelta(minutes=10)  # past the first retry's wait
            sent = deliver_emails(cat, SmtpSettings.from_env(), now=later)
            assert sent.sent == 6
            assert w.run_pass().email.sent == 0  # nothing sent twice
            assert deliver_emails(cat, SmtpSettings.from_env(), now=later + timedelta(days=1)).sent == 0
        finally:
            relay.stop()
        assert len(inbox.messages) == 6 and all(tls for tls, _ in inbox.messages)
        alerts = {a.id: a for a in list_alerts(cat)}
        got = [message_from_bytes(m, policy=email_policy.default) for _, m in inbox.messages]
        assert sorted(m["X-Sitewatch-Alert"] for m in got) == sorted(alerts)
        assert len({m["Message-ID"] for m in got}) == 6
        m = got[0]
        assert m["To"] == "analyst@example.org" and m["Subject"].strip() == f"[sitewatch] {alerts[m['X-Sitewatch-Alert']].title}"
        assert all(q.state == "sent" for q in list_emails(cat))
        assert not any(PASSWORD in line for line in said)
    # each event alert shows the report's before and after chips, inline; the posture alert none
    import cv2
    import numpy as np

    from sitewatch.report.html import CHIP_PX

    for m in got:
        a = alerts[m["X-Sitewatch-Alert"]]
        pngs = [p for p in m.walk() if p.get_content_type() == "image/png"]
        if a.kind == "posture":
            assert pngs == []
            continue
        event = a.payload["data"]["event"]
        assert len(pngs) == 2, a.title  # one source: before and after, no other source's chip
        text = m.get_body(preferencelist=("plain",)).get_content()
        assert f"chip: before: {event['before_image']}" in text and f"chip: after: {event['after_image']}" in text
        html = m.get_body(preferencelist=("html",)).get_content()
        for p in pngs:
            assert f"cid:{p['Content-ID'][1:-1]}" in html
            img = cv2.imdecode(np.frombuffer(p.get_content(), np.uint8), cv2.IMREAD_COLOR)
            assert img.shape == (CHIP_PX, CHIP_PX, 3) and img.std() > 5  # imagery, not a blank square


def test_a_relay_that_offers_no_starttls_is_refused(cert, monkeypatch):
    from sitewatch.errors import InputError
    from sitewatch.watch.email import SmtpSettings, send_message

    port = _free_port()
    relay, inbox = _relay(cert, port, tls=False)
    try:
        settings = SmtpSettings("127.0.0.1", port, "sitewatch@example.org")
        from email.message import EmailMessage

        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "sitewatch@example.org", "a@example.org", "x"
        msg.set_content("x")
        with pytest.raises(Exception, match="STARTTLS"):
            send_message(settings, msg)
        assert inbox.messages == []
    finally:
        relay.stop()
    with pytest.raises(InputError):
        SmtpSettings.from_env({"SITEWATCH_SMTP_HOST": "smtp.example.org", "SITEWATCH_SMTP_STARTTLS": "off"})
    assert "relay-password" not in repr(SmtpSettings("h", password="relay-password"))
