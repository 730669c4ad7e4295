"""The Python API (`import sitewatch`): the README's example runs as written, and detection
takes a path, an open dataset or an array with its georeference alike."""

import contextlib
import io
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio

import sitewatch
from sitewatch.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Use from Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    """The README's example, run once in a fresh folder: (folder, what it printed)."""
    folder = tmp_path_factory.mktemp("api")
    (folder / "scenarios").mkdir()
    shutil.copy(ROOT / "scenarios" / "smallbase.yaml", folder / "scenarios")
    out = io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(out):
        exec(compile(_readme_example(), "README.md", "exec"), {})
    return folder, out.getvalue().splitlines()


def test_the_readme_example_reports_the_scenarios_withdrawal(example_run):
    folder, lines = example_run
    # smallbase.yaml: the four S-400 launchers leave and an An-124 arrives with its nose open.
    assert sum(line.startswith("departed air_defence S-400 launcher") for line in lines) == 4
    assert any(line.startswith("arrived aircraft An-124") for line in lines)
    assert any("withdrawal is likely under way" in line for line in lines)
    assert (folder / "report" / "smallbase.html").exists()


def test_the_readme_example_detects_the_second_date(example_run):
    _, lines = example_run
    found = [line.split()[:3] for line in lines if line.split()[:1] == ["aircraft"] and len(line.split()) >= 5]
    assert ["aircraft", "An-124", "cargo_open"] in found  # it arrived on the second date, nose open


def test_detection_is_the_same_from_a_path_a_dataset_and_an_array(example_run):
    folder, _ = example_run
    image = sorted((folder / "scenes" / "smallbase").glob("*.tif"))[-1]
    model = sitewatch.load_detector()
    by_path = sitewatch.detect_image(image, model)
    with rasterio.open(image) as ds:
        by_dataset = sitewatch.detect_image(ds, model)
        pixels, transform, crs = ds.read(), ds.transform, ds.crs
    # The array's acquisition time, as the file's tag gives it (the sun guides the helicopter refiner).
    by_array = sitewatch.detect_image(pixels, model, transform=transform, crs=crs,
                                      acquired=datetime(2024, 12, 10, 8, 15, tzinfo=UTC))
    key = [(d.cls, d.type, round(d.box.cx, 3), round(d.box.cy, 3)) for d in by_path]
    assert key and key == [(d.cls, d.type, round(d.box.cx, 3), round(d.box.cy, 3)) for d in by_dataset]
    assert key == [(d.cls, d.type, round(d.box.cx, 3), round(d.box.cy, 3)) for d in by_array]


def test_an_array_without_its_georeference_is_refused():
    with pytest.raises(InputError, match="transform and crs"):
        sitewatch.detect_image(np.zeros((3, 64, 64), np.uint8))


def test_both_kinds_of_model_are_detectors_and_the_api_is_documented():
    assert isinstance(sitewatch.load_detector(), sitewatch.Detector)
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        help(sitewatch)
    for name in ("detect_image", "open_catalog", "add_sites", "ingest", "run_site", "site_events",
                 "site_assessment", "simulate_scenario", "load_detector", "Detector"):
        assert name in text.getvalue()
    assert sitewatch.__version__ == sitewatch.load_detector().info.version


def test_the_pipeline_behaves_as_recorded(example_run):
    """Every detection, event and the assessment on smallbase as `tests/data/smallbase-golden.json`
    recorded them (`python tests/golden.py` rewrites it when a change means to alter them)."""
    import golden

    folder, _ = example_run
    with sitewatch.open_catalog(folder / "catalog.db") as catalog:
        got = golden.record(catalog)
    want = json.loads(golden.GOLDEN.read_text())
    assert len(want["detections"]) > 20 and len(want["events"]) >= 5
    assert golden.differences(got, want) == []


def test_the_recorded_behaviour_check_tells_a_moved_box_and_a_lost_event():
    import copy

    import golden

    want = json.loads(golden.GOLDEN.read_text())
    assert golden.differences(copy.deepcopy(want), want) == []
    moved = copy.deepcopy(want)
    moved["detections"][0]["cx"] += 0.5
    assert len(golden.differences(moved, want)) == 1
    lost = copy.deepcopy(want)
    lost["events"] = lost["events"][1:]
    assert any(line.startswith("events") for line in golden.differences(lost, want))
