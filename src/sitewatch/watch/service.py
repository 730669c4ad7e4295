"""The watcher: poll every subscription's sources (folders, static STAC catalogs, local or
at an http(s) URL, and STAC API collections), take each new settled file or item, deliver
the outbox, and rewrite the sites' feeds; once (`--once`) or for ever.

A pass looks at each folder twice, `settle_s` apart (a long-running watcher's previous poll
serves as the first look), so a file still being written is left for a later pass. Between
two polls, a file first seen by the last one is looked at again once it can have settled
(`settle_until`: folders only, the STAC APIs keep their interval), so a file that lands
waits for one poll interval and the settling time, not for two intervals. A file
version the catalog records as taken is never taken again, across restarts. Errors of one
file are reported and leave it for the next pass; they do not stop the others. A STAC API
source is searched once a pass (`stac_api`), and needs no settling: its assets are
downloaded whole before they are taken. So is a static STAC catalog at an http(s) URL
(`stac_remote`: re-read by conditional GET once a pass, its new items' assets downloaded).

While the loop runs (`run_forever`), local folders are also watched for file-system events
(`watch.events`, with watchdog; `events=False` or `--no-events` polls only): an event wakes
the loop for a folders-only pass at once, so a file renamed into a folder is first seen then,
not at the next poll, and taken once it has settled. Events never decide that a file is
ready, and the polls go on at their interval, so an event missed costs one interval at most.
Folders on network or FUSE mounts are polled only, and the loop says so once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from sitewatch.errors import InputError, SitewatchError
from sitewatch.store import (
    Catalog,
    FileVersion,
    Subscription,
    WatchSource,
    list_alerts,
    list_subscriptions,
    refuse_file,
    save_documents,
    site_polygons,
    taken_versions,
    watched_documents,
)
from sitewatch.watch.delivery import DeliveryReport, deliver_due
from sitewatch.watch.email import EmailReport, SmtpSettings, deliver_emails
from sitewatch.watch.events import FolderEvents, observer_class, polling_only
from sitewatch.watch.feed import atom_feed, write_feed
from sitewatch.watch.folder import FolderWatch, Settling, unreadable
from sitewatch.watch.polite import HostRateLimit
from sitewatch.watch.stac_api import MAX_FAILURES, ApiSource, AssetDownloads, Found, StacApiWatch, cursor_ns, untaken
from sitewatch.watch.stac_catalog import StacCatalogWatch
from sitewatch.watch.stac_remote import RemoteCatalogWatch, Walk, is_url
from sitewatch.watch.take import Taken, take_file
from sitewatch.workflow.ingest import Source

Say = Callable[[str], None]
EVENT_GAP_S = 0.5  # at least this long between two passes woken by events (a copy raises many)


@dataclass
class PassReport:
    taken: list[Taken] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "path: why", retried next pass
    waiting: list[str] = field(default_factory=list)  # settled but not yet readable
    missing: list[str] = field(default_factory=list)  # folders (or STAC catalogs) absent now
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    email: EmailReport = field(default_factory=EmailReport)

    @property
    def processed(self) -> list[Taken]:
        return [t for t in self.taken if t.status == "processed"]


class Watcher:
    """Holds each folder's observations between polls; `run_pass` does one poll."""

    def __init__(self, catalog: Catalog, model, out_dir: str | Path, feeds_dir: str | Path | None = None,
                 settle_s: float = 2.0, say: Say | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, host_rate: float = 2.0,
                 downloads_dir: str | Path | None = None, api_options: dict | None = None,
                 events: bool = True):
        self.catalog, self.model, self.out_dir = catalog, model, Path(out_dir)
        self.feeds_dir = None if feeds_dir is None else Path(feeds_dir)
        self.settle_s, self.say = settle_s, say or (lambda line: None)
        self.clock, self.sleep = clock, sleep
        self.downloads_dir = Path(downloads_dir) if downloads_dir is not None else self.out_dir / "downloads"
        self.rate_limit = HostRateLimit(host_rate)  # one per watcher: every source of a host shares it
        self.deliver: bool | None = None  # False: alerts go to the feed only (a backfill)
        self.api_options = dict(api_options or {})  # StacApiWatch's tries, backoff_s, max_wait_s, timeout_s
        self._folders: dict[int, Settling] = {}
        self._apis: dict[int, StacApiWatch] = {}
        self._remotes: dict[int, RemoteCatalogWatch] = {}
        self._was_missing: set[int] = set()
        self._said: set[str] = set()
        self.events = events  # watch local folders for file-system events while run_forever runs
        self._wake = threading.Event()  # set by a folder's observer thread
        self._observers: dict[int, FolderEvents | None] = {}  # None: that folder is polled only
        self._events_on = False
        self._last_woken = -EVENT_GAP_S

    def _say_once(self, key: str, line: str) -> None:
        if key not in self._said:
            self._said.add(key)
            self.say(line)

    def api(self, source: WatchSource) -> StacApiWatch:
        """The STAC API watch of a stac-api source (kept between passes)."""
        watch = self._apis.get(source.id)
        if watch is None:
            watch = self._apis[source.id] = StacApiWatch(ApiSource.from_location(source.location), self.rate_limit,
                                                          self.downloads_dir, **self.api_options)
        return watch

    def remote(self, source: WatchSource) -> RemoteCatalogWatch:
        """The watch of a static STAC catalog at an http(s) URL (kept between passes)."""
        watch = self._remotes.get(source.id)
        if watch is None:
            watch = self._remotes[source.id] = RemoteCatalogWatch(source.location, self.rate_limit,
                                                                  self.downloads_dir, **self.api_options)
        return watch

    def _folder(self, source: WatchSource) -> Settling:
        fw = self._folders.get(source.id)
        if fw is None:
            kind = StacCatalogWatch if source.kind == "stac" else FolderWatch
            fw = self._folders[source.id] = kind(source.location, self.settle_s)
        return fw

    def run_pass(self, first_look: bool = True, apis: bool = True) -> PassReport:
        """One poll of every source (apis=False: folders and static catalogs only). first_look:
        look at each folder settle_s before the poll (for a single pass, or the first of a
        loop); a loop's later polls use the last one."""
        report = PassReport()
        subs = list_subscriptions(self.catalog)
        folders = [(sub, src) for sub in subs for src in sub.sources if src.kind != "stac-api" and not _remote(src)]
        searched = [(sub, src) for sub in subs for src in sub.sources if src.kind == "stac-api" and apis]
        remotes = [(sub, src) for sub in subs for src in sub.sources if _remote(src) and apis]
        if self._events_on:
            self._sync_events([src for _, src in folders if src.kind == "folder"])
        for sub, src in folders:
            if first_look or src.id not in self._folders:
                self._folder(src).observe(self.clock())
        if first_look and folders:
            self.sleep(self.settle_s)
        for sub, src in folders:
            self._poll_folder(sub, src, report)
        for sub, src in searched:
            self._poll_api(sub, src, report)
        for sub, src in remotes:
            self._poll_remote(sub, src, report)
        report.delivery = deliver_due(self.catalog)
        if any(sub.rules.get("email") for sub in subs):
            try:
                smtp = SmtpSettings.from_env()
            except SitewatchError as exc:
                smtp = None
                self._say_once("smtp", f"e-mail alerts wait: {exc}")
            if smtp is None:
                self._say_once("smtp", "e-mail alerts wait: set SITEWATCH_SMTP_HOST (and _PORT, _FROM, _USER, "
                               "_PASSWORD) to send them")
            else:
                report.email = deliver_emails(self.catalog, smtp)
        self._write_feeds(subs)
        return report

    def start_events(self) -> bool:
        """Watch local folders for file-system events from the next pass on (until
        stop_events); False where events are off or watchdog is not installed."""
        if not self.events:
            return False
        if observer_class() is None:
            self._say_once("watchdog", "watchdog is not installed: folders are polled only "
                           "(pip install 'sitewatch[watch]' for file-system events)")
            return False
        self._events_on = True
        return True

    def stop_events(self) -> None:
        """Stop every folder's observer (and wait for its threads)."""
        self._events_on = False
        for fe in self._observers.values():
            if fe is not None:
                fe.stop()
        self._observers.clear()

    def _sync_events(self, sources: list[WatchSource]) -> None:
        ids = {src.id for src in sources}
        for gone in [i for i in self._observers if i not in ids]:  # subscriptions removed
            fe = self._observers.pop(gone)
            if fe is not None:
                fe.stop()
        for src in sources:
            if src.id not in self._observers:
                why = polling_only(src.location)
                if why is not None:
                    self._observers[src.id] = None
                    self._say_once(f"polled:{src.id}", f"{src.location}: {why}; polled only")
                    continue
                self._observers[src.id] = FolderEvents(src.location, self._wake)
            fe = self._observers[src.id]
            if fe is None:
                continue
            try:
                fe.sync()
            except OSError as exc:  # the system's limit of watches, say: this folder is polled
                fe.stop()
                self._observers[src.id] = None
                self._say_once(f"polled:{src.id}", f"{src.location}: no file-system events "
                               f"({exc.__class__.__name__}: {exc}); polled only")

    def _nap(self, seconds: float, stop: Callable[[], bool]) -> bool:
        """Sleep up to `seconds`; True as soon as a folder's event wakes it (events on)."""
        if not self._events_on:
            self.sleep(max(0.0, seconds))
            return False
        end = time.monotonic() + max(0.0, seconds)
        while not stop():
            left = end - time.monotonic()
            if left <= 0:
                return False
            if self._wake.wait(min(left, 0.25)):
                gap = self._last_woken + EVENT_GAP_S - time.monotonic()
                if gap > 0 and not stop():  # a burst of events: one pass for it, not one each
                    time.sleep(min(gap, max(0.0, end - time.monotonic())))
                self._wake.clear()
                self._last_woken = time.monotonic()
                return True
        return False

    def _poll_folder(self, sub: Subscription, src: WatchSource, report: PassReport) -> None:
        fw = self._folder(src)
        fw.observe(self.clock())
        if fw.missing:
            report.missing.append(fw.location)
            if src.id not in self._was_missing:
                self.say(f"{fw.location}: {src.kind} not there (yet); watching for it")
                self._was_missing.add(src.id)
            return
        if src.id in self._was_missing:
            self.say(f"{fw.location}: {src.kind} is back")
            self._was_missing.discard(src.id)
        problem = getattr(fw, "problem", "")
        if problem:
            report.failed.append(problem)  # a STAC catalog that does not read (yet): tried again next pass
        taken = taken_versions(self.catalog, src.id)
        for version in fw.settled(self.clock()):
            if version.key in taken:
                continue
            self._take(sub, src, fw, version, report)

    def _poll_api(self, sub: Subscription, src: WatchSource, report: PassReport) -> None:
        watch = self.api(src)
        taken = taken_versions(self.catalog, src.id)
        outline = site_polygons(self.catalog).get(sub.site)
        if outline is None:
            return
        try:
            search = watch.search(outline, cursor_ns(taken), sub.created)
        except InputError as exc:
            report.failed.append(str(exc))
            self.say(f"{watch.location}: {exc}")
            return
        report.failed += search.problems
        for found in untaken(search.found, taken):
            if not self.take_found(sub, src, watch, found, report):
                break  # nothing published later is taken before it (the cursor never passes it)

    def _poll_remote(self, sub: Subscription, src: WatchSource, report: PassReport) -> Walk | None:
        """Read a remote static catalog conditionally, take its new items' assets (oldest
        acquisition first, stopping at one that failed for a reason that may pass), then store
        the documents whose items are all taken (after their commits)."""
        try:
            watch = self.remote(src)
        except InputError as exc:  # stored without `subscription_parts`' check
            report.failed.append(str(exc))
            self._say_once(f"remote:{src.id}", str(exc))
            return None
        outline = site_polygons(self.catalog).get(sub.site)
        if outline is None:
            return None
        walk = watch.walk(watched_documents(self.catalog, src.id), outline)
        for line in walk.problems:
            report.failed.append(line)
            self.say(line)
        taken = taken_versions(self.catalog, src.id)
        for found in untaken(walk.found, taken):
            if not self.take_found(sub, src, watch, found, report):
                break
        save_documents(self.catalog, src.id, walk.storable(taken_versions(self.catalog, src.id)))
        return walk

    def take_found(self, sub: Subscription, src: WatchSource, watch: AssetDownloads, found: Found,
                   report: PassReport) -> bool:
        """Download and take one asset of a STAC API item (or a remote static catalog's); False when it failed for a reason
        that may pass (it is tried again next pass, up to MAX_FAILURES passes)."""
        version = found.version
        why = ""
        try:
            local = watch.download(found, sub.site)
            problem = unreadable(local)
            if problem is not None:
                raise InputError(version.path, f"the downloaded asset does not read: {problem}")
        except InputError as exc:
            refuse_file(self.catalog, src.id, version, "", str(exc))
            report.taken.append(Taken(version.path, "refused", message=str(exc)))
            self.say(f"{sub.site}: refused {version.path}: {exc}")
            return True
        except (OSError, requests.RequestException) as exc:
            why = f"download failed ({exc.__class__.__name__}: {str(exc)[:200]})"
        if not why:
            source = Source(local, found.source.stac_datetime, found.source.stac_cloud_cover,
                            found.source.stac_href, found.source.stac_properties)
            try:
                t = take_file(self.catalog, sub, src, version, self.out_dir, self.model, source, self.deliver)
            except (SitewatchError, OSError) as exc:
                why = str(exc)
            else:
                report.taken.append(t)
                watch.failures.pop(version.key, None)
                if t.status == "processed":
                    self.say(f"{sub.site}: took {version.path}, {t.alerts} new alert(s); {t.message}")
                else:
                    self.say(f"{sub.site}: refused {version.path}: {t.message}")
                return True
        failures = watch.failures[version.key] = watch.failures.get(version.key, 0) + 1
        if failures >= MAX_FAILURES:
            refuse_file(self.catalog, src.id, version, "", f"failed {failures} passes; last: {why}")
            watch.failures.pop(version.key, None)
            self.say(f"{sub.site}: gave up on {version.path} after {failures} failed passes: {why}")
            return True
        report.failed.append(f"{version.path}: {why}")
        self.say(f"{version.path}: not taken this pass ({why})")
        return False

    def take_settled(self, sub: Subscription, src: WatchSource, version: FileVersion, report: PassReport) -> None:
        """Take one file of a folder or static STAC catalog source (readable or left waiting)."""
        self._take(sub, src, self._folder(src), version, report)

    def _take(self, sub: Subscription, src: WatchSource, fw: Settling, version: FileVersion, report: PassReport) -> None:
        why = unreadable(version.path)
        if why is not None:
            report.waiting.append(f"{version.path}: {why}")
            return
        try:
            t = take_file(self.catalog, sub, src, version, self.out_dir, self.model, fw.source_for(version.path),
                          self.deliver)
        except (SitewatchError, OSError) as exc:
            report.failed.append(f"{version.path}: {exc}")
            self.say(f"{version.path}: not taken this pass ({exc})")
            return
        report.taken.append(t)
        if t.status == "processed":
            self.say(f"{sub.site}: took {version.path}, {t.alerts} new alert(s); {t.message}")
        else:
            self.say(f"{sub.site}: refused {version.path}: {t.message}")

    def _write_feeds(self, subs: list[Subscription]) -> None:
        if self.feeds_dir is None:
            return
        for site in sorted({s.site for s in subs}):
            write_feed(self.feeds_dir / f"{site}.atom", atom_feed(site, list_alerts(self.catalog, site=site)))

    def _said_delivery(self, report: PassReport) -> None:
        if report.delivery.delivered or report.delivery.dead:
            self.say(f"webhooks: {report.delivery.delivered} delivered, {report.delivery.retried} to retry, "
                     f"{report.delivery.dead} given up")

    def next_settle(self) -> float | None:
        """When a folder's file seen but not yet settled will have settled (clock time)."""
        now = self.clock()
        due = [t for fw in self._folders.values() if (t := fw.next_settle(now)) is not None]
        return min(due, default=None)

    def settle_until(self, deadline: float, stop: Callable[[], bool] = lambda: False) -> list[PassReport]:
        """Until the next poll at `deadline`: each time a folder's new file can have settled,
        and (events on) each time a folder's event wakes it, a folders-only pass looks and
        takes what is ready (and delivers its alerts) then. Returns those passes."""
        passes: list[PassReport] = []
        while not stop():
            due = self.next_settle()
            if due is not None and due < deadline:
                until = due
            elif self._events_on and self.clock() < deadline:
                until = deadline  # nothing settling: wait for an event, or the poll
            else:
                break
            woke = self._nap(until - self.clock(), stop)
            if stop() or (not woke and until >= deadline):
                break
            passes.append(self.run_pass(first_look=False, apis=False))
            self._said_delivery(passes[-1])
        return passes

    def run_forever(self, interval_s: float, stop: Callable[[], bool] = lambda: False,
                    on_error: Callable[[Exception], None] | None = None) -> None:
        """Poll every interval_s seconds until stop() says so (or the process is stopped),
        local folders watched for events meanwhile (events on). on_error: a pass that raises
        is handed to it and the next runs at its time (None: the error ends the loop).
        The folders' observers are stopped however it ends."""
        first = True
        self.start_events()
        try:
            while not stop():
                started = self.clock()
                try:
                    self._said_delivery(self.run_pass(first_look=first))
                    first = False
                    self.settle_until(started + interval_s, stop)
                except Exception as exc:
                    if on_error is None:
                        raise
                    on_error(exc)
                if stop():
                    break
                self.sleep(max(0.0, interval_s - (self.clock() - started)))
        finally:
            self.stop_events()


def _remote(src: WatchSource) -> bool:
    return src.kind == "stac" and is_url(src.location)
