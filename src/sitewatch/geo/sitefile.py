"""Sites from GeoJSON: a Polygon feature per site, with properties, and optional zone
features.

A site feature has properties `name` (required; a safe name, see sitewatch.names), `kind` (airbase or naval_base; default
airbase), `gsd_m` (grid GSD, default 0.5) and `margin_m` (grid margin around the polygon,
default 0). A zone feature has properties `zone` (its name), `zone_kind` (apron, helipad,
...) and, when the file holds several sites, `site`. Coordinates are lon/lat (RFC 7946);
zone polygons are converted to the site CRS.

Geographic sanity is checked here, the one place site GeoJSON is read: a site crossing the
antimeridian is read with its longitudes unwrapped (its UTM zone is that of its real centre),
its grid may hold at most MAX_SITE_GRID_PX pixels, and each zone must lie within the site's
grid or at most ZONE_SLACK_M outside it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Transformer
from shapely.geometry import Point, Polygon, box, shape

from sitewatch.domain import Site, SiteGrid, Zone
from sitewatch.errors import InputError
from sitewatch.geo.grid import DEFAULT_GSD_M, grid_for_polygon, unwrap_longitudes, wrap_longitude
from sitewatch.names import check_name
from sitewatch.textfiles import read_json

SITE_KINDS = ("airbase", "naval_base")
MAX_MARGIN_M = 10_000.0  # a margin wider than any base around it is a typo, and a huge grid
# 1 Gpx is about 250 km² at 0.5 m, several times the largest air base; the stages hold
# whole-grid masks, so a grid beyond this is a mistake (a wrong GSD, or a region not a site).
MAX_SITE_GRID_PX = 1_000_000_000
ZONE_SLACK_M = 1_000.0  # how far a zone may reach beyond its site's grid (a hand-drawn edge)


def _features(doc: Any, path: str) -> list[dict]:
    if not isinstance(doc, dict) or "type" not in doc:
        raise InputError(path, "not a GeoJSON object (no `type`)")
    if doc["type"] == "FeatureCollection":
        feats = doc.get("features") or []
        if not isinstance(feats, list):
            raise InputError(path, f"features: must be a list of Feature objects, got {type(feats).__name__}")
    elif doc["type"] == "Feature":
        feats = [doc]
    else:
        raise InputError(path, f"expected a Feature or FeatureCollection, got {doc['type']!r}")
    for i, f in enumerate(feats):
        if not isinstance(f, dict) or not isinstance(f.get("properties") or {}, dict):
            raise InputError(path, f"features[{i}]: must be a Feature object with a properties object")
    return feats


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_rings(rings: Any, path: str, where: str) -> list[list[list[float]]]:
    """Polygon coordinates as RFC 7946 writes them: rings of 4 or more positions, each two
    (or three, with an altitude, which is dropped) finite numbers."""
    if not isinstance(rings, list) or not rings:
        raise InputError(path, f"{where}.geometry.coordinates: must be a list of rings")
    for r, ring in enumerate(rings):
        at = f"{where}.geometry.coordinates[{r}]"
        if not isinstance(ring, list) or len(ring) < 4:
            raise InputError(path, f"{at}: a ring needs at least 4 positions (the first repeated last)")
        for k, pos in enumerate(ring):
            if not isinstance(pos, list) or len(pos) not in (2, 3) or not all(_is_number(v) for v in pos):
                raise InputError(path, f"{at}[{k}]: a position is [lon, lat] (or [lon, lat, altitude]) in "
                                       f"numbers, got {json.dumps(pos)[:60]}")
    return rings


def _lonlat_ranges(rings: list, path: str, where: str) -> None:
    for ring in rings:
        for lon, lat, *_ in ring:
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise InputError(path, f"{where}: coordinates are not lon/lat degrees (GeoJSON is EPSG:4326), "
                                       f"got [{lon}, {lat}]")


def _polygon(feature: dict, path: str, where: str, ref_lon: float | None = None) -> Polygon:
    """The feature's polygon in lon/lat, its longitudes unwrapped to lie within 180 degrees
    of ref_lon (default: its first vertex), so that a polygon crossing the antimeridian is
    the small area it means and not one spanning the globe."""
    geom = feature.get("geometry")
    if not isinstance(geom, dict) or geom.get("type") != "Polygon":
        kind = geom.get("type") if isinstance(geom, dict) else geom
        raise InputError(path, f"{where}: geometry must be a Polygon, got {kind!r}")
    rings = _check_rings(geom.get("coordinates"), path, where)
    _lonlat_ranges(rings, path, where)
    ref = rings[0][0][0] if ref_lon is None else ref_lon
    flat = [[(lon, p[1]) for lon, p in zip(unwrap_longitudes([p[0] for p in ring], ref), ring)] for ring in rings]
    poly = shape({"type": "Polygon", "coordinates": flat})
    if not poly.is_valid or poly.area == 0:
        raise InputError(path, f"{where}: the polygon is not a valid area")
    return poly


def _number(props: dict, key: str, default: float, path: str, where: str) -> float:
    value = props.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(path, f"{where}.properties.{key}: must be a number, got {json.dumps(value)[:40]}")
    try:
        return float(value)
    except (ValueError, OverflowError):
        raise InputError(path, f"{where}.properties.{key}: must be a number, got {value!r}"[:200]) from None


def _site_grid(ring: list[tuple[float, float]], gsd: float, margin: float, path: str, where: str,
               name: str) -> SiteGrid:
    try:
        grid = grid_for_polygon(ring, gsd_m=gsd, margin_m=margin)
    except ValueError as exc:  # outside the UTM range, and other places no site grid fits
        raise InputError(path, f"{where}: {exc}") from None
    size = grid.width_px * grid.height_px
    if size > MAX_SITE_GRID_PX:
        raise InputError(path, f"{where}: site {name!r} needs a grid of {grid.width_px} x {grid.height_px} px "
                               f"({size / 1e6:,.0f} Mpx at {gsd:g} m), more than the {MAX_SITE_GRID_PX / 1e6:,.0f} Mpx allowed; "
                               "use a coarser gsd_m or a smaller polygon")
    return grid


def _check_zone_inside(xy: list[tuple[float, float]], grid: SiteGrid, path: str, where: str,
                       zone: str, site: str) -> None:
    """Refuse a zone that reaches more than ZONE_SLACK_M beyond its site's grid."""
    area = box(*grid.bounds)
    reach = max(area.distance(Point(p)) for p in xy)
    if reach > ZONE_SLACK_M:  # false for NaN; non-finite coordinates are caught below
        away = f"{reach / 1000:.1f} km" if math.isfinite(reach) else "far"
        raise InputError(path, f"{where}.geometry: zone {zone!r} reaches {away} outside site {site!r} (a zone "
                               f"must lie within its site's grid, or at most {ZONE_SLACK_M:g} m outside it)")
    if not all(math.isfinite(v) for p in xy for v in p):
        raise InputError(path, f"{where}.geometry: zone {zone!r} does not project into site {site!r}'s CRS")


