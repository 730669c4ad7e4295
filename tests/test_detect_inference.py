"""Tiled inference: reading at the model GSD, georeferencing, seams, bad input.

The model here is a stand-in that finds bright rectangles in each tile it is given
(OpenCV min-area rectangles), so a rectangle cut by a tile edge comes back cut, exactly
the failure the seam merge must repair.
"""

import warnings
from dataclasses import dataclass
from datetime import UTC

import cv2
import numpy as np
import pytest
import rasterio
from affine import Affine

from sitewatch.detect import geometry
from sitewatch.detect.inference import detect_scene
from sitewatch.detect.model import RawDetections
from sitewatch.errors import InputError

GSD = 0.5
TILE = 256
OVERLAP = 64  # objects up to 64 px (32 m) always fit whole in some tile
CRS = "EPSG:32636"
ORIGIN = (400000.0, 3800000.0)


@dataclass(frozen=True)
class _Info:
    model_id: str = "rect-finder"
    version: str = "test"
    gsd_m: float = GSD
    input_size: int = TILE
    score_threshold: float = 0.5
    nms_iou: float = 0.3
    tile_overlap_px: int = OVERLAP


class RectFinder:
    info = _Info()
    gsd_m = GSD
    tile_size = TILE

    def __init__(self):
        self.calls = 0
        self.found = 0
        self.suns = []

    def run(self, batch, score_threshold=None, sun=None):
        self.calls += len(batch)
        self.suns.append(sun)
        out = []
        for img in batch:
            mask = (img.mean(axis=0) > 200).astype(np.uint8)
            n, lab = cv2.connectedComponents(mask)
            boxes = []
            for i in range(1, n):
                pts = np.column_stack(np.nonzero(lab == i)[::-1]).astype(np.float32) + 0.5
                (cx, cy), (w, h), ang = cv2.minAreaRect(pts)
                w, h = w + 1, h + 1  # pixel centres -> pixel edges
                heading = (ang + 90.0) % 180.0 if w >= h else ang % 180.0
                boxes.append((cx, cy, max(w, h), min(w, h), heading))
            k = len(boxes)
            self.found += k
            s = np.full(k, "unknown", dtype=object)
            out.append(RawDetections(np.array(boxes).reshape(k, 5), np.full(k, "vehicle", dtype=object),
                                     np.full(k, 0.9), s, np.zeros(k), np.full(k, "normal", dtype=object), np.ones(k)))
        return out


def _write(path, img, gsd=GSD, nodata=None, crs=CRS, tags=None):
    h, w = img.shape[1:]
    t = Affine(gsd, 0, ORIGIN[0], 0, -gsd, ORIGIN[1])
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=img.shape[0], dtype=img.dtype, crs=crs,
                       transform=t, nodata=nodata, tiled=True, blockxsize=256, blockysize=256) as ds:
        ds.write(img)
        if tags:
            ds.update_tags(**tags)
    return t


def _scene(size_px, rects, gsd=GSD):
    """rects: (cx, cy, length, width, heading) in metres relative to the top-left corner,
    y down; drawn white on a textured ground."""
    rng = np.random.default_rng(0)
    img = rng.integers(60, 120, (size_px, size_px, 3)).astype(np.uint8)
    for cx, cy, length, width, heading in rects:
        box = np.array([[cx / gsd, cy / gsd, length / gsd, width / gsd, heading]])
        c = geometry.corners(box, y_down=True)[0] - 0.5
        cv2.fillPoly(img, [np.round(c * 16).astype(np.int32)], (255, 255, 255), shift=4)
    return np.ascontiguousarray(img.transpose(2, 0, 1))


# Seams of 256-px tiles with 64 px overlap over 512 px: tiles start at 0, 192, 256.
RECTS = [
    (126.0, 40.0, 20.0, 6.0, 30.0),  # across the x seam at 128 m (256 px)
    (30.0, 100.0, 24.0, 8.0, 0.0),  # across the y seam at 96 m (192 px), vertical
    (125.0, 127.0, 16.0, 4.0, 90.0),  # across both seams at 128 m, at a tile corner
    (200.0, 20.0, 12.0, 5.0, 135.0),  # well inside one tile
]


