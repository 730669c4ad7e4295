"""Webhooks as the Standard Webhooks specification has them: who may be called, how a
delivery is signed, and one attempt to send it.

Each delivery carries `webhook-id` (the alert's id, the same on every retry, so receivers
can drop repeats), `webhook-timestamp` (seconds, of this attempt) and `webhook-signature`
("v1," + base64 HMAC-SHA256 of "id.timestamp.body" under the secret's bytes), made by the
`standardwebhooks` library. URLs must be https, except to a loopback address; redirects are
never followed (a 3xx is a failed attempt). Secrets appear in no message, and URLs are shown
without their query or credentials (`shown_url`), which often hold tokens.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import secrets
import ssl
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sitewatch.errors import InputError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64 bytes
USER_AGENT = "sitewatch-webhooks"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_secret(secret: str, where: str) -> str:
    """The secret, stripped, if it is whsec_ + base64 of 24 to 64 bytes; else an InputError
    naming where it came from (never the secret)."""
    s = secret.strip()
    body = s[len(SECRET_PREFIX):] if s.startswith(SECRET_PREFIX) else s
    try:
        raw = base64.b64decode(body, validate=True)
    except ValueError:
        raise InputError(where, "the webhook secret is not base64 (whsec_ followed by base64)") from None
    if not 24 <= len(raw) <= 64:
        raise InputError(where, f"the webhook secret holds {len(raw)} bytes; it must hold 24 to 64")
    return s if s.startswith(SECRET_PREFIX) else SECRET_PREFIX + s


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """The URL if a webhook may be sent to it (https, or http to loopback); else InputError."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InputError(shown_url(url), "a webhook URL must be https://HOST/...")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise InputError(shown_url(url), "webhooks go over https, except to a loopback address (127.0.0.1, ::1)")
    return url


def shown_url(url: str) -> str:
    """The URL as it may be printed: scheme, host, port and path, no credentials, no query."""
    p = urlsplit(url)
    host = p.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{p.port}" if p.port else ""
    return f"{p.scheme}://{host}{port}{p.path}" + ("?..." if p.query else "")


def body_bytes(payload: dict) -> bytes:
    """The payload as sent and signed: the same bytes on every attempt."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(secret: str, msg_id: str, when: datetime, body: bytes) -> dict[str, str]:
    from standardwebhooks.webhooks import Webhook  # noqa: PLC0415  (the watch extra)

    signature = Webhook(secret).sign(msg_id, when, body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())), "webhook-signature": signature}


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None  # the HTTP status, None when no answer came
    error: str = ""
    retry_after_s: float | None = None  # what a 429 or 503 asked for


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the backoff schedule decides instead


def send(url: str, secret: str, msg_id: str, payload: dict, when: datetime, timeout_s: float = 15.0) -> Attempt:
    """POST one signed delivery; a 2xx answer is success. Never follows redirects."""
    check_url(url)
    parts = urlsplit(url)
    body = body_bytes(payload)
    headers = {"content-type": "application/json", "user-agent": USER_AGENT,
               **signed_headers(secret, msg_id, when, body)}
    host = parts.hostname or ""  # check_url made sure there is one
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, parts.port, timeout=timeout_s, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout_s)
    try:
        conn.request("POST", target, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read(65536)
        status = resp.status
        retry = _retry_after(resp.getheader("retry-after")) if status in (429, 503) else None
    except (OSError, http.client.HTTPException) as exc:
        return Attempt(False, None, f"{shown_url(url)}: {exc.__class__.__name__}: {exc}")
    finally:
        conn.close()
    if 200 <= status < 300:
        return Attempt(True, status)
    why = "a redirect, not followed" if 300 <= status < 400 else "not 2xx"
    return Attempt(False, status, f"{shown_url(url)} answered {status} ({why})", retry)
