"""The second-look models (state reader, box refiner): nose-up crops, moving a centre
back from crop to image, training and attaching them to a detector, and the errors for a
companion that is missing or does not fit."""

import json

import numpy as np
import pytest

from sitewatch.detect.second_look.crops import nose_up_crop
from sitewatch.detect.second_look.state_reader import CROP_PX, FILL


@pytest.mark.parametrize("heading", [0.0, 37.0, 90.0, 180.0, 251.0, 315.0])
def test_crop_turns_the_nose_up_and_scales_the_longer_side(heading):
    """A bright spot at the nose end of a box, and a dark one at its right wingtip, land at
    the top centre and the right edge of the crop whatever the heading."""
    img = np.full((300, 300, 3), 100.0, np.float32)
    cx, cy, length, width = 150.0, 140.0, 120.0, 60.0
    h = np.radians(heading)
    nose = (cx + 0.5 * length * np.sin(h), cy - 0.5 * length * np.cos(h))
    right = (cx + 0.5 * width * np.cos(h), cy + 0.5 * width * np.sin(h))  # clockwise of the nose
    # 5 x 5 px spots centred on those points (pixel (r, c) spans [c, c + 1) x [r, r + 1))
    for (x, y), value in ((nose, 255.0), (right, 0.0)):
        c0, r0 = int(round(x - 2.5)), int(round(y - 2.5))
        img[r0:r0 + 5, c0:c0 + 5] = value
    crop = nose_up_crop(img, np.array([cx, cy, length, width, heading]), CROP_PX, FILL)
    assert crop.shape == (CROP_PX, CROP_PX, 3)
    half = CROP_PX / 2.0
    rows, cols = np.indices(crop.shape[:2]) + 0.5

    def centre(weight):
        return float((cols * weight).sum() / weight.sum()), float((rows * weight).sum() / weight.sum())

    # a spot's centre is within half an image pixel (0.4 crop px here) of the point asked for
    bx, by = centre(np.clip(crop[..., 0] - 100.0, 0, None))
    assert abs(bx - half) <= 0.6 and abs(by - (half - FILL * half)) <= 0.6
    dx, dy = centre(np.clip(100.0 - crop[..., 0], 0, None))
    assert abs(dy - half) <= 0.6 and abs(dx - (half + FILL * half * width / length)) <= 0.6


@pytest.mark.parametrize("heading", [0.0, 30.0, 90.0, 145.0, 270.0])
def test_crop_centres_the_box_to_a_fraction_of_a_pixel(heading):
    """Boxes are in pixel coordinates whose origin is the top-left corner of the top-left
    pixel: a 4 x 4 px block over columns 100-103 and rows 60-63 has its centre at (102, 62).
    A crop around that box has the block's centre in its middle, whatever the heading. (With
    OpenCV's own origin, at the centre of the top-left pixel, passed through unchanged, the
    block landed about 2.5 crop pixels off, and the refiners learnt half a pixel of bias.)"""
    img = np.zeros((200, 200, 3), np.float32)
    img[60:64, 100:104] = 255.0
    crop = nose_up_crop(img, np.array([102.0, 62.0, 4.0, 4.0, heading]), CROP_PX, FILL)[..., 0]
    rows, cols = np.indices(crop.shape)
    w = crop / crop.sum()
    # the centre of crop pixel (r, c) lies at (c + 0.5, r + 0.5) in the same convention
    cx, cy = float(((cols + 0.5) * w).sum()), float(((rows + 0.5) * w).sum())
    assert abs(cx - CROP_PX / 2.0) < 0.25 and abs(cy - CROP_PX / 2.0) < 0.25


