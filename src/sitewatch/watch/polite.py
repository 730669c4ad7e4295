"""HTTP to other people's servers, politely: a per-host rate limit, and retries with backoff
that honour 429 and Retry-After.

One `requests` session serves a STAC API's searches (through pystac-client) and the
downloads of its assets, so both share the limits. Every attempt, retries included, waits
for its host's turn: at most `per_second` requests a second to one host, across all the
sources of a watcher. A 429, 502, 503 or 504 answer, a 500, or a connection that fails or
times out is tried again, up to `tries` times, after the wait the server asked for
(Retry-After, in seconds or as an HTTP date) or else an exponential backoff with jitter. A
server that asks for longer than `max_wait_s` gets its answer passed back instead: the pass
reports the source as failed, and the next pass tries again, so one server cannot hold the
watcher for an hour.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "sitewatch-watch"


class HostRateLimit:
    """At most `per_second` request starts a second to each host (shared by threads)."""

    def __init__(self, per_second: float = 2.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if not per_second > 0:
            raise ValueError("per_second must be above 0")
        self.interval = 1.0 / per_second
        self.clock, self.sleep = clock, sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> float:
        """Block until the host's turn; returns the seconds waited."""
        with self._lock:
            now = self.clock()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + self.interval
        waited = start - now
        if waited > 0:
            self.sleep(waited)
        return waited


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delay-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class PoliteAdapter(HTTPAdapter):
    """An HTTPAdapter that waits for the host's turn before every attempt and retries."""

    def __init__(self, limit: HostRateLimit, tries: int = 5, backoff_s: float = 0.5, max_wait_s: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None):
        super().__init__(max_retries=0)
        self.limit, self.tries, self.backoff_s, self.max_wait_s = limit, tries, backoff_s, max_wait_s
        self._sleep, self._rng = sleep, rng or random.Random()
        self.retries = 0  # attempts repeated, for reports and tests

    def _backoff(self, attempt: int) -> float:
        return min(self.max_wait_s, self.backoff_s * 2 ** attempt) * (1 + 0.25 * self._rng.random())

    def send(self, request, **kwargs):  # type: ignore[override]
        host = (urlsplit(request.url).hostname or "").lower()
        for attempt in range(self.tries):
            last = attempt == self.tries - 1
            self.limit.wait(host)
            try:
                resp = super().send(request, **kwargs)
            except (requests.ConnectionError, requests.Timeout):
                if last:
                    raise
                self.retries += 1
                self._sleep(self._backoff(attempt))
                continue
            if resp.status_code not in RETRY_STATUSES or last:
                return resp
            asked = retry_after_s(resp.headers.get("retry-after"))
            wait = self._backoff(attempt) if asked is None else asked
            if wait > self.max_wait_s:
                return resp  # the caller sees the 429/503; the next pass tries again
            resp.close()
            self.retries += 1
            self._sleep(wait)
        raise AssertionError("unreachable")  # the last attempt returns or raises


def polite_session(limit: HostRateLimit, tries: int = 5, backoff_s: float = 0.5, max_wait_s: float = 120.0,
                   headers: dict[str, str] | None = None) -> requests.Session:
    """A session whose every request goes through one PoliteAdapter."""
    session = requests.Session()
    adapter = PoliteAdapter(limit, tries=tries, backoff_s=backoff_s, max_wait_s=max_wait_s)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["user-agent"] = USER_AGENT
    session.headers.update(headers or {})
    return session
