"""Ingestion: metadata, datetimes, site assignment, idempotence and every bad input."""

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer
from shapely import wkt
from sqlalchemy import text
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.domain import Site
from sitewatch.geo.grid import site_grid
from sitewatch.geo.synthetic import ground_texture, to_dtype, write_geotiff
from sitewatch.store import add_site, image_details, images_for_site
from sitewatch.workflow.ingest import Source, datetime_from_name, ingest, ingest_source

LAT, LON = 35.401, 35.948  # Khmeimim
GSD = 1.0  # metres: small rasters keep these tests fast
SIZE = 256  # pixels per side of the test rasters
GRID = site_grid(LAT, LON, 200, gsd_m=GSD)  # a 200 m site inside the 256 m rasters
SITE = Site("khmeimim", "airbase", LAT, LON, GRID)
TAG_TIME = {"TIFFTAG_DATETIME": "2024:12:09 08:31:00"}


def utm_raster(path, tags=TAG_TIME, bands=3, dtype="uint8", nodata=None, tiled=True, data=None, offset_m=(0, 0)):
    left = GRID.origin_x - (SIZE - GRID.width_px) / 2 * GSD + offset_m[0]
    top = GRID.origin_y + (SIZE - GRID.height_px) / 2 * GSD + offset_m[1]
    if data is None:
        tex = ground_texture(SIZE, SIZE, seed=len(str(path)))
        data = np.stack([to_dtype(tex, dtype)] * bands)
    return write_geotiff(path, data, GRID.crs, Affine(GSD, 0, left, 0, -GSD, top), nodata=nodata, tiled=tiled,
                         tags=tags)


def dump(catalog) -> dict:
    """Every row of the tables ingestion writes, for before/after comparison."""
    out = {}
    with catalog.engine.connect() as conn:
        for table in ("images", "site_images"):
            out[table] = sorted(tuple(map(str, r)) for r in conn.execute(text(f"SELECT * FROM {table}")))
    return out


@pytest.fixture
def site_catalog(catalog):
    add_site(catalog, SITE)
    return catalog


def test_utm_raster_is_recorded_with_its_facts(site_catalog, tmp_path):
    path = utm_raster(tmp_path / "a.tif")
    [o] = ingest(site_catalog, [path])
    assert o.status == "added", o.message
    img = o.image
    assert img.acquired == datetime(2024, 12, 9, 8, 31, tzinfo=UTC)
    assert img.gsd_m == pytest.approx(GSD) and img.crs == GRID.crs
    assert (img.bands, img.dtype, img.width_px, img.height_px) == (3, "uint8", SIZE, SIZE)
    assert len(img.checksum) == 64 and img.id == img.checksum[:16]
    details = image_details(site_catalog, img.id)
    assert details["datetime_source"] == "tiff_tag" and details["sites"] == [("khmeimim", pytest.approx(1.0))]
    # the footprint (EPSG:4326) covers the raster's extent to within a couple of decimated pixels
    fp = wkt.loads(details["footprint_wkt"])
    lon, lat = Transformer.from_crs(GRID.crs, "EPSG:4326", always_xy=True).transform(*GRID.to_map(0, 0))
    assert fp.contains(wkt.loads(f"POINT ({lon} {lat})"))
    assert images_for_site(site_catalog, "khmeimim") == [img]


def test_same_file_again_changes_nothing(site_catalog, tmp_path):
    path = utm_raster(tmp_path / "a.tif")
    ingest(site_catalog, [path])
    before = dump(site_catalog)
    [o] = ingest(site_catalog, [path])
    assert o.status == "unchanged" and "already in the catalog" in o.message
    assert dump(site_catalog) == before


