"""Ground furniture an analyst looks for: runway markings where the runway is, shadows
beside buildings on the side away from the sun, water darker than land."""

from __future__ import annotations

import numpy as np

from sitewatch.domain import Site, SiteGrid, Zone
from sitewatch.simulate.render import render_scene
from sitewatch.simulate.scene import Conditions, SceneSpec

GSD = 0.5
OX, OY = 400_000.0, 3_800_000.0
OVERHEAD = Conditions(sun_elevation_deg=90.0)


def _rect(x0, y0, x1, y1):
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def test_runway_has_centreline_dashes_and_threshold_bars():
    """A 45 m runway running north from inside the image: along its centreline, 30 m
    dashes every 50 m (60% painted); across its southern end, bars with gaps."""
    n = 800  # 400 m of runway and its surroundings
    grid = SiteGrid("EPSG:32636", OX, OY, GSD, 200, n)
    south = OY - 370.0  # runway end 30 m inside the southern edge
    runway = Zone("rw", "runway", _rect(OX + 27.5, south, OX + 72.5, OY + 50.0))
    img = render_scene(SceneSpec(Site("r", "airbase", 34, 36, grid, (runway,)), (), OVERHEAD, site_seed=8))
    lum = img.astype(float).mean(axis=2)
    col_c = int(50.0 / GSD)  # centreline at x = OX + 50 m
    edge_row = int((OY - south) / GSD)  # the runway's southern end, in rows
    centre = lum[: edge_row - int(60 / GSD), col_c - 1:col_c + 1].mean(axis=1)  # clear of the threshold
    beside = lum[: edge_row - int(60 / GSD), col_c + int(6 / GSD)]  # 6 m off the centreline: plain surface
    painted = centre > beside.mean() + 25  # white paint is far brighter than any runway surface
    assert 0.45 < painted.mean() < 0.75  # 30 m of every 50 m, give or take the cut ends
    # Threshold bars: 6-36 m in from the end, a row across the runway alternates paint and gaps.
    row = edge_row - int(20 / GSD)
    across = lum[row, int(30 / GSD):int(70 / GSD)] > beside.mean() + 25
    changes = np.count_nonzero(np.diff(across.astype(int)))
    assert across.mean() > 0.3 and changes >= 10  # several separate bars, not one slab of paint


def test_buildings_cast_shadows_away_from_the_sun():
    grid = SiteGrid("EPSG:32636", OX, OY, GSD, 240, 240)
    area = Zone("b", "building_area", _rect(OX + 30, OY - 90, OX + 90, OY - 30))
    # Aprons all round (overlapping the area's edge by half a metre): no open land, so no
    # trees, whose shadows would fall anywhere; streets keep buildings 4 m off the edge.
    aprons = (Zone("w", "apron", _rect(OX - 5, OY - 125, OX + 30.5, OY + 5)),
              Zone("e", "apron", _rect(OX + 89.5, OY - 125, OX + 125, OY + 5)),
              Zone("n", "apron", _rect(OX + 30, OY - 30.5, OX + 90, OY + 5)),
              Zone("s", "apron", _rect(OX + 30, OY - 125, OX + 90, OY - 89.5)))
    site = Site("b", "airbase", 34, 36, grid, (area, *aprons))
    overhead = render_scene(SceneSpec(site, (), OVERHEAD, site_seed=4)).astype(float).mean(axis=2)
    east_sun = render_scene(SceneSpec(site, (), Conditions(sun_azimuth_deg=90.0, sun_elevation_deg=30.0),
                                      site_seed=4)).astype(float).mean(axis=2)
    darker = east_sun < overhead * 0.8  # shadow removes about half the light
    rows, cols = np.nonzero(darker)
    assert darker.sum() > 100  # buildings 3.5-12 m high at 30 degrees: shadows 6-21 m long
    # Shadows of buildings standing in x = 30..90 m fall west of them, never east of the area.
    x = (cols + 0.5) * GSD
    assert x.max() <= 90.0 + GSD
    assert np.median(x) < 60.0


def test_water_zone_is_darker_than_the_land_beside_it():
    grid = SiteGrid("EPSG:32636", OX, OY, GSD, 200, 200)
    water = Zone("sea", "water", _rect(OX - 10, OY - 110, OX + 50, OY + 10))  # the western half
    img = render_scene(SceneSpec(Site("p", "naval_base", 34, 36, grid, (water,)), (), OVERHEAD, site_seed=6))
    lum = img.astype(float).mean(axis=2)
    sea, land = lum[:, : int(40 / GSD)], lum[:, int(60 / GSD):]
    assert sea.mean() + 30 < land.mean()
    assert (img[:, : int(40 / GSD), 2].astype(float) > img[:, : int(40 / GSD), 0]).mean() > 0.9  # blue-green