@pytest.mark.parametrize("heading", [0.0, 90.0, 200.0])
def test_refiner_answer_moves_the_centre_toward_the_nose_and_turns_the_axis(heading):
    """A refiner that answers "the centre is a tenth of the crop above the middle" (toward
    the nose in a nose-up crop) and "turned 0.2 units clockwise" moves the box
    0.1 * crop / scale pixels along its heading (scale = FILL * crop / length) and turns it
    by 0.2 * HEADING_UNIT_DEG; an answer beyond MAX_SHIFT or MAX_TURN_DEG is not used."""
    from sitewatch.detect.second_look import box_refiner as br

    class Session:
        def __init__(self, answers):
            self.answers = np.array(answers, np.float32)

        def run(self, _, feeds):
            assert feeds["crops"].shape == (len(self.answers), 3, br.CROP_PX, br.CROP_PX)
            return [self.answers]

    refiner = object.__new__(br.BoxRefiner)
    refiner.info = br.RefinerInfo(("vehicle",), br.CROP_PX, br.FILL, {}, {})
    refiner.input_name, refiner.sun_input = "crops", None
    too_far = -(br.MAX_SHIFT + 0.05)
    too_much = (br.MAX_TURN_DEG + 1.0) / br.HEADING_UNIT_DEG
    refiner.session = Session([[0.0, -0.1, 0.2], [0.0, too_far, 0.0], [0.0, -0.1, too_much]])
    boxes = np.array([[100.0, 100.0, 20.0, 8.0, heading]] * 3)
    out = refiner.refine(np.zeros((200, 200, 3), np.float32), boxes)
    step = 0.1 * 20.0 / br.FILL
    h = np.radians(heading)
    assert np.allclose(out[0, :2], [100.0 + step * np.sin(h), 100.0 - step * np.cos(h)], atol=1e-6)
    assert np.allclose(out[0, 2:4], boxes[0, 2:4])
    assert np.isclose(out[0, 4], (heading + 0.2 * br.HEADING_UNIT_DEG) % 360.0)
    assert np.allclose(out[1:], boxes[1:])


@pytest.mark.parametrize("heading, sun_azimuth, expected", [
    (0.0, 180.0, (0.0, -1.0)),  # nose north, sun south: shadows fall north, up the crop
    (90.0, 180.0, (-1.0, 0.0)),  # nose east turned up: north is to the crop's left
    (90.0, 270.0, (0.0, -1.0)),  # sun west: shadows fall east, towards the nose, up the crop
    (0.0, 270.0, (1.0, 0.0)),  # nose north, sun west: shadows to the right of the item
    (225.0, 135.0, (1.0, 0.0)),  # nose south-west, sun south-east: shadows fall north-west, to its right
])
def test_sun_features_give_the_shadows_direction_in_the_nose_up_crop(heading, sun_azimuth, expected):
    """Shadows fall away from the sun; in a crop turned nose-up their direction turns with
    it, and their length per unit height is 1 / tan(elevation), capped at MAX_SHADOW."""
    from sitewatch.detect.second_look import box_refiner as br
    from sitewatch.detect.second_look.crops import nose_up_matrix
    from sitewatch.geo.sun import SunPosition

    mats = [nose_up_matrix(np.array([100.0, 100.0, 20.0, 8.0, heading]), br.CROP_PX, br.FILL)]
    f = br.sun_features(mats, SunPosition(sun_azimuth, 45.0))
    assert np.allclose(f[0], [*expected, 1.0], atol=1e-6)
    low = br.sun_features(mats, SunPosition(sun_azimuth, 5.0))
    assert np.isclose(np.hypot(*low[0, :2]), br.MAX_SHADOW)
    assert np.allclose(br.sun_features(mats, None), 0.0)


def test_crop_off_the_image_is_grey():
    crop = nose_up_crop(np.zeros((50, 50, 3), np.float32), np.array([-200.0, -200.0, 40.0, 10.0, 0.0]), CROP_PX, FILL)
    assert np.allclose(crop, 114.0)


torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from typer.testing import CliRunner  # noqa: E402

from sitewatch.cli.main import app  # noqa: E402
from sitewatch.detect.model import DetectionModel  # noqa: E402
from sitewatch.errors import ModelError  # noqa: E402
from sitewatch.training.export import with_metadata  # noqa: E402


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory):
    """A detector trained for two steps, and the chips it came from."""
    tmp = tmp_path_factory.mktemp("reader")
    runner = CliRunner()
    data = tmp / "chips"
    r = runner.invoke(app, ["dataset", "--out", str(data), "--count", "6", "--gsd", "0.5", "--chip", "192"])
    assert r.exit_code == 0, r.output
    model = tmp / "det.onnx"
    r = runner.invoke(app, ["train", "--data", str(data), "--out", str(model), "--checkpoint", str(tmp / "c.pt"),
                            "--batch", "2", "--chip", "128", "--no-pretrained", "--threads", "1", "--steps", "2"])
    assert r.exit_code == 0, r.output
    return data, model


