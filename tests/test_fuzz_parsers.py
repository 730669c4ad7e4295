"""A bounded fuzz run of each parser of users' files (issue 29): scenario YAML, site GeoJSON,
STAC items, DOTA and YOLO-OBB labels, label GeoJSON, truth files, rules files and dates.
Each gets hostile variants of a valid input (tests/fuzzing.py) and may raise nothing but
sitewatch's own errors (SitewatchError and its children).

`make test` runs FUZZ_COUNT (2,000) variants of each, 24,000 in all, about 2 minutes on the
2-core development machine under load (the scenario and rules parsers take most of it);
SITEWATCH_FUZZ_QUICK=1 runs FUZZ_QUICK_COUNT (150) of each, for a quick check while editing.
A failure names the variant's number and keeps its bytes in the test's tmp_path, so it
reproduces.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzzing import dump_json, dump_lines, dump_yaml, mutations

from sitewatch.assess.rules import load_rules
from sitewatch.detect.labels import looks_like_dota, parse_class_map, read_dota, read_geojson_objects, read_yolo_obb
from sitewatch.errors import SitewatchError
from sitewatch.geo.observation import observation_of
from sitewatch.geo.raster import implausible_time, parse_datetime
from sitewatch.geo.sitefile import read_sites_geojson
from sitewatch.simulate.loading import load_scenario
from sitewatch.simulate.truth import TRUTH_VERSION, read_change_truth, read_image_truth
from sitewatch.workflow.ingest import datetime_from_name, gather_sources

FUZZ_COUNT = 2000
FUZZ_QUICK_COUNT = 150
COUNT = FUZZ_QUICK_COUNT if os.environ.get("SITEWATCH_FUZZ_QUICK") == "1" else FUZZ_COUNT

SRC = Path(__file__).resolve().parents[1] / "src" / "sitewatch"
SCENARIO = SRC / "scenarios" / "khmeimim-tartus-2024-12.yaml"
RULES = SRC / "assess" / "rules.yaml"
LON, LAT = 35.948, 35.401


@dataclass(frozen=True)
class Corpus:
    """One valid input of a parser: its bytes, its parsed form and how to write that back."""

    seed: bytes
    doc: Any
    dump: Callable[[Any], bytes]


def square(lon: float, lat: float, d: float) -> list[list[float]]:
    return [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]


def polygon(ring: list[list[float]]) -> dict:
    return {"type": "Polygon", "coordinates": [ring]}


def site_geojson() -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": polygon(square(LON, LAT, 0.005)),
         "properties": {"name": "khmeimim", "kind": "airbase", "gsd_m": 0.5, "margin_m": 50}},
        {"type": "Feature", "geometry": polygon(square(LON + 0.001, LAT, 0.0005)),
         "properties": {"zone": "apron_1", "zone_kind": "apron", "site": "khmeimim"}}]}


def stac_item() -> dict:
    return {"type": "Feature", "stac_version": "1.0.0", "id": "scene-1", "stac_extensions": [],
            "geometry": polygon(square(LON, LAT, 0.01)), "bbox": [LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01],
            "properties": {"datetime": "2024-12-03T07:45:00Z", "eo:cloud_cover": 5, "gsd": 0.5,
                           "platform": "worldview-3", "constellation": "maxar", "instruments": ["wv110"],
                           "view:off_nadir": 12.5, "view:azimuth": 200.0, "view:sun_azimuth": 160.0,
                           "view:sun_elevation": 32.0,
                           "providers": [{"name": "Maxar", "roles": ["producer", "licensor"]}],
                           "start_datetime": "2024-12-03T07:45:00Z", "end_datetime": "2024-12-03T07:46:00Z"},
            "links": [], "assets": {
                "visual": {"href": "scene.tif", "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                           "roles": ["data"]},
                "thumbnail": {"href": "thumb.png", "type": "image/png"}}}


def label_geojson() -> dict:
    return {"type": "FeatureCollection", "site_crs": "EPSG:32636", "features": [
        {"type": "Feature", "geometry": polygon(square(LON, LAT, 0.0002)),
         "properties": {"class": "aircraft", "type": "Su-35", "state": "normal", "score": 0.9, "heading_deg": 12.5,
                        "center_site_crs": [766980.0, 3922256.0], "length_m": 21.9, "width_m": 15.3}},
        {"type": "Feature", "geometry": polygon(square(LON + 0.001, LAT, 0.0001)),
         "properties": {"class": "vehicle", "score": 0.4, "difficult": True}}]}


def image_truth() -> dict:
    box = {"class": "aircraft", "type": "Su-35", "state": "normal", "track_id": "t1", "zone": "apron",
           "heading_deg": 12.5, "length_m": 21.9, "width_m": 15.3, "center_site_crs": [766980.0, 3922256.0],
           "pixel_polygon": [[10, 10], [50, 10], [50, 40], [10, 40]], "in_frame": 1.0, "wings_swept": False,
           "appearance_seed": 3}
    return {"type": "FeatureCollection", "truth_version": TRUTH_VERSION, "site": "khmeimim", "date": "2024-12-03",
            "acquired": "2024-12-03T07:45:00Z", "image": "khmeimim_2024-12-03.tif", "site_crs": "EPSG:32636",
            "grid": {"crs": "EPSG:32636", "origin_x": 766000.0, "origin_y": 3923000.0, "gsd_m": 0.5,
                     "width_px": 3000, "height_px": 3000},
            "conditions": {"sun_azimuth_deg": 150.0, "sun_elevation_deg": 32.0, "haze": 0.1,
                           "colour_balance": [1.0, 0.98, 1.02], "noise_sigma": 2.0, "blur_sigma_px": 0.5,
                           "misregistration": {"shift_px": [1.5, -2.0], "rotation_deg": 0.2}, "cloud_cover": 0.0},
            "features": [{"type": "Feature", "geometry": polygon(square(LON, LAT, 0.0002)), "properties": box}]}


def change_truth() -> dict:
    return {"truth_version": TRUTH_VERSION, "pairs": [{"before": "2024-12-03", "after": "2024-12-10", "changes": [
        {"kind": "departed", "track_id": "t1", "type": "Su-35", "class": "aircraft", "source": "departure",
         "zone": "apron", "state": "normal"},
        {"kind": "state_changed", "track_id": "t2", "type": "An-124", "class": "aircraft", "source": "state_change",
         "zone": "transport_apron", "from_state": "normal", "to_state": "cargo_open"}]}]}


DOTA_LINES = [["imagesource:GoogleEarth"], ["gsd:0.5"], ["60", "60", "80", "60", "80", "70", "60", "70", "plane", "0"],
              ["10.5", "10", "50", "10", "50", "30", "10", "30", "large-vehicle", "1"]]
YOLO_LINES = [["0", "0.1", "0.1", "0.3", "0.1", "0.3", "0.2", "0.1", "0.2"],
              ["11", "0.5", "0.5", "0.6", "0.5", "0.6", "0.7", "0.5", "0.7", "0.83"]]
DATES = ["2024-12-09T08:30:00Z", "2024:12:09 08:30:00", "2024-12-09 08:30:00.25+03:00", "2024-12-09",
         "scene_20241209T083000.tif", "S2_2024-12-09_x.tif"]


def json_corpus(doc: Any) -> Corpus:
    return Corpus(json.dumps(doc, indent=1).encode(), doc, dump_json)


def yaml_corpus(path: Path) -> Corpus:
    text = path.read_bytes()
    return Corpus(text, yaml.safe_load(text), dump_yaml)


def lines_corpus(rows: list[list[str]]) -> Corpus:
    return Corpus(dump_lines(rows), rows, dump_lines)


# --- the parsers, each reading one file -------------------------------------------------------

def parse_dates(path: Path) -> None:
    """Dates as ingest reads them: TIFF tags and ISO text, and dates in file names."""
    for line in path.read_bytes().decode("utf-8", "replace").splitlines():
        for when in (parse_datetime(line), datetime_from_name(line.replace("/", "_").replace("\x00", ""))):
            if when is not None:
                implausible_time(when)


@functools.cache
def _shipped_scenario() -> dict:
    return yaml.safe_load(SCENARIO.read_text())


def parse_scenario_date(path: Path) -> None:
    """A date of a scenario, given in the `dates:` list of a scenario that is otherwise valid."""
    scenario = copy.deepcopy(_shipped_scenario())
    value = path.read_bytes().decode("utf-8", "replace")
    scenario["sites"][0]["dates"][1]["date"] = value
    load_scenario(scenario)


def parse_stac(path: Path) -> None:
    """A STAC item as ingest reads it: its raster assets, then each one's observation."""
    for found in gather_sources([str(path)]):
        if isinstance(found, SitewatchError):
            raise found  # gather_sources hands a bad target back in place
        observation_of(found.stac_properties, {}, 3, [])