def test_epsg4326_raster_gsd_is_in_metres(site_catalog, tmp_path):
    deg = 1e-5  # degrees per pixel
    tex = to_dtype(ground_texture(SIZE, SIZE, 3), "uint8")
    left, top = LON - SIZE / 2 * deg, LAT + SIZE / 2 * deg
    path = write_geotiff(tmp_path / "geo.tif", tex, "EPSG:4326", Affine(deg, 0, left, 0, -deg, top), tags=TAG_TIME)
    [o] = ingest(site_catalog, [path])
    assert o.status == "added", o.message
    # a degree of longitude is 111.32 km * cos(lat), a degree of latitude about 110.95 km at 35 N
    expected = deg * (111_320 * np.cos(np.radians(LAT)) + 110_950) / 2
    assert o.image.gsd_m == pytest.approx(expected, rel=0.01)
    assert o.image.crs == "EPSG:4326"


def test_custom_wkt_single_band_uint16_is_valid(site_catalog, tmp_path):
    from pyproj import CRS

    # UTM zone 36N spelt as a bare transverse Mercator WKT, with no authority code
    wkt_crs = CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=33 +k=0.9996 +x_0=500000 +y_0=0 +ellps=WGS84 "
                             "+units=m +no_defs").to_wkt("WKT1_GDAL")
    data = to_dtype(ground_texture(SIZE, SIZE, 5), "uint16")
    left = GRID.origin_x - 28 * GSD
    top = GRID.origin_y + 28 * GSD
    path = write_geotiff(tmp_path / "pan.tif", data, wkt_crs, Affine(GSD, 0, left, 0, -GSD, top), tags=TAG_TIME)
    [o] = ingest(site_catalog, [path])
    assert o.status == "added", o.message
    assert (o.image.bands, o.image.dtype) == (1, "uint16")
    assert o.image.gsd_m == pytest.approx(GSD)


