"""`sitewatch watch` on a real folder with the simulator's small base (scenarios/smallbase.yaml):
its two dates land in the folder one after the other. Known answers from the scenario: the
first date alone says nothing (one date: insufficient evidence, no alert); the second gives
4 S-400 launchers departed and 1 An-124 arrived (the subscription alerts on departures and
arrivals of aircraft and air defence), and the posture turns to withdrawal: 6 alerts. The
Su-24M's move and the Ka-52s' lost rotors are events too, but not of the kinds subscribed.
A second pass, and a restarted watcher, take nothing; a half-written file is not taken."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sitewatch.store import (
    add_subscription,
    events_for_site,
    images_for_site,
    list_alerts,
    list_subscriptions,
    open_catalog,
    watched_files,
)

pytestmark = pytest.mark.slow

EXE = str(Path(sys.executable).with_name("sitewatch"))
ROOT = Path(__file__).resolve().parents[1]
SITE = "smallbase"
RULES = {"kinds": ["departed", "arrived"], "classes": ["air_defence", "aircraft"], "min_confidence": 0.5,
         "posture_change": True}
SETTLE = "0.3"  # seconds: the files are copied whole before each pass


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    """The scenario's two dates, rendered once for the module."""
    import sitewatch

    folder = tmp_path_factory.mktemp("smallbase")
    sitewatch.simulate_scenario(ROOT / "scenarios" / "smallbase.yaml", folder / "scenes")
    return folder / "scenes" / SITE


@pytest.fixture
def watched(tmp_path):
    """A catalog with the site and a subscription of an empty inbox folder."""
    import sitewatch

    db, inbox = tmp_path / "catalog.db", tmp_path / "inbox"
    inbox.mkdir()
    with open_catalog(db) as cat:
        sitewatch.add_sites(cat, ROOT / "scenarios" / "smallbase.yaml")
        add_subscription(cat, SITE, [("folder", str(inbox))], RULES)
    return db, inbox


def _watch_once(db: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, "watch", "--once", "--settle", SETTLE, "--db", str(db), "--out", str(out)],
                          capture_output=True, text=True, timeout=600)


def _copy_in(src: Path, inbox: Path) -> Path:
    """As a careful writer does: a hidden name first, renamed when whole."""
    part = inbox / f".{src.name}.part"
    shutil.copyfile(src, part)
    part.rename(inbox / src.name)
    return inbox / src.name


def test_each_new_image_is_processed_once_and_alerts_once_across_passes_and_restarts(scenes, watched, tmp_path):
    db, inbox = watched
    out = tmp_path / "watch"
    _copy_in(scenes / "2024-12-05.tif", inbox)
    r = _watch_once(db, out)
    assert r.returncode == 0, r.stderr
    assert "1 image(s) processed" in r.stdout
    with open_catalog(db) as cat:
        assert len(images_for_site(cat, SITE)) == 1 and list_alerts(cat) == []  # one date: nothing to say

    _copy_in(scenes / "2024-12-10.tif", inbox)
    r = _watch_once(db, out)
    assert r.returncode == 0, r.stderr
    assert "1 image(s) processed" in r.stdout
    with open_catalog(db) as cat:
        alerts = list_alerts(cat)
        events = events_for_site(cat, SITE)
        (sub,) = list_subscriptions(cat)
        files = watched_files(cat, sub.sources[0].id)
    kinds = sorted((a.kind, a.payload["data"].get("event", {}).get("type")) for a in alerts)
    assert kinds == [("event", "An-124")] + [("event", "S-400 launcher")] * 4 + [("posture", None)]
    (posture,) = [a for a in alerts if a.kind == "posture"]
    assert posture.payload["data"]["posture"]["now"] == "withdrawal"
    assert len(events) == 8  # 4 departed, 1 arrived, 1 moved, 2 state changes: all stored, 6 alerted
    assert all(a.delivery == "none" for a in alerts)  # no webhook: the feed only
    assert [f["status"] for f in files] == ["processed", "processed"]
    assert (out / SITE / f"{SITE}.html").exists()  # the site's report, as `sitewatch run` writes it

    feed = ET.parse(out / "feeds" / f"{SITE}.atom").getroot()
    entries = feed.findall("{http://www.w3.org/2005/Atom}entry")
    assert sorted(e.find("{http://www.w3.org/2005/Atom}id").text for e in entries) == sorted(
        f"urn:sitewatch:alert:{a.id}" for a in alerts)

    # A second pass, in a new process (a restart): nothing new, nothing processed again.
    r = _watch_once(db, out)
    assert r.returncode == 0, r.stderr
    assert "0 image(s) processed" in r.stdout
    with open_catalog(db) as cat:
        assert sorted(a.id for a in list_alerts(cat)) == sorted(a.id for a in alerts)
        assert len(images_for_site(cat, SITE)) == 2


