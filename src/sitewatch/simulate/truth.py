"""Ground truth files: what is really in each image, and what changed between dates.

`<image>.truth.geojson` is an RFC 7946 FeatureCollection in EPSG:4326 (lon, lat), one
feature per object, with the site CRS recorded beside it:

- top level: `site`, `date`, `acquired` (UTC), `image`, `site_crs`, `grid` (origin, GSD and
  size of the site grid, the image's geotransform) and `conditions` (sun, haze, colour
  balance, noise, blur, cloud, and the misregistration);
- each feature: the oriented footprint polygon (counter-clockwise, closed) and properties
  `class`, `type`, `state`, `track_id`, `zone`, `heading_deg`, `length_m`, `width_m`,
  `wings_swept`, `center_site_crs`, `site_crs_polygon` (where the object truly is), and
  `pixel_polygon` (where it appears in the image, misregistration included: the label a
  detector should be trained against), `in_frame` (the share of that polygon inside the
  image), `cloud_opacity` (the mean opacity of the cloud over it, 0 clear to 0.95) and
  `difficult` (less than half in frame, or under cloud of HIDDEN_BY_CLOUD or more: too little
  of the object shows through for anyone to find it; evaluation neither asks for it nor
  counts finding it as false).

Misregistration: a ground point at true pixel p (continuous (col, row), origin at the
top-left corner of the top-left pixel) appears at R(p - c) + c + shift, with c the image
centre (W/2, H/2), R a clockwise rotation by `rotation_deg` as seen on the north-up image,
and shift = `shift_px` (dx right, dy down).

`changes.truth.json` lists, for each consecutive pair of dates, every change (arrived,
departed, moved, state_changed) with its track id, type, zones or states, and the
scenario field it comes from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Transformer
from shapely.geometry import Polygon
from shapely.geometry import box as shapely_box

from sitewatch.domain import OrientedBox, SiteGrid
from sitewatch.errors import InputError
from sitewatch.simulate.plan import Change, DatePlan, SitePlan
from sitewatch.simulate.render.nuisance import cloud_sampler
from sitewatch.simulate.scene import Conditions, PlacedObject, SceneSpec
from sitewatch.textfiles import read_json

TRUTH_VERSION = 1
LONLAT_DECIMALS = 9  # about 0.1 mm
METRE_DECIMALS = 4
PIXEL_DECIMALS = 4
# Cloud of this opacity leaves under a quarter of an object's contrast, brightened and grey:
# an analyst could not count what is under it, so the truth marks it difficult.
HIDDEN_BY_CLOUD = 0.75


def apparent_pixels(grid: SiteGrid, conditions: Conditions, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where true pixel positions appear in the misregistered image (see the module doc)."""
    c0, r0 = grid.width_px / 2.0, grid.height_px / 2.0
    a = math.radians(conditions.rotation_deg)
    ca, sa = math.cos(a), math.sin(a)
    dc, dr = np.asarray(cols, float) - c0, np.asarray(rows, float) - r0
    # in (col right, row down) this matrix turns clockwise on screen
    col = c0 + ca * dc - sa * dr + conditions.shift_px[0]
    row = r0 + sa * dc + ca * dr + conditions.shift_px[1]
    return col, row