def test_train_states_attaches_a_reader_the_detector_uses(tiny_detector, tmp_path):
    data, detector = tiny_detector
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["train-states", "--data", str(data), "--detector", str(detector), "--out-dir", str(out),
                                 "--epochs", "1", "--threads", "1", "--version", "9.9.9",
                                 "--applies-to", "Ka-52,Mi-8/17,S-400 launcher"])
    assert r.exit_code == 0, r.output
    record = json.loads(r.output.strip().splitlines()[-1])
    assert record["crops"] > 0
    m = DetectionModel(out / "det.onnx")
    assert m.info.version == "9.9.9" and m.state_reader is not None
    assert m.state_reader.info.applies_to == ("Ka-52", "Mi-8/17", "S-400 launcher")
    assert m.state_reader.info.training["crops"] == record["crops"]
    # The reader's answers replace the head's for its types, and stay within each type's states.
    d = m.run(np.full((1, 3, 128, 128), 120.0, np.float32), score_threshold=0.0)[0]
    assert len(d) > 0
    for typ, state, p in zip(d.type, d.state, d.state_score):
        assert state in m.info.type_states[typ] and 0.0 < p <= 1.0
    assert DetectionModel(detector).state_reader is None
    # A refiner attached to the copy keeps the reader: both companions in one folder.
    r = CliRunner().invoke(app, ["train-refiner", "--data", str(data), "--detector", str(out / "det.onnx"),
                                 "--out-dir", str(tmp_path / "both"), "--epochs", "1", "--threads", "1",
                                 "--classes", "vehicle,air_defence"])
    assert r.exit_code == 0, r.output
    both = DetectionModel(tmp_path / "both" / "det.onnx")
    assert both.state_reader is not None
    assert [r.info.applies_to for r in both.box_refiners] == [("air_defence", "vehicle")]
    assert both.info.version == "9.9.9"
    # The refiner moves centres of its classes only, by less than MAX_SHIFT of its crop.
    from sitewatch.detect.second_look.box_refiner import MAX_SHIFT

    batch = np.full((1, 3, 128, 128), 120.0, np.float32)
    both.box_refiners, refiners = (), both.box_refiners
    plain = both.run(batch, score_threshold=0.0)[0]
    both.box_refiners = refiners
    moved = both.refine_boxes(np.ascontiguousarray(batch[0].transpose(1, 2, 0)), plain)
    shift = np.hypot(*(moved.boxes[:, :2] - plain.boxes[:, :2]).T)
    mine = np.isin(plain.cls, ["vehicle", "air_defence"])
    assert np.all(shift[~mine] == 0)
    assert np.all(shift[mine] <= MAX_SHIFT * np.sqrt(2) * plain.boxes[mine, 2:4].max(axis=1) / FILL + 1e-6)
    # A box refiner for another class joins the first, in its own file.
    r = CliRunner().invoke(app, ["train-refiner", "--data", str(data), "--detector", str(tmp_path / "both" / "det.onnx"),
                                 "--out-dir", str(tmp_path / "heli"), "--epochs", "1", "--threads", "1",
                                 "--classes", "helicopter"])
    assert r.exit_code == 0, r.output
    heli = DetectionModel(tmp_path / "heli" / "det.onnx")
    assert [r.path.name for r in heli.box_refiners] == ["det.refiner.onnx", "det.refiner-helicopter.onnx"]
    # A detector copy whose reader is missing is refused by name.
    (out / "det.states.onnx").unlink()
    with pytest.raises(ModelError, match="det.states.onnx"):
        DetectionModel(out / "det.onnx")


def test_reader_that_is_not_one_is_refused(tiny_detector, tmp_path):
    _, detector = tiny_detector
    # The detector itself named as its own reader: a model, but not a state reader.
    copy = with_metadata(detector, tmp_path / "d.onnx", {"state_reader": "d.onnx"})
    with pytest.raises(ModelError, match="not a sitewatch-state-reader model"):
        DetectionModel(copy)


def test_unknown_type_for_the_reader_is_refused(tiny_detector, tmp_path):
    data, detector = tiny_detector
    r = CliRunner().invoke(app, ["train-states", "--data", str(data), "--detector", str(detector),
                                 "--out-dir", str(tmp_path), "--applies-to", "Su-34"])
    assert r.exit_code != 0
    assert "Su-34" in str(r.exception or r.output)
    assert not list(tmp_path.glob("*.onnx"))


