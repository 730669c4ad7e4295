"""Bring-your-own YOLO-OBB models: exports of Ultralytics' OBB signature, built here as
small ONNX graphs that find bright squares on a 32-pixel stride grid, run as Ultralytics'
predict runs them (padding, probiou NMS) on single-tile, multi-tile and odd-sized images,
with static and dynamic batch and sides.

The toy model: one candidate per 32 x 32 cell of its input, centred on the cell, BOX_W x
BOX_H pixels, rotation ANGLE. Class 0 ('plane') scores 2 * (mean brightness - 0.5) of the
cell, class 1 ('ship') 2 * (mean of red minus green - 0.5), both floored at 0; so a white
cell scores 1 as a plane, a red one 1 as a ship, and the dark ground and the grey 114 of
padding nothing. Like a real YOLO export, its `strict` form fails on a side that is not a
multiple of the stride.
"""

import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
import rasterio  # noqa: E402
from affine import Affine  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from sitewatch.detect import tiling  # noqa: E402
from sitewatch.detect.inference import detect_scene  # noqa: E402
from sitewatch.detect.labels import parse_class_map  # noqa: E402
from sitewatch.detect.model import RawDetections  # noqa: E402
from sitewatch.detect.probiou import fast_nms, probiou  # noqa: E402
from sitewatch.detect.yolo_obb import YoloObbModel, letterbox  # noqa: E402
from sitewatch.errors import ModelError  # noqa: E402

S = 32  # the toy model's stride (YOLOv8's deepest)
SIDE = 128  # its input side: four cells
GSD = 0.5  # metres a pixel, given as --model-gsd
BOX_W, BOX_H, ANGLE = 24.0, 12.0, 0.0  # the box it draws on each cell: 12 m x 6 m, long side along x
NAMES = "{0: 'plane', 1: 'ship'}"  # DOTA names: the default class map makes them aircraft and ship
E0, N0 = 500000.0, 4000000.0  # the test images' top-left corner (UTM 36N)
DYNAMIC = ["batch", 3, "height", "width"]


def _const(name, values, dims=None):
    """A Constant node: a scalar for one value, else a vector, unless dims says otherwise."""
    dims = ([] if len(values) == 1 else [len(values)]) if dims is None else list(dims)
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name + "_v", TensorProto.FLOAT if isinstance(values[0], float) else TensorProto.INT64, dims, values))


def toy_model(path, input_shape=(1, 3, SIDE, SIDE), strict=True, box=(BOX_W, BOX_H, ANGLE), rows=None,
              names=NAMES, stride_meta=str(S)):
    """The toy export (see the module doc), with Ultralytics' metadata. `rows` (default 7:
    4 + 2 classes + 1) sets how many of its rows reach the output, to make a wrong one."""
    weights = np.zeros((2, 3, S, S), np.float32)
    weights[0] = 1.0 / (3 * S * S)
    weights[1, 0], weights[1, 1] = 1.0 / (S * S), -1.0 / (S * S)
    nodes = [
        _const("w", weights.ravel().tolist(), weights.shape),
        _const("half", [0.5]), _const("two", [2.0]), _const("zero", [0.0]), _const("one", [1.0]),
        _const("stride", [float(S)]), _const("bw", [float(box[0])]), _const("bh", [float(box[1])]),
        _const("ang", [float(box[2])]), _const("ax2", [2]), _const("ax3", [3]), _const("shape", [0, 7, -1]),
        helper.make_node("Conv", ["images", "w"], ["means"], kernel_shape=[S, S], strides=[S, S]),
        helper.make_node("Sub", ["means", "half"], ["m0"]),
        helper.make_node("Relu", ["m0"], ["m1"]),
        helper.make_node("Mul", ["m1", "two"], ["scores"]),  # (B, 2, h, w)
        helper.make_node("ReduceMean", ["means"], ["plane"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["plane", "zero"], ["z"]),
        helper.make_node("Add", ["z", "one"], ["ones"]),  # (B, 1, h, w)
        helper.make_node("CumSum", ["ones", "ax3"], ["col"]),
        helper.make_node("CumSum", ["ones", "ax2"], ["row"]),
        helper.make_node("Sub", ["col", "half"], ["col0"]), helper.make_node("Mul", ["col0", "stride"], ["cx"]),
        helper.make_node("Sub", ["row", "half"], ["row0"]), helper.make_node("Mul", ["row0", "stride"], ["cy"]),
        helper.make_node("Mul", ["ones", "bw"], ["w_"]), helper.make_node("Mul", ["ones", "bh"], ["h_"]),
        helper.make_node("Mul", ["ones", "ang"], ["r_"]),
        helper.make_node("Concat", ["cx", "cy", "w_", "h_", "scores", "r_"], ["grid"], axis=1),
        helper.make_node("Reshape", ["grid", "shape"], ["flat"]),
    ]
    last = "flat"
    if rows is not None:
        nodes += [_const("starts", [0], [1]), _const("ends", [rows], [1]), _const("axes", [1], [1]),
                  helper.make_node("Slice", ["flat", "starts", "ends", "axes"], ["cut"])]
        last = "cut"
    if strict:  # the cells, blown back up to pixels, must match the input: sides multiples of S
        nodes += [_const("scales", [1.0, 1.0, float(S), float(S)], [4]),
                  helper.make_node("ReduceMean", ["images"], ["grey"], axes=[1], keepdims=1),
                  helper.make_node("AveragePool", ["grey"], ["cells"], kernel_shape=[S, S], strides=[S, S]),
                  helper.make_node("Resize", ["cells", "", "scales"], ["up"], mode="nearest"),
                  helper.make_node("Sub", ["up", "grey"], ["diff"]),
                  helper.make_node("ReduceMax", ["diff"], ["dmax"], keepdims=0),
                  helper.make_node("Mul", ["dmax", "zero"], ["dzero"]),
                  helper.make_node("Add", [last, "dzero"], ["output0"])]
    else:
        nodes.append(helper.make_node("Identity", [last], ["output0"]))
    batch = input_shape[0]
    graph = helper.make_graph(nodes, "toy_obb", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                                               list(input_shape))],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT,
                                                             [batch, 7 if rows is None else rows, "anchors"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"description": "toy YOLO-OBB", "task": "obb", "stride": stride_meta, "imgsz": f"[{SIDE}, {SIDE}]",
            "batch": str(batch) if isinstance(batch, int) else "1"}
    if names:
        meta["names"] = names
    for k, v in meta.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(model, str(path))
    return path


