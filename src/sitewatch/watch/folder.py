"""A watched folder: which of its rasters are whole and ready to take.

What is in a folder is read by polling, so it works the same on local disks and on network
mounts (NFS, SMB, FUSE), where file-system events are missing or late; on local disks the
watcher's file-system events (`watch.events`) only make it poll sooner. A file is ready once its size and
modification time have stayed the same for `settle_s` seconds and GDAL opens it and reads
its last block (a half-copied GeoTIFF often opens, its header being at the front, but its
last tiles are missing). Writers that copy to a hidden or `.part` name and rename it when done
are never seen half-way: such names are not rasters here. A folder that vanishes (an
unmounted share) gives no files and a note, and is watched again when it comes back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rasterio.errors import RasterioError
from rasterio.windows import Window

from sitewatch.geo.imagefile import open_image
from sitewatch.store import FileVersion
from sitewatch.workflow.ingest import RASTER_SUFFIXES, Source


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # when this size and mtime were first seen


def unreadable(path: str) -> str | None:
    """Why GDAL cannot take the file yet (None: it opens and its last block reads)."""
    try:
        with open_image(path) as src:
            bh, bw = src.block_shapes[0]
            col, row = ((src.width - 1) // bw) * bw, ((src.height - 1) // bh) * bh
            src.read(1, window=Window(col, row, min(bw, src.width - col), min(bh, src.height - row)))
            factors = src.overviews(1)
            if factors:  # overviews stored after the full resolution: read the smallest
                src.read(1, out_shape=(max(1, src.height // factors[-1]), max(1, src.width // factors[-1])))
    except (RasterioError, OSError, ValueError) as exc:
        return f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def _is_candidate(name: str) -> bool:
    return not name.startswith((".", "~")) and name.lower().endswith(RASTER_SUFFIXES)


class Settling:
    """Files as they settle, poll after poll: each path's size and mtime, and since when."""

    def __init__(self, location: str, settle_s: float):
        self.location = os.path.abspath(location)
        self.settle_s = settle_s
        self.missing = False  # the watched place was absent at the last poll
        self._seen: dict[str, _Seen] = {}

    def observe(self, now: float) -> list[FileVersion]:
        """Look at the place now; every raster file in it, as it stands."""
        raise NotImplementedError

    def _update(self, paths: list[str], now: float) -> list[FileVersion]:
        found: dict[str, _Seen] = {}
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:  # gone between the listing and now
                continue
            before = self._seen.get(path)
            same = before is not None and (before.size, before.mtime_ns) == (st.st_size, st.st_mtime_ns)
            found[path] = before if same else _Seen(st.st_size, st.st_mtime_ns, now)  # type: ignore[assignment]
        self._seen = found
        return [FileVersion(p, s.size, s.mtime_ns) for p, s in found.items()]

    def _gone(self) -> list[FileVersion]:
        self.missing = True
        self._seen.clear()
        return []

    def settled(self, now: float) -> list[FileVersion]:
        """The files last observed unchanged for settle_s seconds up to now (not yet checked
        with GDAL: see `unreadable`)."""
        return [FileVersion(p, s.size, s.mtime_ns) for p, s in sorted(self._seen.items())
                if s.size > 0 and now - s.since >= self.settle_s]

    def next_settle(self, now: float) -> float | None:
        """When the next file seen but not yet settled will have stayed unchanged settle_s
        (None: no such file)."""
        due = [s.since + self.settle_s for s in self._seen.values() if s.size > 0 and s.since + self.settle_s > now]
        return min(due, default=None)

    def source_for(self, path: str) -> Source:
        return Source(path=path)


class FolderWatch(Settling):
    """The raster files of one folder and its subfolders."""

    def __init__(self, folder: str, settle_s: float = 2.0):
        super().__init__(folder, settle_s)
        self.folder = self.location

    def observe(self, now: float) -> list[FileVersion]:
        """Look at the folder now; every raster file in it, as it stands."""
        if not os.path.isdir(self.folder):
            return self._gone()
        self.missing = False
        paths = []
        for root, dirs, files in os.walk(self.folder, onerror=lambda exc: None):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            paths += [str(Path(root) / name) for name in sorted(files) if _is_candidate(name)]
        return self._update(paths, now)
