"""Sites from GeoJSON: a Polygon feature per site, with properties, and optional zone
features.

A site feature has properties `name` (required; a safe name, see sitewatch.names), `kind` (airbase or naval_base; default
airbase), `gsd_m` (grid GSD, default 0.5) and `margin_m` (grid margin around the polygon,
default 0). A zone feature has properties `zone` (its name), `zone_kind` (apron, helipad,
...) and, when the file holds several sites, `site`. Coordinates are lon/lat (RFC 7946);
zone polygons are converted to the site CRS.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Transformer
from shapely.geometry import Polygon, shape

from sitewatch.domain import Site, Zone
from sitewatch.errors import InputError
from sitewatch.geo.grid import DEFAULT_GSD_M, grid_for_polygon
from sitewatch.names import check_name
from sitewatch.textfiles import read_text

SITE_KINDS = ("airbase", "naval_base")
MAX_MARGIN_M = 10_000.0  # a margin wider than any base around it is a typo, and a huge grid


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


def _check_rings(rings: Any, path: str, where: str) -> None:
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


def _polygon(feature: dict, path: str, where: str) -> Polygon:
    geom = feature.get("geometry")
    if not isinstance(geom, dict) or geom.get("type") != "Polygon":
        kind = geom.get("type") if isinstance(geom, dict) else geom
        raise InputError(path, f"{where}: geometry must be a Polygon, got {kind!r}")
    _check_rings(geom.get("coordinates"), path, where)
    poly = shape({"type": "Polygon", "coordinates": [[p[:2] for p in ring] for ring in geom["coordinates"]]})
    if not poly.is_valid or poly.area == 0:
        raise InputError(path, f"{where}: the polygon is not a valid area")
    lon0, lat0, lon1, lat1 = poly.bounds
    if not (-180 <= lon0 <= lon1 <= 180 and -90 <= lat0 <= lat1 <= 90):
        raise InputError(path, f"{where}: coordinates are not lon/lat degrees (GeoJSON is EPSG:4326)")
    return poly


def read_sites_geojson(path: str | Path) -> list[tuple[Site, list[tuple[float, float]]]]:
    """Sites (with their zones) and each site's outline in lon/lat."""
    path = str(path)
    try:
        doc = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    feats = _features(doc, path)
    site_feats = [(i, f) for i, f in enumerate(feats) if "zone" not in (f.get("properties") or {})]
    zone_feats = [(i, f) for i, f in enumerate(feats) if "zone" in (f.get("properties") or {})]
    if not site_feats:
        raise InputError(path, "no site feature (a Polygon feature with a `name` property)")
    out = []
    for i, f in site_feats:
        props = f.get("properties") or {}
        where = f"features[{i}]"
        name = check_name(props.get("name"), path, f"{where}.properties.name")
        kind = props.get("kind", "airbase")
        if kind not in SITE_KINDS:
            raise InputError(path, f"{where}.properties.kind: must be one of {', '.join(SITE_KINDS)}, got {kind!r}")
        try:
            gsd = float(props.get("gsd_m", DEFAULT_GSD_M))
            margin = float(props.get("margin_m", 0.0))
        except (TypeError, ValueError) as exc:
            raise InputError(path, f"{where}.properties: gsd_m and margin_m must be numbers") from exc
        if not 0 < gsd <= 100:
            raise InputError(path, f"{where}.properties.gsd_m: must be in (0, 100] metres, got {gsd}")
        if not 0 <= margin <= MAX_MARGIN_M:  # false for NaN too
            raise InputError(path, f"{where}.properties.margin_m: must be in [0, {MAX_MARGIN_M:g}] metres, got {margin}")
        poly = _polygon(f, path, where)
        ring = [(float(x), float(y)) for x, y in list(poly.exterior.coords)[:-1]]
        try:
            grid = grid_for_polygon(ring, gsd_m=gsd, margin_m=margin)
        except ValueError as exc:  # outside the UTM range, and other places no site grid fits
            raise InputError(path, f"{where}: {exc}") from None
        to_site = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
        zones = []
        for j, zf in zone_feats:
            zprops = zf["properties"]
            if "site" not in zprops and len(site_feats) > 1:
                raise InputError(path, f"features[{j}].properties.site: the file has several sites; say whose zone this is")
            if zprops.get("site", name) != name:
                continue
            zone_name = check_name(zprops["zone"], path, f"features[{j}].properties.zone")
            zpoly = _polygon(zf, path, f"features[{j}]")
            corners = np.asarray(zpoly.exterior.coords)[:-1, :2]
            xs, ys = to_site.transform(corners[:, 0], corners[:, 1])
            zones.append(Zone(zone_name, str(zprops.get("zone_kind", "area")),
                              tuple((float(x), float(y)) for x, y in zip(xs, ys))))
        c = poly.centroid
        out.append((Site(name=name, kind=kind, lat=c.y, lon=c.x, grid=grid, zones=tuple(zones)), ring))
    return out