def test_train_types_attaches_a_type_reader_whose_types_stay_in_class(tiny_detector, tmp_path):
    data, detector = tiny_detector
    r = CliRunner().invoke(app, ["train-types", "--data", str(data), "--detector", str(detector), "--out-dir",
                                 str(tmp_path), "--epochs", "1", "--threads", "1", "--classes", "aircraft,helicopter",
                                 "--applies-to", "aircraft", "--with-head", "aircraft"])
    assert r.exit_code == 0, r.output
    record = json.loads(r.output.strip().splitlines()[-1])
    m = DetectionModel(tmp_path / "det.onnx")
    assert m.type_reader is not None and m.type_reader.info.applies_to == ("aircraft",)
    assert m.type_reader.info.training["classes"] == ["aircraft", "helicopter"]
    assert m.type_reader.with_head == ("aircraft",)
    assert m.type_reader.info.training["crops"] == record["crops"] > 0
    d = m.run(np.full((1, 3, 128, 128), 120.0, np.float32), score_threshold=0.0)[0]
    assert len(d) > 0
    for cls, typ, state in zip(d.cls, d.type, d.state):
        assert m.info.type_classes[typ] == cls and state in m.info.type_states[typ]
    # A hull type reader for ships attached to that copy: the square reader stays, for aircraft.
    r = CliRunner().invoke(app, ["train-types", "--data", str(data), "--detector", str(tmp_path / "det.onnx"),
                                 "--out-dir", str(tmp_path / "hull"), "--epochs", "1", "--threads", "1",
                                 "--classes", "ship", "--hull", "--max-per-type", "1"])
    assert r.exit_code == 0, r.output
    h = DetectionModel(tmp_path / "hull" / "det.onnx")
    assert h.hull_type_reader.info.training["max_per_type"] == 1
    assert json.loads(r.output.strip().splitlines()[-1])["crops"] <= 2 * 5  # one item of each ship type at most
    assert h.hull_type_reader.path.name == "det.hull-types.onnx"
    assert (h.hull_type_reader.info.crop_px, h.hull_type_reader.info.crop_w, h.hull_type_reader.fill) == (256, 64, 0.9)
    assert [(r.path.name, c) for r, c in h.type_readers()] == [("det.types.onnx", ("aircraft",)),
                                                               ("det.hull-types.onnx", ("ship",))]
    assert h.hull_type_reader.read(np.full((300, 300, 3), 90.0, np.float32),
                                   np.array([[150.0, 150.0, 240.0, 30.0, 75.0]])).shape == (1, len(h.info.types))
    r = CliRunner().invoke(app, ["train-types", "--data", str(data), "--detector", str(detector), "--out-dir",
                                 str(tmp_path / "no"), "--classes", "aircraft,tanks"])
    assert r.exit_code != 0 and "tanks" in str(r.exception or r.output)
    r = CliRunner().invoke(app, ["train-types", "--data", str(data), "--detector", str(detector), "--out-dir",
                                 str(tmp_path / "no"), "--classes", "aircraft", "--applies-to", "ship"])
    assert r.exit_code != 0 and "not among --classes" in str(r.exception or r.output)
    r = CliRunner().invoke(app, ["train-types", "--data", str(data), "--detector", str(detector), "--out-dir",
                                 str(tmp_path / "no"), "--classes", "aircraft,ship", "--applies-to", "aircraft",
                                 "--with-head", "ship"])
    assert r.exit_code != 0 and "not re-read" in str(r.exception or r.output)
    assert not (tmp_path / "no").exists()


