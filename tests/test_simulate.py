"""End to end: a small scenario rendered to COGs, truth and STAC, checked from the files."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC
from pathlib import Path

import cv2
import numpy as np
import pystac
import pytest
import rasterio
from pyproj import Transformer

from sitewatch.geo.grid import grid_transform, utm_crs
from sitewatch.simulate import simulate_scenario
from sitewatch.simulate.render import render_scene
from sitewatch.simulate.truth import apparent_pixels, read_change_truth, read_image_truth, true_pixels
from sitewatch.simulate.writer import write_cog

LAT, LON = 35.401, 35.948
RADAR_AT = (60.0, -40.0)  # centre of the air-defence zone, metres east/north of the site point
OVERHEAD = {"sun_azimuth_deg": 180.0, "sun_elevation_deg": 90.0}  # no shadows: object pixels are the objects
SMALL = {
    "seed": 5,
    "sites": [{
        "name": "small",
        "kind": "airbase",
        "lat": LAT,
        "lon": LON,
        "extent_m": [200, 150],  # 400 x 300 px at 0.5 m
        "gsd_m": 0.5,
        "zones": [
            {"name": "apron", "kind": "apron", "rect": {"center": [-40, 35], "size": [100, 40]},
             "inventory": [{"type": "Su-34", "count": 2}, {"type": "Su-25", "count": 1}]},
            {"name": "apron_b", "kind": "apron", "rect": {"center": [-40, -15], "size": [100, 40]}},
            {"name": "helipad", "kind": "helipad", "rect": {"center": [55, 40], "size": [70, 40]},
             "inventory": [{"type": "Ka-52", "count": 2}]},
            {"name": "ad", "kind": "air_defence_site", "rect": {"center": list(RADAR_AT), "size": [50, 50]},
             "inventory": [{"type": "92N6 radar", "count": 1}, {"type": "S-400 launcher", "count": 2}]},
        ],
        "dates": [
            {"date": "2024-12-05", "conditions": dict(OVERHEAD)},
            {"date": "2024-12-10", "conditions": {**OVERHEAD, "shift_px": [3.5, -2.0], "rotation_deg": 0.8},
             "arrivals": [{"type": "Su-24M", "count": 1, "zone": "apron_b", "wings": "swept"}],
             "departures": [{"type": "S-400 launcher", "count": 1, "zone": "ad"}],
             "moves": [{"type": "Su-25", "count": 1, "from_zone": "apron", "to_zone": "apron_b"}],
             "state_changes": [{"type": "Ka-52", "count": 1, "zone": "helipad", "to_state": "rotor_removed"}]},
            {"date": "2024-12-13", "conditions": {"haze": 0.2, "noise_sigma": 3.0, "blur_sigma_px": 0.8,
                                                  "shift_px": [-2.0, 1.0], "colour_balance": [1.05, 1.0, 0.95]}},
        ],
    }],
}
KIND_OF = {"arrivals": "arrived", "departures": "departed", "moves": "moved", "state_changes": "state_changed"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    a = simulate_scenario(SMALL, tmp_path_factory.mktemp("a") / "out")
    b = simulate_scenario(SMALL, tmp_path_factory.mktemp("b") / "out")
    c = simulate_scenario(SMALL, tmp_path_factory.mktemp("c") / "out", seed=6)
    return a, b, c


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_scenario_and_seed_give_byte_identical_files(runs):
    a, b, _ = runs
    fa, fb = _files(a.out_dir), _files(b.out_dir)
    assert len(fa) == 3 * 3 + 3 + 1  # per date: tif, truth, STAC item; per site: changes, site, collection; catalog
    assert fa.keys() == fb.keys()
    assert [k for k in fa if fa[k] != fb[k]] == []


def test_another_seed_gives_another_layout(runs):
    a, _, c = runs
    ta = read_image_truth(a.truths[0])
    tc = read_image_truth(c.truths[0])
    assert [o.type for o in ta.objects] == [o.type for o in tc.objects]
    assert [o.box for o in ta.objects] != [o.box for o in tc.objects]


def test_geotiff_has_the_site_utm_crs_grid_transform_time_tags_and_cog_layout(runs):
    a = runs[0]
    grid = a.plans[0].site.grid
    with rasterio.open(a.images[0]) as ds:
        assert ds.crs.to_string() == utm_crs(LAT, LON) == "EPSG:32636"
        assert ds.transform.almost_equals(grid_transform(grid), precision=1e-9)
        assert (ds.width, ds.height, ds.count, ds.dtypes[0]) == (grid.width_px, grid.height_px, 3, "uint8")
        tags = ds.tags()
        assert tags["TIFFTAG_DATETIME"] == "2024:12:05 08:06:00"
        assert tags["ACQUISITION_DATETIME"] == "2024-12-05T08:06:00Z"
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.compression.name.lower() == "deflate"


def test_large_images_get_internal_tiles_and_overviews(tmp_path):
    from sitewatch.domain import SiteGrid

    grid = SiteGrid("EPSG:32636", 767000.0, 3922000.0, 0.5, 1200, 1100)  # > 2 tiles of 512 each way
    rgb = np.random.default_rng(0).integers(0, 255, (1100, 1200, 3), dtype=np.uint8)
    from datetime import datetime

    write_cog(tmp_path / "x.tif", rgb, grid, datetime(2024, 12, 5, 8, 6, tzinfo=UTC))
    with rasterio.open(tmp_path / "x.tif") as ds:
        assert ds.block_shapes[0] == (512, 512)
        assert ds.overviews(1) == [2, 4]  # down to one tile
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert np.array_equal(ds.read(), np.moveaxis(rgb, 2, 0))  # lossless


# --- where things are ------------------------------------------------------------------

def _object_pixels(result, date_index: int) -> np.ndarray:
    """Pixels where the written image differs from the same scene rendered without objects."""
    d = result.plans[0].dates[date_index]
    with rasterio.open(result.images[date_index]) as ds:
        img = np.moveaxis(ds.read(), 0, 2).astype(np.int16)
    empty = render_scene(replace(d.spec, objects=())).astype(np.int16)
    # noise and blur are off in these scenes: any difference of a few DN is the object (pale paint
    # on a pale apron differs by little)
    return (np.abs(img - empty).max(axis=2) > 3).astype(np.uint8)


def _centred_outline(obj) -> bool:
    """Whether an object's drawn outline reaches its box on all four sides. Parked rotor
    blades are thin lines at a fixed angle: only their tips touch the disc, so a helicopter
    with its rotor on reaches its box edge on some sides and falls short by up to a fifth of
    the radius on others."""
    return not (obj.cls == "helicopter" and obj.state == "normal")


def _pixels_of(obj: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The object pixels belonging to one truth polygon: every connected part of the object
    mask that touches the polygon (objects stand metres apart, so parts are never shared)."""
    n, labels = cv2.connectedComponents(obj, connectivity=8)
    touching = np.unique(labels[(inside > 0) & (obj > 0)])
    return np.isin(labels, touching[touching > 0]).astype(np.uint8)


