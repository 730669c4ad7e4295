"""Label files: YOLO-OBB and DOTA text labels, with a class map onto our classes.

YOLO-OBB: one object per line, `class_index x1 y1 x2 y2 x3 y3 x4 y4`, corners normalised
to 0..1 by the image width and height.
DOTA: `x1 y1 x2 y2 x3 y3 x4 y4 class_name difficult`, corners in pixels; header lines
(`imagesource:`, `gsd:`) are allowed.

Both give quadrilaterals without a nose, so headings read from them are folded into
[0, 180) and flagged as undirected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyproj import Transformer

from sitewatch.detect import geometry
from sitewatch.domain import CLASSES, UNKNOWN_TYPE
from sitewatch.errors import InputError
from sitewatch.geo.grid import utm_crs
from sitewatch.textfiles import read_json, read_text

# DOTA v1 class names (and the YOLO-OBB indices of dota8.yaml) onto ours.
DOTA_CLASS_MAP: dict[str, str] = {
    "plane": "aircraft",
    "helicopter": "helicopter",
    "ship": "ship",
    "large-vehicle": "vehicle",
    "small-vehicle": "vehicle",
    "large vehicle": "vehicle",
    "small vehicle": "vehicle",
}
DOTA_INDEX_NAMES: dict[int, str] = {0: "plane", 1: "ship", 9: "large-vehicle", 10: "small-vehicle", 11: "helicopter"}


@dataclass(frozen=True)
class Labelled:
    """One object, predicted or true, in a frame shared by both sides (metres or pixels)."""

    cls: str
    box: tuple[float, float, float, float, float]
    type: str = UNKNOWN_TYPE
    state: str | None = None
    score: float = 1.0
    directed: bool = True
    difficult: bool = False
    # A prediction's oriented (length, width) where `box` was mapped to an axis-aligned one.
    oriented_size: tuple[float, float] | None = None


@dataclass(frozen=True)
class LabelledBox:
    """One label in pixel space (col, row, length px, width px, heading from image up)."""

    cls: str
    box: tuple[float, float, float, float, float]
    type: str = "unknown"
    state: str | None = None  # None: the label does not say
    directed: bool = False  # True when the heading gives the nose direction
    difficult: bool = False
    score: float = 1.0  # predictions written with a confidence (YOLO-OBB save_conf)


def parse_class_map(text: str | None) -> dict[str, str]:
    """'plane=aircraft,ship=ship,0=aircraft' -> dict; None gives the DOTA map."""
    if not text:
        out = dict(DOTA_CLASS_MAP)
        out.update({str(i): DOTA_CLASS_MAP[n] for i, n in DOTA_INDEX_NAMES.items()})
        return out
    out = {}
    for item in text.split(","):
        if "=" not in item:
            raise InputError("--class-map", f"expected name=class pairs, got {item!r}")
        src, dst = (s.strip() for s in item.split("=", 1))
        if dst not in CLASSES:
            raise InputError("--class-map", f"{dst!r} is not one of our classes ({', '.join(CLASSES)})")
        out[src] = dst
    return out


def _check_finite(corners: np.ndarray, path: Path, line: int) -> None:
    if not np.isfinite(corners).all():
        raise InputError(str(path), f"line {line}: corners must be finite numbers, got {corners.ravel().tolist()}")


def read_yolo_obb(path: Path, width: int, height: int, class_map: dict[str, str]) -> list[LabelledBox]:
    """Labels of one YOLO-OBB file; classes absent from the map are skipped."""
    out = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (9, 10):
            raise InputError(str(path), f"line {n}: expected 9 fields (class, 4 corners) or 10 (and a score), "
                                        f"got {len(parts)}")
        try:
            idx = str(int(float(parts[0])))
            with np.errstate(over="ignore"):  # 1e308 x width: refused as not finite below
                pts = np.array([float(v) for v in parts[1:9]]).reshape(4, 2) * (width, height)
            score = float(parts[9]) if len(parts) == 10 else 1.0
        except (ValueError, OverflowError) as exc:  # int(float('inf')) overflows
            raise InputError(str(path), f"line {n}: {exc}") from exc
        _check_finite(pts, path, n)
        cls = class_map.get(idx)
        if cls is None:
            continue
        out.append(LabelledBox(cls, tuple(geometry.box_from_corners(pts[None], y_down=True)[0]), score=score))
    return out


def read_dota(path: Path, class_map: dict[str, str]) -> list[LabelledBox]:
    """Labels of one DOTA text file; classes absent from the map are skipped."""
    out = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        parts = line.split()
        if len(parts) < 9 or parts[0].endswith(":"):
            continue  # header lines: imagesource:, gsd:
        try:
            pts = np.array([float(v) for v in parts[:8]]).reshape(4, 2)
        except ValueError as exc:
            raise InputError(str(path), f"line {n}: {exc}") from exc
        _check_finite(pts, path, n)
        cls = class_map.get(parts[8])
        if cls is None:
            continue
        difficult = len(parts) > 9 and parts[9] == "1"
        out.append(LabelledBox(cls, tuple(geometry.box_from_corners(pts[None], y_down=True)[0]), difficult=difficult))
    return out


def looks_like_dota(path: Path) -> bool:
    """DOTA lines end in a class name; YOLO-OBB lines start with an index and hold only
    finite numbers (a DOTA class named 'inf' or 'nan' parses as a float, never a finite one)."""
    for line in read_text(path).splitlines():
        parts = line.split()
        if len(parts) >= 9 and not parts[0].endswith(":"):
            try:
                return not math.isfinite(float(parts[8]))
            except ValueError:
                return True
    return False


# ---------------------------------------------------------------- GeoJSON


def _geojson_doc(path: Path) -> dict:
    doc = read_json(path)
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InputError(str(path), "expected a GeoJSON FeatureCollection")
    if not isinstance(doc.get("features"), list) or not all(isinstance(f, dict) for f in doc["features"]):
        raise InputError(str(path), "features: must be a list of Feature objects")
    return doc


def geojson_frame(path: Path) -> str:
    """The metric CRS objects of a GeoJSON file are best compared in: its `site_crs`, or the
    UTM zone of its first feature."""
    doc = _geojson_doc(path)
    if doc.get("site_crs"):
        return str(doc["site_crs"])
    for f in doc["features"]:
        lon, lat = np.asarray(f["geometry"]["coordinates"][0], float).mean(axis=0)[:2]
        return utm_crs(float(lat), float(lon))
    return "EPSG:32631"


# what reading a feature's numbers and lists can raise on a malformed file
_MALFORMED = (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError)


def read_geojson_objects(path: Path, crs: str):
    """Objects of a detection or truth GeoJSON as `Labelled` in `crs` (metres).

    Simulator truth (a `grid` and per-feature `pixel_polygon`) is placed where the image
    shows each object, misregistration included, since that is what a detector sees.
    Otherwise the site-CRS box (`center_site_crs`, `length_m`, `width_m`, `heading_deg`) is
    used when the file's `site_crs` is `crs`, else the EPSG:4326 polygon (RFC 7946) is
    projected, with `heading_deg` from the properties when present.
    """
    doc = _geojson_doc(path)
    same_crs = str(doc.get("site_crs", "")) == crs
    grid = doc.get("grid") if same_crs else None
    try:
        turn = float(((doc.get("conditions") or {}).get("misregistration") or {}).get("rotation_deg", 0.0))
    except _MALFORMED as exc:
        raise InputError(str(path), f"conditions.misregistration.rotation_deg: not a number ({exc})") from None
    to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    out = []
    for n, f in enumerate(doc["features"]):
        p = f.get("properties") or {}
        if not isinstance(p, dict):
            raise InputError(str(path), f"feature {n}: properties must be an object")
        cls = p.get("class")
        if cls not in CLASSES:
            raise InputError(str(path), f"feature {n}: class {cls!r} is not one of {', '.join(CLASSES)}")
        try:
            box = _feature_box(f, p, grid, same_crs, turn, to_crs, str(path), n)
            out.append(Labelled(cls, box, str(p.get("type", "unknown")), p.get("state"), float(p.get("score", 1.0)),
                                p.get("heading_deg") is not None, bool(p.get("difficult", False))))
        except _MALFORMED as exc:
            raise InputError(str(path), f"feature {n}: malformed ({type(exc).__name__}: {exc})") from None
    return out


def _feature_box(f: dict, p: dict, grid, same_crs: bool, turn: float, to_crs: Transformer, path: str,
                 n: int) -> tuple[float, float, float, float, float]:
    """The feature's box (cx, cy, length, width, heading) in the target CRS."""
    heading = p.get("heading_deg")
    if grid and "pixel_polygon" in p and "length_m" in p and heading is not None:
        px = np.asarray(p["pixel_polygon"], float)[:4]
        gsd = float(grid["gsd_m"])
        cx = float(grid["origin_x"]) + px[:, 0].mean() * gsd
        cy = float(grid["origin_y"]) - px[:, 1].mean() * gsd
        box = (cx, cy, float(p["length_m"]), float(p["width_m"]), (float(heading) + turn) % 360.0)
    elif same_crs and "center_site_crs" in p and "length_m" in p and heading is not None:
        cx, cy = p["center_site_crs"]
        box = (float(cx), float(cy), float(p["length_m"]), float(p["width_m"]), float(heading))
    else:
        try:
            ring = np.asarray(f["geometry"]["coordinates"][0], float)[:4, :2]
            x, y = to_crs.transform(ring[:, 0], ring[:, 1])
        except _MALFORMED as exc:
            raise InputError(path, f"feature {n}: expected a Polygon geometry") from exc
        b = geometry.box_from_corners(np.column_stack([x, y])[None])[0]
        if heading is not None:  # the polygon gives the axis, the property the nose
            b[4] = float(heading) % 360.0
        box = (float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(b[4]))
    if not all(math.isfinite(v) for v in box):
        raise InputError(path, f"feature {n}: its box {tuple(round(v, 3) for v in box)} is not finite")
    return box


def from_labelled_boxes(found: list[LabelledBox]):
    """Pixel labels as `Labelled` in a y-up frame (rows negated, headings kept),
    the frame the geometry functions' corners assume."""
    return [Labelled(b.cls, (b.box[0], -b.box[1], b.box[2], b.box[3], b.box[4]), b.type, b.state, b.score,
                     b.directed, b.difficult) for b in found]
