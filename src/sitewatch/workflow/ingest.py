"""Ingestion: GeoTIFF/COG (and JPEG 2000, NITF) files, folders of them, and STAC items or catalogs into the catalog.

For each raster: inspect it (geo.raster), find its acquisition time (STAC properties, then
TIFF tags, then the caller's --datetime, then the file name), read its source and viewing
geometry (geo.observation: the STAC item, then the tags) and check the sun it states against
that time (geo.sun), checksum it, find the sites its footprint touches, and add it in one
transaction. The same file ingested again is reported
as unchanged; a different file with the same bytes is a duplicate and refused.

This module sits above both geo's pure modules and the store: it is the one place that
writes images into the catalog.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pystac
from shapely.affinity import translate
from shapely.geometry.base import BaseGeometry

from sitewatch.domain import Image, Observation
from sitewatch.errors import CatalogError, InputError, SitewatchError
from sitewatch.geo.observation import observation_of
from sitewatch.geo.raster import RasterFacts, implausible_time, inspect_raster, parse_datetime
from sitewatch.geo.sun import stated_sun_caveat
from sitewatch.store import Catalog, ImageRecord, add_image, image_by_checksum, site_polygons

# Names that mark a raster when listing folders and STAC assets; whether a file is admitted is
# decided by its content (geo.imagefile), not by these.
RASTER_SUFFIXES = (".tif", ".tiff", ".gtiff", ".jp2", ".j2k", ".ntf", ".nitf")
STAC_RASTER_TYPES = ("image/tiff", "image/vnd.stac.geotiff")
CHECKSUM_CHUNK = 8 << 20


@dataclass(frozen=True)
class Source:
    """One raster to ingest, with what its STAC item (if any) says about it."""

    path: str
    stac_datetime: datetime | None = None
    stac_cloud_cover: float | None = None  # fraction 0..1
    stac_href: str | None = None
    # the item's properties with the asset's own fields over them (providers from the item,
    # else its collection): what geo.observation reads the image's source and angles from
    stac_properties: Mapping | None = None


@dataclass
class IngestOutcome:
    path: str
    status: str  # added, unchanged, failed
    image: Image | None = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)


def file_checksum(path: str) -> str:
    """SHA-256 of the file's bytes, read in chunks."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHECKSUM_CHUNK):
                h.update(chunk)
    except OSError as exc:
        raise InputError(path, f"unreadable file ({exc.strerror})") from exc
    return h.hexdigest()


_NAME_PATTERNS = (
    re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})[T_\-]?(\d{2}):?(\d{2}):?(\d{2})(?!\d)"),
    re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)"),
    re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)"),
)


def datetime_from_name(name: str) -> datetime | None:
    """A date (and time) written in a file name: 2024-12-09, 20241209, 20241209T083000."""
    stem = Path(name).name
    for pat in _NAME_PATTERNS:
        for m in pat.finditer(stem):
            year, month, day, *hms = (int(g) for g in m.groups())
            hour, minute, second = hms or (0, 0, 0)
            try:
                return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except ValueError:
                continue  # 8 digits that are not a date
    return None


def acquisition_time(source: Source, facts: RasterFacts, option: datetime | None,
                     notes: list[str] | None = None) -> tuple[datetime, str]:
    """The datetime and where it came from, in the order STAC, TIFF tag, option, file name.
    A time no image can have been taken at (year 1, next year) is passed over, with a note."""
    tag = f"TIFF tag {facts.tag_datetime_name}"
    candidates = (("stac", "the STAC item's datetime", source.stac_datetime), ("tiff_tag", tag, facts.tag_datetime),
                  ("option", "--datetime", option), ("filename", "the file name", datetime_from_name(source.path)))
    passed_over: list[str] = []
    for origin, label, when in candidates:
        if when is None:
            continue
        problem = implausible_time(when)
        if problem is None:
            if passed_over and notes is not None:
                notes.append(f"{source.path}: {'; '.join(passed_over)}: not used")
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC), origin
        passed_over.append(f"{label} says {problem}")
    if passed_over:
        raise InputError(source.path, f"no plausible acquisition datetime ({'; '.join(passed_over)}); "
                                      "give one with --datetime")
    raise InputError(source.path, "no acquisition datetime: none in STAC, TIFF tags (TIFFTAG_DATETIME, "
                     "ACQUISITION_DATETIME) or the file name; give one with --datetime")