def _truth_pixel_rings(truth_path: Path, image_path: Path) -> list[tuple[str, np.ndarray]]:
    """Each feature's lon/lat ring reprojected (pyproj) to the image's pixels via its own
    CRS and transform, then moved by the misregistration the truth records."""
    doc = json.loads(truth_path.read_text())
    t = read_image_truth(truth_path)
    with rasterio.open(image_path) as ds:
        to_img = ~ds.transform
        crs = ds.crs.to_string()
    to_site = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    out = []
    for f in doc["features"]:
        ring = np.asarray(f["geometry"]["coordinates"][0][:-1])
        xs, ys = to_site.transform(ring[:, 0], ring[:, 1])
        xs, ys = np.asarray(xs), np.asarray(ys)
        cols, rows = to_img.a * xs + to_img.b * ys + to_img.c, to_img.d * xs + to_img.e * ys + to_img.f
        c, r = apparent_pixels(t.grid, t.conditions, cols, rows)
        out.append((f["properties"]["track_id"], np.stack([c, r], axis=1)))
    return out


def _extent_centre_offset(mask: np.ndarray, ring: np.ndarray) -> tuple[float, float]:
    """Offset (along, across) in pixels between the middle of the mask's extent measured
    along the ring's axes and the ring's centre. Ring: front-left, rear-left, rear-right,
    front-right."""
    centre = ring.mean(axis=0)
    along = (ring[0] - ring[1]) / np.linalg.norm(ring[0] - ring[1])
    across = (ring[0] - ring[3]) / np.linalg.norm(ring[0] - ring[3])
    pts = np.argwhere(mask)[:, ::-1] + 0.5 - centre  # pixel centres, (col, row)
    a, c = pts @ along, pts @ across
    return (a.max() + a.min()) / 2.0, (c.max() + c.min()) / 2.0


