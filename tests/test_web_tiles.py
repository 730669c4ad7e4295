"""Tiles cut from GeoTIFFs: Web Mercator tile bounds, overview choice, 12-bit single-band
imagery stretched for display, and transparency outside the image."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")

from sitewatch.web import tiles  # noqa: E402

HALF = tiles.HALF_WORLD_M


def test_tile_bounds_cover_the_world_exactly():
    assert tiles.tile_bounds(0, 0, 0) == pytest.approx((-HALF, -HALF, HALF, HALF))
    # zoom 1: four quadrants; tile (1, 0) is the north-east one
    assert tiles.tile_bounds(1, 1, 0) == pytest.approx((0.0, 0.0, HALF, HALF))
    assert tiles.tile_in_range(3, 7, 7) and not tiles.tile_in_range(3, 8, 0)
    assert not tiles.tile_in_range(tiles.MAX_ZOOM + 1, 0, 0)


def test_overview_level_is_the_coarsest_not_coarser_than_the_tile():
    ovr = [2, 4, 8, 16]
    assert tiles._overview_level(ovr, 1.0) == -1  # tile finer than the image: full resolution
    assert tiles._overview_level(ovr, 3.9) == 0  # factor 2
    assert tiles._overview_level(ovr, 4.0) == 1  # factor 4
    assert tiles._overview_level(ovr, 1000) == 3  # coarser than every overview: the smallest


def _lonlat_to_tile(lon, lat, z):
    n = 2 ** z
    fx = (lon + 180) / 360 * n
    fy = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int(fx), int(fy), (fx % 1) * 256, (fy % 1) * 256


def test_uint16_single_band_is_stretched_and_outside_is_transparent(tmp_path):
    """A 12-bit single-band image (values 300..3500 in uint16) with a bright 40 m square:
    the square comes out near white, the ground dark grey, and a tile beside the image is
    fully transparent."""
    from pyproj import Transformer

    from sitewatch.geo.grid import grid_transform, site_grid
    from sitewatch.geo.synthetic import write_geotiff

    grid = site_grid(35.401, 35.948, 256.0, 256.0, gsd_m=0.5)
    data = np.full((grid.height_px, grid.width_px), 300, np.uint16)
    c = grid.width_px // 2
    data[c - 40:c + 40, c - 40:c + 40] = 3500  # 80 px = 40 m square at the centre
    path = write_geotiff(tmp_path / "pan.tif", data, grid.crs, grid_transform(grid), overviews=True)
    x0, y0 = grid.to_map(c, c)
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x0, y0)
    x, y, px, py = _lonlat_to_tile(lon, lat, 18)
    tile = cv2.imdecode(np.frombuffer(tiles.render_tile(path, 18, x, y), np.uint8), cv2.IMREAD_UNCHANGED)
    assert tile.shape == (256, 256, 4)
    centre = tile[int(py), int(px)]
    assert centre[3] == 255 and centre[0] > 240 and centre[0] == centre[1] == centre[2]  # grey, near white
    # 60 m from the centre (outside the 20 m half-side, inside the 128 m image) is ground: dark
    off = int(60 / (2 * HALF / 2 ** 18 / 256 * math.cos(math.radians(lat))))
    ground = tile[int(py), min(255, int(px) + off)] if int(px) + off < 256 else tile[int(py), max(0, int(px) - off)]
    assert ground[3] == 255 and ground[0] < 40
    beside = cv2.imdecode(np.frombuffer(tiles.render_tile(path, 18, x + 3, y), np.uint8), cv2.IMREAD_UNCHANGED)
    assert (beside[..., 3] == 0).all()
