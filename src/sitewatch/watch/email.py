"""Alerts by e-mail over SMTP, with STARTTLS (stdlib smtplib and email).

The relay is the deployment's, set in the environment, never in the catalog:
SITEWATCH_SMTP_HOST, SITEWATCH_SMTP_PORT (587), SITEWATCH_SMTP_FROM, SITEWATCH_SMTP_USER
and SITEWATCH_SMTP_PASSWORD (login only after STARTTLS), SITEWATCH_SMTP_CAFILE (a CA for
a relay with its own certificate). STARTTLS is required: a relay that does not offer it is
a failed attempt, unless SITEWATCH_SMTP_STARTTLS=off and the relay is on loopback. The
password appears in no message.

An event alert's message carries the event's before and after chips (`chips`) as PNG
images, inline in an HTML part and named in the plain text. Each alert goes once to each
recipient of its subscription (`subscriptions add --email`),
queued with the alert in its transaction. Its Message-ID is derived from the alert id and
the recipient, the same on every attempt, so a message sent twice after a crash (sent, then
killed before the sending was recorded) threads as one in the reader's client. Failed
attempts are retried on the webhooks' schedule (see `delivery`).
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from html import escape

from sitewatch.errors import InputError
from sitewatch.store import Catalog, QueuedEmail, due_emails, record_email
from sitewatch.watch.chips import alert_chips
from sitewatch.watch.delivery import next_wait_s
from sitewatch.watch.feed import _text as alert_text
from sitewatch.watch.webhooks import is_loopback_host


def check_address(address: str) -> str:
    name, addr = parseaddr(address)
    if not addr or "@" not in addr or addr != address.strip() or any(c in addr for c in "\r\n ,;"):
        raise InputError(address, "not an e-mail address (name@example.org)")
    return addr


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    sender: str = "sitewatch@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = True
    cafile: str | None = None
    timeout_s: float = 30.0

    def __repr__(self) -> str:  # never the password
        return f"SmtpSettings(host={self.host!r}, port={self.port}, sender={self.sender!r}, starttls={self.starttls})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """The relay the environment names, or None when SITEWATCH_SMTP_HOST is unset."""
        env = os.environ if env is None else env
        host = env.get("SITEWATCH_SMTP_HOST", "").strip()
        if not host:
            return None
        try:
            port = int(env.get("SITEWATCH_SMTP_PORT", "587"))
        except ValueError:
            raise InputError("SITEWATCH_SMTP_PORT", "must be a port number") from None
        starttls = env.get("SITEWATCH_SMTP_STARTTLS", "on").strip().lower() not in ("off", "0", "no", "false")
        if not starttls and not is_loopback_host(host):
            raise InputError("SITEWATCH_SMTP_STARTTLS", "may be off only for a relay on loopback (127.0.0.1, ::1)")
        return cls(host, port, check_address(env.get("SITEWATCH_SMTP_FROM", "sitewatch@localhost")),
                   env.get("SITEWATCH_SMTP_USER") or None, env.get("SITEWATCH_SMTP_PASSWORD") or None, starttls,
                   env.get("SITEWATCH_SMTP_CAFILE") or None)


def message_id(alert_id: str, recipient: str, domain: str) -> str:
    return f"<{alert_id}.{hashlib.sha256(recipient.lower().encode()).hexdigest()[:12]}@{domain}>"


def compose(q: QueuedEmail, sender: str, chips: Sequence[tuple[str, str, bytes]] = ()) -> EmailMessage:
    """The message; chips: (file name, caption, PNG) shown inline below the text."""
    a = q.alert
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = q.recipient
    msg["Subject"] = f"[sitewatch] {a.title}"
    msg["Date"] = format_datetime(a.created.astimezone(UTC))
    msg["Message-ID"] = message_id(a.id, q.recipient, sender.rsplit("@", 1)[-1])
    msg["X-Sitewatch-Alert"] = a.id
    data = a.payload.get("data", {})
    lines = [a.title, "", alert_text(a), "", f"site: {a.site}", f"image: {a.image_id}", f"alert: {a.id}",
             f"created: {a.created.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"]
    event = data.get("event")
    if event:
        lines += [f"event: {event.get('id')} ({event.get('kind')}, review it in the web app's event page)"]
    lines += [f"chip: {caption} ({name})" for name, caption, _ in chips]
    msg.set_content("\n".join(lines) + "\n")
    if chips:
        cids = [make_msgid(domain=sender.rsplit("@", 1)[-1]) for _ in chips]
        figures = "".join(f'<figure><img src="cid:{cid[1:-1]}" alt="{escape(caption)}">'
                          f"<figcaption>{escape(caption)}</figcaption></figure>"
                          for cid, (_, caption, _) in zip(cids, chips))
        msg.add_alternative("<html><body>" + "".join(f"<p>{escape(line)}</p>" for line in lines if line)
                            + figures + "</body></html>", subtype="html")
        html = next(p for p in msg.iter_parts() if p.get_content_type() == "text/html")
        for cid, (name, _, png) in zip(cids, chips):
            html.add_related(png, maintype="image", subtype="png", cid=cid, filename=name)
    msg.add_attachment(json.dumps(a.payload, indent=2, sort_keys=True).encode(), maintype="application",
                       subtype="json", filename=f"{a.id}.json")
    return msg


def send_message(settings: SmtpSettings, msg: EmailMessage) -> None:
    """One SMTP session: EHLO, STARTTLS (required unless off on loopback), login, send.
    Raises smtplib.SMTPException or OSError on failure."""
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s) as smtp:
        smtp.ehlo()
        if settings.starttls:
            if not smtp.has_extn("starttls"):
                raise smtplib.SMTPNotSupportedError(f"{settings.host}:{settings.port} offers no STARTTLS")
            smtp.starttls(context=ssl.create_default_context(cafile=settings.cafile))
            smtp.ehlo()
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        smtp.send_message(msg)


@dataclass
class EmailReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0


def deliver_emails(catalog: Catalog, settings: SmtpSettings, now: datetime | None = None,
                   sender=send_message) -> EmailReport:
    """One attempt at every due e-mail."""
    now = now or datetime.now(UTC)
    report = EmailReport()
    cut: dict[str, list[tuple[str, str, bytes]]] = {}  # an alert's chips, once for all its recipients

    def chips_of(alert):
        if alert.id not in cut:
            cut[alert.id] = alert_chips(catalog, alert)
        return cut[alert.id]

    for q in due_emails(catalog, now):
        try:
            sender(settings, compose(q, settings.sender, chips_of(q.alert)))
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            error = f"{settings.host}:{settings.port}: {exc.__class__.__name__}: {str(exc)[:300]}"
            permanent = isinstance(exc, smtplib.SMTPRecipientsRefused)
            wait = None if permanent else next_wait_s(q.attempts + 1)
            record_email(catalog, q.alert.id, q.recipient, now, False, error,
                         None if wait is None else now + timedelta(seconds=wait))
            if wait is None:
                report.dead += 1
            else:
                report.retried += 1
            continue
        record_email(catalog, q.alert.id, q.recipient, now, True)
        report.sent += 1
    return report
