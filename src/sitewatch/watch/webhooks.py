"""Webhooks as the Standard Webhooks specification has them: who may be called, how a
delivery is signed, and one attempt to send it.

Each delivery carries `webhook-id` (the alert's id, the same on every retry, so receivers
can drop repeats), `webhook-timestamp` (seconds, of this attempt) and `webhook-signature`
("v1," + base64 HMAC-SHA256 of "id.timestamp.body" under the secret's bytes), made by the
`standardwebhooks` library. URLs must be https, except to a loopback address; redirects are
never followed (a 3xx is a failed attempt). Secrets appear in no message, and URLs are shown
without their query or credentials (`shown_url`), which often hold tokens.

Where a webhook may go: the host is resolved at each attempt and every address it resolves
to is checked; one that is not global (private, link-local such as 169.254.169.254, shared,
reserved, multicast, unspecified) is refused unless SITEWATCH_WEBHOOK_ALLOW lists it
(comma-separated addresses or CIDR networks); loopback is allowed. The connection is made to
the address checked, not to a second lookup, so a name that resolves elsewhere the second
time (DNS rebinding) does not slip past; https still verifies the certificate for the name.

Secret rotation: a subscription may hold several secrets (space-separated, newest first);
each delivery carries one signature per secret in `webhook-signature`, as the specification
allows, so a receiver verifies with either while it moves from the old one to the new.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import os
import secrets
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sitewatch.errors import InputError

ALLOW_ENV = "SITEWATCH_WEBHOOK_ALLOW"
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


def is_loopback_host(host: str) -> bool:
    """localhost or a loopback address (the one place plain http or SMTP without TLS may go)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allow_list(env: dict[str, str] | None = None) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks SITEWATCH_WEBHOOK_ALLOW opens to webhooks (InputError for a bad entry)."""
    text = (os.environ if env is None else env).get(ALLOW_ENV, "")
    out = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            out.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise InputError(ALLOW_ENV, f"{entry!r} is not an address or CIDR network") from None
    return out


def check_address(ip: str, allowed=None) -> None:
    """InputError unless a webhook may connect to this address: global, loopback, or allowed."""
    addr = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_loopback or (addr.is_global and not addr.is_multicast):
        return
    if any(addr in net for net in (allow_list() if allowed is None else allowed)):
        return
    kind = "link-local" if addr.is_link_local else "private" if addr.is_private else "not a public"
    raise InputError(str(addr), f"a {kind} address: webhooks go to public addresses only, unless {ALLOW_ENV} "
                     "lists it (e.g. 10.0.0.0/8)")


def resolve(host: str, port: int, allowed=None) -> str:
    """The address to connect to: every address the host resolves to must pass
    `check_address` (one bad one refuses the host); the first is used."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OSError(f"{host}: does not resolve ({exc})") from exc
    ips = [str(info[4][0]) for info in infos]
    if not ips:
        raise OSError(f"{host}: resolves to no address")
    for ip in ips:
        try:
            check_address(ip, allowed)
        except InputError as exc:
            raise InputError(host, f"resolves to {exc}") from None
    return ips[0]


def check_url(url: str) -> str:
    """The URL if a webhook may be sent to it (https, or http to loopback; an address written
    in it must pass `check_address`); else InputError. Names are checked when sent."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InputError(shown_url(url), "a webhook URL must be https://HOST/...")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise InputError(shown_url(url), "webhooks go over https, except to a loopback address (127.0.0.1, ::1)")
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        return url  # a name: resolved and checked at each attempt
    try:
        check_address(parts.hostname)
    except InputError as exc:
        raise InputError(shown_url(url), str(exc)) from None
    return url


def secrets_of(stored: str) -> list[str]:
    """The secrets a subscription holds (space-separated, newest first)."""
    return [s for s in stored.split() if s]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, ip: str, port: int | None, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, ip: str, port: int | None, timeout: float, context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=context)
        self._ip, self._ctx = ip, context

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self.host)


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
    """The three headers; one signature per secret (several while a secret is rotated)."""
    from standardwebhooks.webhooks import Webhook  # noqa: PLC0415  (the watch extra)

    signature = " ".join(Webhook(s).sign(msg_id, when, body) for s in secrets_of(secret))
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
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        ip = resolve(host, port)  # InputError (refused: dead) for an address not allowed
    except OSError as exc:
        return Attempt(False, None, f"{shown_url(url)}: {exc}")
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = _PinnedHTTPS(host, ip, port, timeout_s, ssl.create_default_context())
    else:
        conn = _PinnedHTTP(host, ip, port, timeout_s)
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