def test_seam_objects_come_out_once_and_whole(tmp_path):
    path = tmp_path / "scene.tif"
    t = _write(path, _scene(512, RECTS))
    model = RectFinder()
    dets, grid, stats = detect_scene(path, model)
    assert stats.tiles == 9 and grid.crs == CRS
    assert len(dets) == len(RECTS)
    assert model.found >= 2 * len(RECTS)  # each object was seen, whole or cut, by several tiles
    truth = np.array([[ORIGIN[0] + cx, ORIGIN[1] - cy, ln, wd, hd] for cx, cy, ln, wd, hd in RECTS])
    found = geometry.box_array([d.box for d in dets])
    iou = geometry.rotated_iou(truth, found)
    # Each rectangle matched whole. The stand-in measures rasterised diagonal edges about a
    # pixel off, which costs up to ~0.25 IoU on a 4-6 m (8-12 px) wide box; a view cut at a
    # seam would cover at most about half the box. Lengths within 3 px (1.5 m).
    best = iou.argmax(axis=1)
    assert (iou.max(axis=1) > 0.7).all()
    assert np.abs(found[best, 2] - truth[:, 2]).max() < 3 * GSD
    for d in dets:
        w = d.window
        col, row = ~t @ (d.box.cx, d.box.cy)
        assert w.col_off <= col <= w.col_off + w.width and w.row_off <= row <= w.row_off + w.height
        assert d.model_id == "rect-finder" and d.image_id == "scene"


def test_the_sun_over_the_scene_goes_to_the_model_when_the_image_says_when(tmp_path):
    """From the acquisition time in the TIFF tags and the scene's centre: the sun in the
    grid's frame, the same for every batch; without a time, unknown (None)."""
    from datetime import datetime

    from pyproj import Transformer

    from sitewatch.geo.sun import sun_on_grid

    dated, bare = tmp_path / "dated.tif", tmp_path / "bare.tif"
    _write(dated, _scene(512, RECTS), tags={"TIFFTAG_DATETIME": "2024:05:01 08:30:00"})
    _write(bare, _scene(512, RECTS))
    model = RectFinder()
    detect_scene(dated, model)
    centre = (ORIGIN[0] + 128.0, ORIGIN[1] - 128.0)
    expected = sun_on_grid(CRS, *centre, datetime(2024, 5, 1, 8, 30, tzinfo=UTC))
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(*centre)
    assert expected is not None and 90.0 < expected.azimuth_deg < 180.0  # a May morning in the Levant
    assert 33.0 < lat < 35.0 and 31.0 < lon < 33.5
    assert len(model.suns) > 1 and all(s == expected for s in model.suns)
    model = RectFinder()
    detect_scene(bare, model)
    assert model.suns and all(s is None for s in model.suns)


def test_finer_image_is_resampled_to_model_gsd(tmp_path):
    # The same scene at 0.25 m: read through a WarpedVRT onto the 0.5 m grid, so sizes
    # in metres and positions match within a model pixel.
    path = tmp_path / "fine.tif"
    _write(path, _scene(1024, RECTS, gsd=0.25), gsd=0.25)
    dets, grid, stats = detect_scene(path, RectFinder())
    assert stats.native_gsd_m == pytest.approx(0.25)
    assert grid.transform.a == GSD and stats.scene_px == (512, 512)
    truth = np.array([[ORIGIN[0] + cx, ORIGIN[1] - cy, ln, wd, hd] for cx, cy, ln, wd, hd in RECTS])
    found = geometry.box_array([d.box for d in dets])
    assert len(dets) == len(RECTS)
    assert (geometry.rotated_iou(truth, found).max(axis=1) > 0.75).all()