def covered_sites(footprint: BaseGeometry, polygons: dict[str, BaseGeometry]) -> list[tuple[str, float]]:
    """(site, fraction of the site's outline the footprint covers) for every touched site.
    The outline of a site across the antimeridian reaches past 180 or -180 degrees (see
    geo.sitefile), so the footprint is also tried a turn east and west of itself."""
    out = []
    for name, poly in sorted(polygons.items()):
        inter = sum(f.intersection(poly).area for f in _footprint_turns(footprint, poly) if f.intersects(poly))
        if inter > 0:
            out.append((name, float(min(inter / poly.area, 1.0))))
    return out


def _footprint_turns(footprint: BaseGeometry, outline: BaseGeometry) -> list[BaseGeometry]:
    """The footprint, and its copies a whole turn east or west where the outline goes past
    180 or -180 degrees of longitude."""
    west, _, east, _ = outline.bounds
    turns = [footprint]
    if east > 180:
        turns.append(translate(footprint, xoff=360.0))
    if west < -180:
        turns.append(translate(footprint, xoff=-360.0))
    return turns


# --- gathering sources ------------------------------------------------------------------

def _stac_cloud(item) -> float | None:
    """The item's eo:cloud_cover as a fraction, or an InputError naming the item unless it is
    a number of percent from 0 to 100."""
    raw = item.properties.get("eo:cloud_cover")
    if raw is None:
        return None
    try:
        percent = float(raw)
    except (TypeError, ValueError):
        percent = math.nan
    if isinstance(raw, bool) or not 0.0 <= percent <= 100.0:
        raise InputError(item.get_self_href() or item.id, f"eo:cloud_cover must be a percentage from 0 to 100, got {raw!r}")
    return percent / 100.0


def _stac_properties(item, asset) -> dict:
    """The item's properties, the asset's fields over them, and the providers of its
    collection where the item names none and the collection is already read (never fetched
    for this)."""
    props = {**item.properties, **asset.extra_fields}
    if not props.get("providers"):
        link = item.get_single_link("collection")
        if link is not None and link.is_resolved() and getattr(link.target, "providers", None):
            props["providers"] = [p.to_dict() for p in link.target.providers]
    return props


def _asset_href_and_type(item, key: str, asset) -> tuple[str, str]:
    """The asset's absolute href and bare media type, or an InputError naming the item and
    asset when either is not a string."""
    if not isinstance(asset.href, str) or not asset.href or not isinstance(asset.media_type, (str, type(None))):
        raise InputError(item.get_self_href() or str(item.id), f"assets.{key}: `href` must be a non-empty string and "
                         f"`type` a media type string, got {asset.href!r} and {asset.media_type!r}"[:300])
    href = asset.get_absolute_href() or asset.href
    return href, (asset.media_type or "").split(";")[0].strip()


def _stac_sources(obj) -> list[Source]:
    items: Iterable = [obj] if isinstance(obj, pystac.Item) else obj.get_items(recursive=True)
    out = []
    for item in items:
        when = item.datetime or parse_datetime(str(item.properties.get("start_datetime", "")))
        cloud = _stac_cloud(item)
        for key in sorted(item.assets):
            asset = item.assets[key]
            href, media = _asset_href_and_type(item, key, asset)
            if media in STAC_RASTER_TYPES or href.lower().endswith(RASTER_SUFFIXES):
                if key in ("thumbnail", "overview"):
                    continue
                out.append(Source(path=href, stac_datetime=when, stac_cloud_cover=cloud,
                                  stac_href=item.get_self_href(), stac_properties=_stac_properties(item, asset)))
    return out


