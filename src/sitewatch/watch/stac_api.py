"""A watched STAC API collection: its items over a site, found by item search (pystac-client),
and their raster assets downloaded to take.

Each poll searches the collection by the site's outline (`intersects`). Where the server
offers the Filter extension and names `updated` or `created` among the collection's
queryables, the search asks for items published (their `updated`, else `created`) since the
newest one already taken, less an overlap window: an item indexed late with an earlier
stamp, or sharing the stamp of the last one taken, is still found. (A server may refuse a
filter on a property it does not list, or fail on it: a stock pgstac compares an unlisted
property as text and answers 500.) Otherwise the search asks for items acquired (`datetime`)
in the last `lookback` days, and the items already taken are skipped (the seen set). Either
way what has been taken is what the catalog records (watched_files rows, written in the
transaction that stores the results), so the cursor moves only after that commit, and a
restart resumes where the commit left off.

Paging follows the server's `next` links. Every item found is keyed by its id, so an item
that moves from one page to the next while items are added (offset paging) is counted once;
one that a shifting page boundary hides from this search is found by the next one, which
covers the same window again. A page that fails is retried (see `polite`); a search that
still fails takes nothing from the source this pass, and the next pass searches again.

Items are taken oldest publication first, and a source stops at its first item that fails
for a reason that may pass (a download or a run that failed), so nothing published later is
recorded before it and the cursor never passes it. An item that still fails after
`MAX_FAILURES` passes is recorded as refused, with the reason, so it does not block the
source for ever. Assets with no http(s) or local href, and those the server no longer has
(404, 410), are refused at once.

A version of an asset is keyed by `API/collections/C/items/ID#ASSET` and its publication
time (in nanoseconds, where the FileVersion of a file keeps its mtime): republished with a
new `updated`, it is a new version. Its download is kept as the image's file under
`downloads/SITE/`, written under a hidden name and renamed when whole.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pystac
import requests
from pystac_client import Client
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from sitewatch.errors import InputError
from sitewatch.geo.raster import parse_datetime
from sitewatch.store import FileVersion
from sitewatch.watch.polite import HostRateLimit, polite_session
from sitewatch.workflow.ingest import Source
from sitewatch.workflow.ingest import _stac_sources as stac_item_sources  # one reading of an item's assets

OVERLAP = timedelta(minutes=15)  # how far before the newest publication taken each search reaches back
LOOKBACK = timedelta(days=14)  # datetime mode: how far back each search looks for late acquisitions
PAGE_LIMIT = 100  # items asked for per page
MAX_ITEMS = 5000  # per search, a bound on a runaway server
MAX_FAILURES = 3  # passes an item may fail before it is recorded as refused
TIMEOUT_S = 30.0
GIVE_UP_STATUSES = (401, 403, 404, 410)  # an asset download that will not succeed by trying again
DOWNLOAD_CHUNK = 1 << 20


@dataclass(frozen=True)
class ApiSource:
    """Where a STAC API source looks: the API's root URL, one collection, and optionally one
    asset key (default: every raster asset of an item, as `sitewatch ingest` takes them)."""

    url: str
    collection: str
    asset: str | None = None

    def to_location(self) -> str:
        return json.dumps({"url": self.url, "collection": self.collection, "asset": self.asset}, sort_keys=True)

    @classmethod
    def from_location(cls, location: str) -> ApiSource:
        j = json.loads(location)
        return cls(str(j["url"]), str(j["collection"]), j.get("asset"))

    def shown(self) -> str:
        return f"{self.url} (collection {self.collection}" + (f", asset {self.asset})" if self.asset else ")")


def check_api_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(url, "a STAC API URL must be http(s)://HOST/... (the API's landing page)")
    return url.rstrip("/")


def published(item: pystac.Item) -> datetime | None:
    """When the item was published: its `updated`, else its `created` (STAC common metadata)."""
    for name in ("updated", "created"):
        value = item.properties.get(name)
        if isinstance(value, str):
            when = parse_datetime(value)
            if when is not None:
                return when if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def _ns(when: datetime | None) -> int:
    return 0 if when is None else int(when.timestamp() * 1e9)


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


PUBLICATION_PROPERTIES = ("updated", "created")


def _published_since(since: datetime, properties: Iterable[str] = PUBLICATION_PROPERTIES) -> dict:
    """CQL2-JSON: any of the properties (updated, created) >= since."""
    t = {"timestamp": _stamp(since)}
    tests = [{"op": ">=", "args": [{"property": p}, t]} for p in properties]
    return tests[0] if len(tests) == 1 else {"op": "or", "args": tests}


@dataclass(frozen=True)
class Found:
    """One raster asset of one item, as a version to take."""

    version: FileVersion
    item_id: str
    asset: str
    href: str
    published: datetime | None
    source: Source  # what the item says (datetime, cloud, properties); path: the asset's href


@dataclass
class Search:
    mode: str  # "published" (Filter extension) or "datetime" (plus the seen set)
    found: list[Found] = field(default_factory=list)
    pages: int = 0
    problems: list[str] = field(default_factory=list)  # items that could not be read as STAC


def _asset_key(item: pystac.Item, href: str) -> str:
    for key, asset in item.assets.items():
        if (asset.get_absolute_href() or asset.href) == href:
            return key
    return "asset"


class AssetDownloads:
    """The polite session of a remote source (rate limit, retries) and the downloads of the
    assets it finds, with the passes each version failed (shared by the STAC API and the
    remote static catalog sources)."""

    location: str

    def __init__(self, limit: HostRateLimit, download_dir: str | Path, tries: int = 5, backoff_s: float = 0.5,
                 max_wait_s: float = 120.0, timeout_s: float = TIMEOUT_S):
        self.download_dir = Path(download_dir)
        self.session = polite_session(limit, tries=tries, backoff_s=backoff_s, max_wait_s=max_wait_s)
        self.timeout_s = timeout_s
        self.failures: dict[tuple[str, int, int], int] = {}  # version key: passes it failed

    def download(self, found: Found, site: str) -> str:
        """The asset as a local file (downloaded once; a local href as it is). InputError:
        the asset will not be had (refuse it); OSError or RequestException: try again later."""
        href = found.href
        if href.startswith("file://"):
            href = href[len("file://"):]
        if not href.startswith(("http://", "https://")):
            if os.path.isabs(href) and os.path.isfile(href):
                return href
            raise InputError(found.version.path, f"asset href {href[:200]} is neither http(s) nor a local file")
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{found.item_id}.{found.asset}")[:150]
        target = self.download_dir / site / f"{safe}.{found.version.mtime_ns}.tif"
        if target.exists():  # renamed into place only when whole
            return str(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.part")
        with self.session.get(href, stream=True, timeout=self.timeout_s, allow_redirects=True) as resp:
            if resp.status_code in GIVE_UP_STATUSES:
                raise InputError(found.version.path, f"asset download answered {resp.status_code}")
            resp.raise_for_status()
            with open(part, "wb") as f:
                for chunk in resp.iter_content(DOWNLOAD_CHUNK):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
        os.replace(part, target)
        return str(target)


class StacApiWatch(AssetDownloads):
    """Searches one API collection over one site; downloads what is to be taken."""

    def __init__(self, source: ApiSource, limit: HostRateLimit, download_dir: str | Path,
                 tries: int = 5, backoff_s: float = 0.5, max_wait_s: float = 120.0, timeout_s: float = TIMEOUT_S):
        super().__init__(limit, download_dir, tries=tries, backoff_s=backoff_s, max_wait_s=max_wait_s,
                         timeout_s=timeout_s)
        self.source = source
        self.location = source.shown()
        self._client: Client | None = None

    def _open(self) -> Client:
        if self._client is None:
            io = StacApiIO(max_retries=None, timeout=self.timeout_s)
            io.session = self.session
            self._client = Client.open(self.source.url, stac_io=io)
        return self._client

    def publication_properties(self) -> list[str]:
        """Of `updated` and `created`, those a filtered search can ask about: the server
        conforms to the Filter extension and lists them among the collection's queryables
        (else the API's). None listed, or no queryables to read: [] (datetime mode). Asked
        each pass, so a server that registers them later is searched by publication then."""
        client = self._open()
        listed: set[str] = set()
        if client.conforms_to("FILTER"):
            root = self.source.url.rstrip("/")
            for url in (f"{root}/collections/{self.source.collection}/queryables", f"{root}/queryables"):
                try:
                    listed = set(client.get_queryables_from(url).get("properties") or {})
                    break
                except (APIError, requests.RequestException, OSError, ValueError, AttributeError):
                    continue  # not served here: the next place, else none
        return [p for p in PUBLICATION_PROPERTIES if p in listed]

    def mode(self) -> str:
        return "published" if self.publication_properties() else "datetime"

    def search(self, outline: BaseGeometry, cursor_ns: int | None, subscribed: datetime,
               datetime_range: tuple[datetime, datetime] | None = None, now: datetime | None = None) -> Search:
        """Every raster asset the collection holds over the outline in this poll's window:
        published since the cursor (the newest publication taken, in ns; None: none yet, so
        since the subscription), less the overlap; or, without the Filter extension, acquired
        in the lookback. datetime_range: a backfill's period of acquisition instead.
        Raises InputError when the API cannot be searched."""
        now = now or datetime.now(UTC)
        try:
            client = self._open()
            properties = self.publication_properties()
            mode = "published" if properties else "datetime"
            kwargs: dict = {"collections": [self.source.collection], "intersects": mapping(outline),
                            "limit": PAGE_LIMIT, "max_items": MAX_ITEMS}
            if datetime_range is not None:
                mode = "period"
                kwargs["datetime"] = (datetime_range[0], datetime_range[1])
            elif mode == "published":
                since = subscribed if not cursor_ns else datetime.fromtimestamp(cursor_ns / 1e9, UTC)
                kwargs["filter"] = _published_since(since - OVERLAP, properties)
                kwargs["filter_lang"] = "cql2-json"
            else:
                kwargs["datetime"] = (now - LOOKBACK, None)
            result = Search(mode)
            items: dict[str, dict] = {}
            for page in client.search(**kwargs).pages_as_dicts():
                result.pages += 1
                for feature in page.get("features", []):
                    if isinstance(feature, Mapping) and isinstance(feature.get("id"), str):
                        items[feature["id"]] = dict(feature)  # a repeated item (a page shifted): counted once
        except (APIError, requests.RequestException, OSError, ValueError) as exc:
            raise InputError(self.location, f"STAC API search failed ({exc.__class__.__name__}: "
                             f"{str(exc)[:300]})") from exc
        for item_id in sorted(items):
            try:
                item = pystac.Item.from_dict(items[item_id])
                result.found += self._assets(item)
            except (InputError, ValueError, KeyError, TypeError) as exc:
                result.problems.append(f"{self.location}: item {item_id}: {exc}")
        result.found.sort(key=lambda f: (f.version.mtime_ns, f.item_id, f.asset))
        return result

    def _assets(self, item: pystac.Item) -> list[Found]:
        when = published(item)
        base = f"{self.source.url}/collections/{self.source.collection}/items/{item.id}"
        out = []
        for src in stac_item_sources(item):
            key = _asset_key(item, src.path)
            if self.source.asset is not None and key != self.source.asset:
                continue
            out.append(Found(FileVersion(f"{base}#{key}", 0, _ns(when)), item.id, key, src.path, when, src))
        return out


def untaken(found: Iterable[Found], taken: set[tuple[str, int, int]]) -> list[Found]:
    return [f for f in found if f.version.key not in taken]


def cursor_ns(taken: set[tuple[str, int, int]]) -> int | None:
    """The newest publication among the versions taken (processed or refused), or None."""
    stamps = [t for _, _, t in taken if t > 0]
    return max(stamps) if stamps else None
