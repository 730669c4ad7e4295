"""The renderer's contract: determinism, a ground that belongs to the site and not the
date, misregistration as specified, shadows from the date's sun, instance masks, and clear
refusals of specs it cannot draw truthfully."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest

from sitewatch.domain import OrientedBox, Site, SiteGrid, Zone
from sitewatch.errors import InputError
from sitewatch.simulate.render import render_instance_masks, render_scene
from sitewatch.simulate.render.ground import render_ground
from sitewatch.simulate.scene import Conditions, PlacedObject, SceneSpec

GSD = 0.5
SIZE = 256  # 128 m square: room for a runway edge, an apron and three objects
OX, OY = 600_000.0, 4_000_000.0
CLEAN = Conditions(sun_azimuth_deg=135.0, sun_elevation_deg=90.0)  # overhead sun, no nuisance


def _rect(x0, y0, x1, y1):
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def site(seed_kind: str = "airbase") -> Site:
    grid = SiteGrid("EPSG:32636", OX, OY, GSD, SIZE, SIZE)
    zones = (Zone("apron", "apron", _rect(OX + 20, OY - 120, OX + 96, OY - 10)),
             Zone("runway", "runway", _rect(OX - 5, OY - 140, OX + 15, OY + 5)),
             Zone("offices", "building_area", _rect(OX + 98, OY - 126, OX + 127, OY - 60)))
    return Site("t", seed_kind, 35.0, 36.0, grid, zones)


def objects() -> tuple[PlacedObject, ...]:
    return (PlacedObject("a", "Su-35", "aircraft", "normal", OrientedBox(OX + 50, OY - 40, 21.9, 15.3, 30.0),
                         appearance_seed=5),
            PlacedObject("b", "truck", "vehicle", "normal", OrientedBox(OX + 80, OY - 95, 8.0, 2.5, 200.0),
                         appearance_seed=6),
            PlacedObject("c", "Mi-8/17", "helicopter", "rotor_removed", OrientedBox(OX + 75, OY - 40, 18.2, 2.5, 95.0),
                         appearance_seed=7))


def spec(**cond) -> SceneSpec:
    return SceneSpec(site(), objects(), replace(CLEAN, **cond), site_seed=21, date_seed=4)


ALL_NUISANCES = dict(sun_azimuth_deg=150.0, sun_elevation_deg=30.0, haze=0.3, colour_balance=(1.05, 1.0, 0.93),
                     noise_sigma=3.0, blur_sigma_px=0.8, shift_px=(2.3, -1.7), rotation_deg=0.4, cloud_cover=0.2)


def test_same_spec_gives_byte_identical_images():
    s = spec(**ALL_NUISANCES)
    a, b = render_scene(s), render_scene(s)
    assert a.dtype == np.uint8 and a.shape == (SIZE, SIZE, 3)
    assert a.tobytes() == b.tobytes()


def test_ground_depends_on_site_seed_only():
    date1 = SceneSpec(site(), (), CLEAN, site_seed=21, date_seed=1)
    date2 = SceneSpec(site(), objects(), replace(CLEAN, **ALL_NUISANCES), site_seed=21, date_seed=99)
    g1, s1 = render_ground(date1)
    g2, s2 = render_ground(date2)
    assert np.array_equal(g1, g2)
    assert len(s1) == len(s2) > 0  # the building area stands up and casts shadows
    other, _ = render_ground(replace(date1, site_seed=22))
    assert np.abs(other - g1).mean() > 2.0  # another seed: another palette and layout of wear


def test_dates_without_nuisance_differ_only_by_date_seed_driven_noise():
    # Same sun, no noise, different date seeds: nothing in the picture may change.
    a = render_scene(replace(spec(sun_elevation_deg=40.0), date_seed=1))
    b = render_scene(replace(spec(sun_elevation_deg=40.0), date_seed=2))
    assert np.array_equal(a, b)
    # With noise the date seed changes the pattern, and only by the noise's size.
    n1 = render_scene(replace(spec(noise_sigma=2.0), date_seed=1)).astype(int)
    n2 = render_scene(replace(spec(noise_sigma=2.0), date_seed=2)).astype(int)
    assert not np.array_equal(n1, n2)
    assert np.abs(n1 - n2).mean() < 4.0  # two draws of 2 DN noise differ by ~2.3 DN on average


def test_appearance_is_fixed_by_appearance_seed():
    base = spec()
    masks = render_instance_masks(base)
    a = render_scene(base)
    repainted = replace(base, objects=tuple(replace(o, appearance_seed=o.appearance_seed + 1000) for o in base.objects))
    b = render_scene(repainted)
    inside = cv2.dilate((masks > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # + anti-aliased rim
    assert np.array_equal(a[~inside], b[~inside])  # the ground is untouched
    assert np.abs(a[inside].astype(int) - b[inside].astype(int)).mean() > 3.0  # another paint scheme


def _centroid(img: np.ndarray, ground: np.ndarray) -> tuple[float, float]:
    w = np.abs(img.astype(float) - ground.astype(float)).sum(axis=2)
    rows, cols = np.indices(w.shape)
    return float((cols * w).sum() / w.sum()) + 0.5, float((rows * w).sum() / w.sum()) + 0.5


def test_misregistration_moves_content_as_specified():
    """A point at true pixel p appears at R(p - c) + c + shift: c the image centre, R a
    clockwise turn by rotation_deg, shift (dx east, dy south). Checked on the centroid of
    one object placed well off-centre, so the rotation moves it by several pixels."""
    obj = (PlacedObject("a", "Su-25", "aircraft", "normal", OrientedBox(OX + 25, OY - 30, 15.4, 14.5, 0.0),
                        appearance_seed=1),)
    shift, rot = (3.4, -2.2), 2.5
    true = SceneSpec(site(), obj, CLEAN, site_seed=21)
    moved = replace(true, conditions=replace(CLEAN, shift_px=shift, rotation_deg=rot))
    p = np.array(_centroid(render_scene(true), render_scene(replace(true, objects=()))))
    q = np.array(_centroid(render_scene(moved), render_scene(replace(moved, objects=()))))
    c = np.array([SIZE / 2, SIZE / 2])
    t = math.radians(rot)
    R = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])  # clockwise on a y-down image
    expected = R @ (p - c) + c + np.array(shift)
    assert np.abs(expected - p).max() > 5.0  # the test can tell a right warp from none
    assert np.abs(q - expected).max() < 0.25  # a quarter pixel: bilinear resampling of one object


def test_shadow_falls_away_from_the_sun_with_length_height_over_tan_elevation():
    """An S-400 launcher with its tubes erect (11.8 m) in an east sun at 45 degrees casts
    a shadow reaching 11.8 m west of the tubes, and none to the east."""
    box = OrientedBox(OX + 64, OY - 64, 13.5, 3.2, 0.0)
    obj = (PlacedObject("l", "S-400 launcher", "air_defence", "erect", box, appearance_seed=2),)
    cond = replace(CLEAN, sun_azimuth_deg=90.0, sun_elevation_deg=45.0)
    s = SceneSpec(site(), obj, cond, site_seed=21)
    img = render_scene(s).astype(float).sum(axis=2)
    ground = render_scene(replace(s, objects=())).astype(float).sum(axis=2)
    masks = render_instance_masks(s)
    dark = (img < 0.75 * ground) & (masks == 0)  # shadows remove about half the light
    rows, cols = np.nonzero(dark)
    x = OX + (cols + 0.5) * GSD
    tube_west_edge = box.cx - 3.2 * 0.27 * 0.55 - 3.2 * 0.27 / 2  # vehicles.launcher_parts: 2 x 2 tube ends
    reach = tube_west_edge - x.min()
    assert abs(reach - 11.8) < 1.0 + GSD, f"shadow reaches {reach:.2f} m west of the tubes"
    assert x.max() < box.cx + box.width / 2 + GSD  # nothing east of the vehicle
    overhead = render_scene(replace(s, conditions=CLEAN)).astype(float).sum(axis=2)
    assert not ((overhead < 0.75 * ground) & (masks == 0)).any()  # overhead sun: no shadow beside it


def test_instance_masks_label_each_object_inside_its_box_before_misregistration():
    s = spec()
    masks = render_instance_masks(s)
    assert masks.dtype == np.int32
    assert set(np.unique(masks)) == {0, 1, 2, 3}
    g = s.site.grid
    for i, o in enumerate(s.objects, start=1):
        rows, cols = np.nonzero(masks == i)
        x = g.origin_x + (cols + 0.5) * GSD - o.box.cx
        y = g.origin_y - (rows + 0.5) * GSD - o.box.cy
        h = math.radians(o.box.heading_deg)
        u = x * math.sin(h) + y * math.cos(h)
        v = -x * math.cos(h) + y * math.sin(h)
        assert np.abs(u).max() <= o.box.length / 2 + GSD  # one pixel of rasterisation
        assert np.abs(v).max() <= o.box.width / 2 + GSD
        assert len(rows) > 0.3 * o.box.area / GSD ** 2  # a planform, not a speck
    shifted = replace(s, conditions=replace(CLEAN, shift_px=(5.0, 5.0), rotation_deg=1.0))
    assert np.array_equal(render_instance_masks(shifted), masks)


def test_zone_free_naval_site_is_open_water_and_airbase_is_paved_or_open_ground():
    grid = SiteGrid("EPSG:32636", OX, OY, GSD, 128, 128)
    for seed in range(6):  # a few ground draws
        sea = render_scene(SceneSpec(Site("s", "naval_base", 35, 36, grid), (), CLEAN, site_seed=seed)).astype(float)
        land = render_scene(SceneSpec(Site("l", "airbase", 35, 36, grid), (), CLEAN, site_seed=seed)).astype(float)
        assert sea.mean() < 120 and sea[..., 2].mean() > sea[..., 0].mean()  # dark, blue-green water
        assert land[..., 0].mean() >= land[..., 2].mean() - 10  # grey or earth-toned, never water
        assert land.mean() > 55  # asphalt at its darkest is still far above deep water's blue-black


@pytest.mark.parametrize("field,value", [("haze", 1.5), ("cloud_cover", -0.1), ("sun_elevation_deg", 0.0),
                                         ("noise_sigma", -1.0), ("colour_balance", (1.0, 0.0, 1.0))])
def test_conditions_out_of_range_are_refused_naming_the_field(field, value):
    with pytest.raises(InputError, match=f"conditions.{field}"):
        render_scene(spec(**{field: value}))


def test_bad_grid_is_refused():
    bad = replace(site(), grid=SiteGrid("EPSG:32636", OX, OY, 0.0, 10, 10))
    with pytest.raises(InputError, match="gsd_m"):
        render_scene(SceneSpec(bad, ()))


def test_object_frame_agrees_with_the_domain_box_corners():
    """An object of no class the renderer draws is a plain body filling its box: its
    instance mask must be the box as OrientedBox.corners() and SiteGrid.to_pixel place it
    (same rasteriser)."""
    g = site().grid
    box = OrientedBox(OX + 64.3, OY - 60.7, 30.0, 9.0, 123.0)
    s = SceneSpec(site(), (PlacedObject("u", "unknown", "unknown", "normal", box),), CLEAN)
    mask = render_instance_masks(s)
    corners = np.array([g.to_pixel(x, y) for x, y in box.corners()])
    expected = np.zeros_like(mask)
    cv2.fillPoly(expected, [np.round((corners - 0.5) * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    assert (mask > 0).sum() == expected.sum() > 0
    assert np.array_equal(mask > 0, expected > 0)


def test_cloud_cover_is_the_share_of_the_image_under_cloud():
    """cloud_cover 0.3: about 30% of the pixels brighten under cloud, on every date seed.
    Over open water, dark enough that even a thin cloud edge brightens it."""
    sea = Site("sea", "naval_base", 35.0, 36.0, SiteGrid("EPSG:32636", OX, OY, GSD, SIZE, SIZE))
    base = SceneSpec(sea, (), CLEAN, site_seed=21, date_seed=5)
    clear = render_scene(base).astype(float).mean(axis=2)
    for date_seed in (5, 6, 7, 8):
        cloudy = render_scene(replace(base, date_seed=date_seed, conditions=replace(
            CLEAN, cloud_cover=0.3, sun_elevation_deg=60.0))).astype(float).mean(axis=2)
        brighter = (cloudy > clear + 3).mean()  # 3 DN: above rounding, below the thinnest cloud edge
        # 0.3 give or take the soft edges, which net darken where they lie over a cloud shadow
        assert 0.22 < brighter < 0.38, f"date seed {date_seed}: {brighter:.3f} of the image under cloud"
