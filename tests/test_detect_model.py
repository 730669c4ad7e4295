"""Model I/O: clear errors for bad models; the YOLO-OBB adapter against an independently
built model of the Ultralytics layout."""

import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from sitewatch.detect.labels import parse_class_map  # noqa: E402
from sitewatch.detect.model import DetectionModel  # noqa: E402
from sitewatch.detect.yolo_obb import YoloObbModel  # noqa: E402
from sitewatch.errors import ModelError  # noqa: E402

SIDE = 64  # input side of the tiny models
DOTA_NAMES = "{0: 'plane', 1: 'ship', 2: 'storage tank', 9: 'large vehicle', 10: 'small vehicle', 11: 'helicopter'}"
NC = 15  # DOTA v1 classes


def _yolo_like(path, candidates: np.ndarray, names: str | None = DOTA_NAMES, input_shape=(1, 3, SIDE, SIDE)):
    """An ONNX graph with the Ultralytics OBB output layout (1, 4 + nc + 1, N): the given
    candidates, plus 0 x the input's maximum so the output depends on the graph input."""
    out = candidates.astype(np.float32)[None]
    const = helper.make_tensor("cand", TensorProto.FLOAT, out.shape, out.ravel().tolist())
    nodes = [
        helper.make_node("Constant", [], ["c"], value=const),
        helper.make_node("ReduceMax", ["images"], ["m"], keepdims=0),
        helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("z", TensorProto.FLOAT, [], [0.0])),
        helper.make_node("Mul", ["m", "zero"], ["m0"]),
        helper.make_node("Add", ["c", "m0"], ["output0"]),
    ]
    graph = helper.make_graph(nodes, "obb", [helper.make_tensor_value_info("images", TensorProto.FLOAT, input_shape)],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(out.shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if names:
        e = model.metadata_props.add()
        e.key, e.value = "names", names
    onnx.save(model, str(path))
    return path


def _candidate(cx, cy, w, h, cls, score, angle_rad):
    col = np.zeros(4 + NC + 1)
    col[:4] = cx, cy, w, h
    col[4 + cls] = score
    col[4 + NC] = angle_rad
    return col


def test_yolo_obb_adapter_decodes_known_boxes(tmp_path):
    cands = np.column_stack([
        _candidate(20, 30, 40, 10, 0, 0.9, 0.0),  # plane, long side along x: heading 90
        _candidate(21, 30, 40, 10, 0, 0.6, 0.0),  # duplicate plane: suppressed by NMS
        _candidate(40, 40, 8, 30, 1, 0.8, math.radians(30)),  # ship, long side is h: heading 30
        _candidate(10, 10, 6, 6, 2, 0.95, 0.0),  # storage tank: not in the class map
        _candidate(50, 12, 9, 4, 10, 0.1, 0.0),  # small vehicle below the threshold
        _candidate(50, 50, 4, 9, 10, 0.7, math.radians(-20)),  # small vehicle: long side h, heading 160
    ])
    path = _yolo_like(tmp_path / "yolo.onnx", cands)
    m = YoloObbModel(path, parse_class_map(None), gsd_m=0.3)
    assert m.tile_size == SIDE and m.gsd_m == 0.3
    (d,) = m.run(np.zeros((1, 3, SIDE, SIDE), np.float32), score_threshold=0.25)
    assert list(d.cls) == ["aircraft", "ship", "vehicle"]
    assert np.allclose(d.boxes[0], [20, 30, 40, 10, 90])
    assert np.allclose(d.boxes[1], [40, 40, 30, 8, 30])
    assert np.allclose(d.boxes[2], [50, 50, 9, 4, 160])
    assert list(d.type) == ["unknown"] * 3 and list(d.state) == ["normal"] * 3


def test_yolo_obb_adapter_maps_by_index_without_names(tmp_path):
    cands = np.column_stack([_candidate(20, 30, 40, 10, 11, 0.9, 0.0)])
    path = _yolo_like(tmp_path / "yolo.onnx", cands, names=None)
    m = YoloObbModel(path, parse_class_map("11=helicopter"), gsd_m=0.5)
    (d,) = m.run(np.zeros((1, 3, SIDE, SIDE), np.float32))
    assert list(d.cls) == ["helicopter"]


def test_yolo_obb_adapter_refuses_other_layouts(tmp_path):
    path = tmp_path / "bad.onnx"
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, SIDE, SIDE])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, SIDE, SIDE])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="Ultralytics OBB layout"):
        YoloObbModel(path, parse_class_map(None), gsd_m=0.5)
    # The same file is not a sitewatch model either: its metadata is missing.
    with pytest.raises(ModelError, match="missing metadata"):
        DetectionModel(path)


