"""Layout and the date-by-date plan: no overlaps, sensible headings, stable tracks."""

from __future__ import annotations

import copy
import itertools

import pytest
from shapely.geometry import Polygon
from test_scenario import BASE  # tests/ is on sys.path (pytest prepend import mode)

from sitewatch import equipment
from sitewatch.scenarios import scenario_path
from sitewatch.simulate.layout import HEADING_JITTER_DEG, SPACING_M
from sitewatch.simulate.plan import plan_scenario
from sitewatch.simulate.random_scenario import random_scenario


def _plans():
    yield from plan_scenario(scenario_path())
    for seed in range(6):
        yield from plan_scenario(random_scenario(seed, kind="airbase", size_px=640, n_dates=3))
        yield from plan_scenario(random_scenario(seed, kind="naval_base", size_px=640, n_dates=3))


PLANS = list(_plans())


def _heading_gap(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize("plan", PLANS, ids=[p.site.name for p in PLANS])
def test_objects_stay_inside_their_zones_and_apart(plan):
    for d in plan.dates:
        objs = d.spec.objects
        polys = [Polygon(o.box.corners()) for o in objs]
        for o, p in zip(objs, polys):
            # heading jitter may tip a corner past the zone edge by a few tens of centimetres
            assert Polygon(plan.site.zone(o.zone).polygon).buffer(0.5).contains(p), (d.label, o.track_id)
        for (o1, p1), (o2, p2) in itertools.combinations(zip(objs, polys), 2):
            # the smaller of the two classes' spacings, less 1 m for rasterisation and heading jitter
            gap = min(SPACING_M[o1.cls], SPACING_M[o2.cls]) - 1.0
            if plan.model.name == "khmeimim" and "transport_apron" in (o1.zone, o2.zone):
                gap = min(gap, 10.0 - 1.0)  # the zone sets spacing_m: 10
            assert p1.distance(p2) >= gap, (d.label, o1.track_id, o2.track_id, p1.distance(p2))


@pytest.mark.parametrize("plan", PLANS, ids=[p.site.name for p in PLANS])
def test_track_ids_are_unique_and_untouched_items_keep_their_box(plan):
    for i, d in enumerate(plan.dates):
        ids = [o.track_id for o in d.spec.objects]
        assert len(ids) == len(set(ids))
        if i == 0:
            continue
        before = {o.track_id: o for o in plan.dates[i - 1].spec.objects}
        touched = {c.track_id for c in plan.changes[i - 1]}
        for o in d.spec.objects:
            if o.track_id in before and o.track_id not in touched:
                assert o == before[o.track_id]


@pytest.mark.parametrize("plan", PLANS, ids=[p.site.name for p in PLANS])
def test_footprints_come_from_the_catalogue(plan):
    for d in plan.dates:
        for o in d.spec.objects:
            assert (o.box.length, o.box.width) == equipment.get(o.type).footprint(o.state, o.wings_swept)


def test_aircraft_on_an_apron_face_the_same_way_and_ships_lie_along_the_berth():
    kh, ta = plan_scenario(scenario_path())
    apron = [o for o in kh.dates[0].spec.objects if o.zone == "tactical_apron"]
    # the apron runs 355 deg (rect turned -5 deg); noses face its front edge, towards the runway: 265 deg
    for o in apron:
        assert _heading_gap(o.box.heading_deg, 265.0) <= HEADING_JITTER_DEG["aircraft"] + 1e-9
    for o in ta.dates[0].spec.objects:  # berths run east-west
        assert min(_heading_gap(o.box.heading_deg, 90.0), _heading_gap(o.box.heading_deg, 270.0)) <= 0.5 + 1e-9


def test_facing_deg_sets_where_noses_point():
    doc = copy.deepcopy(BASE)
    doc["sites"][0]["zones"][0]["facing_deg"] = 90.0
    doc["sites"][0]["zones"][0]["rect"]["size"] = [60, 80]
    plan = plan_scenario(doc)[0]
    headings = [o.box.heading_deg for o in plan.dates[0].spec.objects if o.zone == "apron"]
    assert len(headings) == 3
    assert all(_heading_gap(h, 90.0) <= HEADING_JITTER_DEG["aircraft"] + 1e-9 for h in headings)


def test_swept_wings_give_the_swept_span():
    doc = copy.deepcopy(BASE)
    doc["sites"][0]["zones"][0]["inventory"] = [{"type": "Su-24M", "count": 2, "wings": "swept"}]
    plan = plan_scenario(doc)[0]
    boxes = [o.box for o in plan.dates[0].spec.objects if o.type == "Su-24M"]
    assert [(b.length, b.width) for b in boxes] == [(22.7, 10.4)] * 2  # catalogue: 22.7 m long, 10.4 m swept


def test_the_seed_moves_things_and_the_same_seed_does_not():
    a = plan_scenario(BASE, seed=1)[0].dates[0].spec.objects
    b = plan_scenario(BASE, seed=1)[0].dates[0].spec.objects
    c = plan_scenario(BASE, seed=2)[0].dates[0].spec.objects
    assert a == b
    assert [o.box for o in a] != [o.box for o in c]


def test_random_scenarios_are_reproducible_varied_and_plannable():
    assert random_scenario(3) == random_scenario(3)
    assert random_scenario(3) != random_scenario(4)
    crs = set()
    for seed in range(8):
        sc = random_scenario(seed, kind="airbase" if seed % 2 else "naval_base", size_px=512, n_dates=2)
        site = sc.sites[0]
        assert -50 <= site.lat <= 50 and site.extent_m == (256.0, 256.0)  # 512 px at 0.5 m
        plan = plan_scenario(sc)[0]
        crs.add(plan.site.grid.crs)
        assert plan.site.grid.width_px in (512, 513)  # snapping the origin may add a pixel
    assert len(crs) >= 4  # sites land in different UTM zones


def test_random_scenarios_hold_equipment_and_change():
    objects = changes = 0
    for seed in range(10):
        plan = plan_scenario(random_scenario(seed, size_px=768, n_dates=3))[0]
        objects += sum(len(d.spec.objects) for d in plan.dates)
        changes += sum(len(c) for c in plan.changes)
    assert objects >= 10 * 3 * 3  # at least a few objects per image on average
    assert changes >= 10  # and about one change per date pair or more


def test_ships_moor_against_their_pier_or_quay():
    # the occupancy raster is 1 m and keeps a cell off the zone edge: a ship lies within 2 m of its pier
    _, ta = plan_scenario(scenario_path())
    pier_of = {"berth_north_a": "pier_north", "berth_north_b": "pier_north", "berth_south": "pier_south"}
    for d in ta.dates:
        for o in d.spec.objects:
            pier = Polygon(ta.site.zone(pier_of[o.zone]).polygon)
            assert pier.distance(Polygon(o.box.corners())) <= 2.0, (d.label, o.track_id, o.zone)
    near = total = 0
    for seed in range(8):
        plan = plan_scenario(random_scenario(seed, kind="naval_base", size_px=768))[0]
        quay = Polygon(plan.site.zone("quay").polygon)
        for o in plan.dates[0].spec.objects:
            if o.zone == "berth_1":
                total += 1
                near += quay.distance(Polygon(o.box.corners())) <= 2.0
    assert total >= 4 and near == total  # at least a ship every other scene, and every one moored


def test_refitting_rotors_never_overlaps_a_neighbour_or_leaves_the_pad():
    # four bare Mi-8 fuselages (18.2 m x 2.5 m) on a pad with room for four rotor discs
    # (21.3 m + 6 m spacing each, 25.2 m long): placed by their bare size, 2.5 m + 6 m apart,
    # refitted rotors would overlap
    doc = copy.deepcopy(BASE)
    doc["sites"][0]["zones"][0] = {"name": "pad", "kind": "helipad", "rect": {"center": [0, 20], "size": [150, 32]},
                                   "inventory": [{"type": "Mi-8/17", "count": 4, "state": "rotor_removed"}]}
    doc["sites"][0]["dates"][1]["state_changes"] = [{"type": "Mi-8/17", "count": 4, "zone": "pad",
                                                     "to_state": "normal"}]
    plan = plan_scenario(doc)[0]
    refitted = [o for o in plan.dates[1].spec.objects if o.zone == "pad"]
    assert [o.state for o in refitted] == ["normal"] * 4
    pad = Polygon(plan.site.zone("pad").polygon).buffer(0.5)
    polys = [Polygon(o.box.corners()) for o in refitted]
    assert all(pad.contains(p) for p in polys)
    assert min(a.distance(b) for a, b in itertools.combinations(polys, 2)) >= SPACING_M["helicopter"] - 1.0


@pytest.mark.parametrize("gsd_m", [0.3, 0.5, 0.8])
@pytest.mark.parametrize("size_px", [512, 1024])
def test_random_scenes_plan_cleanly_at_each_gsd_and_size(gsd_m, size_px):
    for seed in range(4):
        for kind in ("airbase", "naval_base"):
            plan = plan_scenario(random_scenario(seed, kind=kind, gsd_m=gsd_m, size_px=size_px, n_dates=3))[0]
            assert plan.site.grid.gsd_m == gsd_m and plan.site.grid.width_px in (size_px, size_px + 1)
            test_objects_stay_inside_their_zones_and_apart(plan)
