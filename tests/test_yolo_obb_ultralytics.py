"""sitewatch's YOLO-OBB adapter against Ultralytics' own predict, on real Ultralytics
exports (issue 28): a YOLOv8n-obb with DOTA's 15 classes built from its config and exported
with Ultralytics' defaults at 640 and 1024, static (batch 1) and dynamic. On a single-tile
image, an odd-sized one (one side the input size, the other off the stride) and a
multi-tile odd-sized one, `detect_scene` with default options (batch 2, DOTA class map)
must give Ultralytics' boxes: matched at IoU >= 0.9 for >= 98% of boxes, same class,
score within 0.01.

Ultralytics (AGPL-3.0) is a test tool only, never a dependency of sitewatch, and it needs
torchvision, which does not load beside the training pin (torch 2.13). So it lives in its
own environment, `.venv-ultralytics` (`make ultralytics-env`, which `make test` runs;
`tests/ultralytics_env.sh`), and runs as a subprocess: `tests/ultralytics_ref.py` makes
the exports and runs Ultralytics' predict on the very tiles sitewatch reads. Where that
environment could not be built, the tests skip and say why.

Ultralytics has no tiling: on a multi-tile image its predict runs on each tile (a tile cut
short by the image's end filled out with grey 114, as sitewatch fills it), and its boxes
are then put through sitewatch's documented seam merge (`tiling.merge_seams`). Every box
sitewatch gives must also be one of Ultralytics' boxes on some tile, before any merge.
Images smaller than the input on both sides are left out: Ultralytics' predict enlarges
them, sitewatch does not (the README says so).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

from sitewatch.detect import geometry, tiling
from sitewatch.detect.inference import FILL, detect_scene
from sitewatch.detect.labels import parse_class_map
from sitewatch.detect.model import RawDetections
from sitewatch.detect.yolo_obb import YoloObbModel

ROOT = Path(__file__).resolve().parents[1]
ENV = Path(os.environ.get("SITEWATCH_ULTRALYTICS_ENV", ROOT / ".venv-ultralytics"))
REF = Path(__file__).with_name("ultralytics_ref.py")
GSD = 0.5  # --model-gsd, and the test images' pixel size: tiles are the image's own pixels
E0, N0 = 500000.0, 4000000.0  # the test images' top-left corner (UTM 36N)
MIN_IOU, MIN_SHARE, SCORE_TOL = 0.9, 0.98, 0.01  # the "done when"

# Per input size: a full tile, an odd-sized single tile (one side the input, as Ultralytics'
# predict then does not rescale it), and an odd-sized scene of several tiles.
SIZES = {640: {"full": (640, 640), "odd": (640, 437), "tiles": (1201, 797)},
         1024: {"full": (1024, 1024), "odd": (724, 1024), "tiles": (1901, 1237)}}
EXPORTS = {"static640": 640, "dynamic640": 640, "static1024": 1024, "dynamic1024": 1024}
CASES = [(name, kind) for name in EXPORTS for kind in ("full", "odd", "tiles")]


def ultralytics_python() -> Path:
    """The test environment's interpreter, or a skip that says why there is none."""
    py = ENV / "bin" / "python"
    if (ENV / ".installed").exists() and py.exists():
        return py
    failed = ENV.with_name(ENV.name + ".failed")
    why = failed.read_text().strip() if failed.exists() else "not built"
    pytest.skip(f"Ultralytics' test environment {ENV} is missing ({why}); `make ultralytics-env` builds it "
                "(tests/ultralytics_env.sh)")