def parse_labels_any(path: Path) -> None:
    """Labels as `sitewatch eval` and `dataset` read them: DOTA or YOLO-OBB by their look."""
    classes = parse_class_map(None)
    if looks_like_dota(path):
        read_dota(path, classes)
    else:
        read_yolo_obb(path, 1024, 1024, classes)


PARSERS: dict[str, tuple[Callable[[], Corpus], Callable[[Path], Any], str]] = {
    "scenario": (lambda: yaml_corpus(SCENARIO), load_scenario, ".yaml"),
    "site-geojson": (lambda: json_corpus(site_geojson()), read_sites_geojson, ".geojson"),
    "stac-item": (lambda: json_corpus(stac_item()), parse_stac, ".json"),
    "dota-labels": (lambda: lines_corpus(DOTA_LINES), lambda p: read_dota(p, parse_class_map(None)), ".txt"),
    "yolo-labels": (lambda: lines_corpus(YOLO_LINES), lambda p: read_yolo_obb(p, 1024, 1024, parse_class_map(None)),
                    ".txt"),
    "labels-by-look": (lambda: lines_corpus(DOTA_LINES + YOLO_LINES), parse_labels_any, ".txt"),
    "label-geojson": (lambda: json_corpus(label_geojson()), lambda p: read_geojson_objects(p, "EPSG:32636"),
                      ".geojson"),
    "image-truth": (lambda: json_corpus(image_truth()), read_image_truth, ".geojson"),
    "change-truth": (lambda: json_corpus(change_truth()), read_change_truth, ".json"),
    "rules": (lambda: yaml_corpus(RULES), load_rules, ".yaml"),
    "dates": (lambda: lines_corpus([[d] for d in DATES]), parse_dates, ".txt"),
    "scenario-date": (lambda: Corpus(b"2024-12-10T08:30:00Z", ["2024-12-10T08:30:00Z"], dump_lines),
                      parse_scenario_date, ".txt"),
}