def test_type_reader_answer_weighed_with_the_size_and_a_state_the_new_type_lacks_replaced():
    """Reader logits: strongly Su-34 for the first item; even between Su-34 and Su-35 for the
    second, whose 23.3 x 14.7 m box is a Su-34's size; strongly Mi-8/17 for a helicopter the
    detector called a Ka-52 with its rotors removed, a state a Mi-8/17 also has; and strongly
    Ropucha for a ship the detector called a Kilo in state 'normal'."""
    from sitewatch.detect.model import DEFAULT_MODEL, DetectionModel, RawDetections
    from sitewatch.detect.second_look.crop_reader import ReaderInfo
    from sitewatch.detect.second_look.type_reader import TypeReader

    if not DEFAULT_MODEL.exists():
        pytest.skip("no shipped model")
    m = DetectionModel(DEFAULT_MODEL)
    types = m.info.types
    logits = np.zeros((4, len(types)), np.float32)
    logits[0, types.index("Su-34")] = 8.0
    logits[1, [types.index("Su-34"), types.index("Su-35")]] = 8.0
    logits[2, types.index("Mi-8/17")] = 8.0
    logits[3, types.index("Ropucha landing ship")] = 8.0

    class Stub(TypeReader):
        def __init__(self, with_head=()):
            self.info = ReaderInfo(types, ("aircraft", "helicopter", "ship"), 112, {}, {})
            self.with_head = with_head

        def read(self, image, boxes):
            return logits[:len(boxes)]

    gsd = m.info.gsd_m
    sizes = [(21.9, 15.3), (23.3, 14.7), (18.2, 21.3), (74.0, 9.9)]
    boxes = np.array([[50.0, 50.0, length / gsd, width / gsd, 0.0] for length, width in sizes])
    dets = RawDetections(boxes, np.array(["aircraft", "aircraft", "helicopter", "ship"], dtype=object),
                         np.full(4, 0.9), np.array(["Su-35", "Su-35", "Ka-52", "Kilo submarine"], dtype=object),
                         np.full(4, 0.6), np.array(["normal", "normal", "rotor_removed", "normal"], dtype=object),
                         np.full(4, 0.9))
    m.type_reader, m.hull_type_reader = Stub(), None
    out = m.reread_types(np.zeros((100, 100, 3), np.float32), dets)
    assert list(out.type) == ["Su-34", "Su-34", "Mi-8/17", "Ropucha landing ship"]
    assert out.type_score[0] > 0.99 and 0.5 < out.type_score[1] < 0.99
    assert out.state[2] == "rotor_removed" and out.state_score[2] == 0.9  # kept: a Mi-8/17 state too
    assert out.state[3] in m.info.type_states["Ropucha landing ship"]
    assert np.allclose(out.boxes, dets.boxes) and np.allclose(out.score, dets.score)


def test_type_reader_weighs_the_heads_answer_for_its_with_head_classes():
    """A helicopter the reader finds as likely a Ka-52 as a Mi-24/35, in a box between their
    sizes: weighed with the head's "Mi-24/35 at 0.9" it is a Mi-24/35, and surely; a reader
    sure of a Ka-52 still overrules a head at 0.6. Without with_head the head's answer is
    not used."""
    from sitewatch.detect.model import DEFAULT_MODEL, DetectionModel, RawDetections
    from sitewatch.detect.second_look.crop_reader import ReaderInfo
    from sitewatch.detect.second_look.type_reader import TypeReader

    if not DEFAULT_MODEL.exists():
        pytest.skip("no shipped model")
    m = DetectionModel(DEFAULT_MODEL)
    types = m.info.types
    ka, mi = types.index("Ka-52"), types.index("Mi-24/35")
    logits = np.zeros((2, len(types)), np.float32)
    logits[0, [ka, mi]] = 8.0
    logits[1, ka] = 8.0

    class Stub(TypeReader):
        def __init__(self, with_head):
            self.info = ReaderInfo(types, ("helicopter",), 112, {}, {})
            self.with_head = with_head

        def read(self, image, boxes):
            return logits[:len(boxes)]

    box = [50.0, 50.0, 18.6 / m.info.gsd_m, 15.8 / m.info.gsd_m, 0.0]
    dets = RawDetections(np.array([box, box]), np.array(["helicopter"] * 2, dtype=object), np.full(2, 0.9),
                         np.array(["Mi-24/35"] * 2, dtype=object), np.array([0.9, 0.6]),
                         np.array(["normal"] * 2, dtype=object), np.full(2, 0.9))
    image = np.zeros((100, 100, 3), np.float32)
    m.type_reader = Stub(("helicopter",))
    weighed = m.reread_types(image, dets)
    assert weighed.type[0] == "Mi-24/35" and weighed.type_score[0] > 0.8
    assert weighed.type[1] == "Ka-52"
    m.type_reader = Stub(())
    alone = m.reread_types(image, dets)
    assert alone.type[1] == "Ka-52" and alone.type_score[0] < weighed.type_score[0]