def test_a_half_written_file_is_not_taken_until_it_is_whole(scenes, watched, tmp_path):
    from sitewatch.detect.model import DetectionModel
    from sitewatch.watch import Watcher

    db, inbox = watched
    whole = (scenes / "2024-12-05.tif").read_bytes()
    target = inbox / "2024-12-05.tif"
    target.write_bytes(whole[: len(whole) // 2])  # a copy stopped half-way (its size is steady)
    with open_catalog(db) as cat:
        w = Watcher(cat, DetectionModel(), tmp_path / "out", settle_s=0.0)
        report = w.run_pass()
        assert report.processed == [] and len(report.waiting) == 1
        assert images_for_site(cat, SITE) == []  # never ingested

        # A copy still growing: it grows while the pass waits for it to settle.
        def grow(_seconds):
            with open(target, "ab") as f:
                f.write(whole[len(whole) // 2: len(whole) // 2 + 4096])

        growing = Watcher(cat, DetectionModel(), tmp_path / "out", settle_s=1.0, sleep=grow)
        report = growing.run_pass()
        assert report.processed == [] and report.waiting == []  # not settled, so not even opened

        target.write_bytes(whole)
        report = w.run_pass()
        assert [t.status for t in report.taken] == ["processed"]
        assert len(images_for_site(cat, SITE)) == 1


def test_a_crash_before_the_commit_leaves_no_alert_and_the_restart_alerts_once(scenes, watched, tmp_path, monkeypatch):
    """The events, the alerts and the record of the file commit together: a failure in that
    transaction leaves none of them, and the next pass takes the file again, once."""
    import sitewatch.watch.take as take
    from sitewatch.detect.model import DetectionModel
    from sitewatch.watch import Watcher

    db, inbox = watched
    _copy_in(scenes / "2024-12-05.tif", inbox)
    with open_catalog(db) as cat:
        w = Watcher(cat, DetectionModel(), tmp_path / "out", settle_s=0.0)
        assert len(w.run_pass().processed) == 1
        _copy_in(scenes / "2024-12-10.tif", inbox)

        real = take.record_file

        def crash(*args, **kwargs):
            real(*args, **kwargs)
            raise OSError("simulated crash inside the commit")

        monkeypatch.setattr(take, "record_file", crash)
        report = w.run_pass()
        assert report.processed == [] and len(report.failed) == 1
        assert list_alerts(cat) == [] and events_for_site(cat, SITE) == []  # rolled back whole
        assert len(images_for_site(cat, SITE)) == 2  # ingest had added the image: in progress

        monkeypatch.setattr(take, "record_file", real)
        restarted = Watcher(cat, DetectionModel(), tmp_path / "out", settle_s=0.0)
        assert len(restarted.run_pass().processed) == 1
        assert len(list_alerts(cat)) == 6
        assert restarted.run_pass().processed == []
        assert len(list_alerts(cat)) == 6


def test_the_watcher_survives_its_folder_vanishing_and_coming_back(scenes, watched, tmp_path):
    from sitewatch.detect.model import DetectionModel
    from sitewatch.watch import Watcher

    db, inbox = watched
    said = []
    with open_catalog(db) as cat:
        w = Watcher(cat, DetectionModel(), tmp_path / "out", settle_s=0.0, say=said.append)
        inbox.rmdir()
        report = w.run_pass()
        assert report.missing == [str(inbox)] and report.taken == []
        assert w.run_pass().missing == [str(inbox)]
        assert sum("not there" in line for line in said) == 1  # said once, not every poll
        inbox.mkdir()
        _copy_in(scenes / "2024-12-05.tif", inbox)
        report = w.run_pass()
        assert report.missing == [] and len(report.processed) == 1
        assert any("is back" in line for line in said)


def test_a_static_stac_catalog_is_watched_and_its_items_taken_once_with_their_datetimes(scenes, tmp_path):
    """The simulator's own STAC catalog of the two dates: one pass takes both (oldest first),
    with the items' datetimes; the 6 alerts are those of the folder test; a pass more takes none."""
    import sitewatch
    from sitewatch.detect.model import DetectionModel
    from sitewatch.store import image_details
    from sitewatch.watch import Watcher

    db = tmp_path / "catalog.db"
    with open_catalog(db) as cat:
        sitewatch.add_sites(cat, ROOT / "scenarios" / "smallbase.yaml")
        add_subscription(cat, SITE, [("stac", str(scenes.parent / "catalog.json"))], RULES)
        w = Watcher(cat, DetectionModel(), tmp_path / "out", settle_s=0.0)
        report = w.run_pass()
        assert [t.status for t in report.taken] == ["processed", "processed"], report.failed
        assert len(list_alerts(cat)) == 6
        assert {image_details(cat, i.id)["datetime_source"] for i in images_for_site(cat, SITE)} == {"stac"}
        assert w.run_pass().taken == []