def write_image(path, width, height, squares):
    """A dark noisy GeoTIFF at GSD with (x0, y0, side, rgb) squares painted on it."""
    rng = np.random.default_rng(7)
    img = rng.integers(10, 40, (3, height, width)).astype(np.uint8)
    for x0, y0, side, rgb in squares:
        img[:, y0:y0 + side, x0:x0 + side] = np.array(rgb, np.uint8)[:, None, None]
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3, dtype="uint8",
                       crs="EPSG:32636", transform=Affine(GSD, 0, E0, 0, -GSD, N0)) as ds:
        ds.write(img)
    return path


def pixel_centres(dets):
    """Detections' centres back in image pixels (col, row), to a hundredth, sorted."""
    return sorted((round((d.box.cx - E0) / GSD, 2), round((N0 - d.box.cy) / GSD, 2)) for d in dets)


WHITE, RED, GREY200 = (255, 255, 255), (255, 0, 0), (200, 200, 200)


def test_boxes_on_a_single_tile_are_where_the_model_puts_them(tmp_path):
    model = YoloObbModel(toy_model(tmp_path / "m.onnx"), parse_class_map(None), GSD)
    assert (model.tile_size, model.info.stride, model.info.nms_iou) == (SIDE, S, 0.7)
    img = write_image(tmp_path / "img.tif", SIDE, SIDE, [(32, 64, S, GREY200), (96, 0, S, RED)])
    dets, _, stats = detect_scene(img, model)
    assert stats.tiles == 1
    by_class = {d.cls: d for d in dets}
    assert sorted(by_class) == ["aircraft", "ship"] and len(dets) == 2
    plane, ship = by_class["aircraft"], by_class["ship"]
    # Cell (col 1, row 2) is centred on pixel (48, 80); the ship's cell (3, 0) on (112, 16).
    assert ((plane.box.cx - E0) / GSD, (N0 - plane.box.cy) / GSD) == pytest.approx((48, 80))
    assert ((ship.box.cx - E0) / GSD, (N0 - ship.box.cy) / GSD) == pytest.approx((112, 16))
    # 24 x 12 px at 0.5 m, the long side along x: east-west.
    assert (plane.box.length, plane.box.width) == pytest.approx((BOX_W * GSD, BOX_H * GSD))
    assert plane.box.heading_deg % 180 == pytest.approx(90.0)
    # Scores are the raw class confidences: 2 * (200 / 255 - 0.5) for the grey-200 square.
    assert plane.score == pytest.approx(2 * (200 / 255 - 0.5), abs=1e-4)  # float32 sums of 3072 pixels
    assert ship.score == pytest.approx(1.0, abs=1e-5)
    assert plane.type == "unknown" and plane.state == "normal"


