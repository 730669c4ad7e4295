"""A simulated moment seen by three providers, through the whole pipeline: ingest records
each image's source, the image stamped 3 h off its time is flagged, every event is graded
with one word per source, and the report, the exports and the catalog carry the grades
(issue 32)."""

from __future__ import annotations

import json

import pytest
import yaml

import sitewatch
from sitewatch.errors import ModelError
from sitewatch.store import events_for_site, images_for_site

SCENARIO = {"seed": 1, "sites": [{
    "name": "tiny", "kind": "airbase", "lat": 35.4, "lon": 35.9, "extent_m": [240, 200], "gsd_m": 0.5,
    "zones": [{"name": "apron", "kind": "apron", "rect": {"center": [0, 20], "size": [200, 70]},
               "inventory": [{"type": "Su-34", "count": 3}]},
              {"name": "east", "kind": "apron", "rect": {"center": [60, -60], "size": [100, 60]}}],
    "dates": [{"date": "2024-12-05T08:00:00Z"},
              {"date": "2024-12-10T08:00:00Z",
               "arrivals": [{"type": "Su-25", "count": 2, "zone": "east"}],
               "sources": [{"provider": "Maxar", "platform": "worldview-3"},
                           {"provider": "Airbus", "platform": "pneo-3", "minutes_after": 60, "offset_m": [6, -8],
                            "stated_time_shift_h": 3, "seed": 2},
                           {"provider": "Capella", "modality": "sar", "minutes_after": 30, "offset_m": [-4, 0]}]}]}]}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    (folder / "tiny.yaml").write_text(yaml.safe_dump(SCENARIO))
    sitewatch.simulate_scenario(folder / "tiny.yaml", folder / "scenes")
    catalog = sitewatch.open_catalog(folder / "catalog.db")
    sitewatch.add_sites(catalog, folder / "tiny.yaml")
    sitewatch.ingest(catalog, [folder / "scenes" / "catalog.json"])  # the STAC items name each source
    try:
        outcome = sitewatch.run_site(catalog, "tiny", folder / "report")
    except ModelError:  # pragma: no cover
        pytest.skip("no detection model installed")
    yield folder, catalog, outcome
    catalog.close()


def test_each_image_records_its_source_and_the_shifted_timestamp_is_flagged(run):
    _, catalog, _ = run
    images = {i.path.rsplit("/", 1)[-1]: i for i in images_for_site(catalog, "tiny")}
    airbus = images["2024-12-10-airbus-optical-multispectral.tif"]
    assert airbus.observation.provider == "Airbus" and airbus.observation.modality == "optical_multispectral"
    assert any("sun check" in c for c in airbus.caveats)
    assert images["2024-12-10-capella-sar.tif"].observation.modality == "sar"
    assert not any(images["2024-12-10-maxar-optical-multispectral.tif"].caveats)


def test_events_are_graded_against_the_other_sources_and_stored(run):
    folder, catalog, outcome = run
    events = outcome.comparison.tracking.events
    assert events and all(e.grade in ("confirmed", "single_source", "disputed") for e in events)
    later = [e for e in events if e.sources and len(e.sources) > 1]
    assert later, "the later moment has other sources"
    assert {r.image_id for e in later for r in e.sources[1:]} <= {i.id for i in images_for_site(catalog, "tiny")}
    assert [e.grade for e in events_for_site(catalog, "tiny")] == [e.grade for e in events]
    html = (folder / "report" / "tiny.html").read_text()
    assert "corroboration: <b>" in html
    props = [f["properties"] for f in json.loads((folder / "report" / "tiny.geojson").read_text())["features"]
             if f["properties"].get("layer") == "event"]
    assert all(p["grade"] in ("confirmed", "single source", "single_source", "disputed") for p in props)
    assert all(len(p["sources"]) >= 1 for p in props)
