"""Detections a site's zones rule out (sitewatch.detect.plausible): a ship on a runway,
land equipment on open water; never an item near a zone's edge or outside every zone."""

from __future__ import annotations

from sitewatch.detect.plausible import EDGE_M, plausible, ruled_out
from sitewatch.domain import Detection, OrientedBox, Site, SiteGrid, Zone

GRID = SiteGrid("EPSG:32637", 500000.0, 3_900_000.0, 0.5, 4000, 4000)


def _rect(name, kind, x0, y0, x1, y1):
    return Zone(name, kind, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)))


# A runway 60 m wide, a quay, and the harbour water beside it.
SITE = Site("port-and-field", "naval_base", 35.0, 35.9, GRID, (
    _rect("runway", "runway", 500100, 3_899_000, 500160, 3_899_900),
    _rect("quay", "quay", 501000, 3_899_000, 501020, 3_899_900),
    _rect("harbour", "water", 500500, 3_899_000, 501000, 3_899_900),
))


def _det(cls, typ, x, y):
    return Detection(OrientedBox(x, y, 20.0, 6.0, 0.0), cls, typ, "normal", 0.9, 0.9, 0.9, "img", None, "m", "1")


def test_ships_on_land_and_land_items_on_water_are_ruled_out():
    ship_on_runway = _det("ship", "Kilo submarine", 500130, 3_899_500)
    truck_afloat = _det("vehicle", "truck", 500700, 3_899_500)
    assert ruled_out(SITE, ship_on_runway) == "ship on runway (runway)"
    assert ruled_out(SITE, truck_afloat) == "vehicle on water (harbour)"
    kept, dropped = plausible(SITE, [ship_on_runway, truck_afloat])
    assert kept == [] and len(dropped) == 2


def test_plausible_items_edges_and_unzoned_ground_are_kept():
    keep = [
        _det("ship", "Kilo submarine", 500700, 3_899_500),  # on the water
        _det("aircraft", "Su-24M", 500130, 3_899_500),  # on the runway
        _det("vehicle", "truck", 501010, 3_899_500),  # on the quay
        _det("vehicle", "truck", 501000 - EDGE_M / 2, 3_899_500),  # at the water's edge: misregistration
        _det("ship", "Kilo submarine", 500100 + EDGE_M / 2, 3_899_500),  # at the runway's edge
        _det("ship", "Dubna tanker", 502000, 3_899_500),  # outside every zone
    ]
    assert plausible(SITE, keep) == (keep, [])
    bare = Site("bare", "airbase", 35.0, 35.9, GRID, ())
    assert plausible(bare, keep) == (keep, [])