def _read_stac(path: str) -> list[Source]:
    try:
        obj = pystac.read_file(path)
    except Exception as exc:  # pystac raises many kinds for bad JSON
        raise InputError(path, f"not a readable STAC item or catalog ({exc.__class__.__name__}: {exc})") from exc
    if not isinstance(obj, (pystac.Item, pystac.Catalog)):
        raise InputError(path, f"a STAC {type(obj).__name__}, not an item, collection or catalog")
    return _stac_sources(obj)


def _stac_api(url: str, bbox: Sequence[float] | None, datetime_range: str | None) -> list[Source]:
    try:
        # kept local: pystac-client is the optional stac-api extra, needed only to search a STAC API
        from pystac_client import Client  # noqa: PLC0415
    except ImportError as exc:
        raise InputError(url, "searching a STAC API needs pystac-client (pip install 'sitewatch[stac-api]')") from exc
    try:
        items = Client.open(url).search(bbox=None if bbox is None else list(bbox), datetime=datetime_range, max_items=500).items()
        return [s for item in items for s in _stac_sources(item)]
    except Exception as exc:  # network, HTTP, API errors
        raise InputError(url, f"STAC API search failed ({exc.__class__.__name__}: {exc})") from exc


def gather_sources(targets: Sequence[str], bbox: Sequence[float] | None = None) -> list[Source | InputError]:
    """Expand files, folders, STAC JSON and URLs into rasters to ingest. Targets that cannot
    be expanded come back as InputErrors in place, so one bad target does not stop the rest."""
    out: list[Source | InputError] = []
    for target in targets:
        t = str(target)
        try:
            if t.startswith(("http://", "https://")):
                if t.lower().endswith(".json"):
                    out.extend(_read_stac(t))
                elif t.lower().split("?")[0].endswith(RASTER_SUFFIXES):
                    out.append(Source(path="/vsicurl/" + t))
                else:
                    out.extend(_stac_api(t, bbox, None))
            elif os.path.isdir(t):
                found = sorted(str(p) for p in Path(t).rglob("*") if p.suffix.lower() in RASTER_SUFFIXES)
                if not found:
                    raise InputError(t, "folder holds no raster files (*.tif, *.tiff, *.jp2, *.ntf)")
                out.extend(Source(path=os.path.abspath(p)) for p in found)
            elif t.lower().endswith(".json"):
                if not os.path.exists(t):
                    raise InputError(t, "no such file")
                out.extend(_read_stac(os.path.abspath(t)))
            else:
                if not os.path.exists(t):
                    raise InputError(t, "no such file")
                out.append(Source(path=os.path.abspath(t)))
        except InputError as exc:
            out.append(exc)
    return out


# --- ingesting one raster ---------------------------------------------------------------

def observed(source: Source, facts: RasterFacts, acquired: datetime,
             notes: list[str]) -> tuple[Observation, tuple[str, ...]]:
    """The image's source and geometry (its STAC item, else its tags), and the integrity
    caveats they raise: a stated sun that does not stand where the stated time puts it over
    the footprint's centre. A caveat is also a note, so that ingest shows it."""
    found: list[str] = []
    observation = observation_of(source.stac_properties, facts.tags, facts.bands, found)
    notes.extend(f"{source.path}: {n}" for n in found)
    centre = facts.footprint.centroid
    caveat = stated_sun_caveat(centre.y, centre.x, acquired, observation.sun_azimuth_deg,
                               observation.sun_elevation_deg)
    if caveat is None:
        return observation, ()
    notes.append(f"{source.path}: {caveat}")
    return observation, (caveat,)


