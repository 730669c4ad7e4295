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


# A type is named in counts and headlines only when the detector gives it at least this
# probability (on validation scenes the type score tracks how often the type is right);
# below it the item is counted by its class, "type uncertain".
NAMED_TYPE_SCORE = 0.6
CLASS_WORDS = {"aircraft": "aircraft", "helicopter": "helicopter", "ship": "ship", "vehicle": "vehicle",
               "air_defence": "air-defence item"}


def type_label(det: Detection) -> str:
    """What a count table or a headline calls a detection: its type when the detector named
    one with confidence, else its class."""
    if det.type and det.type != UNKNOWN_TYPE and det.type_score >= NAMED_TYPE_SCORE:
        return det.type
    word = CLASS_WORDS.get(det.cls, det.cls)
    return f"{word} (type uncertain)" if det.type and det.type != UNKNOWN_TYPE else word


def plural(label: str, n: int) -> str:
    """A class word of `type_label` in the plural for n > 1 ("2 ships (type uncertain)");
    type names stay as the catalogue writes them."""
    for word in set(CLASS_WORDS.values()) - {"aircraft"}:
        if n > 1 and (label == word or label.startswith(word + " (")):
            return word + "s" + label[len(word):]
    return label


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