def test_the_hull_type_reader_takes_the_ships_over_from_the_square_one():
    """Two readers on one detector: the square reader applies to aircraft and ships and
    answers Su-34 and Kilo; the hull reader applies to ships and answers Ropucha. The
    aircraft is read by the square reader, the ship (in a box between a Ropucha's length and
    a Grigorovich's) by the hull reader only, on a crop 256 along the hull and 64 across it;
    without the hull reader the square one reads both."""
    from sitewatch.detect.model import DEFAULT_MODEL, DetectionModel, RawDetections
    from sitewatch.detect.second_look.crop_reader import ReaderInfo
    from sitewatch.detect.second_look.type_reader import TypeReader

    if not DEFAULT_MODEL.exists():
        pytest.skip("no shipped model")
    m = DetectionModel(DEFAULT_MODEL)
    types = m.info.types
    seen = {}

    class Stub(TypeReader):
        def __init__(self, name, applies_to, answer, crop_px=112, crop_w=None):
            self.info = ReaderInfo(types, applies_to, crop_px, {}, {}, crop_w, 0.9 if crop_w else None)
            self.fill, self.with_head, self.name, self.answer = self.info.fill or 0.8, (), name, answer

        def read_crops(self, crops):
            seen[self.name] = crops.shape
            logits = np.zeros((len(crops), len(types)), np.float32)
            for a in self.answer:
                logits[:, types.index(a)] = 8.0
            return logits

    gsd = m.info.gsd_m
    boxes = np.array([[60.0, 60.0, 21.9 / gsd, 15.3 / gsd, 0.0], [150.0, 150.0, 118.5 / gsd, 15.1 / gsd, 30.0]])
    dets = RawDetections(boxes, np.array(["aircraft", "ship"], dtype=object), np.full(2, 0.9),
                         np.array(["Su-35", "Kilo submarine"], dtype=object), np.full(2, 0.6),
                         np.array(["normal", "normal"], dtype=object), np.full(2, 0.9))
    image = np.zeros((300, 300, 3), np.float32)
    m.type_reader = Stub("square", ("aircraft", "ship"), ("Su-34", "Admiral Grigorovich frigate"))
    m.hull_type_reader = Stub("hull", ("ship",), ("Ropucha landing ship",), 256, 64)
    out = m.reread_types(image, dets)
    assert list(out.type) == ["Su-34", "Ropucha landing ship"]
    assert seen == {"square": (1, 112, 112, 3), "hull": (1, 256, 64, 3)}
    m.hull_type_reader = None
    assert list(m.reread_types(image, dets).type) == ["Su-34", "Admiral Grigorovich frigate"]


def test_hull_refiner_moves_along_a_long_narrow_crop_and_sets_the_length():
    """A hull refiner (crop 96 high, 32 wide, the box's length at 0.75 of the height) that
    answers "centre a tenth of the height toward the bow, a twentieth of the width to the
    right, no turn, 10% longer" moves a ship's box 0.1 * 96 / scale pixels along its heading
    and 0.05 * 32 / scale across it, and scales its length by 1.1; a length answer beyond
    MAX_LOG_LENGTH is not used."""
    from sitewatch.detect.second_look import box_refiner as br

    class Session:
        def run(self, _, feeds):
            assert feeds["crops"].shape == (2, 3, br.HULL_CROP_PX, br.HULL_CROP_W)
            return [np.array([[0.05, -0.1, 0.0, np.log(1.1)], [0.0, 0.0, 0.0, br.MAX_LOG_LENGTH + 0.1]], np.float32)]

    refiner = object.__new__(br.BoxRefiner)
    refiner.info = br.RefinerInfo(("ship",), br.HULL_CROP_PX, br.HULL_FILL, {}, {}, br.HULL_CROP_W)
    refiner.input_name, refiner.sun_input = "crops", None
    refiner.session = Session()
    heading = 30.0
    boxes = np.array([[300.0, 300.0, 148.0, 20.0, heading]] * 2)
    out = refiner.refine(np.zeros((600, 600, 3), np.float32), boxes)
    scale = br.HULL_FILL * br.HULL_CROP_PX / 148.0
    along, across = 0.1 * br.HULL_CROP_PX / scale, 0.05 * br.HULL_CROP_W / scale
    h = np.radians(heading)
    expected = [300.0 + along * np.sin(h) + across * np.cos(h), 300.0 - along * np.cos(h) + across * np.sin(h)]
    assert np.allclose(out[0, :2], expected, atol=1e-6)
    assert np.isclose(out[0, 2], 148.0 * 1.1) and out[0, 3] == 20.0 and np.isclose(out[0, 4], heading)
    assert np.allclose(out[1], boxes[1])