@pytest.mark.parametrize("date_index", [0, 1], ids=["aligned", "misregistered"])
def test_truth_polygons_land_on_the_rendered_objects(runs, date_index):
    a = runs[0]
    obj = _object_pixels(a, date_index)
    rings = _truth_pixel_rings(a.truths[date_index], a.images[date_index])
    assert len(rings) == len(a.plans[0].dates[date_index].spec.objects)
    truth_states = {o.track_id: o for o in read_image_truth(a.truths[date_index]).objects}
    for track_id, ring in rings:
        inside = np.zeros_like(obj)
        cv2.fillPoly(inside, [np.round((ring - 0.5) * 16).astype(np.int32)], 1, shift=4)
        snug = cv2.dilate(inside, np.ones((3, 3), np.uint8))  # 1 px of rasterisation slack
        mine = _pixels_of(obj, inside)
        # a swept-wing bomber covers under a fifth of its box: ask for a tenth
        assert mine.sum() > 0.1 * inside.sum(), f"{track_id}: nothing rendered under its truth polygon"
        # almost all of the object's pixels fall inside its truth polygon ...
        assert (mine & snug).sum() >= 0.97 * mine.sum(), track_id
        # ... and the object's extent along and across the polygon's axes is centred on it, to a pixel
        if _centred_outline(truth_states[track_id]):
            if _centred_outline(truth_states[track_id]):
                assert np.hypot(*_extent_centre_offset(mine, ring)) <= 1.0, track_id


def test_a_known_lat_lon_lies_where_pyproj_says_to_half_a_pixel(runs):
    """The radar stands at the centre of its zone, RADAR_AT metres from the site point.
    Find it in the written (aligned) image and compare with pyproj's answer."""
    a = runs[0]
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32636", always_xy=True)
    x0, y0 = to_utm.transform(LON, LAT)
    with rasterio.open(a.images[0]) as ds:
        inv = ~ds.transform
        x, y = x0 + RADAR_AT[0], y0 + RADAR_AT[1]
        col, row = inv.a * x + inv.b * y + inv.c, inv.d * x + inv.e * y + inv.f
    obj = _object_pixels(a, 0)
    n, labels = cv2.connectedComponents(obj)
    hit = labels[int(row), int(col)]
    assert hit > 0, "no object at the radar's place"
    (cx, cy), (w, h), _ = cv2.minAreaRect(np.argwhere(labels == hit)[:, ::-1].astype(np.float32) + 0.5)
    assert max(w, h) * 0.5 == pytest.approx(13.8, abs=0.5 + 0.03 * 13.8)  # it is the 92N6 (13.8 m long)
    assert np.hypot(cx - col, cy - row) <= 0.5


def test_misregistration_maps_round_trip():
    from sitewatch.domain import SiteGrid
    from sitewatch.simulate.scene import Conditions

    g = SiteGrid("EPSG:32636", 0.0, 0.0, 0.5, 400, 300)
    c = Conditions(shift_px=(3.5, -2.0), rotation_deg=0.8)
    cols, rows = np.array([0.0, 200.0, 400.0, 17.3]), np.array([0.0, 150.0, 300.0, 250.1])
    ac, ar = apparent_pixels(g, c, cols, rows)
    assert (ac[1], ar[1]) == pytest.approx((203.5, 148.0))  # the centre only shifts
    # clockwise on screen: the top-left corner moves right (towards +col) and up (-row)
    assert ac[0] - 3.5 > 0 and ar[0] + 2.0 < 0
    bc, br = true_pixels(g, c, ac, ar)
    assert np.allclose(bc, cols) and np.allclose(br, rows)


# --- truth files -----------------------------------------------------------------------

