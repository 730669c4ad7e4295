"""Bad input files and options that used to end in a traceback (issue 29, point 6): each is
now one line naming the file (or option, or URL) and the problem, with a non-zero exit."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac
import pytest
from test_ingest import utm_raster
from typer.testing import CliRunner

from sitewatch.assess.rules import load_rules
from sitewatch.cli.main import app, main
from sitewatch.detect.labels import looks_like_dota, parse_class_map, read_dota, read_geojson_objects, read_yolo_obb
from sitewatch.errors import CatalogError, InputError, ModelError, ScenarioError, SitewatchError
from sitewatch.geo.sitefile import read_sites_geojson
from sitewatch.simulate.loading import load_scenario
from sitewatch.simulate.truth import read_image_truth


def stac_item(tmp_path, cloud) -> str:
    utm_raster(tmp_path / "scene.tif", tags=None)
    item = pystac.Item("scene-1", geometry=None, bbox=None, datetime=datetime(2024, 12, 3, 7, 45, tzinfo=UTC),
                       properties={"eo:cloud_cover": cloud})
    item.add_asset("visual", pystac.Asset(str(tmp_path / "scene.tif"), media_type=pystac.MediaType.COG))
    path = tmp_path / "item.json"
    item.set_self_href(str(path))
    item.save_object(include_self_link=False, dest_href=str(path))
    return str(path)


@pytest.mark.parametrize("cloud", ["lots", -5, 250, True])
def test_a_stac_item_with_a_bad_cloud_cover_is_one_line(tmp_path, cloud):
    item = stac_item(tmp_path, cloud)
    r = CliRunner().invoke(app, ["ingest", item, "--db", str(tmp_path / "catalog.db")])
    assert r.exit_code == 1 and isinstance(r.exception, SitewatchError), r.exception
    errors = [x for x in r.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and item in errors[0] and "eo:cloud_cover" in errors[0], r.output


# --- site GeoJSON ----------------------------------------------------------------------------

LON, LAT, D = 35.948, 35.401, 0.005


def square(lon=LON, lat=LAT, d=D):
    return [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]


def site_feature(ring, **props):
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"name": "n", "kind": "airbase", **props}}


def zone_feature(ring):
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"zone": "z", "zone_kind": "apron"}}


BAD_SITE_FILES = {
    "latitude-85.5": ([site_feature(square(10, 85.5))], "features[0]: latitude 85.5 is outside the UTM range"),
    "string-coordinates": ([site_feature([[str(x), str(y)] for x, y in square()])],
                           "features[0].geometry.coordinates[0][0]: a position is [lon, lat]"),
    "features-not-objects": ([1, "x", None], "features[0]: must be a Feature object"),
    "properties-a-list": ([{"type": "Feature", "geometry": None, "properties": [1]}], "features[0]: must be a Feature"),
    "one-point-zone": ([site_feature(square()), zone_feature([[LON, LAT]])],
                       "features[1].geometry.coordinates[0]: a ring needs at least 4 positions"),
    "geometry-a-string": ([{"type": "Feature", "geometry": "Polygon", "properties": {"name": "n"}}],
                          "features[0]: geometry must be a Polygon, got 'Polygon'"),
}


def sites_add(path, db):
    r = CliRunner().invoke(app, ["sites", "add", str(path), "--db", str(db)])
    return r.exit_code, r.exception


@pytest.mark.parametrize("case", sorted(BAD_SITE_FILES))
def test_a_bad_site_geojson_is_one_line_naming_the_file_and_field(tmp_path, case):
    features, words = BAD_SITE_FILES[case]
    path = tmp_path / "sites.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    rc, exc = sites_add(path, tmp_path / "catalog.db")
    assert rc == 1 and isinstance(exc, InputError), repr(exc)
    assert str(exc).startswith(f"{path}: {words}"), str(exc)


def test_binary_bytes_as_a_site_file_are_one_line(tmp_path):
    path = tmp_path / "sites.geojson"
    path.write_bytes(bytes(range(256)) * 4)
    rc, exc = sites_add(path, tmp_path / "catalog.db")
    assert rc == 1 and isinstance(exc, InputError) and str(exc) == f"{path}: not UTF-8 text (byte 0x80 at offset 128)"


def test_three_dimensional_positions_keep_their_lon_lat(tmp_path):
    """RFC 7946 lets a position carry an altitude: it is dropped, not a crash."""
    path = tmp_path / "sites.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection",
                                "features": [site_feature([[x, y, 12.5] for x, y in square()])]}))
    [(site, ring)] = read_sites_geojson(path)
    assert site.grid.crs == "EPSG:32636" and all(len(p) == 2 for p in ring)


# --- scenarios, rules, truth, labels: bad dates and bytes ------------------------------------------

SCENARIO = Path(__file__).resolve().parents[1] / "src" / "sitewatch" / "scenarios" / "khmeimim-tartus-2024-12.yaml"


def test_a_scenario_date_that_is_no_date_is_one_line_with_its_place(tmp_path):
    text = SCENARIO.read_text()
    assert "date: 2024-12-10" in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace("date: 2024-12-10", "date: 2024-13-45"))
    rc, exc = sites_add(path, tmp_path / "catalog.db")
    assert rc == 1 and isinstance(exc, ScenarioError), repr(exc)
    assert re.match(rf"{re.escape(str(path))}: line \d+, column \d+: not valid YAML \('2024-13-45' is not a date", str(exc))


@pytest.mark.parametrize("reader", ["scenario", "rules", "truth", "dota", "yolo", "geojson-labels"])
def test_non_utf8_files_are_one_line_naming_the_file(tmp_path, reader):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"seed: 1\n\xff\xfe not text\n")
    read = {"scenario": load_scenario, "rules": load_rules, "truth": read_image_truth,
            "dota": lambda p: read_dota(p, parse_class_map(None)),
            "yolo": lambda p: read_yolo_obb(p, 64, 64, parse_class_map(None)),
            "geojson-labels": lambda p: read_geojson_objects(p, "EPSG:32636")}[reader]
    with pytest.raises(InputError) as exc:
        read(path)
    assert str(exc.value).startswith(f"{path}: ") and "UTF-8" in str(exc.value)


def test_a_dota_class_named_inf_is_read_as_dota(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("60 60 80 60 80 70 60 70 inf 0\n10 10 50 10 50 30 10 30 plane 0\n")
    assert looks_like_dota(path)
    found = read_dota(path, {"plane": "aircraft", "inf": "vehicle"})
    assert [b.cls for b in found] == ["vehicle", "aircraft"]


# --- the catalog URL, output paths, models -------------------------------------------------

def test_an_unknown_database_url_is_one_line_with_the_password_hidden(tmp_path):
    for url, shown in (("foo://bar", "foo://bar"), ("nope+x://me:secret@host/db", "nope+x://me:***@host/db")):
        r = CliRunner().invoke(app, ["sites", "list", "--db", url])
        assert r.exit_code == 1 and isinstance(r.exception, CatalogError), repr(r.exception)
        assert str(r.exception).startswith(f"{shown}: not a catalog sitewatch can open")
        assert "secret" not in str(r.exception)


def test_an_output_path_below_a_file_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "sub"
    monkeypatch.setattr(sys, "argv", ["sitewatch", "simulate", str(SCENARIO), "--out", str(out)])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"error: {out}: Not a directory"


def test_a_model_whose_outputs_have_the_wrong_shapes_is_one_error_naming_it(tmp_path):
    onnx = pytest.importorskip("onnx")
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from sitewatch.detect.model import _REQUIRED, DEFAULT_MODEL, DetectionModel

    if not DEFAULT_MODEL.exists():
        pytest.skip("no shipped model to take metadata from")
    meta = ort.InferenceSession(str(DEFAULT_MODEL)).get_modelmeta().custom_metadata_map
    dims = ["B", 3, "H", "W"]
    nodes = [helper.make_node("Identity", ["images"], [name]) for name in ("heat", "box", "type", "state")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, dims)
                               for n in ("heat", "box", "type", "state")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k in _REQUIRED:
        e = model.metadata_props.add()
        e.key, e.value = k, meta[k]
    path = tmp_path / "wrong.onnx"
    onnx.save(model, str(path))
    m = DetectionModel(path)
    with pytest.raises(ModelError, match=r"wrong.onnx: output heat has shape \(1, 3, 64, 64\); expected \(1, 5, h, w\)"):
        m.run(np.zeros((1, 3, 64, 64), np.float32))
