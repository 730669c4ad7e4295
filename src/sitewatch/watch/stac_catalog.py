"""A watched static STAC catalog (a catalog.json tree on a disk or a mount): the local raster
assets of its items, as they settle.

The tree is read again only when its JSON files change (the SHA-256 of their paths and
bytes), so a quiet catalog costs a walk of its folder per poll. Each asset keeps what its
item says (datetime, cloud cover, the item's href), and is ingested with it. A static catalog at an
http(s) URL is watched by `stac_remote` instead (conditional GET, its assets downloaded).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sitewatch.errors import InputError
from sitewatch.store import FileVersion
from sitewatch.watch.folder import Settling
from sitewatch.workflow.ingest import Source, gather_sources


def _json_checksum(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.json")):
        try:
            data = p.read_bytes()
        except OSError:
            continue
        h.update(str(p).encode() + b"\0" + data + b"\0")
    return h.hexdigest()


class StacCatalogWatch(Settling):
    def __init__(self, catalog_json: str, settle_s: float = 2.0):
        super().__init__(catalog_json, settle_s)
        self.problem = ""  # why the catalog could not be read at the last poll
        self._checksum: str | None = None
        self._sources: dict[str, Source] = {}

    def observe(self, now: float) -> list[FileVersion]:
        if not os.path.isfile(self.location):
            self._checksum = None
            return self._gone()
        self.missing = False
        checksum = _json_checksum(Path(self.location).parent)
        if checksum != self._checksum:
            found = gather_sources([self.location])
            errors = [str(x) for x in found if isinstance(x, InputError)]
            self.problem = errors[0] if errors else ""
            self._sources = {s.path: s for s in found if isinstance(s, Source) and os.path.isabs(s.path)}
            self._checksum = None if errors else checksum  # a half-written catalog is read again
        return self._update(sorted(self._sources), now)

    def source_for(self, path: str) -> Source:
        return self._sources.get(path) or Source(path=path)
