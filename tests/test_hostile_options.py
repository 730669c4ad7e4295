"""Numbers out of range (issue 29): `detect --batch 0` raised a traceback, `--batch -3` and
`--threshold nan` or `5` gave 0 detections with exit 0, a negative or infinite site margin
crashed. Each is now one line naming the option or field, and nothing is written."""

import json

import pytest
from test_hostile_names import site_file
from test_ingest import utm_raster
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.errors import InputError
from sitewatch.geo.sitefile import read_sites_geojson


@pytest.mark.parametrize("option,value", [("--batch", "0"), ("--batch", "-3"), ("--threshold", "nan"),
                                          ("--threshold", "5"), ("--threshold", "-inf"), ("--threads", "-1")])
def test_detect_refuses_an_out_of_range_option_and_writes_nothing(tmp_path, option, value):
    image = utm_raster(tmp_path / "a.tif")
    out = tmp_path / "dets.geojson"
    r = CliRunner().invoke(app, ["detect", image, "--out", str(out), option, value])
    assert r.exit_code != 0 and isinstance(r.exception, InputError)
    assert str(r.exception).startswith(f"{option}: must be a number from") and value in str(r.exception)
    assert not out.exists()


@pytest.mark.parametrize("option,value", [("--iou", "1.5"), ("--threshold", "nan")])
def test_eval_refuses_an_out_of_range_option(tmp_path, option, value):
    empty = tmp_path / "empty.geojson"
    empty.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    r = CliRunner().invoke(app, ["eval", "--pred", str(empty), "--truth", str(empty), option, value])
    assert r.exit_code != 0 and isinstance(r.exception, InputError)
    assert str(r.exception).startswith(option)


@pytest.mark.parametrize("margin", [-5, "Infinity", "NaN", 1e9])
def test_a_site_margin_that_is_negative_infinite_or_huge_is_refused_naming_the_field(tmp_path, margin):
    path = tmp_path / "site.geojson"
    site_file(path)
    doc = json.loads(path.read_text())
    doc["features"][0]["properties"]["margin_m"] = margin
    path.write_text(json.dumps(doc))  # json writes float("inf") as Infinity; Python's json reads it back
    with pytest.raises(InputError) as caught:
        read_sites_geojson(path)
    assert str(caught.value).startswith(f"{path}: features[0].properties.margin_m: must be in [0, 10000]")
