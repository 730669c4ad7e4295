"""Detections a site's declared zones rule out: a ship standing on a runway, an apron or
among buildings; an aircraft, helicopter, vehicle or launcher floating on open water.

Only a box centre well inside such a zone counts (EDGE_M), so an item at a quay edge or a
runway shoulder is never dropped for a few metres of misregistration or box jitter; items
outside every declared zone are kept. Sites without zones (a bare GeoTIFF) keep everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from shapely.geometry import Point, Polygon

from sitewatch.domain import Detection, Site, Zone

LAND_ZONE_KINDS = frozenset({"runway", "taxiway", "apron", "helipad", "air_defence_site", "parking",
                             "building_area", "shelter_area", "storage"})
WATER_ZONE_KINDS = frozenset({"water"})
# Misregistration between dates (a few pixels) plus box jitter stays well under this.
EDGE_M = 10.0


@lru_cache(maxsize=256)
def _core(zone: Zone) -> Polygon:
    return Polygon(zone.polygon).buffer(-EDGE_M)


def ruled_out(site: Site, det: Detection) -> str | None:
    """Why the site's zones rule the detection out, or None."""
    forbidden = LAND_ZONE_KINDS if det.cls == "ship" else WATER_ZONE_KINDS
    p = Point(det.box.cx, det.box.cy)
    for z in site.zones:
        if z.kind in forbidden and _core(z).contains(p):
            return f"{det.cls} on {z.kind} ({z.name})"
    return None


def plausible(site: Site, dets: Sequence[Detection]) -> tuple[list[Detection], list[str]]:
    """(the detections kept, a reason per detection dropped)."""
    kept, dropped = [], []
    for d in dets:
        why = ruled_out(site, d)
        if why is None:
            kept.append(d)
        else:
            dropped.append(why)
    return kept, dropped
