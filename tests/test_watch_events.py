"""File-system events on watched folders (watchdog): a file renamed into a folder is taken at
once, not at the next poll of a 60 s interval; with events off it waits for that poll; the
folder removed and made again is still watched by events; a folder on a network mount is
polled only, said once. The watcher's loop runs in a thread on the real clock; the take itself
is replaced by one that records the file (as refused, so it is not taken twice), since the
timing under test is the watcher's, not the pipeline's (test_watch.py runs the real one)."""

from __future__ import annotations

import shutil
import threading
import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
import rasterio
from test_change_pixel import SITE

import sitewatch.watch.service as service
from sitewatch.store import add_site, add_subscription, list_subscriptions, open_catalog, refuse_file
from sitewatch.watch import Watcher
from sitewatch.watch.events import mount_of, parse_mounts, polling_only
from sitewatch.watch.take import Taken

needs_watchdog = pytest.mark.skipif(find_spec("watchdog") is None,
                                    reason="watchdog (the watch extra) gives the file-system events")

SETTLE_S = 0.3
LONG_S = 60.0  # a poll interval no test waits for
WAIT_S = 30.0  # generous: a loaded 2-core machine


@pytest.fixture
def raster(tmp_path) -> Path:
    """A small whole GeoTIFF (GDAL reads its last block)."""
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint8") as dst:
        dst.write(np.full((1, 64, 64), 7, dtype=np.uint8))
    return path


class Loop:
    """Watcher.run_forever in a thread, with the time of each pass and of each take."""

    def __init__(self, tmp_path: Path, monkeypatch, interval_s: float, events: bool):
        self.inbox = tmp_path / "inbox"
        self.inbox.mkdir()
        self.said: list[str] = []
        self.passes: list[tuple[float, float, bool]] = []  # start, end, full poll (not folders-only)
        self.takes: list[tuple[str, float]] = []
        self.cat = open_catalog(tmp_path / "catalog.db")
        add_site(self.cat, SITE)
        add_subscription(self.cat, SITE.name, [("folder", str(self.inbox))], {})
        (self.source,) = list_subscriptions(self.cat)[0].sources

        def take(catalog, sub, src, version, *args, **kwargs):
            self.takes.append((version.path, time.monotonic()))
            refuse_file(catalog, src.id, version, "", "recorded by the test")
            return Taken(version.path, "refused", message="recorded by the test")

        monkeypatch.setattr(service, "take_file", take)
        self.stop = threading.Event()
        self.w = Watcher(self.cat, None, tmp_path / "out", settle_s=SETTLE_S, say=self.said.append,
                         sleep=self.stop.wait, events=events)
        real_pass = self.w.run_pass

        def timed_pass(first_look: bool = True, apis: bool = True):
            start = time.monotonic()
            report = real_pass(first_look=first_look, apis=apis)
            self.passes.append((start, time.monotonic(), apis))
            return report

        self.w.run_pass = timed_pass  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.w.run_forever, args=(interval_s, self.stop.is_set), daemon=True)
        self.thread.start()
        assert until(lambda: self.passes), "the first poll did not end"

    def drop(self, src: Path) -> float:
        """Copy src in as a careful writer does (a hidden name, renamed when whole); when it landed."""
        part = self.inbox / f".{src.name}.part"
        shutil.copyfile(src, part)
        landed = time.monotonic()
        part.rename(self.inbox / src.name)
        return landed

    def taken_at(self, name: str) -> float | None:
        return next((at for path, at in self.takes if Path(path).name == name), None)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(WAIT_S)
        self.cat.close()
        assert not self.thread.is_alive()
        assert watchdog_threads() == []  # every observer stopped with the loop


def until(check, timeout_s: float = WAIT_S) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def watchdog_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if type(t).__module__.startswith("watchdog") and t.is_alive()]


@needs_watchdog
def test_a_file_renamed_into_a_watched_folder_is_taken_at_once_not_at_the_next_poll(tmp_path, monkeypatch, raster):
    loop = Loop(tmp_path, monkeypatch, LONG_S, events=True)
    try:
        first_poll = loop.passes[0][0]
        landed = loop.drop(raster)
        assert until(lambda: loop.taken_at("scene.tif") is not None), loop.said
        taken = loop.taken_at("scene.tif")
        assert taken is not None
        # seen at its event, taken once settled: seconds, where the next poll comes 60 s after the first
        assert taken - landed < 10.0
        assert taken < first_poll + LONG_S / 2
        assert taken - landed >= SETTLE_S * 0.9  # events shorten the wait, the settling rule still holds
        assert [p for p in loop.passes if p[2]] == loop.passes[:1]  # no second poll came: the event did it
    finally:
        loop.close()
    assert len(loop.takes) == 1


