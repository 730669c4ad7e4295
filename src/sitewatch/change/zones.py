"""Zones: which zone an item stands in, counts per zone and type per date, and occupancy
changes per zone between consecutive dates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from shapely.geometry import Point, Polygon
from shapely.prepared import prep

from sitewatch.domain import UNKNOWN_TYPE, Detection, Site, Zone

OUTSIDE = "(no zone)"


@lru_cache(maxsize=256)
def _prepared(zone: Zone):
    return prep(Polygon(zone.polygon))


def zone_name_at(site: Site, x: float, y: float) -> str | None:
    """The first zone of the site containing the point, or None."""
    p = Point(x, y)
    for z in site.zones:
        if len(z.polygon) >= 3 and _prepared(z).contains(p):
            return z.name
    return None


def zone_of(site: Site, det: Detection | None) -> str | None:
    if det is None:
        return None
    return zone_name_at(site, det.box.cx, det.box.cy)


def type_label(det: Detection) -> str:
    """The type if the detector named one, else the class: what a count table shows."""
    return det.type if det.type and det.type != UNKNOWN_TYPE else det.cls


@dataclass(frozen=True)
class ZoneCount:
    image_id: str
    zone: str
    type: str
    count: int


def zone_counts(site: Site, image_id: str, detections: Sequence[Detection]) -> list[ZoneCount]:
    """Counts per zone and type on one date (items outside every zone count as OUTSIDE)."""
    c: Counter[tuple[str, str]] = Counter()
    for d in detections:
        c[(zone_of(site, d) or OUTSIDE, type_label(d))] += 1
    return [ZoneCount(image_id, z, t, n) for (z, t), n in sorted(c.items())]


@dataclass(frozen=True)
class OccupancyChange:
    before_image: str
    after_image: str
    zone: str
    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before


def occupancy_changes(b_img: str, a_img: str, before: Sequence[ZoneCount],
                      after: Sequence[ZoneCount]) -> list[OccupancyChange]:
    """Items per zone on two dates, for every zone occupied on either date, in zone order."""
    nb: Counter[str] = Counter()
    na: Counter[str] = Counter()
    for zc in before:
        nb[zc.zone] += zc.count
    for zc in after:
        na[zc.zone] += zc.count
    zones = sorted(set(nb) | set(na))
    return [OccupancyChange(b_img, a_img, z, nb[z], na[z]) for z in zones]
