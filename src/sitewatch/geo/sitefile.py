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
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Transformer
from shapely.geometry import Polygon, shape

from sitewatch.domain import Site, Zone
from sitewatch.errors import InputError
from sitewatch.geo.grid import DEFAULT_GSD_M, grid_for_polygon
from sitewatch.names import check_name

SITE_KINDS = ("airbase", "naval_base")
MAX_MARGIN_M = 10_000.0  # a margin wider than any base around it is a typo, and a huge grid


def _features(doc: Any, path: str) -> list[dict]:
    if not isinstance(doc, dict) or "type" not in doc:
        raise InputError(path, "not a GeoJSON object (no `type`)")
    if doc["type"] == "FeatureCollection":
        return list(doc.get("features") or [])
    if doc["type"] == "Feature":
        return [doc]
    raise InputError(path, f"expected a Feature or FeatureCollection, got {doc['type']!r}")


def _polygon(feature: dict, path: str, where: str) -> Polygon:
    geom = feature.get("geometry")
    if not geom or geom.get("type") != "Polygon":
        raise InputError(path, f"{where}: geometry must be a Polygon, got {geom and geom.get('type')!r}")
    poly = shape(geom)
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
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(path, f"cannot read the file ({exc.strerror})") from exc
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
        grid = grid_for_polygon(ring, gsd_m=gsd, margin_m=margin)
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