def test_with_events_off_the_same_file_waits_for_the_next_poll(tmp_path, monkeypatch, raster):
    interval = 4.0
    loop = Loop(tmp_path, monkeypatch, interval, events=False)
    try:
        first_poll = loop.passes[0][0]
        loop.drop(raster)
        assert until(lambda: loop.taken_at("scene.tif") is not None), loop.said
        taken = loop.taken_at("scene.tif")
        assert taken is not None
        assert taken >= first_poll + interval + SETTLE_S * 0.9  # seen by the second poll, then settled
        assert len([p for p in loop.passes if p[2]]) >= 2
    finally:
        loop.close()


@needs_watchdog
def test_the_events_survive_the_folder_vanishing_and_coming_back(tmp_path, monkeypatch, raster):
    loop = Loop(tmp_path, monkeypatch, LONG_S, events=True)
    try:
        observer = loop.w._observers[loop.source.id]
        assert observer is not None and observer.watching == str(loop.inbox)
        shutil.rmtree(loop.inbox)
        # the folder's deletion is an event too: the observer turns to its parent to see it return
        assert until(lambda: observer.watching == str(tmp_path)), loop.said
        assert until(lambda: any("not there" in line for line in loop.said)), loop.said
        loop.inbox.mkdir()
        assert until(lambda: observer.watching == str(loop.inbox)), loop.said
        landed = loop.drop(raster)
        assert until(lambda: loop.taken_at("scene.tif") is not None), loop.said
        taken = loop.taken_at("scene.tif")
        assert taken is not None and taken - landed < 10.0
        assert any("is back" in line for line in loop.said)
        assert [p for p in loop.passes if p[2]] == loop.passes[:1]  # all of it between two polls
    finally:
        loop.close()


FAKE_MOUNTS = """\
sysfs /sys sysfs rw,nosuid 0 0
/dev/vda / ext4 rw,relatime 0 0
server:/export /mnt/share nfs4 rw,relatime,vers=4.2 0 0
//nas/imagery /mnt/nas cifs rw,relatime 0 0
me@host:/data /mnt/remote\\040dir fuse.sshfs rw,nosuid 0 0
tmpfs /mnt/share/local tmpfs rw 0 0
/dev/vdb /mnt/share ext4 rw 0 0
"""


def test_network_mounts_are_polled_only_and_local_ones_get_events():
    assert ("/mnt/remote dir", "fuse.sshfs") in parse_mounts(FAKE_MOUNTS)
    assert "cifs mount (/mnt/nas)" in (polling_only("/mnt/nas/inbox", FAKE_MOUNTS) or "")
    assert "fuse.sshfs mount (/mnt/remote dir)" in (polling_only("/mnt/remote dir/in", FAKE_MOUNTS) or "")
    assert polling_only("/data/inbox", FAKE_MOUNTS) is None  # on /: ext4
    assert polling_only("/mnt/nasx/inbox", FAKE_MOUNTS) is None  # /mnt/nas is not a prefix of it
    assert mount_of("/mnt/share/local/x", parse_mounts(FAKE_MOUNTS)) == ("/mnt/share/local", "tmpfs")
    # a later mount on the same point hides the earlier: the ext4 one over the NFS share
    assert polling_only("/mnt/share/inbox", FAKE_MOUNTS) is None
    assert "nfs4" in (polling_only("/mnt/share/inbox", FAKE_MOUNTS.replace("/dev/vdb /mnt/share ext4", "")) or "")


def test_a_folder_on_a_network_mount_is_polled_only_and_said_once(tmp_path, monkeypatch):
    import sitewatch.watch.events as events

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/vda / ext4 rw 0 0\nserver:/x {tmp_path} nfs rw 0 0\n")
    monkeypatch.setattr(events, "MOUNTS", str(mounts))
    said: list[str] = []
    with open_catalog(tmp_path / "catalog.db") as cat:
        add_site(cat, SITE)
        add_subscription(cat, SITE.name, [("folder", str(inbox))], {})
        w = Watcher(cat, None, tmp_path / "out", settle_s=0.0, say=said.append)
        assert w.start_events()
        try:
            w.run_pass()
            w.run_pass()
            assert list(w._observers.values()) == [None] and watchdog_threads() == []
        finally:
            w.stop_events()
    assert [line for line in said if "polled only" in line] == [
        f"{inbox}: on a nfs mount ({tmp_path}), where file-system events are missing or late; polled only"]


def test_without_watchdog_the_watcher_polls_and_says_so_once(tmp_path, monkeypatch):
    monkeypatch.setattr(service, "observer_class", lambda: None)
    said: list[str] = []
    with open_catalog(tmp_path / "catalog.db") as cat:
        w = Watcher(cat, None, tmp_path / "out", settle_s=0.0, say=said.append)
        assert not w.start_events() and not w.start_events()
    assert len([line for line in said if "watchdog is not installed" in line]) == 1