def ingest_source(catalog: Catalog, source: Source, site: str | None = None, when: datetime | None = None,
                  polygons: dict[str, BaseGeometry] | None = None) -> IngestOutcome:
    """Ingest one raster: added, unchanged (this very file is already there), or an
    InputError/CatalogError naming the file. The catalog is written in one transaction."""
    path = source.path
    facts = inspect_raster(path)
    notes = []
    if not facts.tiled:
        notes.append(f"{path}: raster is not tiled; windowed reads will be slow (convert it to a COG)")
    checksum = file_checksum(path) if not path.startswith("/vsi") else hashlib.sha256(
        (path + facts.crs_wkt + str(facts.transform)).encode()).hexdigest()
    existing = image_by_checksum(catalog, checksum)
    if existing is not None:
        if os.path.abspath(existing.path) == os.path.abspath(path) or existing.path == path:
            return IngestOutcome(path, "unchanged", existing, f"already in the catalog as image {existing.id}", notes)
        raise CatalogError(f"{path}: duplicate of image {existing.id} already in the catalog ({existing.path})")
    acquired, dt_source = acquisition_time(source, facts, when, notes)
    polygons = site_polygons(catalog) if polygons is None else polygons
    if site is not None:
        if site not in polygons:
            raise CatalogError(f"no site named {site!r} in the catalog")
        polygons = {site: polygons[site]}
    sites = covered_sites(facts.footprint, polygons)
    if not sites:
        where = f"site {site!r}" if site else "any site in the catalog"
        raise InputError(path, f"footprint does not touch {where}")
    cloud = source.stac_cloud_cover if source.stac_cloud_cover is not None else facts.tag_cloud_cover
    observation, caveats = observed(source, facts, acquired, notes)
    image = Image(id=checksum[:16], site=sites[0][0], path=path, acquired=acquired, gsd_m=facts.gsd_m,
                  crs=facts.crs_name, width_px=facts.width, height_px=facts.height, bands=facts.bands,
                  dtype=facts.dtype, cloud_cover=cloud, checksum=checksum, observation=observation,
                  caveats=caveats)
    record = ImageRecord(image=image, crs_wkt=facts.crs_wkt, footprint_wkt=facts.footprint.wkt,
                         valid_fraction=facts.valid_fraction, datetime_source=dt_source, tiled=facts.tiled,
                         nodata=facts.nodata, source=source.stac_href, sites=tuple(sites))
    add_image(catalog, record)
    seen_by = f", {observation.source_name}" if observation.source_name else ""
    modality = f", {observation.modality}" if observation.modality else ""
    return IngestOutcome(path, "added", image, f"image {image.id}, {acquired:%Y-%m-%d %H:%M} UTC "
                         f"({dt_source}), {facts.gsd_m:.2f} m{seen_by}{modality}, "
                         f"sites {', '.join(n for n, _ in sites)}", notes)


def ingest(catalog: Catalog, targets: Sequence[str], site: str | None = None, when: datetime | None = None,
           progress: Callable[[int, int, str], None] | None = None) -> list[IngestOutcome]:
    """Ingest every raster the targets name. Bad inputs come back as failed outcomes with
    a message naming the file; they never stop the others or touch the catalog."""
    polygons = site_polygons(catalog)
    if site is not None and site not in polygons:
        known = ", ".join(sorted(polygons)) or "none; run `sitewatch sites add`"
        raise CatalogError(f"no site named {site!r} in the catalog (known: {known})")
    sources = gather_sources(targets)
    outcomes = []
    for i, src in enumerate(sources):
        if isinstance(src, InputError):
            outcomes.append(IngestOutcome(src.source, "failed", message=str(src)))
        else:
            try:
                outcomes.append(ingest_source(catalog, src, site, when, polygons))
            except SitewatchError as exc:
                outcomes.append(IngestOutcome(src.path, "failed", message=str(exc)))
        if progress is not None:
            progress(i + 1, len(sources), outcomes[-1].path)
    return outcomes
