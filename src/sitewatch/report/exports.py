"""Exports for GIS tools: GeoJSON (EPSG:4326), GeoPackage (site CRS), KML, CSV of counts.

Every file is written to a temporary name beside its target and renamed into place, so a
failure leaves no half-written output.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import fiona
from fiona.crs import CRS
from pyproj import Transformer

from sitewatch import equipment
from sitewatch.change.zones import ZoneCount
from sitewatch.domain import ChangeRegion, Detection, Event, Site, SourceReport

CLASS_COLOURS = {"aircraft": "#e6194b", "helicopter": "#f58231", "ship": "#4363d8", "vehicle": "#ffe119",
                 "air_defence": "#911eb4"}
EVENT_COLOURS = {"arrived": "#3cb44b", "departed": "#e6194b", "moved": "#4363d8", "state_changed": "#f58231"}


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """A temporary path beside target, renamed onto it when the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(target: str | Path, text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def _to_lonlat(site: Site):
    return Transformer.from_crs(site.grid.crs, "EPSG:4326", always_xy=True)


def _ring(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    pts = list(points)
    return pts + [pts[0]] if pts and pts[0] != pts[-1] else pts


def detection_props(d: Detection) -> dict:
    return {"class": d.cls, "type": d.type, "state": d.state, "score": round(d.score, 4),
            "type_score": round(d.type_score, 4), "state_score": round(d.state_score, 4),
            "presence_score": None if d.presence_score is None else round(d.presence_score, 4), "image_id": d.image_id,
            "heading_deg": round(d.box.heading_deg, 2), "length_m": round(d.box.length, 2),
            "width_m": round(d.box.width, 2), "model_id": d.model_id, "model_version": d.model_version,
            **equipment.describe_size(d.cls, d.type, d.box.length, d.box.width)}


def event_props(e: Event, pair: tuple[str, str] | None) -> dict:
    d = e.after if e.after is not None else e.before
    assert d is not None
    p = {"event_id": e.id, "event": e.kind, "class": e.cls, "type": e.type, "state": d.state,
         "score": round(e.confidence, 4), "zone": e.zone or "", "track_id": e.track_id, "note": e.note}
    if pair:
        p["before_image"], p["after_image"] = pair
    if e.before is not None and e.after is not None:
        p["state_before"] = e.before.state
    if e.grade is not None:
        p["grade"] = e.grade
        p["sources"] = [source_words(r) for r in e.sources]
    return p


def source_words(r: SourceReport) -> str:
    """One source's word on a finding, in one line: image, source, verdict, why."""
    return f"{r.image_id} ({r.source}): {r.verdict.replace('_', ' ')}" + (f", {r.note}" if r.note else "")


def _features(site: Site, detections: Sequence[Detection], events: Sequence[Event],
              pairs: dict[str, tuple[str, str]], regions: Sequence[ChangeRegion], lonlat: bool) -> dict[str, list]:
    tr = _to_lonlat(site) if lonlat else None

    def ring(pts):
        pts = _ring(pts)
        if tr is None:
            return [[x, y] for x, y in pts]
        xs, ys = tr.transform([p[0] for p in pts], [p[1] for p in pts])
        return [[round(x, 9), round(y, 9)] for x, y in zip(xs, ys)]

    def feat(poly, props):
        return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring(poly)]}, "properties": props}

    out = {"detections": [feat(d.box.corners(), {"layer": "detection", **detection_props(d)}) for d in detections],
           "events": [], "change_regions": []}
    for e in events:
        d = e.after if e.after is not None else e.before
        assert d is not None  # an event has a detection on at least one side
        out["events"].append(feat(d.box.corners(), {"layer": "event", **event_props(e, pairs.get(e.id))}))
    for r in regions:
        out["change_regions"].append(feat(r.polygon, {"layer": "change_region", "region_id": r.id,
                                                      "area_m2": round(r.area_m2, 1), "score": round(r.score, 4),
                                                      "zone": r.zone or "", "before_image": r.before_image,
                                                      "after_image": r.after_image}))
    return out


def write_geojson(path: str | Path, site: Site, detections: Sequence[Detection], events: Sequence[Event],
                  pairs: dict[str, tuple[str, str]], regions: Sequence[ChangeRegion]) -> Path:
    """One FeatureCollection in EPSG:4326 (lon, lat) with a `layer` property per feature."""
    layers = _features(site, detections, events, pairs, regions, lonlat=True)
    fc = {"type": "FeatureCollection", "crs_note": "EPSG:4326 (lon, lat), RFC 7946", "site": site.name,
          "site_crs": site.grid.crs,
          "features": layers["detections"] + layers["events"] + layers["change_regions"]}
    return write_text_atomic(path, json.dumps(fc, indent=1))