def test_lonlat_image_is_read_on_a_utm_grid(tmp_path):
    # 0.5 m pixels in degrees near 35N 33E: processed in the local UTM zone, metres.
    path = tmp_path / "ll.tif"
    img = _scene(256, [(64.0, 64.0, 20.0, 6.0, 0.0)])
    lat = 35.0
    dlat = GSD / 110950.0
    dlon = GSD / (111320.0 * np.cos(np.radians(lat)))
    with rasterio.open(path, "w", driver="GTiff", width=256, height=256, count=3, dtype="uint8", crs="EPSG:4326",
                       transform=Affine(dlon, 0, 33.0, 0, -dlat, lat)) as ds:
        ds.write(img)
    dets, grid, _ = detect_scene(path, RectFinder())
    assert grid.crs == "EPSG:32636"
    assert len(dets) == 1
    assert dets[0].box.length == pytest.approx(20.0, abs=2 * GSD)
    assert geometry.heading_error(dets[0].box.heading_deg, 0.0, directed=False) < 3.0


def test_too_coarse_image_is_refused(tmp_path):
    path = tmp_path / "s2.tif"
    _write(path, np.zeros((3, 64, 64), np.uint8), gsd=10.0)
    with pytest.raises(InputError, match="too coarse"):
        detect_scene(path, RectFinder())


def test_all_nodata_gives_no_detections_and_a_warning(tmp_path):
    path = tmp_path / "empty.tif"
    _write(path, np.zeros((3, 300, 300), np.uint8), nodata=0)
    model = RectFinder()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dets, _, stats = detect_scene(path, model)
    assert dets == [] and model.calls == 0
    assert stats.skipped_nodata == stats.tiles
    assert any("all nodata" in str(w.message) for w in caught)


def test_featureless_tiles_are_skipped(tmp_path):
    path = tmp_path / "flat.tif"
    img = np.full((3, 512, 512), 90, np.uint8)
    img[:, 20:40, 20:30] = 255  # one object in the first tile only
    _write(path, img)
    model = RectFinder()
    dets, _, stats = detect_scene(path, model)
    assert len(dets) == 1
    assert stats.skipped_featureless == stats.tiles - 1


def test_unreadable_image(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(InputError, match="bad.tif"):
        detect_scene(bad, RectFinder())


def test_detect_cli_geojson_round_trips_through_eval(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    import sitewatch.cli.detect_cmd as detect_cmd
    from sitewatch.cli.main import app

    path = tmp_path / "scene.tif"
    _write(path, _scene(512, RECTS))
    monkeypatch.setattr(detect_cmd, "load_model", lambda *a, **k: RectFinder())
    out = tmp_path / "det.geojson"
    r = CliRunner().invoke(app, ["detect", str(path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["site_crs"] == CRS and len(doc["features"]) == len(RECTS)
    assert 0.0 < doc["stats"]["edge_blur_m"] < 1.0  # sharp white rectangles: measured, and sharp
    props = doc["features"][0]["properties"]
    for key in ("class", "type", "state", "score", "type_score", "state_score", "heading_deg", "length_m",
                "width_m", "site_crs_polygon", "image_id", "pixel_window", "model_id", "model_version"):
        assert key in props
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert 30 < lon < 36 and 30 < lat < 40  # EPSG:4326 near the UTM 36N origin used here
    # Truth as a site-CRS GeoJSON of the drawn rectangles: the detections score AP 1.
    truth = {"type": "FeatureCollection", "site_crs": CRS, "features": []}
    for cx, cy, ln, wd, hd in RECTS:
        box = [ORIGIN[0] + cx, ORIGIN[1] - cy, ln, wd, hd]
        ring = geometry.corners(np.array([box]))[0].tolist()
        truth["features"].append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0]] * 5]},
                                  "properties": {"class": "vehicle", "heading_deg": hd, "length_m": ln,
                                                 "width_m": wd, "center_site_crs": box[:2],
                                                 "site_crs_polygon": ring}})
    (tmp_path / "truth.geojson").write_text(json.dumps(truth))
    r = CliRunner().invoke(app, ["eval", "--pred", str(out), "--truth", str(tmp_path / "truth.geojson")])
    assert r.exit_code == 0, r.output
    scores = json.loads(r.output)
    assert scores["per_class"]["vehicle"]["ap50"] == pytest.approx(1.0)
    assert scores["per_class"]["vehicle"]["recall"] == pytest.approx(1.0)


