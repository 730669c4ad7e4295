"""Killing the watcher: `sitewatch watch --once` runs, each SIGKILLed at a random moment,
while images land in the watched folder; then what the catalog holds is compared with an
uninterrupted run over the same arrivals. Used by tests/test_watch_kill.py (a few runs) and
bench/bench_watch_kill.py (50 runs and more).

The site is the simulator's small base; its two dates and copies of them on later dates
(one pixel changed, so each is a new file with its own checksum, and the TIFF date tags
moved) arrive one after another, oldest first, a hidden name renamed when whole. The
comparison keys everything by content, not by ids the runs draw at random: images by
checksum and date, events by kind, class, type and the checksums of their two images,
alerts by their image's checksum, kind and title, file records by name and status.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import rasterio

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("sitewatch"))
SITE = "smallbase"
RULES = {"kinds": ["departed", "arrived"], "classes": ["air_defence", "aircraft"], "min_confidence": 0.5,
         "posture_change": True}


def arrivals(folder: Path, count: int = 4) -> list[Path]:
    """The small base's dates and copies of them, `count` files, oldest first, in folder."""
    import sitewatch

    sitewatch.simulate_scenario(ROOT / "scenarios" / "smallbase.yaml", folder / "scenes")
    scenes = folder / "scenes" / SITE
    first, second = scenes / "2024-12-05.tif", scenes / "2024-12-10.tif"
    out = [first, second]
    day = datetime(2024, 12, 10, 8, 15)
    k = 0
    while len(out) < count:
        k += 1
        day += timedelta(days=2)
        src = (second, first)[k % 2 == 0]  # the scene comes back, then leaves again
        target = folder / f"{day:%Y-%m-%d}.tif"
        with rasterio.open(src) as s:
            data, profile, tags = s.read(), s.profile, s.tags()
        data[0, 0, 0] ^= 1
        tags.update(TIFFTAG_DATETIME=f"{day:%Y:%m:%d %H:%M:%S}", ACQUISITION_DATETIME=f"{day:%Y-%m-%dT%H:%M:%SZ}")
        with rasterio.open(target, "w", **profile) as d:
            d.write(data)
            d.update_tags(**tags)
        out.append(target)
    return out


def new_catalog(workdir: Path) -> tuple[Path, Path]:
    import sitewatch
    from sitewatch.store import add_subscription, open_catalog

    workdir.mkdir(parents=True, exist_ok=True)
    db, inbox = workdir / "catalog.db", workdir / "inbox"
    inbox.mkdir()
    with open_catalog(db) as cat:
        sitewatch.add_sites(cat, ROOT / "scenarios" / "smallbase.yaml")
        add_subscription(cat, SITE, [("folder", str(inbox))], RULES)
    return db, inbox


def land(src: Path, inbox: Path) -> None:
    part = inbox / f".{src.name}.part"
    shutil.copyfile(src, part)
    part.rename(inbox / src.name)


def _once(db: Path, workdir: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([EXE, "watch", "--once", "--settle", "0.2", "--db", str(db), "--out", str(workdir / "out")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def _in_progress(db: Path) -> int:
    """1 if the catalog holds an image no file record names yet (a take cut short), else 0."""
    from sitewatch.store import images_for_site, list_subscriptions, open_catalog, watched_files

    with open_catalog(db) as cat:
        (sub,) = list_subscriptions(cat)
        recorded = {f["image_id"] for f in watched_files(cat, sub.sources[0].id)}
        return int(any(i.id not in recorded for i in images_for_site(cat, SITE)))


def summary(db: Path) -> dict:
    """What the catalog holds, by content."""
    from sitewatch.store import events_for_site, images_for_site, list_alerts, list_subscriptions, open_catalog, watched_files

    with open_catalog(db) as cat:
        images = images_for_site(cat, SITE)
        sha = {i.id: i.checksum for i in images}
        alerts = [(sha.get(a.image_id, a.image_id), a.kind, a.title) for a in list_alerts(cat, limit=100000)]
        events = []
        for e in events_for_site(cat, SITE):
            pair = tuple(sha.get(d.image_id, d.image_id) if d is not None else None for d in (e.before, e.after))
            events.append((e.kind, e.cls, e.type, pair, round(e.confidence, 3)))
        (sub,) = list_subscriptions(cat)
        files = [(Path(f["path"]).name, f["status"]) for f in watched_files(cat, sub.sources[0].id)]
        return {"images": sorted((sha[i.id], i.acquired.isoformat()) for i in images), "alerts": sorted(alerts),
                "events": sorted(events, key=repr), "files": sorted(files)}


@dataclass
class KillResult:
    runs: int = 0
    killed: int = 0  # runs SIGKILLed before they ended by themselves
    mid_take: int = 0  # of those, killed with an image ingested but its results not committed
    seconds: float = 0.0
    lost: list = field(default_factory=list)  # alerts of the uninterrupted run missing here
    duplicated: list = field(default_factory=list)  # alerts held more than once
    extra: list = field(default_factory=list)  # alerts the uninterrupted run does not have
    same_catalog: bool = False
    differences: dict = field(default_factory=dict)


def reference(images: list[Path], workdir: Path) -> dict:
    """The uninterrupted run: each image lands, one pass takes it."""
    db, inbox = new_catalog(workdir)
    for img in images:
        land(img, inbox)
        assert _once(db, workdir).wait(600) == 0
    return summary(db)


def killed_runs(images: list[Path], workdir: Path, runs: int, seed: int, max_kill_s: float,
                expected: dict, say=lambda line: None) -> KillResult:
    """`runs` watcher runs, each killed after a random 0 to max_kill_s seconds; an image
    lands before every runs // len(images)-th run; then uninterrupted passes finish the work."""
    rng = random.Random(seed)
    db, inbox = new_catalog(workdir)
    result = KillResult(runs=runs)
    started = time.monotonic()
    every = max(1, runs // len(images))
    pending = list(images)
    for i in range(runs):
        if pending and i % every == 0:
            land(pending.pop(0), inbox)
        p = _once(db, workdir)
        delay = rng.uniform(0.0, max_kill_s)
        try:
            p.wait(delay)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            result.killed += 1
            result.mid_take += _in_progress(db)
        say(f"run {i + 1}/{runs}: {'killed' if p.returncode == -signal.SIGKILL else 'ended'} after {delay:.1f} s")
    for img in pending:
        land(img, inbox)
    for _ in range(2):  # finish what the kills left, then one pass that must find nothing
        assert _once(db, workdir).wait(600) == 0
    result.seconds = time.monotonic() - started
    got = summary(db)
    have, want = Counter(got["alerts"]), Counter(expected["alerts"])
    result.lost = sorted((want - have).elements())
    result.extra = sorted((have - want).elements())
    result.duplicated = sorted(a for a, n in have.items() if n > 1)
    result.differences = {k: (expected[k], got[k]) for k in expected if expected[k] != got[k]}
    result.same_catalog = not result.differences
    return result