def fuzz(name: str, count: int, tmp_path: Path) -> tuple[int, int]:
    """Run count variants through the parser; (accepted, refused with our errors). Anything
    else fails the test, naming the variant and keeping its bytes."""
    make, parse, suffix = PARSERS[name]
    corpus = make()
    path = tmp_path / f"input{suffix}"
    parse(_write(path, corpus.seed))  # the seed itself is valid
    accepted = refused = 0
    for n, data in enumerate(mutations(corpus.seed, corpus.doc, corpus.dump, count, rng_seed=hash_name(name))):
        _write(path, data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parse(path)
            accepted += 1
        except SitewatchError:
            refused += 1
        except Exception as exc:  # noqa: BLE001 - what the fuzz run looks for
            kept = tmp_path / f"crash-{name}-{n}{suffix}"
            kept.write_bytes(data)
            pytest.fail(f"{name} variant {n} raised {type(exc).__name__}: {str(exc)[:300]} (input kept in {kept})")
    return accepted, refused


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def hash_name(name: str) -> int:
    """A seed from the parser's name that does not change between runs (hash() does)."""
    return sum((i + 1) * b for i, b in enumerate(name.encode()))


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parsers_raise_only_sitewatch_errors_on_hostile_input(name, tmp_path):
    accepted, refused = fuzz(name, COUNT, tmp_path)
    assert accepted + refused == COUNT
    if name != "dates":  # date parsers answer None, never an error, for text that is no date
        assert refused > 0, f"no variant of the {name} seed was refused: the mutator is not reaching the parser"
