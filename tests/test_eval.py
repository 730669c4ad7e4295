import json

import numpy as np
import pytest
from pyproj import Transformer
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.detect import geometry
from sitewatch.evaluation.detection import Labelled, average_precision, evaluate

ROUNDED = 5e-5  # scores are reported rounded to 4 decimals


def _obj(cls, x, y, score=1.0, type="unknown", state=None, heading=0.0, length=20.0, width=10.0):
    return Labelled(cls, (x, y, length, width, heading), type, state, score)


def test_average_precision_all_point_known_value():
    # Ranked hits: TP, FP, TP over 2 truths. Recall 0.5, 0.5, 1; precision 1, 0.5, 2/3.
    # Envelope: 1 up to recall 0.5, then 2/3 to recall 1: AP = 0.5 * 1 + 0.5 * 2/3.
    ap = average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3]))
    assert ap == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_evaluate_hand_made_case():
    truths = {"a": [_obj("aircraft", 0, 0, type="Su-34", state="normal"), _obj("aircraft", 100, 0, type="Su-25"),
                    _obj("ship", 0, 300, length=120, width=15)]}
    preds = {"a": [
        _obj("aircraft", 0.5, 0.5, 0.9, type="Su-34", state="normal"),  # TP, right type
        _obj("aircraft", 50, 50, 0.8),  # FP: nothing there
        _obj("aircraft", 100, 0, 0.7, type="Su-35", heading=90),  # TP by IoU? turned 90: 100/300 < 0.5 -> FP
        _obj("aircraft", 101, 0, 0.6, type="Su-35"),  # TP, wrong type
        _obj("ship", 0, 300, 0.2, length=120, width=15),  # TP below the operating threshold
        _obj("vehicle", 0, 0, 0.95, length=4, width=2),  # FP of a class with no truth
    ]}
    r = evaluate(preds, truths, score_threshold=0.5)
    # Aircraft ranked: TP, FP, FP, TP over 2 truths: precision 1, .5, 1/3, .5 at recall .5,.5,.5,1.
    assert r["per_class"]["aircraft"]["ap50"] == pytest.approx(0.5 * 1 + 0.5 * 0.5)
    assert r["per_class"]["ship"]["ap50"] == pytest.approx(1.0)
    assert r["per_class"]["vehicle"]["ap50"] is None  # no truth: AP undefined, not zero
    assert r["map50"] == pytest.approx((0.75 + 1.0) / 2)
    # At threshold 0.5: 5 predictions, 2 matched; 3 truths.
    assert r["precision"] == pytest.approx(2 / 5)
    assert r["recall"] == pytest.approx(2 / 3, abs=ROUNDED)
    assert r["type_accuracy"] == pytest.approx(1 / 2)
    assert r["state_accuracy"] == pytest.approx(1.0)  # only the Su-34 truth states its state
    assert r["counts"]["aircraft"] == {"predicted": 4, "true": 2}
    assert r["counts"]["ship"] == {"predicted": 0, "true": 1}


def test_rotated_neighbours_are_not_matched_as_axis_aligned():
    # Two diagonal ships side by side; each prediction must match its own ship.
    t = [_obj("ship", 0, 0, heading=45, length=100, width=10), _obj("ship", 10, -10, heading=45, length=100, width=10)]
    p = [_obj("ship", 10, -10, 0.9, heading=45, length=100, width=10)]
    r = evaluate({"x": p}, {"x": t})
    assert r["per_class"]["ship"]["ap50"] == pytest.approx(0.5)


def test_difficult_truth_is_neither_miss_nor_false_positive():
    t = [_obj("vehicle", 0, 0), Labelled("vehicle", (100, 0, 20, 10, 0), difficult=True)]
    p = [_obj("vehicle", 0, 0, 0.9), _obj("vehicle", 100, 0, 0.8)]
    r = evaluate({"x": p}, {"x": t})
    assert r["per_class"]["vehicle"]["ap50"] == pytest.approx(1.0)
    assert r["counts"]["vehicle"]["true"] == 1


def _feature_collection(boxes_utm, crs, props):
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    feats = []
    for box, pr in zip(boxes_utm, props):
        c = geometry.corners(np.array([box]))[0]
        lon, lat = to_ll.transform(c[:, 0], c[:, 1])
        ring = [[a, b] for a, b in zip(lon, lat)]
        feats.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]},
                      "properties": pr})
    return {"type": "FeatureCollection", "features": feats}


def test_eval_cli_geojson_in_lonlat(tmp_path):
    crs = "EPSG:32636"
    truth = _feature_collection([(500000, 3900000, 22.7, 17.6, 30), (500100, 3900000, 4.5, 1.8, 0)], crs,
                                [{"class": "aircraft", "type": "Su-24M", "state": "normal", "heading_deg": 30},
                                 {"class": "vehicle", "type": "car", "state": "normal", "heading_deg": 0}])
    truth["site_crs"] = crs
    # The prediction file has no site_crs: it is compared through its EPSG:4326 polygons.
    pred = _feature_collection([(500000.5, 3900000, 22.7, 17.6, 30)], crs,
                               [{"class": "aircraft", "type": "Su-24M", "state": "normal", "score": 0.8,
                                 "heading_deg": 30}])
    (tmp_path / "t.geojson").write_text(json.dumps(truth))
    (tmp_path / "p.geojson").write_text(json.dumps(pred))
    r = CliRunner().invoke(app, ["eval", "--pred", str(tmp_path / "p.geojson"), "--truth", str(tmp_path / "t.geojson")])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["per_class"]["aircraft"]["ap50"] == pytest.approx(1.0)
    assert out["per_class"]["vehicle"]["recall"] == 0.0
    assert out["type_accuracy"] == 1.0 and out["heading_accuracy"] == 1.0
    assert out["frame_crs"] == crs


def test_eval_cli_yolo_obb_and_dota_folders(tmp_path):
    # Truth in YOLO-OBB (dota8 indices: 0 plane, 1 ship), predictions in DOTA with names.
    (tmp_path / "truth").mkdir()
    (tmp_path / "pred").mkdir()
    size = 1000  # pixels, given with --image-size
    (tmp_path / "truth" / "c1.txt").write_text("0 0.1 0.1 0.2 0.1 0.2 0.15 0.1 0.15\n1 0.5 0.5 0.9 0.5 0.9 0.55 0.5 0.55\n")
    (tmp_path / "pred" / "c1.txt").write_text("100 100 200 100 200 150 100 150 plane 0\n")
    r = CliRunner().invoke(app, ["eval", "--pred", str(tmp_path / "pred"), "--truth", str(tmp_path / "truth"),
                                 "--image-size", f"{size},{size}"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["per_class"]["aircraft"]["ap50"] == pytest.approx(1.0)
    assert out["per_class"]["ship"]["recall"] == 0.0
    assert out["counts"]["ship"] == {"predicted": 0, "true": 1}


def test_eval_cli_reports_bad_input(tmp_path):
    (tmp_path / "p.txt").write_text("0 0.1 0.2\n")
    (tmp_path / "t.txt").write_text("")
    import sys

    from sitewatch.cli.main import main
    argv = sys.argv
    sys.argv = ["sitewatch", "eval", "--pred", str(tmp_path / "p.txt"), "--truth", str(tmp_path / "t.txt"),
                "--image-size", "10,10"]
    try:
        with pytest.raises(SystemExit) as exc:
            main()
    finally:
        sys.argv = argv
    assert exc.value.code == 1
