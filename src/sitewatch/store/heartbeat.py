"""Heartbeats of the runs this process holds open.

Why: a run whose process was killed stays `running`. On this host the sweep can tell (the
pid is gone: `store.owner.is_gone`), but a run of another host sharing the catalog (a
PostgreSQL server) cannot be checked that way, and its site hold would refuse every later
`run` of the site for ever. So while a run is open, a daemon thread writes the time into
its params every BEAT_S seconds; `store.results.sweep_stale_runs` takes a run of another
host whose last beat is older than STALE_AFTER_S for abandoned. The hosts' clocks are
assumed to agree within a minute or two, far inside that margin.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from sqlalchemy import select

from sitewatch.store.catalog import Catalog
from sitewatch.store.models import RunRow

HEARTBEAT_KEY = "heartbeat"  # params key: the last beat, ISO 8601 UTC
BEAT_S = 30.0
STALE_AFTER_S = 300.0  # ten beats missed

log = logging.getLogger(__name__)
_lock = threading.Lock()
_open: dict[str, Catalog] = {}  # run id -> the catalog it is in
_wake = threading.Event()
_thread: threading.Thread | None = None


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def beat_age_s(params: dict, now: datetime | None = None) -> float | None:
    """Seconds since the run's last beat, or None where it records none (or an unreadable one)."""
    text = params.get(HEARTBEAT_KEY)
    try:
        last = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if last is None or last.tzinfo is None:
        return None
    return ((now or datetime.now(UTC)) - last).total_seconds()


def keep_alive(catalog: Catalog, run_id: str) -> None:
    """Beat for the run until `let_go(run_id)`."""
    global _thread
    with _lock:
        _open[run_id] = catalog
        if _thread is None:
            _thread = threading.Thread(target=_beat_until_idle, name="sitewatch-heartbeat", daemon=True)
            _thread.start()


def let_go(run_id: str) -> None:
    with _lock:
        _open.pop(run_id, None)
        if not _open:
            _wake.set()


def beat_now() -> None:
    """One beat for every open run (the thread's work; tests call it directly)."""
    with _lock:
        by_catalog: dict[int, tuple[Catalog, list[str]]] = {}
        for run_id, catalog in _open.items():
            by_catalog.setdefault(id(catalog), (catalog, []))[1].append(run_id)
    stamp = now_text()
    for catalog, ids in by_catalog.values():
        try:
            with catalog.transaction() as s:
                for row in s.scalars(select(RunRow).where(RunRow.id.in_(ids), RunRow.status == "running")):
                    row.params = {**(row.params or {}), HEARTBEAT_KEY: stamp}
        except Exception:  # a missed beat is retried at the next; the run itself must go on
            log.debug("heartbeat of runs %s not written", ids, exc_info=True)


def _beat_until_idle() -> None:
    global _thread
    while True:
        _wake.wait(BEAT_S)
        with _lock:
            _wake.clear()
            if not _open:  # the last run let go: end (under the lock, so keep_alive starts another)
                _thread = None
                return
        beat_now()
