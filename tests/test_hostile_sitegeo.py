"""Geographic sanity of site GeoJSON (issue 29, point 6, "accepted although wrong"): a site
crossing the antimeridian gets the UTM zone of its real centre, a grid beyond the maximum
size is refused, and a zone far from its site is refused, each as one line naming the file,
the feature and the field, with a non-zero exit at the CLI."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import Polygon
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.errors import InputError
from sitewatch.geo.grid import grid_for_polygon
from sitewatch.geo.sitefile import MAX_SITE_GRID_PX, ZONE_SLACK_M, read_sites_geojson


def ring(lon0, lat0, lon1, lat1):
    """A closed lon/lat ring from (lon0, lat0) east to lon1, written as given (no wrapping)."""
    return [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]


def feature(coords, **props):
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [coords]}, "properties": props}


def write(tmp_path, *features):
    path = tmp_path / "sites.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(features)}))
    return path


def sites_add(tmp_path, path):
    r = CliRunner().invoke(app, ["sites", "add", str(path), "--db", str(tmp_path / "catalog.db")])
    return r.exit_code, r.exception


# Fiji's Taveuni straddles 180 degrees: a site from 179.99 E to 179.99 W at 16.8 S.
ACROSS = ring(179.99, -16.81, -179.99, -16.79)


def test_a_site_across_the_antimeridian_gets_the_zone_of_its_centre(tmp_path):
    path = write(tmp_path, feature(ACROSS, name="taveuni", gsd_m=1.0))
    [(site, outline)] = read_sites_geojson(path)
    # zone 60 (174..180 E) or 1 (180..174 W), never one near 0 degrees east
    assert site.grid.crs in ("EPSG:32760", "EPSG:32701"), site.grid.crs
    assert abs(site.lon) > 179.9 and site.lat == pytest.approx(-16.80, abs=1e-6)
    # 0.02 degrees of longitude at 16.8 S is about 2.1 km, 0.02 of latitude about 2.2 km
    assert 2000 <= site.grid.width_px <= 2300 and 2100 <= site.grid.height_px <= 2300
    assert Polygon(outline).area == pytest.approx(0.02 * 0.02, rel=1e-6)  # small, not around the globe


def test_zones_of_a_site_across_the_antimeridian_are_on_its_grid(tmp_path):
    path = write(tmp_path, feature(ACROSS, name="taveuni", gsd_m=1.0),
                 feature(ring(-179.995, -16.805, -179.991, -16.801), zone="apron"),
                 feature(ring(179.991, -16.805, 179.995, -16.801), zone="pad"))
    [(site, _)] = read_sites_geojson(path)
    left, bottom, right, top = site.grid.bounds
    for z in site.zones:
        assert all(left <= x <= right and bottom <= y <= top for x, y in z.polygon), z.name


def test_the_grid_of_a_polygon_across_the_antimeridian_is_small():
    grid = grid_for_polygon([tuple(p) for p in ACROSS[:-1]], gsd_m=1.0)
    assert grid.crs in ("EPSG:32760", "EPSG:32701")
    assert grid.width_px * grid.height_px < 6_000_000


def test_a_site_grid_beyond_the_maximum_is_refused_naming_file_site_and_size(tmp_path):
    # about 1.1 x 1.1 degrees at the equator: 122 km square, 6e10 px at 0.5 m
    path = write(tmp_path, feature(ring(10.0, 0.0, 11.1, 1.1), name="huge", gsd_m=0.5))
    rc, exc = sites_add(tmp_path, path)
    assert rc == 1 and isinstance(exc, InputError), repr(exc)
    message = str(exc)
    assert message.startswith(f"{path}: features[0]: site 'huge' needs a grid of "), message
    assert MAX_SITE_GRID_PX == 1_000_000_000
    assert " px (59,60" in message and "Mpx at 0.5 m), more than the 1,000 Mpx allowed" in message
    assert "\n" not in message


def test_a_large_site_at_a_coarser_gsd_is_accepted(tmp_path):
    path = write(tmp_path, feature(ring(10.0, 0.0, 11.1, 1.1), name="region", gsd_m=10.0))
    [(site, _)] = read_sites_geojson(path)
    assert site.grid.width_px * site.grid.height_px <= MAX_SITE_GRID_PX


def test_a_zone_4000_km_from_its_site_is_refused_naming_the_zone(tmp_path):
    site = feature(ring(35.94, 35.39, 35.96, 35.41), name="khmeimim")
    far = feature(ring(0.0, 51.0, 0.01, 51.01), zone="far_apron", zone_kind="apron")
    path = write(tmp_path, site, far)
    rc, exc = sites_add(tmp_path, path)
    assert rc == 1 and isinstance(exc, InputError), repr(exc)
    assert str(exc).startswith(f"{path}: features[1].geometry: zone 'far_apron' reaches "), str(exc)
    assert "outside site 'khmeimim'" in str(exc) and " km " in str(exc)


def test_a_zone_just_beyond_the_site_edge_is_accepted_and_one_further_out_refused(tmp_path):
    site = feature(ring(35.94, 35.39, 35.96, 35.41), name="khmeimim")
    near = feature(ring(35.959, 35.40, 35.961, 35.401), zone="edge")  # about 90 m past the east edge
    [(s, _)] = read_sites_geojson(write(tmp_path, site, near))
    assert [z.name for z in s.zones] == ["edge"]
    assert ZONE_SLACK_M == 1000
    out = feature(ring(35.959, 35.40, 35.982, 35.401), zone="beyond")  # 0.022 degrees, about 2 km past it
    with pytest.raises(InputError, match=r"features\[1\]\.geometry: zone 'beyond' reaches 2\.\d km outside"):
        read_sites_geojson(write(tmp_path, site, out))


@pytest.mark.parametrize("value", ["wide", [1], {"a": 1}, True, "nan", "1e999", 10 ** 400],
                         ids=["word", "list", "object", "bool", "nan", "inf", "int-10e400"])
def test_gsd_and_margin_that_are_no_numbers_name_the_field(tmp_path, value):
    path = tmp_path / "sites.geojson"
    text = json.dumps({"type": "FeatureCollection",
                       "features": [feature(ring(35.94, 35.39, 35.96, 35.41), name="n", margin_m="X")]})
    path.write_text(text.replace('"X"', json.dumps(value) if not isinstance(value, int) or value is True
                                 else str(value)))
    with pytest.raises(InputError, match=r"features\[0\]\.properties\.margin_m: must be"):
        read_sites_geojson(path)


@pytest.mark.parametrize("west,east", [(179.991, 179.999), (-179.999, -179.991), (179.995, -179.995)],
                         ids=["west-of-180", "east-of-180", "across"])
def test_images_on_either_side_of_the_antimeridian_are_assigned_to_the_site(tmp_path, west, east):
    from shapely.geometry import box

    from sitewatch.workflow.ingest import covered_sites

    [(site, outline)] = read_sites_geojson(write(tmp_path, feature(ACROSS, name="taveuni", gsd_m=1.0)))
    if west > east:  # a footprint across the line, unwrapped as the site's outline is
        east += 360.0
    footprint = box(west, -16.809, east, -16.791)
    [(name, fraction)] = covered_sites(footprint, {"taveuni": Polygon(outline)})
    assert name == "taveuni" and fraction == pytest.approx((east - west) * 0.018 / (0.02 * 0.02), rel=1e-6)


def test_an_image_across_the_antimeridian_has_a_small_footprint_and_covers_the_site(tmp_path):
    """A 0.8 km GeoTIFF in UTM zone 1 south, centred on 180 degrees at 16.8 S: its outline in
    longitude and latitude stays on one turn (some longitudes beyond 180), not round the world."""
    import numpy as np
    from affine import Affine
    from pyproj import Transformer

    from sitewatch.geo.raster import inspect_raster
    from sitewatch.geo.synthetic import write_geotiff
    from sitewatch.workflow.ingest import covered_sites

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32701", always_xy=True).transform(180.0, -16.80)
    image = write_geotiff(tmp_path / "across.tif", np.full((3, 400, 400), 120, np.uint8), "EPSG:32701",
                          Affine(2.0, 0, x - 400, 0, -2.0, y + 400))
    fp = inspect_raster(str(image)).footprint
    lon0, lat0, lon1, lat1 = fp.bounds
    assert lon1 - lon0 == pytest.approx(0.8 / 106.6, rel=0.05)  # 0.8 km at 16.8 S, not 360 degrees
    assert lon0 < 180.0 < lon1 or lon0 < -180.0 < lon1
    assert lat1 - lat0 == pytest.approx(0.8 / 110.6, rel=0.05)
    [(site, outline)] = read_sites_geojson(write(tmp_path, feature(ACROSS, name="taveuni", gsd_m=1.0)))
    [(name, fraction)] = covered_sites(fp, {"taveuni": Polygon(outline)})
    assert name == "taveuni" and fraction == pytest.approx(0.64 / (0.02 * 106.6 * 0.02 * 110.6), rel=0.05)  # 0.8 x 0.8 km
