"""A backfill: the images of a past period a subscription's sources hold and the watch has not
taken, found, counted (a dry run) or taken oldest acquisition first.

The watch looks forward: a STAC API source only asks for what is published after the
subscription began. A backfill asks each STAC API source for the items acquired in the
period, reads each remote static STAC catalog whole (not conditionally) for the items acquired
in it, and looks in each folder and local static STAC catalog for the files whose acquisition
time (the STAC item's, the TIFF tags', the file name's, as ingest reads it) falls in it.
What the catalog records as taken is skipped, so a backfill run twice, or beside the
watcher, takes nothing twice; what it takes is recorded like the watcher's takes, so the
watch never takes it again. Its alerts are stored (the feed shows them) but not sent unless
asked (`deliver`): an analyst filling in half a year does not want a webhook per old image.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sitewatch.errors import InputError, SitewatchError
from sitewatch.geo.raster import inspect_raster
from sitewatch.store import FileVersion, Subscription, WatchSource, site_polygons, taken_versions
from sitewatch.watch.service import PassReport, Watcher
from sitewatch.watch.stac_api import Found, untaken
from sitewatch.watch.stac_remote import is_url
from sitewatch.workflow.ingest import acquisition_time


@dataclass(frozen=True)
class Candidate:
    source: WatchSource
    acquired: datetime
    name: str  # the file's path or the item's key
    version: FileVersion
    found: Found | None = None  # a STAC API asset


@dataclass
class Plan:
    candidates: list[Candidate]
    problems: list[str]


def plan(watcher: Watcher, sub: Subscription, since: datetime, until: datetime) -> Plan:
    """The untaken images of the subscription's sources acquired from since to until."""
    out: list[Candidate] = []
    problems: list[str] = []
    outline = site_polygons(watcher.catalog).get(sub.site)
    for src in sub.sources:
        taken = taken_versions(watcher.catalog, src.id)
        if src.kind == "stac-api":
            if outline is None:
                continue
            api = watcher.api(src)
            try:
                search = api.search(outline, None, sub.created, datetime_range=(since, until))
            except InputError as exc:
                problems.append(str(exc))
                continue
            problems += search.problems
            for f in untaken(search.found, taken):
                when = f.source.stac_datetime or since
                when = when if when.tzinfo else when.replace(tzinfo=UTC)
                out.append(Candidate(src, when, f.version.path, f.version, f))
            continue
        if src.kind == "stac" and is_url(src.location):  # a remote static catalog, read whole
            if outline is None:
                continue
            walk = watcher.remote(src).walk({}, outline)
            problems += walk.problems
            for f in untaken(walk.found, taken):
                when = f.source.stac_datetime
                if when is None:
                    problems.append(f"{f.version.path}: the item has no datetime")
                    continue
                when = when if when.tzinfo else when.replace(tzinfo=UTC)
                if since <= when <= until:
                    out.append(Candidate(src, when, f.version.path, f.version, f))
            continue
        watch = watcher._folder(src)
        watch.observe(time.monotonic())
        if watch.missing:
            problems.append(f"{watch.location}: not there")
            continue
        for version in watch.settled(float("inf")):  # at rest: a backfill does not wait for settling
            if version.key in taken:
                continue
            try:
                facts = inspect_raster(version.path)
                when, _ = acquisition_time(watch.source_for(version.path), facts, None)
            except (InputError, OSError, SitewatchError) as exc:
                problems.append(f"{version.path}: {exc}")
                continue
            if since <= when <= until:
                out.append(Candidate(src, when, version.path, version))
    out.sort(key=lambda c: (c.acquired, c.name))
    return Plan(out, problems)


def run(watcher: Watcher, sub: Subscription, candidates: list[Candidate], deliver: bool = False) -> PassReport:
    """Take the candidates, oldest acquisition first; alerts sent only if deliver."""
    report = PassReport()
    watcher.deliver = None if deliver else False
    try:
        for c in candidates:
            if c.found is not None:
                watch = watcher.remote(c.source) if c.source.kind == "stac" else watcher.api(c.source)
                watcher.take_found(sub, c.source, watch, c.found, report)
            else:
                watcher.take_settled(sub, c.source, c.version, report)
    finally:
        watcher.deliver = None
    return report