def test_truth_geojson_is_rfc7946_with_the_site_crs_recorded(runs):
    a = runs[0]
    doc = json.loads(a.truths[1].read_text())
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    assert doc["site_crs"] == "EPSG:32636" and doc["grid"]["gsd_m"] == 0.5
    assert doc["conditions"]["misregistration"]["shift_px"] == [3.5, -2.0]
    from shapely.geometry import Polygon

    for f in doc["features"]:
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) == 5
        assert Polygon(ring).exterior.is_ccw  # RFC 7946: exterior rings counter-clockwise
        lon, lat = ring[0]
        assert abs(lon - LON) < 0.01 and abs(lat - LAT) < 0.01  # lon first, then lat
        p = f["properties"]
        assert set(p) >= {"class", "type", "state", "track_id", "heading_deg", "length_m", "width_m",
                          "site_crs_polygon", "pixel_polygon"}
        assert 0 <= p["heading_deg"] < 360


def test_truth_reader_gives_back_the_planned_objects(runs):
    a = runs[0]
    for d, path in zip(a.plans[0].dates, a.truths):
        t = read_image_truth(path)
        assert t.date == d.label and t.acquired == d.acquired and t.grid == a.plans[0].site.grid
        assert [o.track_id for o in t.objects] == [o.track_id for o in d.spec.objects]
        for got, want in zip(t.objects, d.spec.objects):
            assert (got.type, got.cls, got.state, got.zone) == (want.type, want.cls, want.state, want.zone)
            assert (got.box.cx, got.box.cy) == pytest.approx((want.box.cx, want.box.cy), abs=1e-3)
            assert got.box.heading_deg == pytest.approx(want.box.heading_deg, abs=1e-3)


def test_no_change_dates_with_other_nuisances_give_empty_change_truth(runs):
    a = runs[0]
    pairs = read_change_truth(a.change_truths[0])
    assert [(p.before, p.after) for p in pairs] == [("2024-12-05", "2024-12-10"), ("2024-12-10", "2024-12-13")]
    assert pairs[1].changes == ()
    t1, t2 = read_image_truth(a.truths[1]), read_image_truth(a.truths[2])
    assert t1.conditions != t2.conditions
    assert t1.objects == t2.objects  # the same items exactly in place


def test_every_scenario_change_appears_exactly_once(runs):
    a = runs[0]
    pairs = read_change_truth(a.change_truths[0])
    site = SMALL["sites"][0]
    expected: dict[str, tuple[str, int]] = {}
    for di, d in enumerate(site["dates"]):
        for key, kind in KIND_OF.items():
            for k, entry in enumerate(d.get(key, [])):
                expected[f"sites[0].dates[{di}].{key}[{k}]"] = (kind, entry["count"])
    got: dict[str, list] = {}
    for p in pairs:
        for c in p.changes:
            got.setdefault(c.source, []).append(c)
    assert set(got) == set(expected)
    for src, (kind, count) in expected.items():
        assert len(got[src]) == count and all(c.kind == kind for c in got[src]), src
    ids = [(c.kind, c.track_id) for p in pairs for c in p.changes]
    assert len(ids) == len(set(ids))


def test_changes_agree_with_the_truth_of_both_dates(runs):
    a = runs[0]
    pair = read_change_truth(a.change_truths[0])[0]
    before = {o.track_id: o for o in read_image_truth(a.truths[0]).objects}
    after = {o.track_id: o for o in read_image_truth(a.truths[1]).objects}
    touched = set()
    for c in pair.changes:
        touched.add(c.track_id)
        if c.kind == "arrived":
            assert c.track_id not in before and after[c.track_id].zone == c.zone
        elif c.kind == "departed":
            assert c.track_id in before and c.track_id not in after
        elif c.kind == "moved":
            assert (before[c.track_id].zone, after[c.track_id].zone) == (c.from_zone, c.to_zone)
        else:
            b, f = before[c.track_id], after[c.track_id]
            assert (b.state, f.state) == (c.from_state, c.to_state)
            assert (b.box.cx, b.box.cy, b.box.heading_deg) == (f.box.cx, f.box.cy, f.box.heading_deg)
            assert (f.box.length, f.box.width) == (13.5, 7.3)  # the Ka-52's bare fuselage, from the catalogue
    for tid in set(before) & set(after) - touched:
        assert before[tid] == after[tid]  # untouched items stay exactly in place