# Squares on cells of the scene's 32-pixel grid, several in the tiles' overlaps (tiles of
# 128 step 96: origins 0, 96, 192), one in the last, short, tile.
MULTI = [(96, 96, S, WHITE), (0, 0, S, WHITE), (192, 224, S, RED), (256, 32, S, WHITE), (128, 128, S, RED)]


@pytest.mark.parametrize("shape", [(1, 3, SIDE, SIDE), DYNAMIC], ids=["batch1_static", "dynamic"])
def test_a_multi_tile_odd_sized_image_gives_each_square_once(tmp_path, shape):
    model = YoloObbModel(toy_model(tmp_path / "m.onnx", input_shape=shape), parse_class_map(None), GSD)
    img = write_image(tmp_path / "img.tif", 301, 263, MULTI)  # neither side a multiple of 32
    dets, _, stats = detect_scene(img, model, batch=2)  # the default batch, on a batch-1 export too
    assert stats.tiles == 9 and stats.tiles_run == 9
    want = sorted((x + S / 2, y + S / 2) for x, y, _, _ in MULTI)
    assert pixel_centres(dets) == want
    assert [d.cls for d in sorted(dets, key=lambda d: (d.box.cx, -d.box.cy))].count("ship") == 2


def test_plan_tiles_aligns_origins_to_the_stride_and_reaches_the_end():
    tiles = tiling.plan_tiles(301, 263, SIDE, 32, align=S)
    cols = sorted({t.col for t in tiles})
    assert cols == [0, 96, 192] and all(t.col % S == 0 and t.row % S == 0 for t in tiles)
    assert max(t.col + t.width for t in tiles) == 301 and max(t.row + t.height for t in tiles) == 263
    assert {t.width for t in tiles if t.col == 192} == {109}  # the last tile: 301 - 192 px, filled out to 128
    # Without alignment (the shipped model) the last tile is pulled back flush and full.
    assert sorted({t.col for t in tiling.plan_tiles(301, 263, SIDE, 32)}) == [0, 96, 173]


def test_dynamic_export_on_an_image_smaller_than_its_input_and_off_the_stride(tmp_path):
    model = YoloObbModel(toy_model(tmp_path / "m.onnx", input_shape=DYNAMIC), parse_class_map(None), GSD)
    # 100 x 90 px goes in as 128 x 96 (the next multiples of 32), centred: 14 px left, 3 px
    # on top. The square on scene pixels 18..50 x 29..61 then fills the input's cell (1, 1)
    # exactly, which it would not with the padding at the bottom and right.
    img = write_image(tmp_path / "img.tif", 100, 90, [(18, 29, S, WHITE)])
    dets, _, _ = detect_scene(img, model)
    assert pixel_centres(dets) == [(48 - 14, 48 - 3)]
    assert dets[0].score == pytest.approx(1.0, abs=1e-5)


def test_static_export_pads_a_small_image_centred_with_grey_114(tmp_path):
    model = YoloObbModel(toy_model(tmp_path / "m.onnx"), parse_class_map(None), GSD)
    # 70 x 60 px in a 128 x 128 input: 29 px left, 34 px on top; the square fills cell (2, 2).
    img = write_image(tmp_path / "img.tif", 70, 60, [(64 - 29, 64 - 34, S, WHITE)])
    dets, _, _ = detect_scene(img, model)
    assert pixel_centres(dets) == [(80 - 29, 80 - 34)]


def test_letterbox_centres_the_odd_pixel_to_the_bottom_right():
    padded, (left, top) = letterbox(np.zeros((1, 3, 2, 3), np.float32), 5, 6)
    assert (left, top) == (1, 1)  # 3 rows of padding: 1 above, 2 below; 3 columns: 1 left, 2 right
    assert (padded[0, :, 1:3, 1:4] == 0).all()
    assert (padded[0, :, 0] == 114).all() and (padded[0, :, 3:] == 114).all() and (padded[0, :, :, 4:] == 114).all()