def test_missing_and_corrupt_model_files(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        DetectionModel(tmp_path / "nope.onnx")
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"\x08\x01garbage that is not a protobuf")
    with pytest.raises(ModelError, match="corrupt.onnx.*not a readable ONNX model"):
        DetectionModel(bad)


def test_sitewatch_metadata_with_wrong_input_shape(tmp_path):
    pytest.importorskip("torch")
    from sitewatch.training.export import metadata

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["heat"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, SIDE, SIDE])],
                              [helper.make_tensor_value_info("heat", TensorProto.FLOAT, [1, 1, SIDE, SIDE])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in metadata("m", "1", 0.5, SIDE, 16, {}, {}).items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    path = tmp_path / "gray.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=r"gray.onnx: expected one input of shape \(B, 3, H, W\)"):
        DetectionModel(path)


def test_yolo_obb_model_runs_through_tiled_inference(tmp_path):
    import rasterio
    from affine import Affine

    from sitewatch.detect.inference import detect_scene

    gsd = 0.3  # the YOLO model's GSD, given by the user
    cands = np.column_stack([_candidate(20, 30, 40, 10, 0, 0.9, 0.0)])
    m = YoloObbModel(_yolo_like(tmp_path / "yolo.onnx", cands), parse_class_map(None), gsd_m=gsd)
    rng = np.random.default_rng(0)
    with rasterio.open(tmp_path / "img.tif", "w", driver="GTiff", width=SIDE, height=SIDE, count=3, dtype="uint8",
                       crs="EPSG:32636", transform=Affine(gsd, 0, 500000.0, 0, -gsd, 4000000.0)) as ds:
        ds.write(rng.integers(0, 255, (3, SIDE, SIDE), dtype=np.uint8))
    dets, grid, _ = detect_scene(tmp_path / "img.tif", m)
    assert len(dets) == 1
    d = dets[0]
    # Pixel (20, 30) at 0.3 m from the top-left corner; 40 x 10 px = 12 x 3 m; axis east-west.
    assert (d.box.cx, d.box.cy) == pytest.approx((500000.0 + 20 * gsd, 4000000.0 - 30 * gsd))
    assert (d.box.length, d.box.width) == pytest.approx((40 * gsd, 10 * gsd))
    assert d.box.heading_deg == pytest.approx(90.0)
    assert d.cls == "aircraft" and d.type == "unknown"


def test_scores_rescaled_so_the_operating_point_reads_one_half():
    from dataclasses import replace

    from sitewatch.detect.model import DEFAULT_MODEL, raw_score, rescale_scores

    raw = np.array([0.0, 0.15, 0.3, 0.65, 1.0])
    assert np.allclose(rescale_scores(raw, 0.3), [0.0, 0.25, 0.5, 0.75, 1.0])
    assert all(math.isclose(raw_score(s, 0.3), r) for s, r in zip(rescale_scores(raw, 0.3), raw))
    if not DEFAULT_MODEL.exists():
        pytest.skip("no shipped model")
    m = DetectionModel()
    info = m.info
    c, t, s = len(info.classes), len(info.types), len(info.states)
    heat = np.zeros((c, 8, 8), np.float32)
    heat[0, 2, 2], heat[0, 5, 5], heat[0, 6, 1] = 0.25, 0.35, 0.9  # one below the raw operating point 0.3
    box = np.zeros((8, 8, 8), np.float32)
    box[2:4] = math.log(20.0)
    box[5] = 1.0
    typ, state = np.zeros((t, 8, 8), np.float32), np.zeros((s, 8, 8), np.float32)
    m.info = replace(info, score_pivot=None, class_score_pivots={})  # one operating point for all classes here
    plain = m.decode(heat, box, typ, state, 0.3)
    m.info = replace(info, score_pivot=0.3, class_score_pivots={})
    scaled = m.decode(heat, box, typ, state, 0.5)
    assert np.allclose(scaled.boxes, plain.boxes)  # the same peaks kept at the operating point
    assert np.allclose(sorted(plain.score), [0.35, 0.9]) and np.allclose(sorted(scaled.score), [0.5 + 0.5 * 0.05 / 0.7,
                                                                                                0.5 + 0.5 * 0.6 / 0.7])


def test_catalogue_size_settles_a_type_the_network_cannot_tell():
    """Equal type logits for An-124 and Il-76: a 69 m x 73 m box is an An-124, a 47 m x 50 m
    box an Il-76; strong logits still win over a size that fits neither well."""
    from sitewatch.detect.model import _catalogue_log_sizes, size_log_likelihood

    sizes = _catalogue_log_sizes(("An-124", "Il-76", "no-such-type"))
    assert len(sizes[2]) == 0
    ll = size_log_likelihood(np.log([69.0, 47.0]), np.log([73.0, 50.0]), sizes)
    assert ll[0, 0] > ll[0, 1] and ll[1, 1] > ll[1, 0]
    assert np.all(ll[:, 2] == 0.0)  # no evidence either way for a type the catalogue lacks
    # A 58 m box lies between the two: the size barely favours one, and logits 3 apart decide.
    mid = size_log_likelihood(np.log([58.0]), np.log([62.0]), sizes)
    assert abs(mid[0, 0] - mid[0, 1]) < 3.0


def test_a_helicopter_read_surely_takes_the_catalogue_outline_of_its_state():
    """A Ka-52 read surely as rotor_removed takes the bare fuselage's 13.5 x 7.3 m outline
    (the detector's box had kept most of the rotor disc); one read unsurely, an aircraft,
    and a swing-wing type keep the detector's box. Centre and heading never move."""
    from sitewatch.detect.model import RawDetections

    model = DetectionModel()
    px = 1.0 / model.info.gsd_m  # pixels per metre
    boxes = np.array([[100.0, 100.0, 16.5 * px, 12.8 * px, 30.0],   # Ka-52, rotors off, sure
                      [300.0, 100.0, 16.5 * px, 12.8 * px, 30.0],   # the same, state unsure
                      [500.0, 100.0, 25.0 * px, 28.0 * px, 90.0],   # An-26, sure
                      [700.0, 100.0, 22.0 * px, 14.0 * px, 90.0]])  # Su-24M, sure
    obj = lambda *v: np.array(v, dtype=object)  # noqa: E731
    dets = RawDetections(boxes, obj("helicopter", "helicopter", "aircraft", "aircraft"), np.full(4, 0.9),
                         obj("Ka-52", "Ka-52", "An-26", "Su-24M"), np.array([0.99, 0.99, 0.99, 0.99]),
                         obj("rotor_removed", "rotor_removed", "normal", "normal"), np.array([0.97, 0.6, 0.99, 0.99]))
    out = model.fit_outlines(dets)
    assert out.boxes[0, 2:4] == pytest.approx([13.5 * px, 7.3 * px])
    assert np.array_equal(out.boxes[1:], boxes[1:])
    assert np.array_equal(out.boxes[:, [0, 1, 4]], boxes[:, [0, 1, 4]])
    assert dets.boxes is boxes and boxes[0, 2] == 16.5 * px  # the input is left as it was


def test_a_class_with_its_own_operating_point_is_decoded_against_it(tmp_path):
    """class_score_pivots: aircraft's operating point at raw 0.2, the others at the model's
    0.35. Two peaks of raw 0.25: the aircraft is over its point (0.5 + 0.5 * 0.05 / 0.8 =
    0.531), the vehicle under its own (0.25 / 0.35 * 0.5 = 0.357), so at 0.5 only the
    aircraft is kept."""
    import shutil

    from sitewatch.detect.model import DEFAULT_MODEL
    from sitewatch.training.export import with_metadata

    shutil.copytree(DEFAULT_MODEL.parent, tmp_path / "models")  # the companions come along
    path = with_metadata(DEFAULT_MODEL, tmp_path / "models" / DEFAULT_MODEL.name, {"class_score_pivots": '{"aircraft": 0.2}'})
    model = DetectionModel(path)
    classes, n_types, n_states = model.info.classes, len(model.info.types), len(model.info.states)
    heat = np.zeros((len(classes), 8, 8), np.float32)
    heat[classes.index("aircraft"), 2, 2] = 0.25
    heat[classes.index("vehicle"), 5, 5] = 0.25
    box = np.zeros((8, 8, 8), np.float32)
    box[5] = 1.0  # cos of the heading
    dets = model.decode(heat, box, np.zeros((n_types, 8, 8), np.float32), np.zeros((n_states, 8, 8), np.float32), 0.5)
    assert list(dets.cls) == ["aircraft"] and dets.score[0] == pytest.approx(0.53125)
    low = model.decode(heat, box, np.zeros((n_types, 8, 8), np.float32), np.zeros((n_states, 8, 8), np.float32), 0.3)
    assert dict(zip(low.cls, low.score)) == pytest.approx({"aircraft": 0.53125, "vehicle": 0.25 / 0.35 * 0.5})


def test_an_operating_point_for_an_unknown_class_is_refused(tmp_path):
    from sitewatch.detect.model import DEFAULT_MODEL
    from sitewatch.training.export import with_metadata

    path = with_metadata(DEFAULT_MODEL, tmp_path / "sitewatch-ocn.onnx", {"class_score_pivots": '{"tank": 0.2}'})
    with pytest.raises(ModelError, match="class_score_pivots"):  # refused before its companions are looked for
        DetectionModel(path)