def test_a_blurred_image_is_measured_and_warned_about(tmp_path):
    """Detection measures how blurred the image is (edge blur in metres on the ground) and
    warns, naming the file, when it is blurred enough to lose vehicles; a sharp image of
    the same ground is measured sharp and not warned about."""
    from sitewatch.detect.inference import BLURRED_FOR_VEHICLES_M

    rng = np.random.default_rng(3)
    ground = np.full((512, 512, 3), 90, np.uint8)
    for _ in range(40):
        x, y = rng.integers(0, 480, 2)
        ground[y:y + rng.integers(6, 30), x:x + rng.integers(6, 30)] = rng.integers(30, 220)
    found = {}
    for name, sigma_px in (("sharp", 0.0), ("blurred", 4.0)):
        img = ground if not sigma_px else cv2.GaussianBlur(ground, (0, 0), sigma_px)
        path = tmp_path / f"{name}.tif"
        _write(path, np.ascontiguousarray(img.transpose(2, 0, 1)))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _, _, stats = detect_scene(path, RectFinder())
        found[name] = (stats.edge_blur_m, [str(w.message) for w in caught if "blurred" in str(w.message)])
    sharp, blurred = found["sharp"], found["blurred"]
    assert sharp[0] < 0.5 and not sharp[1]  # a sharp step reads about 0.8 px, 0.4 m
    assert blurred[0] == pytest.approx(np.hypot(4.0, 0.8) * GSD, rel=0.15) and blurred[0] >= BLURRED_FOR_VEHICLES_M
    assert len(blurred[1]) == 1 and "blurred.tif" in blurred[1][0] and "vehicles" in blurred[1][0]


def test_imagery_coarser_than_the_measured_range_is_read_with_a_warning(tmp_path):
    """0.8 m imagery is detected on, with a warning naming the file and the GSD; 0.5 m is not warned about."""
    from sitewatch.detect.inference import COARSEST_MEASURED_GSD_M

    said = {}
    for gsd in (0.5, 0.8):
        path = tmp_path / f"at-{gsd}.tif"
        _write(path, np.full((3, 400, 400), 90, np.uint8), gsd=gsd)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _, _, stats = detect_scene(path, RectFinder())
        said[gsd] = [str(w.message) for w in caught if "coarser than" in str(w.message)]
        assert stats.native_gsd_m == pytest.approx(gsd)
    assert 0.5 < COARSEST_MEASURED_GSD_M < 0.8
    assert not said[0.5]
    assert len(said[0.8]) == 1 and "at-0.8.tif" in said[0.8][0] and "0.80 m imagery" in said[0.8][0]


def test_tiles_are_read_with_a_block_cache_that_holds_the_blocks_neighbours_share(tmp_path):
    """Overlapping tiles share GDAL blocks; with a cache of GDAL_CACHE_MB megabytes while the
    scene is read each block is decoded once. (rasterio takes an integer GDAL_CACHEMAX as
    bytes: 256 would be a cache of 256 bytes, and every tile would decode its blocks again.)"""
    from sitewatch.detect.inference import GDAL_CACHE_MB

    class CacheSeer(RectFinder):
        def run(self, batch, score_threshold=None, sun=None):
            self.cache = rasterio.env.get_gdal_config("GDAL_CACHEMAX")
            return super().run(batch, score_threshold, sun)

    path = tmp_path / "scene.tif"
    _write(path, _scene(512, RECTS))
    model = CacheSeer()
    dets, _, _ = detect_scene(path, model)
    assert len(dets) == len(RECTS)
    assert model.cache == GDAL_CACHE_MB * 2**20 >= 64 * 2**20