def test_stac_catalog_lists_every_image_with_time_projection_and_assets(runs):
    a = runs[0]
    cat = pystac.Catalog.from_file(str(a.catalog))
    colls = list(cat.get_children())
    assert [c.id for c in colls] == ["small"]
    items = sorted(colls[0].get_items(), key=lambda i: i.datetime)
    assert [i.datetime for i in items] == [d.acquired for d in a.plans[0].dates]
    for item, image, truth in zip(items, a.images, a.truths):
        assert item.properties["proj:code"] == "EPSG:32636"
        raw = json.loads(Path(item.get_self_href()).read_text())  # pystac migrates proj:epsg away on read
        assert raw["properties"]["proj:epsg"] == 32636
        assert item.properties["gsd"] == 0.5
        assert Path(item.assets["image"].get_absolute_href()).resolve() == image.resolve()
        assert Path(item.assets["truth"].get_absolute_href()).resolve() == truth.resolve()
        assert item.assets["image"].media_type == pystac.MediaType.COG


def test_a_failure_while_rendering_leaves_nothing_behind(tmp_path, monkeypatch):
    import sitewatch.simulate as sim

    calls = []

    def broken(date):
        calls.append(date.label)
        if len(calls) == 2:
            raise RuntimeError("renderer crashed")
        return render_scene(date.spec)

    monkeypatch.setattr(sim, "render_date", broken)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        sim.simulate_scenario(SMALL, out)
    assert calls == ["2024-12-05", "2024-12-10"] and not out.exists()


def test_the_cli_writes_the_same_bytes_in_another_process_and_says_where(runs, tmp_path):
    import subprocess
    import sys

    import yaml

    a = runs[0]
    f = tmp_path / "small.yaml"
    f.write_text(yaml.safe_dump(SMALL))
    out = tmp_path / "cli"
    run = subprocess.run([sys.executable, "-c", "from sitewatch.cli.main import main; main()", "simulate", str(f),
                          "--out", str(out), "--seed", str(SMALL["seed"])], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "PYTHONHASHSEED": "123"})
    assert run.returncode == 0, run.stderr
    for image in a.images:
        assert str(out / "small" / image.name) in run.stdout
    assert "STAC catalog: " + str(out / "catalog.json") in run.stdout
    assert _files(out) == _files(a.out_dir)  # another process, another hash seed: the same bytes


@pytest.mark.parametrize("kind,lat,lon,epsg", [("naval_base", -33.9, 18.4, "EPSG:32734"),
                                                ("airbase", 47.6, -122.3, "EPSG:32610")],
                         ids=["southern-hemisphere", "western-hemisphere"])
def test_random_sites_elsewhere_are_georeferenced_and_labelled_right(tmp_path, kind, lat, lon, epsg):
    from sitewatch.simulate.random_scenario import random_scenario

    doc = random_scenario(4, kind=kind, size_px=512, n_dates=2, lat=lat, lon=lon).model_dump(mode="json")
    for d in doc["sites"][0]["dates"]:  # keep the misregistration, drop what hides object pixels
        c = d["conditions"]
        c.update(OVERHEAD, noise_sigma=0.0, blur_sigma_px=0.0, haze=0.0, cloud_cover=0.0)
    result = simulate_scenario(doc, tmp_path / "out")
    assert sum(len(d.spec.objects) for d in result.plans[0].dates) > 0
    for i, (image, truth) in enumerate(zip(result.images, result.truths)):
        with rasterio.open(image) as ds:
            assert ds.crs.to_string() == utm_crs(lat, lon) == epsg
        obj = _object_pixels(result, i)
        truth_states = {o.track_id: o for o in read_image_truth(truth).objects}
        for track_id, ring in _truth_pixel_rings(truth, image):
            inside = np.zeros_like(obj)
            cv2.fillPoly(inside, [np.round((ring - 0.5) * 16).astype(np.int32)], 1, shift=4)
            mine = _pixels_of(obj, inside)
            if inside[0].any() or inside[-1].any() or inside[:, 0].any() or inside[:, -1].any():
                continue  # misregistration pushed part of it off the image
            assert mine.sum() > 0.1 * inside.sum(), track_id
            assert (mine & cv2.dilate(inside, np.ones((3, 3), np.uint8))).sum() >= 0.97 * mine.sum(), track_id
            if _centred_outline(truth_states[track_id]):
                assert np.hypot(*_extent_centre_offset(mine, ring)) <= 1.0, track_id