def test_probiou_of_shifted_twins_is_the_gaussian_formula():
    # Two w x h boxes dx apart along x: Bhattacharyya distance 1.5 dx^2 / w^2 (equal
    # covariances diag(w^2, h^2) / 12), so probiou = 1 - sqrt(1 - exp(-1.5 dx^2 / w^2)).
    w, h, dx = 40.0, 10.0, 12.0
    got = probiou(np.array([[0.0, 0.0, w, h, 0.0]]), np.array([[dx, 0.0, w, h, 0.0]]))[0, 0]
    assert got == pytest.approx(1 - np.sqrt(1 - np.exp(-1.5 * dx ** 2 / w ** 2)), abs=1e-6)
    assert probiou(np.array([[5.0, 5.0, w, h, 0.3]]), np.array([[5.0, 5.0, w, h, 0.3]]))[0, 0] > 0.999
    # Turning a box by pi gives the same box.
    assert probiou(np.array([[0, 0, w, h, 0.2]]), np.array([[0, 0, w, h, 0.2 + np.pi]]))[0, 0] > 0.999


def test_fast_nms_is_class_aware_and_drops_what_any_higher_box_overlaps():
    # Three 40 x 10 boxes on one axis at x = 0, 4 and 9 px; by the formula above their
    # probious are a-b 0.878, b-c 0.848, a-c 0.730.
    boxes = np.array([[x, 0.0, 40.0, 10.0, 0.0] for x in (0.0, 4.0, 9.0)])
    scores = np.array([0.9, 0.8, 0.7])
    iou = probiou(boxes, boxes)
    assert (iou[0, 1], iou[1, 2], iou[0, 2]) == pytest.approx((0.878, 0.848, 0.730), abs=1e-3)
    # At IoU 0.8, a drops b, and b drops c although b itself was dropped (greedy NMS would keep c).
    assert list(fast_nms(boxes, scores, 0.8)) == [0]
    assert list(fast_nms(boxes, scores, 0.9)) == [0, 1, 2]
    # Boxes of different classes never suppress each other.
    assert list(fast_nms(boxes, scores, 0.5, classes=np.array([0, 1, 2]))) == [0, 1, 2]


def test_fast_nms_compares_only_near_pairs_yet_keeps_what_the_full_matrix_keeps():
    # The rule spelled out on the whole probiou matrix: box k (by score) goes when any
    # higher-scored box of its class overlaps it at iou or more.
    rng = np.random.default_rng(3)
    n = 400  # crowded: centres in 200 x 200 px, sides up to 80 px
    boxes = np.column_stack([rng.uniform(0, 200, (n, 2)), rng.uniform(1, 80, (n, 2)), rng.uniform(-3.2, 3.2, n)])
    scores, classes = rng.random(n), rng.integers(0, 3, n)
    for iou in (0.1, 0.5, 0.7, 0.95):
        order = np.argsort(-scores, kind="stable")
        m = probiou(boxes[order], boxes[order]) >= iou
        m &= classes[order][:, None] == classes[order][None, :]
        want = order[~np.triu(m, k=1).any(axis=0)]
        assert list(fast_nms(boxes, scores, iou, classes=classes)) == list(want), iou


def test_nms_iou_is_settable_and_a_single_tile_keeps_what_nms_kept(tmp_path):
    # Two long boxes 72 x 12 px, 32 px apart on one axis: probiou about 0.49. Ultralytics
    # keeps both at IoU 0.7; the shipped model's seam merge would have taken them for one hull.
    path = toy_model(tmp_path / "long.onnx", box=(72.0, 12.0, 0.0))
    img = write_image(tmp_path / "img.tif", SIDE, SIDE, [(32, 32, 2 * S, WHITE)])  # fills cells (1..2, 1..2)
    dets, _, _ = detect_scene(img, YoloObbModel(path, parse_class_map(None), GSD))
    assert pixel_centres(dets) == [(48, 48), (48, 80), (80, 48), (80, 80)]
    dets, _, _ = detect_scene(img, YoloObbModel(path, parse_class_map(None), GSD, nms_iou=0.3))
    assert len(dets) == 2  # one of each pair along the axis goes
    with pytest.raises(ModelError, match="NMS IoU"):
        YoloObbModel(path, parse_class_map(None), GSD, nms_iou=0.0)


def _raw(boxes, scores, cls):
    n = len(scores)
    obj = lambda v: np.array(v, dtype=object)  # noqa: E731
    return RawDetections(np.array(boxes, float), obj(cls), np.array(scores, float), obj(["unknown"] * n),
                         np.zeros(n), obj(["normal"] * n), np.ones(n))