def test_train_refiner_hull_attaches_a_hull_refiner_beside_the_box_refiner(tiny_detector, tmp_path):
    data, detector = tiny_detector
    r = CliRunner().invoke(app, ["train-refiner", "--data", str(data), "--detector", str(detector), "--out-dir",
                                 str(tmp_path), "--epochs", "1", "--threads", "1", "--hull", "--classes", "aircraft"])
    assert r.exit_code == 0, r.output
    m = DetectionModel(tmp_path / "det.onnx")
    from sitewatch.detect.second_look import box_refiner as br

    (hull,) = m.hull_refiners
    assert m.box_refiners == () and hull.info.applies_to == ("aircraft",)
    assert (hull.info.crop_px, hull.info.crop_w) == (br.HULL_CROP_PX, br.HULL_CROP_W)
    d = m.run(np.full((1, 3, 128, 128), 120.0, np.float32), score_threshold=0.0)[0]
    assert len(d) > 0 and np.all(np.isfinite(d.boxes))
    # A hull refiner for other classes joins it; one for a class already taken replaces it.
    for classes, out in (("air_defence,vehicle", "two"), ("aircraft", "three")):
        source = tmp_path / "det.onnx" if out == "two" else tmp_path / "two" / "det.onnx"
        r = CliRunner().invoke(app, ["train-refiner", "--data", str(data), "--detector", str(source), "--out-dir",
                                     str(tmp_path / out), "--epochs", "1", "--threads", "1", "--hull",
                                     "--classes", classes])
        assert r.exit_code == 0, r.output
    two, three = (DetectionModel(tmp_path / out / "det.onnx") for out in ("two", "three"))
    assert [r.info.applies_to for r in two.hull_refiners] == [("aircraft",), ("air_defence", "vehicle")]
    assert [r.info.applies_to for r in three.hull_refiners] == [("air_defence", "vehicle"), ("aircraft",)]
    assert three.hull_refiners[1].path.parent == tmp_path / "three"
    # Two hull refiners claiming one class are refused.
    from sitewatch.training.export import with_metadata

    with_metadata(tmp_path / "two" / "det.onnx", tmp_path / "two" / "bad.onnx",
                  {"hull_refiner": "det.hull-aircraft.onnx,det.hull-aircraft.onnx"})
    with pytest.raises(ModelError, match="two hull refiners apply to one class"):
        DetectionModel(tmp_path / "two" / "bad.onnx")


def test_train_refiner_with_the_sun_takes_it_and_refuses_chips_without_it(tiny_detector, tmp_path):
    """--sun: the refiner has a second input; detection feeds it the sun or, unknown, zeros;
    the answers depend on it (--members 2: two refiners averaged in one file). Chips
    written before the sun was recorded are refused by name."""
    import shutil

    from sitewatch.geo.sun import SunPosition

    data, detector = tiny_detector
    r = CliRunner().invoke(app, ["train-refiner", "--data", str(data), "--detector", str(detector), "--out-dir",
                                 str(tmp_path / "sun"), "--epochs", "1", "--threads", "1", "--sun", "--members", "2",
                                 "--classes", "aircraft,helicopter,vehicle,air_defence"])
    assert r.exit_code == 0, r.output
    m = DetectionModel(tmp_path / "sun" / "det.onnx")
    (refiner,) = m.box_refiners
    assert refiner.path.name == "det.refiner-aircraft-helicopter-vehicle-air_defence.onnx"
    assert refiner.takes_sun and refiner.info.training["sun"] is True and refiner.info.training["members"] == 2
    batch = np.full((1, 3, 128, 128), 120.0, np.float32)
    batch[0, :, 40:60, 50:90] = 40.0
    m.box_refiners = ()
    plain = m.run(batch, score_threshold=0.0)[0]
    image = np.ascontiguousarray(batch[0].transpose(1, 2, 0))
    boxes = plain.boxes[:8]
    unknown = refiner.refine(image, boxes)
    east, west = (refiner.refine(image, boxes, SunPosition(a, 30.0)) for a in (90.0, 270.0))
    assert np.all(np.isfinite(unknown)) and np.all(np.isfinite(east))
    assert not np.allclose(east, west)

    bare = tmp_path / "bare"
    shutil.copytree(data, bare)
    for meta in (bare / "meta").glob("*.json"):
        doc = json.loads(meta.read_text())
        doc.pop("sun_azimuth_deg"), doc.pop("sun_elevation_deg")
        meta.write_text(json.dumps(doc))
    r = CliRunner().invoke(app, ["train-refiner", "--data", str(bare), "--detector", str(detector), "--out-dir",
                                 str(tmp_path / "no"), "--epochs", "1", "--threads", "1", "--sun"])
    assert r.exit_code != 0 and "do not record their sun" in str(r.exception or r.output)
    assert not (tmp_path / "no" / "det.onnx").exists()


