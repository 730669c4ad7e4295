import pytest
from pyproj import Transformer

from sitewatch.geo.grid import check_grid_crs, grid_for_polygon, grid_from_bounds, grid_transform, site_grid, utm_crs

KHMEIMIM = (35.401, 35.948)  # lat, lon: UTM zone 36 north
TARTUS = (34.915, 35.873)


def test_utm_zone_from_lat_lon():
    assert utm_crs(*KHMEIMIM) == "EPSG:32636"
    assert utm_crs(-33.9, 18.4) == "EPSG:32734"  # Cape Town: zone 34 south
    assert utm_crs(60.0, 5.0) == "EPSG:32632"  # Bergen: the Norway exception
    with pytest.raises(ValueError):
        utm_crs(85.0, 0.0)


def test_site_grid_is_centred_and_snapped_to_gsd():
    gsd = 0.5
    grid = site_grid(*KHMEIMIM, width_m=3000, height_m=2000, gsd_m=gsd)
    assert grid.crs == "EPSG:32636"
    # origin is a whole multiple of the GSD
    assert grid.origin_x / gsd == pytest.approx(round(grid.origin_x / gsd), abs=1e-6)
    assert grid.origin_y / gsd == pytest.approx(round(grid.origin_y / gsd), abs=1e-6)
    # covers the requested size, at most one extra pixel per side from snapping
    assert 6000 <= grid.width_px <= 6002 and 4000 <= grid.height_px <= 4002
    # the centre of the grid is within one pixel of the site point
    cx, cy = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True).transform(KHMEIMIM[1], KHMEIMIM[0])
    gx, gy = grid.to_map(grid.width_px / 2, grid.height_px / 2)
    assert abs(gx - cx) <= gsd and abs(gy - cy) <= gsd


def test_same_inputs_give_the_same_grid():
    assert site_grid(*TARTUS, 1000, gsd_m=0.3) == site_grid(*TARTUS, 1000, gsd_m=0.3)


def test_grid_for_polygon_covers_polygon_and_margin():
    ring = [(35.94, 35.39), (35.96, 35.39), (35.96, 35.41), (35.94, 35.41)]
    grid = grid_for_polygon(ring, gsd_m=1.0, margin_m=100)
    xs, ys = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True).transform(
        [p[0] for p in ring], [p[1] for p in ring])
    left, bottom, right, top = grid.bounds
    assert left <= min(xs) - 100 and right >= max(xs) + 100
    assert bottom <= min(ys) - 100 and top >= max(ys) + 100


def test_grid_transform_matches_to_map():
    grid = grid_from_bounds("EPSG:32636", 1000.2, 2000.0, 1100.0, 2050.7, 0.5)
    t = grid_transform(grid)
    assert t @ (10, 20) == pytest.approx(grid.to_map(10, 20))


def test_geographic_grid_is_refused():
    grid = grid_from_bounds("EPSG:4326", 35.0, 35.0, 36.0, 36.0, 0.01)
    with pytest.raises(ValueError, match="not projected"):
        check_grid_crs(grid)