def test_seam_merge_prefers_the_whole_view_and_never_merges_within_a_tile():
    box = [100.0, 50.0, 24.0, 12.0, 90.0]
    # One object seen whole by tile 0 (score 0.6) and cut by a seam in tile 1 (0.9).
    dets = _raw([box, [96.0, 50.0, 16.0, 12.0, 90.0]], [0.6, 0.9], ["aircraft"] * 2)
    kept = tiling.merge_seams(dets, np.array([20.0, -4.0]), np.array([0, 1]), 0.7)
    assert list(kept.score) == [0.6]
    # Two whole views: the higher score, wherever it lies.
    dets = _raw([box, box], [0.6, 0.9], ["aircraft"] * 2)
    assert list(tiling.merge_seams(dets, np.array([40.0, 3.0]), np.array([0, 1]), 0.7).score) == [0.9]
    # The same two boxes from one tile, or of two classes, both stay: the model's NMS decided.
    assert len(tiling.merge_seams(dets, np.array([40.0, 3.0]), np.array([0, 0]), 0.7)) == 2
    dets = _raw([box, box], [0.6, 0.9], ["aircraft", "helicopter"])
    assert len(tiling.merge_seams(dets, np.array([40.0, 3.0]), np.array([0, 1]), 0.7)) == 2


def test_wrong_output_shapes_are_refused_naming_the_file(tmp_path):
    with pytest.raises(ModelError, match=r"five\.onnx: output has 5 rows"):
        YoloObbModel(toy_model(tmp_path / "five.onnx", rows=5), parse_class_map(None), GSD)
    # Names for classes the output has no rows for.
    with pytest.raises(ModelError, match=r"names\.onnx: output has 7 rows, room for 2 classes"):
        YoloObbModel(toy_model(tmp_path / "names.onnx", names="{0: 'plane', 1: 'ship', 2: 'helicopter'}"),
                     parse_class_map(None), GSD)
    with pytest.raises(ModelError, match=r"stride\.onnx: bad 'stride' metadata"):
        YoloObbModel(toy_model(tmp_path / "stride.onnx", stride_meta="0"), parse_class_map(None), GSD)


def test_a_model_that_cannot_run_is_one_error_naming_the_file(tmp_path):
    # Declared dynamic, but the graph only runs on 128 x 128: 60 x 50 goes in as 64 x 64.
    path = toy_model(tmp_path / "fixed_inside.onnx", input_shape=DYNAMIC, strict=False)
    proto = onnx.load(str(path))
    proto.graph.node.append(helper.make_node("Constant", [], ["n16"], value=helper.make_tensor(
        "n16_v", TensorProto.INT64, [3], [-1, 7, 16])))
    proto.graph.node.append(helper.make_node("Reshape", ["output0", "n16"], ["output_fixed"]))
    proto.graph.output[0].name = "output_fixed"
    onnx.save(proto, str(path))
    model = YoloObbModel(path, parse_class_map(None), GSD)
    with pytest.raises(ModelError, match=r"fixed_inside\.onnx: cannot run on a \(1, 3, 64, 64\) input"):
        model.run(np.zeros((1, 3, 50, 60), np.float32))


def test_cli_detect_with_a_broken_export_is_one_line(tmp_path):
    img = write_image(tmp_path / "img.tif", SIDE, SIDE, [(32, 64, S, WHITE)])
    bad = toy_model(tmp_path / "bad.onnx", rows=5)
    r = subprocess.run([sys.executable, "-m", "sitewatch.cli", "detect", str(img), "--model", str(bad), "--yolo-obb",
                        "--model-gsd", str(GSD)], capture_output=True, text=True, timeout=120)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1 and len(lines) == 1 and "bad.onnx" in lines[0] and "Traceback" not in r.stderr


def test_cli_detect_takes_nms_iou_for_a_yolo_export(tmp_path):
    import json

    img = write_image(tmp_path / "img.tif", SIDE, SIDE, [(32, 32, 2 * S, WHITE)])
    path = toy_model(tmp_path / "long.onnx", box=(72.0, 12.0, 0.0))
    base = [sys.executable, "-m", "sitewatch.cli", "detect", str(img), "--model", str(path), "--yolo-obb",
            "--model-gsd", str(GSD)]
    counts = []
    for extra in ([], ["--nms-iou", "0.3"]):
        r = subprocess.run(base + extra, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        counts.append(len(json.loads(r.stdout)["features"]))
    assert counts == [4, 2]  # as in test_nms_iou_is_settable_and_a_single_tile_keeps_what_nms_kept
    r = subprocess.run([sys.executable, "-m", "sitewatch.cli", "detect", str(img), "--nms-iou", "0.5"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "--nms-iou" in r.stderr and "Traceback" not in r.stderr
