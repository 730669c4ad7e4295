"""A late image: a site watched through a folder takes its dates 1 and 3, then the image of
date 2 is copied in. Known answers from the scenario below: date 2 sees two S-400 launchers
gone, date 3 an An-124 arrived. Taken alone, dates 1 and 3 give events between them; once
date 2 is in the history those events no longer exist (the pair 1-3 is split), so every alert
of the pair is retracted, once, and the alerts of date 2 that report the same items (the
departures between 1 and 2, the arrival between 2 and 3) say which alert they revise. Taking
the same file again, or rerunning the watcher, writes nothing more."""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sitewatch.store import add_subscription, images_for_site, latest_assessment, list_alerts, open_catalog

pytestmark = pytest.mark.slow

SITE = "latebase"
RULES = {"kinds": ["departed", "arrived"], "classes": ["air_defence", "aircraft"], "min_confidence": 0.5,
         "posture_change": True}
SCENARIO = f"""
seed: 11
sites:
  - name: {SITE}
    kind: airbase
    lat: 35.401
    lon: 35.948
    extent_m: [400, 300]
    gsd_m: 0.5
    zones:
      - name: east_apron
        kind: apron
        rect: {{center: [-80, 60], size: [120, 120]}}
      - name: sam
        kind: air_defence_site
        polygon: [[60, -120], [160, -120], [160, -30], [60, -30]]
        inventory:
          - {{type: S-400 launcher, count: 4, state: erect}}
    dates:
      - date: 2024-12-05
      - date: 2024-12-08
        departures: [{{type: S-400 launcher, count: 2, zone: sam}}]
      - date: 2024-12-10
        arrivals: [{{type: An-124, count: 1, zone: east_apron, state: cargo_open}}]
"""
D1, D2, D3 = "2024-12-05.tif", "2024-12-08.tif", "2024-12-10.tif"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> tuple[Path, Path]:
    """The scenario file and its three rendered dates, once for the module."""
    import sitewatch

    folder = tmp_path_factory.mktemp("latebase")
    (folder / "late.yaml").write_text(SCENARIO)
    sitewatch.simulate_scenario(folder / "late.yaml", folder / "scenes")
    return folder / "late.yaml", folder / "scenes" / SITE


def _copy_in(src: Path, inbox: Path) -> None:
    part = inbox / f".{src.name}.part"
    shutil.copyfile(src, part)
    part.rename(inbox / src.name)


def _event(a) -> dict:
    return a.payload["data"]["event"]


def test_a_late_image_retracts_the_split_pairs_alerts_once_and_its_own_alerts_revise_them(scenario, tmp_path):
    import sitewatch
    from sitewatch.cli.main import app
    from sitewatch.detect.model import DetectionModel
    from sitewatch.watch import Watcher

    yaml, scenes = scenario
    db, inbox, out = tmp_path / "catalog.db", tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    with open_catalog(db) as cat:
        sitewatch.add_sites(cat, yaml)
        add_subscription(cat, SITE, [("folder", str(inbox))], RULES)
        w = Watcher(cat, DetectionModel(), out, feeds_dir=out / "feeds", settle_s=0.0)
        for name in (D1, D3):
            _copy_in(scenes / name, inbox)
            assert len(w.run_pass().processed) == 1
        ids = {Path(i.path).name: i.id for i in images_for_site(cat, SITE)}
        first = {a.id: a for a in list_alerts(cat)}
        posture_before = latest_assessment(cat, SITE).posture
        split = [a for a in first.values() if a.kind == "event"]
        assert {(_event(a)["before_image"], _event(a)["after_image"]) for a in split} == {(ids[D1], ids[D3])}
        assert ("arrived", "An-124") in {(_event(a)["kind"], _event(a)["type"]) for a in split}

        _copy_in(scenes / D2, inbox)
        (late,) = w.run_pass().processed
        ids[D2] = late.image_id
        now = {a.id: a for a in list_alerts(cat)}
        new = [a for a in now.values() if a.id not in first]

        # Every alert of the split pair is retracted, once, by the late image, saying why.
        retractions = [a for a in new if a.kind == "retraction"]
        assert sorted(a.payload["data"]["retracted"]["alert_id"] for a in retractions) == sorted(a.id for a in split)
        for r in retractions:
            data = r.payload["data"]
            assert r.payload["type"] == "sitewatch.event.retracted" and r.image_id == ids[D2]
            assert data["reason"] == "split"
            assert data["retracted"]["event_id"] == first[data["retracted"]["alert_id"]].event_id

        # Each retracted alert is revised by the alert of date 2 that reports the same item:
        # departures now between dates 1 and 2, the arrival between 2 and 3.
        pair_of_kind = {"departed": (ids[D1], ids[D2]), "arrived": (ids[D2], ids[D3])}
        for r in retractions:
            old = first[r.payload["data"]["retracted"]["alert_id"]]
            (by,) = r.payload["data"]["revised_by"]
            reviser = now[by]
            assert reviser.kind == "event" and reviser.payload["data"]["revises"] == [old.id]
            assert (_event(reviser)["kind"], _event(reviser)["type"]) == (_event(old)["kind"], _event(old)["type"])
            assert (_event(reviser)["before_image"], _event(reviser)["after_image"]) == pair_of_kind[_event(old)["kind"]]
        revising = [a for a in new if a.payload["data"].get("revises")]
        assert len(revising) == len(retractions)

        # Nothing said twice: one live An-124 arrival alert, and a posture change alerts once.
        retracted = {a.payload["data"]["retracted"]["alert_id"] for a in retractions}
        live = [a for a in now.values() if a.kind == "event" and a.id not in retracted]
        assert [_event(a)["type"] for a in live if _event(a)["kind"] == "arrived"] == ["An-124"]
        changed = latest_assessment(cat, SITE).posture != posture_before
        assert len([a for a in new if a.kind == "posture"]) == (1 if changed else 0)

        # The same file taken again (touched: a new version of it), then a restarted watcher.
        st = os.stat(inbox / D2)
        os.utime(inbox / D2, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        assert len(w.run_pass().processed) == 1
        again = Watcher(cat, DetectionModel(), out, feeds_dir=out / "feeds", settle_s=0.0)
        assert again.run_pass().processed == []
        assert sorted(a.id for a in list_alerts(cat)) == sorted(now)

    feed = ET.parse(out / "feeds" / f"{SITE}.atom").getroot()
    kinds = {e.find(f"{ATOM}id").text: e.find(f"{ATOM}category").get("term") for e in feed.findall(f"{ATOM}entry")}
    assert {k for k, v in kinds.items() if v == "retraction"} == {f"urn:sitewatch:alert:{a.id}" for a in retractions}
    assert len(kinds) == len(now)

    r = CliRunner().invoke(app, ["alerts", "list", "--json", "--db", str(db)])
    assert r.exit_code == 0, r.output
    listed = {a["id"]: a for a in json.loads(r.stdout)}
    assert {i for i, a in listed.items() if a["kind"] == "retraction"} == {a.id for a in retractions}
    assert {a["retracts"] for a in listed.values() if a["kind"] == "retraction"} == retracted
    assert sorted(x for a in listed.values() for x in a["revises"]) == sorted(retracted)
