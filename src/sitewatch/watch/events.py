"""File-system events for watched local folders (watchdog, imported only when events are on).

An observer per folder wakes the watcher as soon as a raster is created, written, closed or
moved into the folder (or a subfolder), so the watcher looks at the folder then instead of at
its next poll. Events only shorten the wait: the folder's readiness rule (size and mtime
stable for settle_s, GDAL reads the last block; `watch.folder`) still decides when a file is
taken, and polling goes on at its interval as the safety net for any event missed.

Network and FUSE mounts (NFS, SMB/CIFS, sshfs and other fuse.* file systems) do not report
changes made by other machines, so folders on them are polled only (`polling_only`, read
from /proc/mounts where there is one). A folder that vanishes stops its observer; while it
is absent its nearest existing parent is watched for it, and when it comes back (or is
replaced by a new folder of the same name) a new observer watches it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

from sitewatch.watch.folder import _is_candidate

# File systems whose changes made elsewhere raise no local events (fuse.* are matched by prefix).
NETWORK_FSTYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs",
    "davfs", "ncpfs", "coda", "fuse", "fuseblk", "sshfs",
})
MOUNTS = "/proc/mounts"


def _unescape(field: str) -> str:
    """A /proc/mounts field: octal escapes for space, tab, newline and backslash."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def parse_mounts(text: str) -> list[tuple[str, str]]:
    """(mount point, fstype) of each line of /proc/mounts text, in its order."""
    rows = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            rows.append((_unescape(fields[1]), fields[2]))
    return rows


def mount_of(path: str, mounts: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """The mount holding path (absolute, resolved): the longest mount point above it, the
    last listed of equals (a later mount hides an earlier one on the same point)."""
    best: tuple[str, str] | None = None
    for point, fstype in mounts:
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, fstype)
    return best


def is_network(fstype: str) -> bool:
    return fstype in NETWORK_FSTYPES or fstype.startswith("fuse.")


def polling_only(folder: str, mounts_text: str | None = None) -> str | None:
    """Why file-system events cannot be trusted in the folder (None: a local file system, or
    no /proc/mounts to tell). mounts_text: /proc/mounts' text (read when None)."""
    if mounts_text is None:
        try:
            with open(MOUNTS, encoding="utf-8", errors="replace") as f:
                mounts_text = f.read()
        except OSError:
            return None
    found = mount_of(os.path.realpath(folder), parse_mounts(mounts_text))
    if found is None or not is_network(found[1]):
        return None
    return f"on a {found[1]} mount ({found[0]}), where file-system events are missing or late"


def _nearest_existing(path: str) -> str:
    while not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def observer_class():
    """watchdog's Observer for this platform, or None where watchdog is not installed."""
    try:
        from watchdog.observers import Observer  # noqa: PLC0415  (the watch extra; polling without it)
    except ImportError:
        return None
    return Observer


class _Handler:
    """watchdog's handler protocol (dispatch), without importing watchdog here."""

    def __init__(self, folder: str, target: str, wake: threading.Event):
        self.folder, self.target, self.wake = folder, target, wake

    def dispatch(self, event) -> None:
        paths = [p for p in (os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or ""))
                 if p]
        if self.target != self.folder:  # watching a parent while the folder is away: the folder (or a
            if any(p == self.folder or self.folder.startswith(p.rstrip("/") + "/") for p in paths):
                self.wake.set()  # step towards it) appeared
            return
        if event.event_type == "deleted" or (event.event_type == "moved" and paths[0] == self.folder):
            if paths[0] == self.folder:  # the folder itself went: the watcher turns to its parent
                self.wake.set()
            return
        if event.event_type not in ("created", "modified", "moved", "closed"):
            return
        landed = paths[-1]  # a move's destination
        if event.is_directory:
            if event.event_type != "modified" and landed != self.folder:  # a subfolder made or moved in
                self.wake.set()
        elif _is_candidate(os.path.basename(landed)):
            self.wake.set()


class FolderEvents:
    """The observer of one watched folder; `sync` (re)starts it to match the folder as it is."""

    def __init__(self, folder: str, wake: threading.Event, observer=None):
        self.folder = os.path.abspath(folder)
        self.wake = wake
        self._make = observer
        self._observer = None
        self._watching: tuple[str, int, int] | None = None  # the directory watched, its device and inode

    @property
    def watching(self) -> str | None:
        """What the observer watches now: the folder, its nearest existing parent, or nothing."""
        return None if self._observer is None or self._watching is None else self._watching[0]

    def _alive(self) -> bool:
        obs = self._observer
        return obs is not None and obs.is_alive() and all(e.is_alive() for e in obs.emitters)

    def sync(self) -> None:
        """Watch the folder if it is there (recursively), else its nearest existing parent
        for the folder's return; restart the observer if what it watched went or was replaced.
        Raises OSError where the system refuses a watch (inotify limits)."""
        target = self.folder if os.path.isdir(self.folder) else _nearest_existing(os.path.dirname(self.folder))
        try:
            st = os.stat(target)
        except OSError:
            self.stop()
            return
        current = (target, st.st_dev, st.st_ino)
        if self._watching == current and self._alive():
            return
        self.stop()
        make = self._make or observer_class()
        observer = make()
        observer.schedule(_Handler(self.folder, target, self.wake), target, recursive=target == self.folder)
        observer.start()
        self._observer, self._watching = observer, current  # the pass that syncs looks at the folder next

    def stop(self) -> None:
        obs, self._observer, self._watching = self._observer, None, None
        if obs is not None:
            obs.stop()
            if obs.is_alive():
                obs.join(5.0)