def true_pixels(grid: SiteGrid, conditions: Conditions, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of `apparent_pixels`: image pixel -> true site-grid pixel."""
    c0, r0 = grid.width_px / 2.0, grid.height_px / 2.0
    a = math.radians(conditions.rotation_deg)
    ca, sa = math.cos(a), math.sin(a)
    dc = np.asarray(cols, float) - conditions.shift_px[0] - c0
    dr = np.asarray(rows, float) - conditions.shift_px[1] - r0
    return c0 + ca * dc + sa * dr, r0 - sa * dc + ca * dr


def in_frame_fraction(ring_px: np.ndarray, width_px: int, height_px: int) -> float:
    """Share of a pixel polygon's area that lies inside the image (misregistration can push
    objects at the edge partly out of frame)."""
    poly = Polygon(np.asarray(ring_px, float))
    if poly.area <= 0:
        return 0.0
    return float(poly.intersection(shapely_box(0.0, 0.0, float(width_px), float(height_px))).area / poly.area)


def cloud_over_boxes(spec: SceneSpec, boxes: Sequence[OrientedBox]) -> np.ndarray:
    """The mean cloud opacity over each box (site CRS) on this date's image, sampled on a
    5 x 5 lattice spanning it; the cloud field is made once for all of them."""
    if spec.conditions.cloud_cover <= 0 or not boxes:
        return np.zeros(len(boxes))
    u = np.linspace(0.05, 0.95, 5)
    a, b = np.meshgrid(u, u)
    # bilinear blend of the corners (0, 1, 2, 3 around the ring)
    weights = np.stack([(1 - a) * (1 - b), a * (1 - b), a * b, (1 - a) * b]).reshape(4, -1)  # (4, 25)
    corners = np.array([box.corners() for box in boxes])  # (n, 4, 2), metres
    cols, rows = spec.site.grid.to_pixel(corners[..., 0], corners[..., 1])
    opacity = cloud_sampler(spec)((cols @ weights).ravel(), (rows @ weights).ravel())
    return opacity.reshape(len(boxes), -1).mean(axis=1)


def _conditions_dict(c: Conditions, grid: SiteGrid) -> dict[str, Any]:
    return {
        "sun_azimuth_deg": c.sun_azimuth_deg,
        "sun_elevation_deg": c.sun_elevation_deg,
        "haze": c.haze,
        "colour_balance": list(c.colour_balance),
        "noise_sigma": c.noise_sigma,
        "blur_sigma_px": c.blur_sigma_px,
        "cloud_cover": c.cloud_cover,
        "misregistration": {
            "shift_px": list(c.shift_px),
            "rotation_deg": c.rotation_deg,
            "centre_px": [grid.width_px / 2.0, grid.height_px / 2.0],
            "model": "a ground point at true pixel p appears at R(p - centre) + centre + shift; "
                     "R turns clockwise by rotation_deg; shift is (dx right, dy down)",
        },
    }


def _grid_dict(grid: SiteGrid) -> dict[str, Any]:
    return {"crs": grid.crs, "origin_x": grid.origin_x, "origin_y": grid.origin_y, "gsd_m": grid.gsd_m,
            "width_px": grid.width_px, "height_px": grid.height_px}


def _r(values: Any, nd: int) -> list[Any]:
    return [[round(float(a), nd) + 0.0, round(float(b), nd) + 0.0] for a, b in values]


def image_truth(plan: SitePlan, date: DatePlan, image_name: str) -> dict[str, Any]:
    """The truth GeoJSON of one image, as a dict ready for json.dumps."""
    grid = plan.site.grid
    to_lonlat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    cond = date.spec.conditions
    features = []
    clouds = cloud_over_boxes(date.spec, [o.box for o in date.spec.objects])
    for o, cloud in zip(date.spec.objects, clouds):
        ring = o.box.corners()  # counter-clockwise: front-left, rear-left, rear-right, front-right
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        lon, lat = to_lonlat.transform(xs, ys)
        cols, rows = grid.to_pixel(np.asarray(xs), np.asarray(ys))
        acol, arow = apparent_pixels(grid, cond, cols, rows)
        lonlat = _r(zip(lon, lat), LONLAT_DECIMALS)
        in_frame = round(in_frame_fraction(np.stack([acol, arow], axis=1), grid.width_px, grid.height_px), 4)
        cloud = round(float(cloud), 3)
        features.append({
            "type": "Feature",
            "id": o.track_id,
            "geometry": {"type": "Polygon", "coordinates": [lonlat + [lonlat[0]]]},
            "properties": {
                "class": o.cls,
                "type": o.type,
                "state": o.state,
                "track_id": o.track_id,
                "zone": o.zone,
                "heading_deg": round(o.box.heading_deg, METRE_DECIMALS),
                "length_m": o.box.length,
                "width_m": o.box.width,
                "wings_swept": o.wings_swept,
                "appearance_seed": o.appearance_seed,
                "center_site_crs": [round(o.box.cx, METRE_DECIMALS), round(o.box.cy, METRE_DECIMALS)],
                "site_crs_polygon": _r(ring, METRE_DECIMALS),
                "pixel_polygon": _r(zip(acol, arow), PIXEL_DECIMALS),
                "in_frame": in_frame,
                "cloud_opacity": cloud,
                # DOTA's sense: evaluation ignores it
                "difficult": in_frame < 0.5 or cloud >= HIDDEN_BY_CLOUD,
                **({"decoy": True} if o.decoy else {}),
            },
        })
    return {
        "type": "FeatureCollection",
        "truth_version": TRUTH_VERSION,
        "site": plan.site.name,
        "site_kind": plan.site.kind,
        "date": date.label,
        "acquired": _iso(date.acquired),
        "image": image_name,
        "site_crs": grid.crs,
        "grid": _grid_dict(grid),
        "conditions": _conditions_dict(cond, grid),
        **({} if date.source is None else {"source": {
            "provider": date.source.provider, "platform": date.source.platform, "modality": date.source.modality,
            "stated_acquired": _iso(date.source.stated_acquired)}}),
        "features": features,
    }


def change_truth(plan: SitePlan) -> dict[str, Any]:
    pairs = []
    for i, changes in enumerate(plan.changes):
        pairs.append({
            "before": plan.dates[i].label,
            "after": plan.dates[i + 1].label,
            "changes": [c.as_dict() for c in changes],
        })
    return {"truth_version": TRUTH_VERSION, "site": plan.site.name, "site_crs": plan.site.grid.crs,
            "dates": [d.label for d in plan.dates], "pairs": pairs}


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(doc: dict[str, Any]) -> str:
    """Deterministic JSON text: fixed key order (as built), no timestamps, a final newline."""
    return json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


# --- reading ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageTruth:
    site: str
    date: str
    acquired: datetime
    image: str
    grid: SiteGrid
    conditions: Conditions
    objects: tuple[PlacedObject, ...]
    pixel_polygons: tuple[tuple[tuple[float, float], ...], ...]  # per object, as it appears in the image
    in_frame: tuple[float, ...] = ()  # per object, share of its pixel polygon inside the image


@dataclass(frozen=True)
class ChangePair:
    before: str
    after: str
    changes: tuple[Change, ...]


# what reading a truth file's fields can raise when one has the wrong type or range
_MALFORMED = (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError)


def _load(path: str | Path) -> dict[str, Any]:
    doc = read_json(path)
    if not isinstance(doc, dict) or doc.get("truth_version") != TRUTH_VERSION:
        raise InputError(str(path), f"not a sitewatch truth file of version {TRUTH_VERSION}")
    return doc


def read_image_truth(path: str | Path) -> ImageTruth:
    """Read `<image>.truth.geojson`: boxes in the site CRS, as the simulator placed them."""
    doc = _load(path)
    try:
        g = doc["grid"]
        grid = SiteGrid(g["crs"], float(g["origin_x"]), float(g["origin_y"]), float(g["gsd_m"]),
                        int(g["width_px"]), int(g["height_px"]))
        c = doc["conditions"]
        m = c["misregistration"]
        cond = Conditions(c["sun_azimuth_deg"], c["sun_elevation_deg"], c["haze"], tuple(c["colour_balance"]),
                          c["noise_sigma"], c["blur_sigma_px"], tuple(m["shift_px"]), m["rotation_deg"],
                          c["cloud_cover"])
        objects, pixels, framed = [], [], []
        for f in doc["features"]:
            p = f["properties"]
            box = OrientedBox(p["center_site_crs"][0], p["center_site_crs"][1], p["length_m"], p["width_m"],
                              p["heading_deg"])
            objects.append(PlacedObject(p["track_id"], p["type"], p["class"], p["state"], box,
                                        bool(p.get("wings_swept", False)), int(p.get("appearance_seed", 0)),
                                        p.get("zone", "")))
            pixels.append(tuple((float(a), float(b)) for a, b in p["pixel_polygon"]))
            framed.append(float(p.get("in_frame", 1.0)))
        acquired = datetime.fromisoformat(doc["acquired"].replace("Z", "+00:00"))
        return ImageTruth(doc["site"], doc["date"], acquired, doc["image"], grid, cond, tuple(objects),
                          tuple(pixels), tuple(framed))
    except _MALFORMED as exc:
        raise InputError(str(path), f"malformed truth file ({type(exc).__name__}: {exc})") from None


def read_change_truth(path: str | Path) -> list[ChangePair]:
    """Read `changes.truth.json`: one ChangePair per consecutive pair of dates."""
    doc = _load(path)
    try:
        out = []
        for pair in doc["pairs"]:
            changes = []
            for c in pair["changes"]:
                changes.append(Change(kind=c["kind"], track_id=c["track_id"], type=c["type"], cls=c["class"],
                                      source=c["source"], zone=c.get("zone"), from_zone=c.get("from_zone"),
                                      to_zone=c.get("to_zone"), state=c.get("state"),
                                      from_state=c.get("from_state"), to_state=c.get("to_state")))
            out.append(ChangePair(pair["before"], pair["after"], tuple(changes)))
        return out
    except (KeyError, TypeError) as exc:
        raise InputError(str(path), f"malformed change truth ({type(exc).__name__}: {exc})") from None