_GPKG_SCHEMAS: dict[str, dict[str, str]] = {
    "detections": {"layer": "str", "class": "str", "type": "str", "state": "str", "score": "float",
                   "type_score": "float", "state_score": "float", "presence_score": "float", "image_id": "str",
                   "heading_deg": "float",
                   "length_m": "float", "width_m": "float", "model_id": "str", "model_version": "str",
                   "role": "str", "size_matches": "str", "size_roles": "str"},
    "events": {"layer": "str", "event_id": "str", "event": "str", "class": "str", "type": "str", "state": "str",
               "score": "float", "zone": "str", "track_id": "str", "note": "str", "before_image": "str",
               "after_image": "str", "state_before": "str", "grade": "str", "sources": "str"},
    "change_regions": {"layer": "str", "region_id": "str", "area_m2": "float", "score": "float", "zone": "str",
                       "before_image": "str", "after_image": "str"},
}


def _field(value: Any, kind: str) -> Any:
    """A property as a GeoPackage field holds it: lists joined by commas, None as '' in text."""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return ("" if kind == "str" else None) if value is None else value


def write_geopackage(path: str | Path, site: Site, detections: Sequence[Detection], events: Sequence[Event],
                     pairs: dict[str, tuple[str, str]], regions: Sequence[ChangeRegion]) -> Path:
    """A GeoPackage in the site CRS with layers detections, events and change_regions."""
    layers = _features(site, detections, events, pairs, regions, lonlat=False)
    with atomic_path(path) as tmp:
        for name, feats in layers.items():
            schema: dict[str, Any] = {"geometry": "Polygon", "properties": _GPKG_SCHEMAS[name]}
            with fiona.open(tmp, "w", driver="GPKG", layer=name, crs=CRS.from_user_input(site.grid.crs),
                            schema=schema) as dst:
                for f in feats:
                    props = {k: _field(f["properties"].get(k), t) for k, t in schema["properties"].items()}
                    dst.write({"geometry": f["geometry"], "properties": props})
    return Path(path)


def write_kml(path: str | Path, site: Site, detections: Sequence[Detection], events: Sequence[Event],
              pairs: dict[str, tuple[str, str]], regions: Sequence[ChangeRegion]) -> Path:
    """KML for Google Earth: folders for events, change regions and detections of the last look."""
    layers = _features(site, detections, events, pairs, regions, lonlat=True)

    def kml_colour(hex_rgb: str, alpha: str = "ff") -> str:
        r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
        return f"{alpha}{b}{g}{r}"

    buf = io.StringIO()
    buf.write('<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2"><Document>\n')
    buf.write(f"<name>{escape(site.name)}</name>\n")
    for name, feats in (("Events", layers["events"]), ("Change regions", layers["change_regions"]),
                        ("Detections", layers["detections"])):
        buf.write(f"<Folder><name>{name}</name>\n")
        for f in feats:
            p = f["properties"]
            colour = EVENT_COLOURS.get(p.get("event", ""), CLASS_COLOURS.get(p.get("class", ""), "#ffffff"))
            title = p.get("note") or p.get("region_id") or f"{p.get('type')} ({p.get('state')})"
            desc = "; ".join(f"{k}={v}" for k, v in p.items() if k != "layer")
            coords = " ".join(f"{x},{y},0" for x, y in f["geometry"]["coordinates"][0])
            buf.write(f"<Placemark><name>{escape(str(title))}</name><description>{escape(desc)}</description>"
                      f"<Style><LineStyle><color>{kml_colour(colour)}</color><width>2</width></LineStyle>"
                      f"<PolyStyle><color>{kml_colour(colour, '40')}</color></PolyStyle></Style>"
                      f"<Polygon><outerBoundaryIs><LinearRing><coordinates>{coords}</coordinates></LinearRing>"
                      f"</outerBoundaryIs></Polygon></Placemark>\n")
        buf.write("</Folder>\n")
    buf.write("</Document></kml>\n")
    return write_text_atomic(path, buf.getvalue())


def write_counts_csv(path: str | Path, counts: Sequence[ZoneCount], dates: dict[str, str]) -> Path:
    """Counts per date, zone and type. dates maps image id -> ISO date."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image_id", "date", "zone", "type", "count"])
    for c in counts:
        w.writerow([c.image_id, dates.get(c.image_id, ""), c.zone, c.type, c.count])
    return write_text_atomic(path, buf.getvalue())
