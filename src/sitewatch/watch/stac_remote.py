"""A watched static STAC catalog at an http(s) URL: catalog.json, its child catalogs and
collections and their items, re-read by conditional GET, and the items' raster assets
downloaded to take as the STAC API source's are (`stac_api.AssetDownloads`: the per-host rate
limit, the retries that honour 429 and Retry-After, the downloads under `downloads/SITE/`).

Each document is asked for with If-None-Match (its stored ETag) and If-Modified-Since (its
Last-Modified) where the server gave them; a 304 means unchanged. Where the server gives
neither, the body is fetched and compared by its SHA-256. A catalog or collection that is
unchanged is not walked again: its item links are not followed, but its child catalogs are
asked for (conditionally) every pass, so an item added to a collection is found even when the
root is unchanged. An item document is read when its parent changed and it is new or changed.

The validators, checksum and links of each document (`store.WatchedDocument`) are stored
only after every item it lists has been recorded as taken (processed or refused, in the
transaction that stores its results); a document or item that fails (a 500, a timeout, a
download that failed) leaves the stored state as it was, so the next pass walks it again and
takes what is left. What has been taken is never taken again (the watched_files rows).

URLs are https, except to a loopback address (as webhooks); a redirect is followed only to
the same scheme, host and port. A version of an asset is keyed by `ITEM_URL#ASSET` and the
item's publication time (its `updated`, else `created`; 0 without either).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import pystac
import requests
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from sitewatch.errors import InputError
from sitewatch.store import FileVersion, WatchedDocument
from sitewatch.watch.polite import HostRateLimit
from sitewatch.watch.stac_api import TIMEOUT_S, AssetDownloads, Found, _asset_key, _ns, published
from sitewatch.watch.webhooks import is_loopback_host, shown_url
from sitewatch.workflow.ingest import _stac_sources as stac_item_sources

MAX_DOCUMENTS = 5000  # per walk, a bound on a runaway catalog
MAX_DOCUMENT_BYTES = 16 << 20
MAX_REDIRECTS = 3
JSON_CHUNK = 1 << 16


def is_url(location: str) -> bool:
    """Whether a location is written as a URL (SCHEME://...), not a path."""
    return re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", location) is not None


def check_catalog_url(url: str) -> str:
    """The URL if a remote static catalog may be read from it: https, or http to a loopback
    address (the webhooks' rule); else InputError."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InputError(shown_url(url), "a remote static STAC catalog must be https://HOST/.../catalog.json")
    if parts.scheme.lower() == "http" and not is_loopback_host(parts.hostname):
        raise InputError(shown_url(url), "a remote static STAC catalog is read over https, except from a loopback "
                         "address (127.0.0.1, ::1)")
    return url


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme.lower(), pa.hostname, pa.port) == (pb.scheme.lower(), pb.hostname, pb.port)


@dataclass
class Walk:
    """What one read of the catalog found: the assets of new or changed items, the documents
    whose new state may be stored once the versions they need are taken, and what failed."""

    found: list[Found] = field(default_factory=list)
    documents: dict[str, WatchedDocument] = field(default_factory=dict)  # url: its new state
    needs: dict[str, set[tuple[str, int, int]]] = field(default_factory=dict)  # url: versions to take first
    blocked: set[str] = field(default_factory=set)  # documents not to store (one of their items failed)
    problems: list[str] = field(default_factory=list)
    requests: int = 0
    unchanged: int = 0  # documents answered 304 or with the same checksum

    def storable(self, taken: set[tuple[str, int, int]]) -> list[WatchedDocument]:
        """The documents whose every item is taken (processed or refused)."""
        return [d for url, d in sorted(self.documents.items())
                if url not in self.blocked and self.needs.get(url, set()) <= taken]


class RemoteCatalogWatch(AssetDownloads):
    """Reads one remote static catalog by conditional GET; downloads what is to be taken."""

    def __init__(self, url: str, limit: HostRateLimit, download_dir, tries: int = 5, backoff_s: float = 0.5,
                 max_wait_s: float = 120.0, timeout_s: float = TIMEOUT_S):
        super().__init__(limit, download_dir, tries=tries, backoff_s=backoff_s, max_wait_s=max_wait_s,
                         timeout_s=timeout_s)
        self.url = check_catalog_url(url)
        self.location = shown_url(url)

    def _get(self, url: str, known: WatchedDocument | None) -> requests.Response:
        headers = {"accept": "application/json, application/geo+json"}
        if known is not None and known.etag:
            headers["if-none-match"] = known.etag
        if known is not None and known.last_modified:
            headers["if-modified-since"] = known.last_modified
        for _ in range(MAX_REDIRECTS + 1):
            resp = self.session.get(url, headers=headers, timeout=self.timeout_s, allow_redirects=False, stream=True)
            if resp.status_code not in (301, 302, 303, 307, 308):
                return resp
            target = urljoin(url, resp.headers.get("location", ""))
            resp.close()
            if not _same_origin(url, target):
                raise InputError(shown_url(url), f"redirects to {shown_url(target)}, another host: not followed")
            url = target
        raise InputError(shown_url(url), f"more than {MAX_REDIRECTS} redirects")

    def fetch(self, url: str, known: WatchedDocument | None) -> tuple[WatchedDocument, dict | None]:
        """The document's state now, and its JSON if it changed (None: unchanged, by a 304 or
        by its checksum). InputError, OSError or RequestException: not read this pass."""
        with self._get(url, known) as resp:
            if resp.status_code == 304 and known is not None:
                return known, None
            if resp.status_code != 200:
                raise InputError(shown_url(url), f"answered {resp.status_code}")
            body = bytearray()
            for chunk in resp.iter_content(JSON_CHUNK):
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise InputError(shown_url(url), f"larger than {MAX_DOCUMENT_BYTES >> 20} MiB")
            etag, modified = resp.headers.get("etag"), resp.headers.get("last-modified")
        sha = hashlib.sha256(body).hexdigest()
        if known is not None and known.sha256 == sha:
            return WatchedDocument(url, etag, modified, sha, known.children, known.items), None
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise InputError(shown_url(url), f"not JSON ({exc})") from exc
        if not isinstance(data, Mapping):
            raise InputError(shown_url(url), "not a STAC document (a JSON object)")
        links = [x for x in data.get("links", ()) if isinstance(x, Mapping) and isinstance(x.get("href"), str)]

        def hrefs(rel: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(urljoin(url, x["href"]) for x in links if x.get("rel") == rel))

        return WatchedDocument(url, etag, modified, sha, hrefs("child"), hrefs("item")), dict(data)

    def walk(self, stored: Mapping[str, WatchedDocument], outline: BaseGeometry | None = None) -> Walk:
        """Read the catalog from its root, conditionally against the stored documents (an
        empty mapping: read every document whole, as a backfill does). The assets of items
        whose geometry misses the outline are found with no href, so they are refused (and
        recorded) without a download."""
        out = Walk()
        queue, seen = [self.url], set()
        while queue and len(seen) < MAX_DOCUMENTS:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            try:
                out.requests += 1
                doc, data = self.fetch(url, stored.get(url))
            except (InputError, OSError, requests.RequestException) as exc:
                out.problems.append(f"{self.location}: {shown_url(url)}: not read this pass "
                                    f"({exc.__class__.__name__}: {str(exc)[:200]})")
                continue
            if not _is_catalog(data, doc):
                out.problems.append(f"{self.location}: {shown_url(url)}: not a STAC catalog or collection")
                continue
            for child in doc.children:
                if not _allowed(child):
                    out.problems.append(f"{self.location}: child {shown_url(child)}: not https (nor loopback); "
                                        "not read")
                elif child not in seen:
                    queue.append(child)
            if data is None:  # unchanged: its items were taken when it was stored
                out.unchanged += 1
                if doc != stored.get(url):
                    out.documents[url] = doc  # same body, new validators
                continue
            out.documents[url] = doc
            needs = out.needs.setdefault(url, set())
            for item_url in doc.items:
                if not _allowed(item_url):
                    out.problems.append(f"{self.location}: item {shown_url(item_url)}: not https (nor loopback)")
                    out.blocked.add(url)
                    continue
                if len(seen) >= MAX_DOCUMENTS:
                    out.blocked.add(url)
                    break
                seen.add(item_url)
                try:
                    out.requests += 1
                    item_doc, item_data = self.fetch(item_url, stored.get(item_url))
                    if item_data is None:
                        out.unchanged += 1
                        if item_doc != stored.get(item_url):
                            out.documents[item_url] = item_doc
                        continue
                    item = pystac.Item.from_dict(item_data, href=item_url, migrate=False)
                    found = self._assets(item, item_url)
                except (InputError, OSError, requests.RequestException, ValueError, KeyError, TypeError) as exc:
                    out.problems.append(f"{self.location}: item {shown_url(item_url)}: not read this pass "
                                        f"({exc.__class__.__name__}: {str(exc)[:200]})")
                    out.blocked.add(url)
                    continue
                if outline is not None and not _over(item, outline):
                    found = [Found(f.version, f.item_id, f.asset, "", f.published, f.source) for f in found]
                out.found += found
                keys = {f.version.key for f in found}
                out.documents[item_url] = item_doc
                out.needs[item_url] = keys
                needs |= keys
        if queue:
            out.problems.append(f"{self.location}: more than {MAX_DOCUMENTS} documents; the rest not read")
            out.blocked.update(out.documents)
        out.found.sort(key=lambda f: (_when_key(f), f.version.path))
        return out

    def _assets(self, item: pystac.Item, item_url: str) -> list[Found]:
        when = published(item)
        tag = hashlib.sha256(item_url.encode()).hexdigest()[:8]  # download names unique across catalogs
        return [Found(FileVersion(f"{item_url}#{_asset_key(item, src.path)}", 0, _ns(when)), f"{item.id}-{tag}",
                      _asset_key(item, src.path), src.path, when, src) for src in stac_item_sources(item)]

    def download(self, found: Found, site: str) -> str:
        if not found.href:
            raise InputError(found.version.path, "the item's footprint does not meet the site's outline")
        if not _allowed(found.href):
            raise InputError(found.version.path, f"asset href {shown_url(found.href)[:200]} is not https "
                             "(nor http to loopback)")
        return super().download(found, site)


def _allowed(url: str) -> bool:
    try:
        check_catalog_url(url)
    except InputError:
        return False
    return True


def _is_catalog(data: dict | None, doc: WatchedDocument) -> bool:
    if data is None:
        return True
    return data.get("type") in ("Catalog", "Collection") or bool(doc.children or doc.items)


def _over(item: pystac.Item, outline: BaseGeometry) -> bool:
    if item.geometry is None:
        return True  # nothing to say it misses: ingest decides
    try:
        return bool(shape(item.geometry).intersects(outline))
    except (ValueError, TypeError, AttributeError):
        return True


def _when_key(f: Found) -> str:
    when = f.source.stac_datetime
    return "" if when is None else when.isoformat()