def test_site_json_records_the_grid_and_zones_in_the_site_crs(runs):
    a = runs[0]
    site = a.plans[0].site
    doc = json.loads((a.out_dir / "small" / "site.json").read_text())
    g = doc["grid"]
    assert doc["site_crs"] == site.grid.crs
    assert (g["origin_x"], g["origin_y"], g["gsd_m"], g["width_px"], g["height_px"]) == (
        site.grid.origin_x, site.grid.origin_y, site.grid.gsd_m, site.grid.width_px, site.grid.height_px)
    assert [z["name"] for z in doc["zones"]] == [z["name"] for z in SMALL["sites"][0]["zones"]]
    # the air-defence zone is a 50 m square centred RADAR_AT metres from the site point
    ad = np.asarray(next(z for z in doc["zones"] if z["name"] == "ad")["polygon_site_crs"])
    x0, y0 = Transformer.from_crs("EPSG:4326", site.grid.crs, always_xy=True).transform(LON, LAT)
    assert ad.mean(axis=0) == pytest.approx((x0 + RADAR_AT[0], y0 + RADAR_AT[1]), abs=1e-3)
    assert np.ptp(ad, axis=0) == pytest.approx((50.0, 50.0))


def test_the_cli_can_say_what_it_wrote_as_json(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from sitewatch.cli.main import app

    f = tmp_path / "small.yaml"
    f.write_text(yaml.safe_dump(SMALL))
    res = CliRunner().invoke(app, ["simulate", str(f), "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    (site,) = doc["sites"]
    assert site["site_crs"] == "EPSG:32636" and [i["date"] for i in site["images"]] == [
        d["date"] for d in SMALL["sites"][0]["dates"]]
    assert all(Path(i["image"]).is_file() and Path(i["truth"]).is_file() for i in site["images"])
    assert site["change_count"] == 4 and Path(doc["catalog"]).is_file()  # 1 arrival, departure, move, state change


def test_truth_readers_refuse_bad_files_naming_them(tmp_path):
    from sitewatch.errors import InputError

    bad = tmp_path / "x.truth.geojson"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"x.truth.geojson: not valid JSON"):
        read_image_truth(bad)
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(InputError, match=r"x.truth.geojson: not a sitewatch truth file"):
        read_image_truth(bad)
    bad.write_text(json.dumps({"truth_version": 1, "pairs": [{"before": "2024-12-05"}]}))
    with pytest.raises(InputError, match=r"x.truth.geojson: malformed change truth"):
        read_change_truth(bad)
    with pytest.raises(InputError, match=r"missing.json: cannot read"):
        read_change_truth(tmp_path / "missing.json")


def test_objects_pushed_off_the_edge_by_misregistration_are_marked(tmp_path):
    from sitewatch.simulate.truth import in_frame_fraction

    # a 10 x 4 px box straddling the right edge of a 100 x 50 px image: 3 of its 10 columns inside
    ring = np.array([[97.0, 10.0], [107.0, 10.0], [107.0, 14.0], [97.0, 14.0]])
    assert in_frame_fraction(ring, 100, 50) == pytest.approx(0.3)
    # the small scene with its apron moved to the west edge (x -99..-21 m of -100..100 m) and
    # the image shifted 60 px (30 m) west: the westernmost aircraft leave the frame in part
    doc = json.loads(json.dumps(SMALL))
    doc["sites"][0]["zones"][0]["rect"] = {"center": [-60, 35], "size": [78, 40]}
    for d in doc["sites"][0]["dates"]:
        d["conditions"].update(shift_px=[-60.0, 0.0], rotation_deg=0.0)
    result = simulate_scenario(doc, tmp_path / "out")
    grid = result.plans[0].site.grid
    features = json.loads(result.truths[0].read_text())["features"]
    pad = 200  # rasterise on a canvas wider than the image to count what falls outside
    for f in features:
        p = f["properties"]
        canvas = np.zeros((grid.height_px + 2 * pad, grid.width_px + 2 * pad), np.uint8)
        ring = (np.asarray(p["pixel_polygon"]) + pad - 0.5) * 16
        cv2.fillPoly(canvas, [np.round(ring).astype(np.int32)], 1, shift=4)
        counted = canvas[pad:-pad, pad:-pad].sum() / canvas.sum()
        assert p["in_frame"] == pytest.approx(counted, abs=0.03), f["id"]  # raster edge effects
        assert p["difficult"] == (p["in_frame"] < 0.5)
    assert any(f["properties"]["in_frame"] < 1.0 for f in features)
    read = read_image_truth(result.truths[0])
    assert list(read.in_frame) == [f["properties"]["in_frame"] for f in features]


def test_numbered_random_scenes_show_every_kind_at_every_gsd():
    """Held-out benchmarks and the presence check's training number their scenes; within
    3 x len(gsds) scenes every kind must be seen at every GSD (air bases were once seen
    only at some GSDs and naval bases only at the others)."""
    from sitewatch.simulate.random_scenario import gsd_and_kind_of_scene

    gsds = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    seen = [gsd_and_kind_of_scene(i, gsds) for i in range(3 * len(gsds))]
    assert set(seen) == {(g, k) for g in gsds for k in ("airbase", "naval_base")}
    assert [k for _, k in seen].count("airbase") == 2 * len(gsds)


def _gray(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read([1, 2, 3]).astype(np.float32).mean(axis=0)


def test_cloud_opacity_follows_the_rendered_cloud_and_hides_what_is_under_it(tmp_path):
    from sitewatch.simulate.plan import plan_scenario
    from sitewatch.simulate.render.nuisance import _clouds, _date_rng, cloud_sampler
    from sitewatch.simulate.truth import HIDDEN_BY_CLOUD

    # two dates with nothing changed, the sun overhead (a cloud's shadow lies under it), no
    # other nuisance; the second under heavy cloud
    doc = json.loads(json.dumps(SMALL))
    site = doc["sites"][0]
    site["dates"] = [{"date": "2024-12-05", "conditions": dict(OVERHEAD)},
                     {"date": "2024-12-06", "conditions": {**OVERHEAD, "cloud_cover": 0.85}}]
    # the sampler reads the very field the renderer lays down
    spec = plan_scenario(doc)[0].dates[1].spec
    g = spec.site.grid
    cloud, _ = _clouds((g.height_px, g.width_px), spec, _date_rng(spec))
    rng = np.random.default_rng(1)
    cols, rows = rng.uniform(0, g.width_px, 2000), rng.uniform(0, g.height_px, 2000)
    sampled = cloud_sampler(spec)(cols, rows)
    assert np.abs(sampled - cloud[rows.astype(int), cols.astype(int)]).max() < 0.02
    assert cloud.max() > 0.8 and (cloud == 0).mean() > 0.05  # dense cores and clear ground both
    # each object's contrast under the cloud is what its truth opacity says is left of it
    result = simulate_scenario(doc, tmp_path / "out")
    clear, cloudy = (_gray(p) for p in result.images)
    features = json.loads(result.truths[1].read_text())["features"]
    hidden = 0
    for f in features:
        p = f["properties"]
        mask = np.zeros(clear.shape, np.uint8)
        cv2.fillPoly(mask, [np.round((np.asarray(p["pixel_polygon"]) - 0.5) * 16).astype(np.int32)], 1, shift=4)
        inside = mask.astype(bool)
        a = p["cloud_opacity"]
        left = float(cloudy[inside].std() / clear[inside].std())
        # cloud darkens and veils it; its shadow lies under it. Small items at a cloud's edge
        # see the veil vary across them, hence the loose tolerance.
        assert left == pytest.approx((1 - a) * (1 - 0.45 * a / 0.95), abs=0.2), (f["id"], a)
        if a >= HIDDEN_BY_CLOUD:
            assert left < 0.25, f["id"]  # under a quarter of its contrast shows
        assert p["difficult"] == (a >= HIDDEN_BY_CLOUD or p["in_frame"] < 0.5)
        hidden += a >= HIDDEN_BY_CLOUD
    assert 0 < hidden < len(features)  # this seed hides some objects and not others
    assert all(f["properties"]["cloud_opacity"] == 0 for f in json.loads(result.truths[0].read_text())["features"])
