"""Detections as GeoJSON: RFC 7946 (EPSG:4326, lon/lat), with the site-CRS box beside it.

Top level: `crs_note`, `site_crs`, `image`, `model_id`, `model_version`, `model_gsd_m`.
Per feature: the footprint polygon in lon/lat (counter-clockwise, closed) and properties
`class`, `type`, `state`, `score`, `type_score`, `state_score`, `presence_score` (the presence
check's own answer, which `score` mixes in; null where the model did not check), `heading_deg`, `length_m`,
`width_m`, `center_site_crs`, `site_crs_polygon`, `site_crs`, `image_id`, `pixel_window`
([col_off, row_off, width, height] in the source image), `model_id`, `model_version`, and what
the catalogue says of the item (`equipment.describe_size`): `role` (the named type's; for
`unknown`, the role all types of its size share, else null), `size_matches` (the types of
either catalogue table its footprint fits, best first) and `size_roles` (their roles).
"""

from __future__ import annotations

import json
from pathlib import Path

from pyproj import Transformer

from sitewatch import equipment
from sitewatch.domain import Detection

_DEC_LONLAT = 9
_DEC_M = 3


def to_feature_collection(detections: list[Detection], site_crs: str, image: str = "", model_gsd_m: float | None = None,
                          extra: dict | None = None) -> dict:
    to_ll = Transformer.from_crs(site_crs, "EPSG:4326", always_xy=True)
    features = []
    for d in detections:
        ring = d.box.corners()
        lon, lat = to_ll.transform([p[0] for p in ring], [p[1] for p in ring])
        ll = [[round(a, _DEC_LONLAT), round(b, _DEC_LONLAT)] for a, b in zip(lon, lat)]
        w = d.window
        features.append({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ll + [ll[0]]]},
            "properties": {
                "class": d.cls, "type": d.type, "state": d.state,
                "score": round(d.score, 4), "type_score": round(d.type_score, 4),
                "state_score": round(d.state_score, 4),
                "presence_score": None if d.presence_score is None else round(d.presence_score, 4),
                "heading_deg": round(d.box.heading_deg, 2),
                "length_m": round(d.box.length, 2), "width_m": round(d.box.width, 2),
                "center_site_crs": [round(d.box.cx, _DEC_M), round(d.box.cy, _DEC_M)],
                "site_crs_polygon": [[round(x, _DEC_M), round(y, _DEC_M)] for x, y in ring],
                "site_crs": site_crs,
                "image_id": d.image_id,
                "pixel_window": None if w is None else [w.col_off, w.row_off, w.width, w.height],
                "model_id": d.model_id, "model_version": d.model_version,
                **equipment.describe_size(d.cls, d.type, d.box.length, d.box.width),
            },
        })
    doc = {
        "type": "FeatureCollection",
        "crs_note": "geometry in EPSG:4326 (lon, lat) per RFC 7946; site_crs_polygon in site_crs metres",
        "site_crs": site_crs,
        "image": image,
        "model_id": detections[0].model_id if detections else None,
        "model_version": detections[0].model_version if detections else None,
        "model_gsd_m": model_gsd_m,
        "features": features,
    }
    if extra:
        doc.update(extra)
    return doc


def write(path: Path, doc: dict) -> None:
    Path(path).write_text(json.dumps(doc, indent=1))
