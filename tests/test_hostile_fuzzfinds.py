"""The crashes the parser fuzz run (tests/test_fuzz_parsers.py) found, each as its own
input: every one used to raise a bare Python or GEOS error, and is now one InputError
(or ScenarioError) naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sitewatch.detect.labels import parse_class_map, read_dota, read_geojson_objects, read_yolo_obb
from sitewatch.errors import InputError, ScenarioError
from sitewatch.geo.sitefile import read_sites_geojson
from sitewatch.simulate.loading import load_scenario
from sitewatch.simulate.truth import TRUTH_VERSION, read_image_truth
from sitewatch.workflow.ingest import gather_sources

SCENARIO = Path(__file__).resolve().parents[1] / "src" / "sitewatch" / "scenarios" / "khmeimim-tartus-2024-12.yaml"


def scenario() -> dict:
    return yaml.safe_load(SCENARIO.read_text())


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_a_scenario_zone_centre_that_is_not_finite_names_the_field(value):
    sc = scenario()
    sc["sites"][0]["zones"][0]["rect"]["center"][0] = value  # was a GEOSException from a NaN ring
    with pytest.raises(ScenarioError, match=r"sites\[0\]\.zones\[0\]\.rect\.center\[0\]: Input should be a finite number"):
        load_scenario(sc)


def test_a_scenario_date_before_the_first_utc_datetime_names_the_field():
    sc = scenario()
    sc["sites"][0]["dates"][1]["date"] = "0001-01-01T00:00:00+01:00"  # was an OverflowError
    with pytest.raises(ScenarioError, match=r"sites\[0\]\.dates\[1\]\.date: .*out of range in UTC"):
        load_scenario(sc)


def write_json(tmp_path, name, doc) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_a_truth_file_whose_time_is_a_number_is_one_error(tmp_path):
    doc = {"truth_version": TRUTH_VERSION, "grid": {"crs": "EPSG:32636", "origin_x": 0, "origin_y": 0, "gsd_m": 0.5,
                                                     "width_px": 10, "height_px": 10},
           "conditions": {"sun_azimuth_deg": 1, "sun_elevation_deg": 1, "haze": 0, "colour_balance": [1, 1, 1],
                          "noise_sigma": 0, "blur_sigma_px": 0, "misregistration": {"shift_px": [0, 0],
                                                                                   "rotation_deg": 0},
                          "cloud_cover": 0},
           "features": [], "acquired": 20241203, "site": "s", "date": "2024-12-03", "image": "i.tif"}
    path = write_json(tmp_path, "x.truth.geojson", doc)
    with pytest.raises(InputError, match=r"x.truth.geojson: malformed truth file \(AttributeError"):
        read_image_truth(path)  # was AttributeError: 'int' object has no attribute 'replace'


@pytest.mark.parametrize("doc,words", [
    ([1, 2], "expected a GeoJSON FeatureCollection"),
    ({"type": "FeatureCollection", "features": {"a": 1}}, "features: must be a list of Feature objects"),
    ({"type": "FeatureCollection", "site_crs": "EPSG:32636", "features": [
        {"type": "Feature", "geometry": None, "properties": {
            "class": "aircraft", "center_site_crs": [1, 2, 3], "length_m": 20, "width_m": 10, "heading_deg": 5}}]},
     r"feature 0: malformed \(ValueError: too many values to unpack"),
    ({"type": "FeatureCollection", "site_crs": "EPSG:32636", "features": [
        {"type": "Feature", "geometry": None, "properties": {
            "class": "ship", "center_site_crs": [1, 2], "length_m": "long", "width_m": 10, "heading_deg": 5}}]},
     r"feature 0: malformed \(ValueError"),
], ids=["a-list", "features-an-object", "centre-of-three", "length-a-word"])
def test_a_malformed_label_geojson_is_one_error_naming_the_feature(tmp_path, doc, words):
    path = write_json(tmp_path, "labels.geojson", doc)
    with pytest.raises(InputError, match=words):
        read_geojson_objects(path, "EPSG:32636")


def test_label_files_with_corners_that_are_not_finite_are_refused(tmp_path):
    dota = tmp_path / "dota.txt"
    dota.write_text("60 60 80 60 nan 70 60 70 plane 0\n")  # was read as a box of NaN
    with pytest.raises(InputError, match=r"dota.txt: line 1: corners must be finite numbers"):
        read_dota(dota, parse_class_map(None))
    yolo = tmp_path / "yolo.txt"
    yolo.write_text("0 0.1 0.1 1e308 0.1 0.3 0.2 0.1 0.2\n")  # 1e308 x 1024 px is infinite
    with pytest.raises(InputError, match=r"yolo.txt: line 1: corners must be finite numbers"):
        read_yolo_obb(yolo, 1024, 1024, parse_class_map(None))


@pytest.mark.parametrize("field,value", [("type", ["image/tiff"]), ("type", 5), ("href", "")])
def test_a_stac_asset_whose_href_or_type_is_not_a_string_is_one_error(tmp_path, field, value):
    asset = {"href": "scene.tif", "type": "image/tiff; application=geotiff", field: value}
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "scene-1", "geometry": None,
            "properties": {"datetime": "2024-12-03T07:45:00Z"}, "links": [], "assets": {"visual": asset}}
    path = write_json(tmp_path, "item.json", item)
    [found] = gather_sources([str(path)])  # was AttributeError: 'list' object has no attribute 'split'
    assert isinstance(found, InputError) and "assets.visual: `href` must be a non-empty string" in str(found)


@pytest.mark.parametrize("read", [read_sites_geojson, read_image_truth,
                                  lambda p: read_geojson_objects(p, "EPSG:32636")],
                         ids=["site-geojson", "truth", "label-geojson"])
def test_json_nested_too_deeply_is_one_error(tmp_path, read):
    path = tmp_path / "deep.geojson"
    path.write_text("[" * 100_000 + "]" * 100_000)  # was a RecursionError from the JSON parser
    with pytest.raises(InputError, match=r"deep.geojson: not valid JSON \(nested too deeply\)"):
        read(path)


@pytest.mark.parametrize("read", [read_sites_geojson, read_image_truth,
                                  lambda p: read_geojson_objects(p, "EPSG:32636")],
                         ids=["site-geojson", "truth", "label-geojson"])
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_number_json_does_not_have_is_one_error_naming_it(tmp_path, read, number):
    """Python's json reads NaN, Infinity and 1e999 (as inf), numbers JSON does not have; no
    file of ours holds one, so each is refused where the file is read, naming it."""
    path = tmp_path / "numbers.geojson"
    path.write_text(f'{{"truth_version": {TRUTH_VERSION}, "type": "FeatureCollection", "x": {number}, "features": []}}')
    with pytest.raises(InputError, match=rf"numbers.geojson: not valid JSON \({number} is (not a JSON number|too large)"):
        read(path)
