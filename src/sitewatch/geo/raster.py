"""Reading what a raster is without loading it: CRS, geotransform, GSD in metres, the
valid-data footprint in EPSG:4326, the acquisition time written in its tags.

Everything here reads through decimated reads (which GDAL serves from overviews when the
file has them) or small windows; a whole full-resolution raster is never held in memory.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS, Geod, Transformer
from rasterio import features
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.ops import unary_union

from sitewatch.errors import InputError
from sitewatch.geo.imagefile import open_checked

FOOTPRINT_MAX_SIDE = 512  # pixels of the decimated mask the footprint is traced on
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class RasterFacts:
    path: str
    width: int
    height: int
    bands: int
    dtype: str
    crs_wkt: str
    crs_name: str  # "EPSG:xxxx" when the CRS has one, else "custom"
    transform: tuple[float, ...]  # GDAL-order affine a, b, c, d, e, f
    nodata: float | None
    gsd_m: float
    footprint: Polygon | MultiPolygon  # valid pixels, EPSG:4326 (lon, lat)
    valid_fraction: float
    tiled: bool
    overviews: int
    tag_datetime: datetime | None
    tag_datetime_name: str | None
    tag_cloud_cover: float | None
    # the file's metadata tags (default domain, then GDAL's IMAGERY and a Maxar IMD block
    # where its driver reads them), what geo.observation reads the source and angles from
    tags: dict[str, str] = field(default_factory=dict)


def _open(path: str) -> rasterio.DatasetReader:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return open_checked(path)


def crs_name(crs: CRS) -> str:
    epsg = crs.to_epsg(min_confidence=90)
    return f"EPSG:{epsg}" if epsg else "custom"


def _metres_per_unit(crs: CRS) -> float:
    info = crs.axis_info[0] if crs.axis_info else None
    factor = getattr(info, "unit_conversion_factor", None)
    return float(factor) if factor else 1.0


def gsd_metres(crs: CRS, transform, width: int, height: int) -> float:
    """Ground sample distance in metres at the image centre: the mean of the pixel's two
    sides measured on the WGS 84 ellipsoid. For a projected CRS whose scale at the centre
    is within 1% of true (UTM, national grids) the nominal pixel size in metres is kept;
    for geographic CRSs and for projections that stretch the ground (Web Mercator away
    from the equator) the measured ground size is used."""
    a, b, _, d, e, _ = tuple(transform)[:6]
    col, row = width / 2, height / 2
    pts = [transform @ (col, row), transform @ (col + 1, row), transform @ (col, row + 1)]
    xs, ys = zip(*pts)
    if crs.is_geographic:
        lons, lats = xs, ys
    else:
        lons, lats = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    _, _, sx = _GEOD.inv(lons[0], lats[0], lons[1], lats[1])
    _, _, sy = _GEOD.inv(lons[0], lats[0], lons[2], lats[2])
    ground = float((sx + sy) / 2)
    if crs.is_geographic:
        return ground
    nominal = float((math.hypot(a, d) + math.hypot(b, e)) / 2 * _metres_per_unit(crs))
    return nominal if abs(nominal / ground - 1) <= 0.01 else ground


_TIFF_DT = re.compile(r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?\s*(Z|[+\-]\d{2}:?\d{2})?\s*$")


def parse_datetime(text: str) -> datetime | None:
    """ISO 8601 or the TIFF "YYYY:MM:DD HH:MM:SS" form; naive times are taken as UTC."""
    text = text.strip()
    if not text:
        return None
    m = _TIFF_DT.match(text)
    if m:
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        frac = m.group(7)
        tz = m.group(8)
        iso = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac or ''}{'+00:00' if tz in (None, 'Z') else tz}"
        try:
            return datetime.fromisoformat(iso).astimezone(UTC)
        except (ValueError, OverflowError):  # 0001-01-01 00:00+01:00 is before datetime.min in UTC
            return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


# No Earth-observation image predates 1960 (the first Corona pictures were taken that August):
# a time before it, or later than tomorrow, is an unset clock or a placeholder, not an acquisition.
EARLIEST_ACQUISITION = datetime(1960, 1, 1, tzinfo=UTC)


def implausible_time(when: datetime) -> str | None:
    """Why when cannot be an acquisition time (naive: taken as UTC), or None if it can be."""
    try:
        when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        return f"{when.isoformat()} is out of range"
    if when < EARLIEST_ACQUISITION:
        return f"{when.isoformat()} is before {EARLIEST_ACQUISITION.year}, when the first images from orbit were taken"
    if when > datetime.now(UTC) + timedelta(days=1):
        return f"{when.isoformat()} is in the future"
    return None


def checked_time(source: str, when: datetime | None) -> datetime | None:
    """A caller's acquisition time in UTC (naive: taken as UTC), or an InputError naming source."""
    if when is None:
        return None
    problem = implausible_time(when)
    if problem is not None:
        raise InputError(source, f"not a plausible acquisition time: {problem}")
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def tag_datetime(ds) -> tuple[datetime | None, str | None]:
    tags = ds.tags()
    for name in ("TIFFTAG_DATETIME", "ACQUISITION_DATETIME", "acquisition_datetime", "DATETIME"):
        if name in tags:
            dt = parse_datetime(tags[name])
            if dt is not None:
                return dt, name
    return None, None