def _zones(zone_feats: list[tuple[int, dict]], several_sites: bool, site: str, centre_lon: float,
           grid: SiteGrid, path: str) -> tuple[Zone, ...]:
    to_site = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    zones = []
    for j, zf in zone_feats:
        zprops = zf["properties"]
        if "site" not in zprops and several_sites:
            raise InputError(path, f"features[{j}].properties.site: the file has several sites; say whose zone this is")
        if zprops.get("site", site) != site:
            continue
        where = f"features[{j}]"
        zone_name = check_name(zprops["zone"], path, f"{where}.properties.zone")
        zpoly = _polygon(zf, path, where, ref_lon=centre_lon)
        corners = np.asarray(zpoly.exterior.coords)[:-1, :2]
        xs, ys = to_site.transform(corners[:, 0], corners[:, 1])
        xy = [(float(x), float(y)) for x, y in zip(xs, ys)]
        _check_zone_inside(xy, grid, path, where, zone_name, site)
        zones.append(Zone(zone_name, str(zprops.get("zone_kind", "area")), tuple(xy)))
    return tuple(zones)


def _site(i: int, f: dict, zone_feats: list[tuple[int, dict]], several_sites: bool,
          path: str) -> tuple[Site, list[tuple[float, float]]]:
    props = f.get("properties") or {}
    where = f"features[{i}]"
    name = check_name(props.get("name"), path, f"{where}.properties.name")
    kind = props.get("kind", "airbase")
    if kind not in SITE_KINDS:
        raise InputError(path, f"{where}.properties.kind: must be one of {', '.join(SITE_KINDS)}, got {kind!r}")
    gsd = _number(props, "gsd_m", DEFAULT_GSD_M, path, where)
    margin = _number(props, "margin_m", 0.0, path, where)
    if not 0 < gsd <= 100:
        raise InputError(path, f"{where}.properties.gsd_m: must be in (0, 100] metres, got {gsd}")
    if not 0 <= margin <= MAX_MARGIN_M:  # false for NaN too
        raise InputError(path, f"{where}.properties.margin_m: must be in [0, {MAX_MARGIN_M:g}] metres, got {margin}")
    poly = _polygon(f, path, where)
    ring = [(float(x), float(y)) for x, y in list(poly.exterior.coords)[:-1]]
    grid = _site_grid(ring, gsd, margin, path, where, name)
    c = poly.centroid
    zones = _zones(zone_feats, several_sites, name, c.x, grid, path)
    return Site(name=name, kind=kind, lat=c.y, lon=wrap_longitude(c.x), grid=grid, zones=zones), ring


def read_sites_geojson(path: str | Path) -> list[tuple[Site, list[tuple[float, float]]]]:
    """Sites (with their zones) and each site's outline in lon/lat. The outline of a site
    crossing the antimeridian keeps its longitudes unwrapped (some beyond 180 or -180)."""
    path = str(path)
    doc = read_json(path)
    feats = _features(doc, path)
    site_feats = [(i, f) for i, f in enumerate(feats) if "zone" not in (f.get("properties") or {})]
    zone_feats = [(i, f) for i, f in enumerate(feats) if "zone" in (f.get("properties") or {})]
    if not site_feats:
        raise InputError(path, "no site feature (a Polygon feature with a `name` property)")
    return [_site(i, f, zone_feats, len(site_feats) > 1, path) for i, f in site_feats]
