"""Sites from GeoJSON (with zones) and from a scenario's `sites:` part."""

import json

import pytest
from pyproj import Transformer
from shapely.geometry import Polygon
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.errors import InputError
from sitewatch.geo.sitefile import read_sites_geojson

LON, LAT = 35.948, 35.401
D = 0.005  # degrees: a site about 900 m east-west, 1.1 km north-south


def square(lon, lat, d):
    return [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]


def feature(ring, **props):
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": props}


def write(tmp_path, *features):
    path = tmp_path / "sites.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(features)}))
    return path


def test_site_with_zone_from_geojson(tmp_path):
    path = write(tmp_path, feature(square(LON, LAT, D), name="khmeimim", kind="airbase", gsd_m=0.5, margin_m=50),
                 feature(square(LON + 0.001, LAT, 0.0005), zone="apron_1", zone_kind="apron"))
    [(site, ring)] = read_sites_geojson(path)
    assert site.name == "khmeimim" and site.grid.crs == "EPSG:32636" and site.grid.gsd_m == 0.5
    # the grid covers the polygon plus the 50 m margin: 0.01 degrees of longitude at 35.4 N
    # is about 907 m, so 1007 m or more, i.e. at least 2014 pixels of 0.5 m
    assert site.grid.width_px >= 2014
    [zone] = site.zones
    assert zone.name == "apron_1" and zone.kind == "apron"
    # the zone is in the site CRS: its centroid is the zone centre projected
    cx, cy = Transformer.from_crs("EPSG:4326", site.grid.crs, always_xy=True).transform(LON + 0.001, LAT)
    c = Polygon(zone.polygon).centroid
    assert c.x == pytest.approx(cx, abs=1.0) and c.y == pytest.approx(cy, abs=1.0)
    assert len(ring) == 4


@pytest.mark.parametrize("props,words", [
    ({"kind": "airbase"}, "needs a name"),
    ({"name": "x", "kind": "harbour"}, "must be one of airbase, naval_base"),
    ({"name": "x", "gsd_m": -1}, "gsd_m"),
])
def test_bad_site_properties_name_the_field(tmp_path, props, words):
    path = write(tmp_path, feature(square(LON, LAT, D), **props))
    with pytest.raises(InputError, match=words) as exc:
        read_sites_geojson(path)
    assert str(path) in str(exc.value)


def test_projected_coordinates_are_refused(tmp_path):
    path = write(tmp_path, feature(square(766980.0, 3922256.0, 500.0), name="x"))
    with pytest.raises(InputError, match="not lon/lat"):
        read_sites_geojson(path)


def test_sites_add_from_scenario_yaml(tmp_path):
    from importlib import resources

    scenario = resources.files("sitewatch") / "scenarios" / "khmeimim-tartus-2024-12.yaml"
    db = str(tmp_path / "catalog.db")
    runner = CliRunner()
    r = runner.invoke(app, ["sites", "add", str(scenario), "--db", db])
    assert r.exit_code == 0, r.output
    sites = json.loads(runner.invoke(app, ["sites", "list", "--json", "--db", db]).stdout)
    assert [s["name"] for s in sites] == ["khmeimim", "tartus"]
    # the scenario gives extent 1500 m at 0.5 m: 3000 pixels, plus one from snapping the origin
    assert sites[0]["grid"]["width_px"] in (3000, 3001) and sites[0]["grid"]["crs"] == "EPSG:32636"
    assert any(z["name"] == "helipad" for z in sites[0]["zones"])