METADATA_DOMAINS = ("", "IMAGERY", "IMD")
MAX_TAG_CHARS = 500  # longer values (XML blocks, RPCs) are not metadata geo.observation reads


def metadata_tags(ds) -> dict[str, str]:
    """The raster's short metadata tags: the default domain first, then the IMAGERY and IMD
    domains for the names the default one lacks."""
    out: dict[str, str] = {}
    for domain in METADATA_DOMAINS:
        try:
            tags = ds.tags(ns=domain) if domain else ds.tags()
        except Exception:  # a driver without that domain
            continue
        for name, value in tags.items():
            if len(value) <= MAX_TAG_CHARS:
                out.setdefault(name, value)
    return out


def _tag_cloud(ds) -> float | None:
    tags = ds.tags()
    for name in ("CLOUD_COVER", "cloud_cover", "eo:cloud_cover"):
        if name in tags:
            try:
                v = float(tags[name])
            except ValueError:
                continue
            return v / 100.0 if v > 1.0 else v
    return None


def valid_mask(data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Valid pixels: GDAL's mask says valid, and not part of an all-black (all bands zero)
    region that touches the image border. Interior black pixels (shadows) stay valid."""
    valid = mask > 0
    black = np.all(data == 0, axis=0)
    if black.any():
        # black regions connected to the border are collar/nodata padding
        nlab, labels = cv2.connectedComponents(black.astype(np.uint8), connectivity=4)
        border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        border = border[border > 0]
        if border.size:
            valid &= ~np.isin(labels, border)
    return valid


def decimated(ds, max_side: int = FOOTPRINT_MAX_SIDE) -> tuple[np.ndarray, np.ndarray, float]:
    """All bands and the dataset mask at a size whose longer side is at most max_side
    (GDAL reads from overviews when present), and the decimation factor."""
    factor = max(1.0, max(ds.width, ds.height) / max_side)
    shape = (max(1, int(round(ds.height / factor))), max(1, int(round(ds.width / factor))))
    data = ds.read(out_shape=(ds.count, *shape), resampling=Resampling.nearest)
    mask = ds.dataset_mask(out_shape=shape, resampling=Resampling.nearest)
    return data, mask, factor


def footprint_lonlat(ds, valid: np.ndarray, factor: float) -> Polygon | MultiPolygon:
    """Outline of the valid pixels in EPSG:4326, traced on the decimated mask, simplified
    to about one decimated pixel."""
    t = ds.transform @ Affine.scale(ds.width / valid.shape[1], ds.height / valid.shape[0])
    polys = [shape(g) for g, v in features.shapes(valid.astype(np.uint8), mask=valid, transform=t) if v == 1]
    if not polys:
        return Polygon()
    geom = unary_union(polys)
    geom = geom.simplify(abs(t.a) * 0.75, preserve_topology=True)
    geom = geom.buffer(0)  # repair after simplification
    dense = geom.segmentize(max(abs(t.a), abs(t.e)) * 16)
    to_ll = Transformer.from_crs(ds.crs, "EPSG:4326", always_xy=True)
    first = dense.geoms[0] if isinstance(dense, MultiPolygon) else dense
    ref_lon = to_ll.transform(*first.exterior.coords[0])[0]

    def ring(coords):
        # An image across the antimeridian keeps its longitudes unwrapped (some beyond 180
        # or -180, as a site's outline is read: geo.sitefile), every ring on the same turn,
        # rather than an outline that goes round the world the other way.
        xs, ys = zip(*coords)
        lons, lats = to_ll.transform(xs, ys)
        lons = np.unwrap(np.asarray(lons, float), period=360.0)
        lons += 360.0 * np.round((ref_lon - lons[0]) / 360.0)
        return list(zip(lons.tolist(), lats))

    def poly(p: Polygon) -> Polygon:
        return Polygon(ring(p.exterior.coords), [ring(i.coords) for i in p.interiors])

    if isinstance(dense, Polygon):
        return poly(dense).buffer(0)
    return MultiPolygon([poly(p) for p in dense.geoms]).buffer(0)


def earth_crs(path: str, crs) -> CRS:
    """The raster's CRS as pyproj reads it, or an InputError naming the file unless it places
    pixels on the Earth: a local or engineering CRS (WKT LOCAL_CS) has no datum to go to
    longitude and latitude from, so no footprint, site or map can be worked out."""
    try:
        parsed = CRS.from_wkt(crs.to_wkt())
    except Exception as exc:  # pyproj cannot parse it
        raise InputError(path, f"unusable CRS ({exc})") from exc
    if not (parsed.is_geographic or parsed.is_projected):
        raise InputError(path, f"the CRS {parsed.name!r} ({parsed.type_name}) is neither projected nor geographic, "
                               "so the image cannot be placed on the Earth; georeference it in UTM or another "
                               "projected or geographic CRS")
    try:
        Transformer.from_crs(parsed, "EPSG:4326", always_xy=True)
    except Exception as exc:  # pyproj.exceptions.ProjError and kin
        raise InputError(path, f"the CRS {parsed.name!r} cannot be converted to longitude and latitude ({exc})") from exc
    return parsed


def inspect_raster(path: str) -> RasterFacts:
    """What the raster is, or an InputError naming the file and the problem."""
    path = str(path)
    if not path.startswith("/vsi") and os.path.exists(path) and os.path.getsize(path) == 0:
        raise InputError(path, "empty file (0 bytes), not a raster")
    with _open(path) as ds:
        if ds.width == 0 or ds.height == 0 or ds.count == 0:
            raise InputError(path, f"zero-sized raster ({ds.width} x {ds.height} pixels, {ds.count} bands)")
        if ds.crs is None:
            raise InputError(path, "the raster has no CRS (not georeferenced)")
        if ds.transform.is_identity or (ds.transform.a == 0 and ds.transform.b == 0):
            raise InputError(path, "the raster has no geotransform (not georeferenced)")
        crs = earth_crs(path, ds.crs)
        try:
            data, mask, factor = decimated(ds)
        except RasterioIOError as exc:
            raise InputError(path, f"unreadable or truncated raster data ({str(exc).splitlines()[0]})") from exc
        valid = valid_mask(data, mask)
        valid_fraction = float(valid.mean())
        if valid_fraction == 0.0:
            raise InputError(path, "the raster holds no valid pixels (all nodata or black)")
        # a read of the last block proves the file is not cut short (decimated reads may
        # come from overviews, which sit before the full-resolution data)
        try:
            bw, bh = ds.block_shapes[0][1], ds.block_shapes[0][0]
            ds.read(1, window=((max(0, ds.height - bh), ds.height), (max(0, ds.width - bw), ds.width)))
        except RasterioIOError as exc:
            raise InputError(path, f"truncated or corrupt raster data ({str(exc).splitlines()[0]})") from exc
        fp = footprint_lonlat(ds, valid, factor)
        if fp.is_empty:
            raise InputError(path, "the raster holds no valid pixels (all nodata or black)")
        dt, dt_name = tag_datetime(ds)
        bh, bw = ds.block_shapes[0]
        # tiles are square blocks or narrower than the image; strips span the full width
        tiled = bw < ds.width or (bw == bh and bw > 1)
        return RasterFacts(path=path, width=ds.width, height=ds.height, bands=ds.count, dtype=ds.dtypes[0],
                           crs_wkt=ds.crs.to_wkt(), crs_name=crs_name(crs), transform=tuple(ds.transform)[:6],
                           nodata=ds.nodata, gsd_m=gsd_metres(crs, ds.transform, ds.width, ds.height), footprint=fp,
                           valid_fraction=valid_fraction, tiled=tiled, overviews=len(ds.overviews(1)),
                           tag_datetime=dt, tag_datetime_name=dt_name, tag_cloud_cover=_tag_cloud(ds),
                           tags=metadata_tags(ds))
