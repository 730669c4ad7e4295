"""Names that would become paths (issue 29): a site named `../../../x`, with a `/` or 300
characters long is refused where it enters, naming the file and the field, before anything
is stored; a name already in a catalog cannot make align or run write outside its folder."""

import json

import pytest
import yaml
from test_ingest import GRID, LAT, LON
from test_scenario import _mutated
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.domain import Site
from sitewatch.errors import InputError, ScenarioError
from sitewatch.geo.sitefile import read_sites_geojson
from sitewatch.names import NAME_MAX, check_name, path_inside
from sitewatch.simulate.loading import load_scenario
from sitewatch.store import add_site, list_sites, open_catalog

BAD_NAMES = ["../../../x", "a/b", "x" * 300, "..", ".hidden", "a\\b", "dir[/]x", ""]


def site_file(path, name="khmeimim", zone=None):
    ring = [[LON - 0.001, LAT - 0.001], [LON + 0.001, LAT - 0.001], [LON + 0.001, LAT + 0.001],
            [LON - 0.001, LAT + 0.001], [LON - 0.001, LAT - 0.001]]
    feats = [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
              "properties": {"name": name, "kind": "airbase", "gsd_m": 1.0}}]
    if zone is not None:
        feats.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                      "properties": {"zone": zone, "zone_kind": "apron"}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return str(path)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_site_name_in_geojson_is_refused_naming_file_and_field(tmp_path, name):
    path = site_file(tmp_path / "site.geojson", name=name)
    with pytest.raises(InputError) as caught:
        read_sites_geojson(path)
    assert str(caught.value).startswith(f"{path}: features[0].properties.name:")


def test_a_bad_zone_name_is_refused_naming_its_feature(tmp_path):
    path = site_file(tmp_path / "site.geojson", zone="../apron")
    with pytest.raises(InputError, match=r"features\[1\]\.properties\.zone: '../apron' is not allowed"):
        read_sites_geojson(path)


def test_sites_add_of_a_climbing_name_exits_1_and_stores_nothing(tmp_path):
    db = str(tmp_path / "catalog.db")
    path = site_file(tmp_path / "site.geojson", name="../../../x")
    r = CliRunner().invoke(app, ["sites", "add", path, "--db", db])
    assert r.exit_code != 0 and isinstance(r.exception, InputError)
    assert path in str(r.exception) and "properties.name" in str(r.exception)
    with open_catalog(db) as catalog:
        assert list_sites(catalog) == []


def test_a_300_character_name_says_the_limit():
    with pytest.raises(InputError, match=f"at most {NAME_MAX} characters, got 300"):
        check_name("x" * 300, "sites.geojson", "name")


@pytest.mark.parametrize("field", ["sites[0].name", "sites[0].zones[0].name"])
def test_a_scenario_name_too_long_or_climbing_is_refused_naming_the_field(tmp_path, field):
    for bad in ("x" * 300, "../x"):
        path = tmp_path / "scenario.yaml"
        path.write_text(yaml.safe_dump(_mutated(field, bad)))
        with pytest.raises(ScenarioError) as caught:
            load_scenario(path)
        assert str(path) in str(caught.value) and field in str(caught.value)


def test_path_inside_refuses_every_escape(tmp_path):
    assert path_inside(tmp_path, "a_2024.tif") == tmp_path / "a_2024.tif"
    for name in ("../x.tif", "a/b.tif", "/etc/x.tif", ".."):
        with pytest.raises(InputError, match="outside the folder"):
            path_inside(tmp_path, name)
    (tmp_path / "link.tif").symlink_to(tmp_path.parent / "elsewhere.tif")
    with pytest.raises(InputError, match="outside the folder"):
        path_inside(tmp_path, "link.tif")


@pytest.fixture
def old_bad_site(tmp_path):
    """A catalog holding a site stored before names were checked (the store takes any name)."""
    db = str(tmp_path / "catalog.db")
    with open_catalog(db) as catalog:
        add_site(catalog, Site("../../../x", "airbase", LAT, LON, GRID))
    return db


def test_align_write_with_an_old_bad_name_writes_nothing_outside(tmp_path, old_bad_site):
    out = tmp_path / "a" / "b" / "c" / "aligned"
    r = CliRunner().invoke(app, ["align", "--site", "../../../x", "--write", str(out), "--db", old_bad_site])
    assert r.exit_code != 0 and isinstance(r.exception, InputError)
    assert "outside the folder" in str(r.exception)
    assert not (tmp_path / "a" / "x").exists() and not any((tmp_path / "a").rglob("*.tif"))


def test_run_with_an_old_bad_name_refuses_before_any_stage_stores(tmp_path, old_bad_site):
    from sqlalchemy import text

    from sitewatch.workflow.pipeline import run_site

    with open_catalog(old_bad_site) as catalog:
        with pytest.raises(InputError, match="outside the folder"):
            run_site(catalog, "../../../x", tmp_path / "reports", model=None)
        with catalog.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM runs")).scalar() == 0
    assert not (tmp_path / "reports").exists()