def test_state_refiner_moves_only_items_read_in_its_states_and_keeps_a_catalogue_outline(tiny_detector):
    """A state refiner for bare helicopters moves the boxes of helicopters read
    rotor_removed and nothing else; where the catalogue's outline sized the box (type and
    state read surely) the size stays the catalogue's, elsewhere the refiner's length
    answer is taken."""
    from sitewatch.detect.model import RawDetections
    from sitewatch.detect.second_look import box_refiner as br

    _, detector = tiny_detector
    m = DetectionModel(detector)

    class Moving:
        info = br.RefinerInfo(("helicopter",), br.HULL_CROP_PX, br.HULL_FILL, {}, {}, br.HULL_CROP_W,
                              ("rotor_removed",))

        def refine(self, image, boxes, sun=None):
            out = boxes.copy()
            out[:, 0] += 5.0
            out[:, 2] *= 1.5
            return out

    m.state_refiners = (Moving(),)
    gsd = m.info.gsd_m
    boxes = np.array([[50.0, 50.0, 18.2 / gsd, 2.5 / gsd, 10.0],  # bare Mi-8, sure: outline kept
                      [90.0, 50.0, 20.0 / gsd, 4.0 / gsd, 10.0],  # bare Mi-8, unsure
                      [50.0, 90.0, 25.2 / gsd, 21.3 / gsd, 10.0],  # Mi-8 with rotors
                      [90.0, 90.0, 4.5 / gsd, 1.8 / gsd, 10.0]])  # car
    obj = lambda *v: np.array(v, dtype=object)  # noqa: E731
    dets = RawDetections(boxes, obj("helicopter", "helicopter", "helicopter", "vehicle"), np.full(4, 0.8),
                         obj("Mi-8/17", "Mi-8/17", "Mi-8/17", "car"), np.array([0.95, 0.6, 0.95, 0.9]),
                         obj("rotor_removed", "rotor_removed", "normal", "normal"), np.array([0.95, 0.95, 0.95, 0.9]))
    out = m.refine_by_state(np.zeros((160, 160, 3), np.float32), dets)
    assert np.allclose(out.boxes[:2, 0], [55.0, 95.0])
    assert np.allclose(out.boxes[0, 2:], boxes[0, 2:])
    assert np.isclose(out.boxes[1, 2], boxes[1, 2] * 1.5)
    assert np.allclose(out.boxes[2:], boxes[2:])


def test_train_refiner_states_attaches_a_state_refiner_and_refuses_an_unknown_state(tiny_detector, tmp_path):
    data, detector = tiny_detector
    r = CliRunner().invoke(app, ["train-refiner", "--data", str(data), "--detector", str(detector), "--out-dir",
                                 str(tmp_path), "--epochs", "1", "--threads", "1", "--hull", "--classes", "aircraft",
                                 "--states", "normal"])
    assert r.exit_code == 0, r.output
    m = DetectionModel(tmp_path / "det.onnx")
    (refiner,) = m.state_refiners
    assert m.box_refiners == () and m.hull_refiners == ()
    assert refiner.path.name == "det.hull-aircraft-normal.onnx"
    assert refiner.info.applies_to == ("aircraft",) and refiner.info.states == ("normal",)
    assert refiner.info.training["states"] == ["normal"]
    d = m.run(np.full((1, 3, 128, 128), 120.0, np.float32), score_threshold=0.0)[0]
    assert len(d) > 0 and np.all(np.isfinite(d.boxes))
    r = CliRunner().invoke(app, ["train-refiner", "--data", str(data), "--detector", str(detector), "--out-dir",
                                 str(tmp_path / "bad"), "--epochs", "1", "--threads", "1", "--states", "flying"])
    assert r.exit_code != 0 and "flying" in str(r.exception or r.output)
    assert not (tmp_path / "bad" / "det.onnx").exists()
    # A state refiner file that names no states is refused by name.
    import onnx

    f = onnx.load(str(tmp_path / "det.hull-aircraft-normal.onnx"))
    kept = [p for p in f.metadata_props if p.key != "applies_to_states"]
    del f.metadata_props[:]
    f.metadata_props.extend(kept)
    onnx.save(f, str(tmp_path / "stateless.onnx"))
    with_metadata(tmp_path / "det.onnx", tmp_path / "plain.onnx", {"state_refiner": "stateless.onnx"})
    with pytest.raises(ModelError, match="stateless.onnx names no states"):
        DetectionModel(tmp_path / "plain.onnx")