def test_nodata_and_black_borders_are_masked(site_catalog, tmp_path):
    tex = to_dtype(ground_texture(SIZE, SIZE, 7), "uint8")  # values 1..255
    bordered = tex.copy()
    bordered[:, : SIZE // 4] = 0  # a black collar over the west quarter, no nodata value set
    [o] = ingest(site_catalog, [utm_raster(tmp_path / "black.tif", data=np.stack([bordered] * 3))])
    assert o.status == "added", o.message
    d = image_details(site_catalog, o.image.id)
    assert d["valid_fraction"] == pytest.approx(0.75, abs=0.01)
    nd = tex.copy()
    nd[SIZE // 2:, :] = 0
    [o2] = ingest(site_catalog, [utm_raster(tmp_path / "nodata.tif", data=nd, nodata=0)])
    d2 = image_details(site_catalog, o2.image.id)
    assert d2["valid_fraction"] == pytest.approx(0.5, abs=0.01) and d2["nodata"] == 0
    # the footprint shrinks with the mask: half the raster's area
    full = wkt.loads(d["footprint_wkt"]).area / 0.75
    assert wkt.loads(d2["footprint_wkt"]).area == pytest.approx(full * 0.5, rel=0.05)


def test_datetime_order_stac_then_tag_then_option_then_name(site_catalog, tmp_path):
    option = datetime(2024, 12, 20, tzinfo=UTC)
    stac_time = datetime(2024, 12, 1, 9, 0, tzinfo=UTC)
    tagged = utm_raster(tmp_path / "20240101_tagged.tif")
    o = ingest_source(site_catalog, Source(tagged, stac_datetime=stac_time), when=option)
    assert o.image.acquired == stac_time
    o = ingest_source(site_catalog, Source(utm_raster(tmp_path / "20240101_b.tif")), when=option)
    assert o.image.acquired == datetime(2024, 12, 9, 8, 31, tzinfo=UTC)  # the tag
    o = ingest_source(site_catalog, Source(utm_raster(tmp_path / "20240101_c.tif", tags=None)), when=option)
    assert o.image.acquired == option
    o = ingest_source(site_catalog, Source(utm_raster(tmp_path / "scene_20240101T103000.tif", tags=None)))
    assert o.image.acquired == datetime(2024, 1, 1, 10, 30, tzinfo=UTC)
    assert datetime_from_name("img_2024-12-09.tif") == datetime(2024, 12, 9, tzinfo=UTC)
    assert datetime_from_name("img_12345678.tif") is None  # 8 digits that are not a date


def test_stac_item_and_catalog(site_catalog, tmp_path):
    import pystac

    utm_raster(tmp_path / "scene.tif", tags=None)
    item = pystac.Item("scene-1", geometry=None, bbox=None, datetime=datetime(2024, 12, 3, 7, 45, tzinfo=UTC),
                       properties={"eo:cloud_cover": 12.5})
    item.add_asset("visual", pystac.Asset("./scene.tif", media_type=pystac.MediaType.COG))
    cat = pystac.Catalog("c", "test catalog")
    cat.add_item(item)
    cat.normalize_and_save(str(tmp_path / "stac"), pystac.CatalogType.SELF_CONTAINED)
    shutil.copy(tmp_path / "scene.tif", tmp_path / "stac" / "scene-1" / "scene.tif")
    [o] = ingest(site_catalog, [str(tmp_path / "stac" / "catalog.json")])
    assert o.status == "added", o.message
    assert o.image.acquired == datetime(2024, 12, 3, 7, 45, tzinfo=UTC)
    assert o.image.cloud_cover == pytest.approx(0.125)
    assert image_details(site_catalog, o.image.id)["datetime_source"] == "stac"


def test_folder_is_ingested_and_untiled_raster_warns(site_catalog, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    utm_raster(folder / "a.tif")
    utm_raster(folder / "b.tif", tiled=False)
    out = ingest(site_catalog, [str(folder)])
    assert [o.status for o in out] == ["added", "added"]
    assert out[0].warnings == [] and "not tiled" in out[1].warnings[0]


def _bad_inputs(tmp_path):
    """(file, expected words in the message) for every kind of bad input."""
    good = utm_raster(tmp_path / "good.tif")
    truncated = tmp_path / "truncated.tif"
    utm_raster(truncated, data=np.stack([to_dtype(ground_texture(SIZE, SIZE, 9), "uint8")] * 3))
    blob = truncated.read_bytes()
    truncated.write_bytes(blob[: len(blob) // 2])
    (tmp_path / "notes.tif").write_text("these are field notes, not a raster\n")
    (tmp_path / "empty.tif").write_bytes(b"")
    no_crs = write_geotiff(tmp_path / "nocrs.tif", to_dtype(ground_texture(64, 64), "uint8"), None,
                           Affine(1, 0, GRID.origin_x, 0, -1, GRID.origin_y), tags=TAG_TIME)
    no_gt = write_geotiff(tmp_path / "nogt.tif", to_dtype(ground_texture(64, 64), "uint8"), GRID.crs, Affine.identity(),
                          tags=TAG_TIME)
    far = utm_raster(tmp_path / "far.tif", offset_m=(50_000, 0))  # 50 km east of the site
    undated = utm_raster(tmp_path / "undated.tif", tags=None)
    all_nodata = utm_raster(tmp_path / "allnodata.tif", data=np.zeros((1, SIZE, SIZE), np.uint8), nodata=0)
    shutil.copy(good, tmp_path / "copy_of_good.tif")
    return good, [
        (str(truncated), "truncated"),
        (str(tmp_path / "notes.tif"), "not a raster"),
        (str(tmp_path / "empty.tif"), "empty file"),
        (no_crs, "no CRS"),
        (no_gt, "no geotransform"),
        (far, "does not touch"),
        (undated, "no acquisition datetime"),
        (all_nodata, "no valid pixels"),
        (str(tmp_path / "copy_of_good.tif"), "duplicate"),
        (str(tmp_path / "missing.tif"), "no such file"),
    ]


def test_each_bad_input_is_refused_by_name_and_catalog_unchanged(site_catalog, tmp_path):
    good, bad = _bad_inputs(tmp_path)
    ingest(site_catalog, [good])
    before = dump(site_catalog)
    for path, words in bad:
        [o] = ingest(site_catalog, [path])
        assert o.status == "failed", path
        assert o.message.startswith(path) and words in o.message, o.message
        assert dump(site_catalog) == before, path


def test_cli_reports_one_line_per_bad_file_and_exits_1(catalog_url, tmp_path):
    site_file = tmp_path / "site.geojson"
    ring = [[LON - 0.001, LAT - 0.001], [LON + 0.001, LAT - 0.001], [LON + 0.001, LAT + 0.001], [LON - 0.001, LAT + 0.001],
            [LON - 0.001, LAT - 0.001]]
    site_file.write_text(json.dumps({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                                     "properties": {"name": "khmeimim", "kind": "airbase", "gsd_m": GSD}}))
    runner = CliRunner()
    r = runner.invoke(app, ["sites", "add", str(site_file), "--db", catalog_url])
    assert r.exit_code == 0, r.output
    good, bad = _bad_inputs(tmp_path)
    r = runner.invoke(app, ["ingest", good, bad[0][0], bad[1][0], "--db", catalog_url])
    assert r.exit_code == 1
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and bad[0][0] in errors[0] and "truncated" in errors[0]
    assert "1 added, 0 unchanged, 2 refused" in str(r.exception)
    # through the installed entry point: the summary is the last line and the exit code 1
    env = {**os.environ, "SITEWATCH_DB": catalog_url, "COLUMNS": "200"}
    proc = subprocess.run([str(Path(sys.executable).with_name("sitewatch")), "ingest", good, bad[1][0]],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == "error: ingest: 0 added, 1 unchanged, 1 refused"
    r = runner.invoke(app, ["sites", "list", "--json", "--db", catalog_url])
    assert json.loads(r.stdout)[0]["grid"]["gsd_m"] == GSD


def test_unknown_site_is_refused_before_reading_anything(site_catalog, tmp_path):
    from sitewatch.errors import CatalogError

    with pytest.raises(CatalogError, match="no site named 'tartus'.*known: khmeimim"):
        ingest(site_catalog, [utm_raster(tmp_path / "a.tif")], site="tartus")
    assert dump(site_catalog)["images"] == []


def _stac_catalog(tmp_path, when, properties, name="scene"):
    """A one-item static STAC catalog over a fresh raster; its catalog.json path."""
    import pystac

    utm_raster(tmp_path / f"{name}.tif", tags=None)
    item = pystac.Item(name, geometry=None, bbox=None, datetime=when, properties=dict(properties))
    item.add_asset("visual", pystac.Asset(f"./{name}.tif", media_type=pystac.MediaType.COG))
    cat = pystac.Catalog(f"c-{name}", "test catalog")
    cat.add_item(item)
    root = tmp_path / f"stac-{name}"
    cat.normalize_and_save(str(root), pystac.CatalogType.SELF_CONTAINED)
    shutil.copy(tmp_path / f"{name}.tif", root / name / f"{name}.tif")
    return str(root / "catalog.json")


def _stated_sun(when):
    from sitewatch.geo.sun import sun_position

    az, el = sun_position(LAT, LON, when)
    return {"view:sun_azimuth": round(az, 1), "view:sun_elevation": round(el, 1)}


def test_stac_source_and_angles_are_stored_and_a_consistent_sun_raises_no_caveat(site_catalog, tmp_path):
    when = datetime(2024, 12, 9, 8, 31, tzinfo=UTC)
    props = {"platform": "worldview-3", "constellation": "worldview", "instruments": ["wv110"], "gsd": 0.31,
             "view:off_nadir": 17.2, "view:azimuth": 211.0, **_stated_sun(when),
             "providers": [{"name": "Maxar", "roles": ["producer"]}]}
    [o] = ingest(site_catalog, [_stac_catalog(tmp_path, when, props)])
    assert o.status == "added", o.message
    assert "Maxar / worldview-3" in o.message and not any("sun check" in w for w in o.warnings)
    [img] = images_for_site(site_catalog, "khmeimim")
    obs = img.observation
    assert (obs.provider, obs.platform, obs.instruments, obs.modality) == ("Maxar", "worldview-3", ("wv110",),
                                                                          "optical_multispectral")
    assert (obs.gsd_m, obs.off_nadir_deg, obs.view_azimuth_deg, obs.origin) == (0.31, 17.2, 211.0, "stac")
    assert obs.sun_elevation_deg == props["view:sun_elevation"] and img.caveats == ()


def test_a_stac_time_three_hours_off_its_sun_angles_is_flagged_and_kept(site_catalog, tmp_path):
    true_time = datetime(2024, 12, 9, 8, 31, tzinfo=UTC)
    stated_time = true_time + timedelta(hours=3)
    [o] = ingest(site_catalog, [_stac_catalog(tmp_path, stated_time, _stated_sun(true_time))])
    assert o.status == "added", o.message
    assert any("sun check" in w and "wrong timestamp" in w for w in o.warnings)
    [img] = images_for_site(site_catalog, "khmeimim")
    [caveat] = img.caveats
    assert "2024-12-09 11:31 UTC" in caveat and "mislabelled image" in caveat


def test_file_tags_give_the_observation_without_stac_and_nothing_is_invented(site_catalog, tmp_path):
    when = datetime(2024, 12, 9, 8, 31, tzinfo=UTC)
    sun = _stated_sun(when)
    tagged = utm_raster(tmp_path / "tagged.tif", bands=1, tags={**TAG_TIME, "SATELLITEID": "PNEO3",
                                                                 "SUN_AZIMUTH": str(sun["view:sun_azimuth"]),
                                                                 "SUN_ELEVATION": str(sun["view:sun_elevation"])})
    bare = utm_raster(tmp_path / "bare.tif", bands=1)
    outcomes = ingest(site_catalog, [tagged, bare])
    assert [o.status for o in outcomes] == ["added", "added"]
    by_path = {i.path: i for i in images_for_site(site_catalog, "khmeimim")}
    t = by_path[os.path.abspath(tagged)].observation
    assert (t.platform, t.modality, t.origin, t.sun_azimuth_deg) == ("PNEO3", "optical_pan", "tags", sun["view:sun_azimuth"])
    assert by_path[os.path.abspath(tagged)].caveats == ()
    b = by_path[os.path.abspath(bare)]
    assert b.observation.provider is None and b.observation.modality is None and b.observation.origin is None
    assert b.observation.sun_elevation_deg is None and b.caveats == ()


def test_images_lists_source_angles_and_the_sun_caveat(site_catalog, catalog_url, tmp_path):
    true_time = datetime(2024, 12, 9, 8, 31, tzinfo=UTC)
    props = {"platform": "pleiades-neo-3", "providers": [{"name": "Airbus", "roles": ["producer"]}],
             "view:off_nadir": 9.5, **_stated_sun(true_time)}
    ingest(site_catalog, [_stac_catalog(tmp_path, true_time, props, "good"),
                          _stac_catalog(tmp_path, true_time + timedelta(hours=3), props, "shifted")])
    runner = CliRunner()
    r = runner.invoke(app, ["images", "--site", "khmeimim", "--json", "--db", catalog_url])
    assert r.exit_code == 0, r.output
    good, shifted = json.loads(r.stdout)
    assert good["observation"]["provider"] == "Airbus" and good["observation"]["off_nadir_deg"] == 9.5
    assert good["caveats"] == [] and good["alignment"] is None
    assert len(shifted["caveats"]) == 1 and "sun check" in shifted["caveats"][0]
    r = runner.invoke(app, ["images", "--site", "khmeimim", "--db", catalog_url], env={"COLUMNS": "250"})
    assert r.exit_code == 0 and "Airbus / pleiades-neo-3" in r.output and "wrong timestamp" in r.output
    r = runner.invoke(app, ["images", "--site", "nowhere", "--db", catalog_url])
    assert r.exit_code != 0
