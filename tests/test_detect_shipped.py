"""The shipped model on small simulated scenes it never saw: it finds what is there, with
types, and little else. Thresholds sit below the held-out figures in docs/model-card.md,
with room for the spread of a single small scene (a few dozen objects)."""

import pytest

from sitewatch.detect.evaluate import Labelled, evaluate
from sitewatch.detect.inference import detect_scene
from sitewatch.detect.labels import read_geojson_objects
from sitewatch.detect.model import DEFAULT_MODEL, DetectionModel
from sitewatch.simulate import simulate_scenario
from sitewatch.simulate.random_scenario import random_scenario

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no shipped model in src/sitewatch/models")

SCENE_PX = 640  # 320 m at 0.5 m: room for a few rows of equipment
SEEDS = {"airbase": 424242, "naval_base": 434343}  # far from the training chips' seeds
MIN_RECALL = 0.8
MIN_PRECISION = 0.8
MIN_TYPE_ACCURACY = 0.75


@pytest.fixture(scope="module")
def model():
    return DetectionModel()


@pytest.mark.parametrize("kind", ["airbase", "naval_base"])
def test_shipped_model_finds_the_objects_with_their_types(model, kind, tmp_path):
    scenario = random_scenario(SEEDS[kind], kind=kind, gsd_m=0.5, size_px=SCENE_PX, n_dates=1)
    result = simulate_scenario(scenario, tmp_path)
    image, truth = result.images[0], result.truths[0]
    dets, grid, _ = detect_scene(image, model)
    truths = read_geojson_objects(truth, grid.crs)
    assert len(truths) >= 5  # the scene has something to find
    preds = [Labelled(d.cls, (d.box.cx, d.box.cy, d.box.length, d.box.width, d.box.heading_deg), d.type, d.state,
                      d.score) for d in dets]
    r = evaluate({"x": preds}, {"x": truths}, score_threshold=model.info.score_threshold)
    assert r["recall"] >= MIN_RECALL, r
    assert r["precision"] >= MIN_PRECISION, r
    if r["type_accuracy"] is not None:
        assert r["type_accuracy"] >= MIN_TYPE_ACCURACY, r
    for d in dets:
        assert d.model_id == model.info.model_id and d.window is not None