def run_ref(py: Path, args: list[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(YOLO_CONFIG_DIR=str(cwd / "yolo-config"), YOLO_OFFLINE="true", YOLO_AUTOINSTALL="false")
    r = subprocess.run([str(py), str(REF), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, f"tests/ultralytics_ref.py {args[0]} failed:\n{r.stderr[-3000:]}"
    return r.stdout


def texture(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A smooth random RGB texture, h x w x 3 uint8 (as tests/ultralytics_ref.py makes)."""
    import cv2

    small = rng.integers(0, 255, (h // 16 + 1, w // 16 + 1, 3)).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def write_geotiff(path: Path, img: np.ndarray) -> Path:
    h, w = img.shape[:2]
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8", crs="EPSG:32636",
                       transform=Affine(GSD, 0, E0, 0, -GSD, N0)) as ds:
        ds.write(img.transpose(2, 0, 1))
    return path


def tile_pixels(img: np.ndarray, tiles: list[tiling.Tile], size: int) -> np.ndarray:
    """The tiles as the model is given them: a tile cut short by the end of a scene larger
    than a tile filled out to the full tile with grey (inference's FILL); a scene smaller
    than a tile left as it is (the model pads it, centred)."""
    h, w = img.shape[:2]
    out = []
    for t in tiles:
        crop = img[t.row:t.row + t.height, t.col:t.col + t.width]
        ph = size - t.height if t.height < size < h else 0
        pw = size - t.width if t.width < size < w else 0
        out.append(np.pad(crop, ((0, ph), (0, pw), (0, 0)), constant_values=int(FILL)))
    return np.stack(out)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """Per case: sitewatch's detections (pixel boxes, classes, scores) and Ultralytics'
    per-tile boxes on the same pixels, with the tiles."""
    py = ultralytics_python()
    work = tmp_path_factory.mktemp("ultralytics")
    models = json.loads(run_ref(py, ["export", str(work / "models")], work))
    assert sorted(models) == sorted(EXPORTS)
    cmap = parse_class_map(None)
    job, ours = [], {}
    for i, (name, kind) in enumerate(CASES):
        w, h = SIZES[EXPORTS[name]][kind]
        img = texture(np.random.default_rng(100 + i), w, h)
        tif = write_geotiff(work / f"{name}_{kind}.tif", img)
        model = YoloObbModel(models[name], cmap, GSD)
        tiles = tiling.plan_tiles(w, h, model.tile_size, model.info.tile_overlap_px, model.info.tile_align)
        assert (len(tiles) > 1) == (kind == "tiles")
        np.save(work / f"{name}_{kind}.npy", tile_pixels(img, tiles, model.tile_size))
        job.append({"model": models[name], "imgsz": EXPORTS[name], "tiles": str(work / f"{name}_{kind}.npy")})
        dets, _, stats = detect_scene(tif, model)  # default options
        assert stats.tiles == stats.tiles_run == len(tiles)
        boxes = np.array([[(d.box.cx - E0) / GSD, (N0 - d.box.cy) / GSD, d.box.length / GSD, d.box.width / GSD,
                           d.box.heading_deg] for d in dets]).reshape(-1, 5)
        ours[(name, kind)] = (boxes, np.array([d.cls for d in dets], dtype=object),
                              np.array([d.score for d in dets]), tiles, (w, h), model, cmap)
    (work / "job.json").write_text(json.dumps(job))
    run_ref(py, ["predict", str(work / "job.json"), str(work / "theirs.json")], work)
    theirs = json.loads((work / "theirs.json").read_text())
    return {case: (ours[case], theirs[i]) for i, case in enumerate(CASES)}


def xywhr_corners(b: np.ndarray) -> np.ndarray:
    """(N, 4, 2) corners of Ultralytics' xywhr boxes (the w side along (cos r, sin r))."""
    cx, cy, w, h, r = (b[:, k] for k in range(5))
    v1 = np.stack([w / 2 * np.cos(r), w / 2 * np.sin(r)], axis=1)
    v2 = np.stack([-h / 2 * np.sin(r), h / 2 * np.cos(r)], axis=1)
    c = np.stack([cx, cy], axis=1)
    return np.stack([c + v1 + v2, c + v1 - v2, c - v1 - v2, c - v1 + v2], axis=1)


def theirs_on_the_scene(per_tile, tiles, cmap, names):
    """Ultralytics' boxes of every tile in scene pixels, on our classes (classes the map
    leaves out dropped, as sitewatch drops them), with their tile index and seam margin."""
    rows = []
    for k, (res, tile) in enumerate(zip(per_tile, tiles)):
        for b, conf, c in zip(res["xywhr"], res["conf"], res["cls"]):
            cls = cmap.get(names[c], cmap.get(str(c)))
            if cls is not None:
                rows.append((b[0] + tile.col, b[1] + tile.row, b[2], b[3], b[4], conf, cls, k))
    xywhr = np.array([r[:5] for r in rows], float).reshape(-1, 5)
    return xywhr, np.array([r[6] for r in rows], dtype=object), np.array([r[5] for r in rows]), np.array(
        [r[7] for r in rows], int)


def matched(a_polys, a_cls, a_score, b_polys, b_cls, b_score) -> np.ndarray:
    """For each box of a: is there a box of b of its class, its score within SCORE_TOL and
    IoU >= MIN_IOU with it?"""
    ok = np.zeros(len(a_polys), bool)
    if len(a_polys) == 0 or len(b_polys) == 0:
        return ok
    i, j = shapely.STRtree(b_polys).query(a_polys, predicate="intersects")
    same = (a_cls[i] == b_cls[j]) & (np.abs(a_score[i] - b_score[j]) <= SCORE_TOL)
    i, j = i[same], j[same]
    inter = shapely.area(shapely.intersection(a_polys[i], b_polys[j]))
    iou = inter / (shapely.area(a_polys[i]) + shapely.area(b_polys[j]) - inter)
    ok[i[iou >= MIN_IOU]] = True
    return ok


@pytest.mark.slow
@pytest.mark.parametrize("name,kind", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_sitewatch_boxes_equal_ultralytics_predict(compared, name, kind):
    (boxes, cls, score, tiles, (w, h), model, cmap), per_tile = compared[(name, kind)]
    t_xywhr, t_cls, t_score, t_tile = theirs_on_the_scene(per_tile, tiles, cmap, model.info.names)
    assert len(t_xywhr) > 30  # a dense scene: NMS at work, and at 1024 the 300-box cap
    # Ultralytics' boxes through the seam merge sitewatch documents (none on one tile).
    pix = np.column_stack([t_xywhr[:, :4], np.degrees(t_xywhr[:, 4]) + 90.0])  # heading of the w side
    merged = np.arange(len(t_xywhr))
    if len(tiles) > 1:
        margin = np.zeros(len(pix))
        for k, t in enumerate(tiles):
            margin[t_tile == k] = tiling.edge_margin(pix[t_tile == k], t, w, h)
        n = len(pix)
        raw = RawDetections(pix, t_cls, t_score, np.full(n, "unknown", dtype=object), np.zeros(n),
                            np.full(n, "normal", dtype=object), np.ones(n))
        kept = tiling.merge_seams(raw, margin, t_tile, model.info.nms_iou)
        merged = np.array([int(np.flatnonzero((pix == b).all(axis=1) & (t_score == s))[0])
                           for b, s in zip(kept.boxes, kept.score)], int)
    t_polys = shapely.polygons(xywhr_corners(t_xywhr))
    o_polys = shapely.polygons(geometry.corners(boxes, y_down=True))
    # Each of Ultralytics' boxes (after the merge) is one of ours...
    found = matched(t_polys[merged], t_cls[merged], t_score[merged], o_polys, cls, score)
    # ...and each of ours is one of Ultralytics' on some tile, before any merge.
    ours_found = matched(o_polys, cls, score, t_polys, t_cls, t_score)
    report = (f"{found.mean():.1%} of Ultralytics' {len(merged)} boxes matched, {ours_found.mean():.1%} of "
              f"sitewatch's {len(boxes)}")
    print(name, kind, report)  # shown with pytest -s
    assert found.mean() >= MIN_SHARE and ours_found.mean() >= MIN_SHARE, report
    assert abs(len(boxes) - len(merged)) <= (1 - MIN_SHARE) * len(merged), report
