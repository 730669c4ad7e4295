"""The report and its exports on a small painted site with a known departure."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from xml.etree import ElementTree

import fiona
import pytest
from test_change_pixel import GRID, SITE, _aircraft_detection, _scene

from sitewatch import equipment
from sitewatch.change.tracking import Look
from sitewatch.domain import Image
from sitewatch.report import exports
from sitewatch.workflow.pipeline import compare_and_report


def _img(i):
    return Image(f"painted-d{i}", "painted", f"/x/{i}.tif", datetime(2024, 12, 5 + 5 * i), GRID.gsd_m, GRID.crs, GRID.width_px,
                 GRID.height_px)


def _inputs(departure=True):
    before = _scene(135, 50, 0.0, (1, 1, 1), (0, 0), seed=1)
    after = _scene(220, 30, 0.2, (1.05, 1, 0.95), (0.2, 0), aircraft=not departure, seed=2)
    det0 = _aircraft_detection()
    d0 = type(det0)(**{**det0.__dict__, "image_id": "painted-d0"})
    d1 = type(det0)(**{**det0.__dict__, "image_id": "painted-d1"})
    looks = [Look(_img(0), (d0,)), Look(_img(1), () if departure else (d1,))]
    return looks, {"painted-d0": before, "painted-d1": after}


def test_report_is_self_contained_and_shows_the_departure(tmp_path):
    looks, pixels = _inputs()
    out = compare_and_report(SITE, looks, tmp_path, pixels)
    (ev,) = out.comparison.tracking.events
    assert ev.kind == "departed" and ev.confidence >= 0.5  # corroborated by the pixels
    html = out.files.html.read_text()
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', html)
    # overview, the before/after chips of the one event, and the counts chart
    assert len(srcs) >= 4
    assert all(s.startswith("data:image/") for s in srcs)  # nothing to fetch: opens offline
    assert "http://" not in html and "https://" not in html
    assert out.judgement.assessment.headline in html


def test_exports_carry_their_crs_and_layers(tmp_path):
    looks, pixels = _inputs()
    out = compare_and_report(SITE, looks, tmp_path, pixels)
    with fiona.open(out.files.geopackage, layer="events") as src:
        assert src.crs.to_epsg() == 32637  # the site CRS, UTM 37N
        (f,) = list(src)
        assert f["properties"]["event"] == "departed" and f["properties"]["class"] == "aircraft"
    assert set(fiona.listlayers(out.files.geopackage)) == {"detections", "events", "change_regions"}
    gj = json.loads(out.files.geojson.read_text())
    lon, lat = gj["features"][0]["geometry"]["coordinates"][0][0]
    # 500 km easting in UTM 37N lies on the zone's central meridian, 39 E; 3900 km north is ~35.2 N.
    assert lon == pytest.approx(39.0, abs=0.01) and lat == pytest.approx(35.2, abs=0.1)
    kml = ElementTree.parse(out.files.kml).getroot()  # well-formed XML, in the KML 2.2 namespace
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    folders = {f.findtext("k:name", namespaces=ns): f for f in kml.iterfind(".//k:Folder", ns)}
    event_marks = [m for name, f in folders.items() if "vent" in (name or "") for m in f.iterfind("k:Placemark", ns)]
    assert len(event_marks) == 1  # the one departure
    ring = event_marks[0].findtext(".//k:coordinates", namespaces=ns).split()
    lon, lat = (float(v) for v in ring[0].split(",")[:2])
    assert lon == pytest.approx(39.0, abs=0.01) and lat == pytest.approx(35.2, abs=0.1)
    rows = list(csv.DictReader(out.files.counts_csv.open()))
    assert {r["image_id"] for r in rows} == {"painted-d0"}  # the aircraft is only on the first date


def test_a_failing_export_leaves_no_report(tmp_path, monkeypatch):
    looks, pixels = _inputs()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(exports, "write_kml", boom)
    with pytest.raises(RuntimeError):
        compare_and_report(SITE, looks, tmp_path, pixels)
    assert not (tmp_path / "painted.html").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_one_date_reports_insufficient_evidence(tmp_path):
    looks, pixels = _inputs()
    out = compare_and_report(SITE, looks[:1], tmp_path, pixels)
    assert out.judgement.assessment.posture == "insufficient_evidence"
    assert "insufficient evidence" in out.files.html.read_text()


def test_detections_carry_the_catalogue_role_and_size_fits_in_every_export(tmp_path):
    looks, pixels = _inputs(departure=False)
    out = compare_and_report(SITE, looks, tmp_path, pixels)
    d = looks[0].detections[0]
    with fiona.open(out.files.geopackage, layer="detections") as src:
        props = [f["properties"] for f in src]
    gj = json.loads(out.files.geojson.read_text())
    dets = [f["properties"] for f in gj["features"] if f["properties"]["layer"] == "detection"]
    assert props and dets
    want = equipment.describe_size(d.cls, d.type, d.box.length, d.box.width)
    assert want["role"] == equipment.get(d.type).role and want["size_matches"]
    assert all(p["role"] == want["role"] for p in props + dets)
    assert all(p["size_matches"] == want["size_matches"] for p in dets)  # a list in GeoJSON
    assert all(p["size_matches"] == ", ".join(want["size_matches"]) for p in props)  # text in a GeoPackage


def test_the_image_table_shows_source_angles_registration_and_caveats(tmp_path):
    from dataclasses import replace

    from sitewatch.domain import Observation

    looks, pixels = _inputs()
    stated = Observation(provider="Maxar", platform="worldview-3", modality="optical_pan", off_nadir_deg=17.25,
                         sun_azimuth_deg=163.4, sun_elevation_deg=31.9, origin="stac")
    caveat = "sun check: the metadata puts the sun at azimuth 163.4 deg ...: a wrong timestamp or a mislabelled image"
    looks = [replace(looks[0], image=replace(looks[0].image, observation=stated), registration_ce90_m=1.234),
             replace(looks[1], image=replace(looks[1].image, caveats=(caveat,)))]
    html = compare_and_report(SITE, looks, tmp_path, pixels).files.html.read_text()
    table = html[html.index("<h2>Images</h2>"):html.index("</table>", html.index("<h2>Images</h2>"))]
    assert "Maxar / worldview-3" in table and "optical pan" in table and "17.2" in table
    assert "163.4 / 31.9" in table and "1.2" in table and "wrong timestamp" in table
    assert table.count("<tr>") == 3  # the header and one row per image
