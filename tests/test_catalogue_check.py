"""The catalogue check (`detect.second_look.catalogue_check`): which detections lose their
type, the errors for a check that is missing or not one, choosing its threshold, and the
real cut-outs it and the detector learn from (`evaluation.cutouts`, `training.real_chips`)."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.detect.labels import Labelled
from sitewatch.detect.model import DetectionModel, RawDetections
from sitewatch.detect.second_look import catalogue_check as cc
from sitewatch.detect.second_look.crop_reader import ReaderInfo
from sitewatch.domain import UNKNOWN_TYPE
from sitewatch.errors import InputError, ModelError
from sitewatch.evaluation import cutouts as co
from sitewatch.evaluation.realdata import RealImage
from sitewatch.training.export import with_metadata

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"


class _Answers:
    """An ONNX session stand-in that answers fixed logits (one row per crop)."""

    def __init__(self, logits):
        self.logits = np.array(logits, np.float32)

    def run(self, _, feeds):
        assert feeds["crops"].shape == (len(self.logits), 3, cc.CROP_PX, cc.CROP_PX)
        return [self.logits]


def _bare(model: DetectionModel) -> DetectionModel:
    model.box_refiners = model.hull_refiners = model.state_refiners = ()
    model.type_reader = model.hull_type_reader = model.state_reader = None
    model.verifiers = ()
    return model


def _stub_check(model: DetectionModel, logits, threshold=0.9):
    check = object.__new__(cc.CatalogueCheck)
    check.info = ReaderInfo(model.info.classes, ("aircraft",), cc.CROP_PX, {}, {})
    check.fill, check.input_name, check.threshold = cc.FILL, "crops", threshold
    check.session = _Answers(logits)
    return check


def test_an_aircraft_found_outside_the_catalogue_keeps_its_class_and_loses_its_type():
    """Two aircraft and a helicopter: the check looks at the aircraft only. The one it finds
    outside the catalogue (logit +4, p 0.982, over the 0.9 threshold) becomes `unknown` with
    that probability as its type score and state `normal` at an even score; the one at
    logit +1 (p 0.73, under it) keeps its catalogue type; the helicopter is not looked at.
    Boxes, classes and scores stay as they were."""
    model = _bare(DetectionModel())
    logits = np.zeros((2, len(model.info.classes)))
    logits[:, model.info.classes.index("aircraft")] = [4.0, 1.0]
    model.catalogue_check = _stub_check(model, logits)
    boxes = np.array([[40.0, 40.0, 80.0, 76.0, 10.0], [120.0, 40.0, 60.0, 50.0, 90.0], [40.0, 120.0, 36.0, 34.0, 0.0]])
    dets = RawDetections(boxes, np.array(["aircraft", "aircraft", "helicopter"], dtype=object),
                         np.array([0.9, 0.8, 0.7]), np.array(["Tu-22M3", "An-72", "Mi-8/17"], dtype=object),
                         np.full(3, 0.8), np.array(["cargo_open", "normal", "normal"], dtype=object), np.full(3, 0.9))
    out = model.second_look(np.full((3, 160, 160), 120.0, np.float32), dets, threshold=0.5)
    assert list(out.type) == [UNKNOWN_TYPE, "An-72", "Mi-8/17"]
    assert out.type_score[0] == pytest.approx(1 / (1 + np.exp(-4.0))) and list(out.type_score[1:]) == [0.8, 0.8]
    assert list(out.state) == ["normal", "normal", "normal"] and list(out.state_score) == [0.5, 0.9, 0.9]
    assert np.array_equal(out.boxes, boxes) and list(out.score) == [0.9, 0.8, 0.7]


def test_a_check_that_is_not_one_or_has_no_threshold_is_refused(tmp_path):
    """A detector copy naming its presence check as its catalogue check is refused by the
    check's file name; so is a check whose threshold is outside (0, 1)."""
    shipped = DetectionModel()
    verifier = shipped.verifiers[0].path
    (tmp_path / verifier.name).write_bytes(verifier.read_bytes())
    for companion in shipped.path.parent.glob("sitewatch-ocn.*.onnx"):
        if companion.name != verifier.name:
            (tmp_path / companion.name).write_bytes(companion.read_bytes())
    copy = with_metadata(shipped.path, tmp_path / "det.onnx", {"catalogue_check": verifier.name})
    with pytest.raises(ModelError, match="not a sitewatch-catalogue-check model") as err:
        DetectionModel(copy)
    assert verifier.name in str(err.value)
    bad = with_metadata(verifier, tmp_path / "check.onnx", {"format": cc.FORMAT_TAG, "threshold": "1.5"})
    copy = with_metadata(shipped.path, tmp_path / "det2.onnx", {"catalogue_check": bad.name})
    with pytest.raises(ModelError, match="threshold 1.5 must be in"):
        DetectionModel(copy)


def test_the_threshold_strips_few_simulated_and_few_real_catalogue_aircraft_of_their_type():
    from sitewatch.training import catalogue_train as ct

    rng = np.random.default_rng(0)
    sim, real, civil = rng.uniform(0.0, 0.6, 1000), rng.uniform(0.0, 1.0, 100), rng.uniform(0.9, 1.0, 100)
    p = np.concatenate([sim, real, civil])
    n = len(p)
    found = ct.CatalogueCrops(np.zeros((n, 1, 1, 3), np.uint8), np.r_[np.zeros(1100, bool), np.ones(100, bool)],
                              np.array(["simulated"] * 1000 + ["cut-outs"] * 100 + ["airbus"] * 100), np.ones(n, bool))
    t = ct.choose_threshold(p, found)
    # The real catalogue cut-outs decide here: 20% of them may go, so t is their 80th percentile.
    assert t == pytest.approx(np.quantile(real, 0.8), abs=1e-3)
    assert (sim >= t).mean() <= 0.02 and (real >= t).mean() <= 0.2
    metrics = ct.held_out_metrics(p, found, t)
    assert metrics["outside airbus: called outside"] == [1.0, 100]
    with pytest.raises(InputError, match="no held-out simulated"):
        ct.choose_threshold(p[:1000], found.take(np.arange(n) < 1000))


def _tee_cutout(tmp_path, length_px=100, width_px=20, tail_px=60):
    """An RGBA cut-out of a white T: a fuselage long along the image's rows with a tailplane
    across its bottom end, mirror-symmetric only about the fuselage."""
    rgba = np.zeros((length_px + 20, tail_px + 20, 4), np.uint8)
    left = 10 + (tail_px - width_px) // 2
    rgba[10:10 + length_px, left:left + width_px] = (255, 255, 255, 255)
    rgba[length_px:10 + length_px, 10:10 + tail_px] = (255, 255, 255, 255)
    path = tmp_path / "tee.png"
    cv2.imwrite(str(path), rgba)
    return co.Cutout("su-25", path, ("Su-25",), 10.0, "train")


def _drawn_aircraft(heading_deg: float, length_px: float = 200, span_px: float = 160) -> np.ndarray:
    """A boolean outline of a swept-wing aircraft with a tailplane, nose at `heading_deg`
    clockwise from the image's up."""
    canvas = np.zeros((400, 400), np.uint8)
    t = np.radians(heading_deg)
    nose, right, centre = np.array([np.sin(t), -np.cos(t)]), np.array([np.cos(t), np.sin(t)]), np.array([200, 200])

    def fill(points):
        cv2.fillPoly(canvas, [np.array([centre + a * nose + b * right for a, b in points]).round().astype(np.int32)], 1)

    half, tail = length_px / 2, -length_px / 2
    fill([(half, -8), (half, 8), (tail, 8), (tail, -8)])
    fill([(10, 0), (-30, span_px / 2), (-45, span_px / 2), (-20, 0), (-45, -span_px / 2), (-30, -span_px / 2)])
    fill([(tail + 25, 0), (tail, 40), (tail, -40)])
    return canvas.astype(bool)


@pytest.mark.parametrize("heading", [0.0, 30.0, 75.0, 120.0, 161.0])
def test_the_fuselage_is_the_axis_of_mirror_symmetry_and_gives_length_and_span(heading):
    outline = _drawn_aircraft(heading)
    axis = co.fuselage_axis(outline)
    assert min(abs(axis - heading), 180 - abs(axis - heading)) <= 0.5
    along, across = co.outline_extent(outline, axis)
    assert along == pytest.approx(201, abs=2) and across == pytest.approx(161, abs=2)


def test_a_cut_out_is_scaled_by_its_types_length_and_pasted_with_its_shadow_away_from_the_sun(tmp_path):
    """A cut-out 100 px long whose type is 10 m long is 20 px long at 0.5 m, its 60 px
    tailplane 12 px; turned 90 degrees and pasted on grey ground under a sun in the north,
    its axis-aligned box is 20 px wide and 12 high, and its shadow darkens the ground south
    of it, not north."""
    cutout = _tee_cutout(tmp_path)
    small = co.read_cutout(cutout, 0.5)
    assert small.shape[2] == 4 and abs(small.shape[0] - 24) <= 1 and abs(small.shape[1] - 16) <= 1
    ys, xs = np.nonzero(small[..., 3] > 0.5)
    assert ys.max() - ys.min() + 1 == pytest.approx(20, abs=1)
    assert xs.max() - xs.min() + 1 == pytest.approx(12, abs=1)
    ground = np.full((80, 80, 3), 100.0, np.float32)
    image, box = co.paste(ground, small, (40.0, 40.0), 90.0, 0.0, 30.0, 0.5, 0.0)
    assert box[:2] == pytest.approx((40.0, 40.0), abs=1.0)
    assert box[3] == pytest.approx(20, abs=1.5) and box[2] == pytest.approx(12, abs=1.5)
    assert image[40, 40].mean() > 200  # the aircraft
    # 3 m up under a sun 30 degrees high: the shadow falls 5.2 m (10.4 px) to the south
    below, above = image[40 + 9:40 + 12, 35:45].mean(), image[40 - 12:40 - 9, 35:45].mean()
    assert below == pytest.approx(100.0 * (1 - co.SHADOW_DARKENING), abs=5) and above == pytest.approx(100.0)


def test_bare_ground_avoids_the_labelled_items(tmp_path):
    rgb = np.full((200, 200, 3), 50, np.uint8)
    rgb[:, 100:] = 250  # the right half holds a labelled aircraft
    path = tmp_path / "g.png"
    cv2.imwrite(str(path), rgb)
    image = RealImage("t", "g", path, 0.5, np.array([[150.0, 100.0, 200.0, 100.0, 0.0]]), ("aircraft",), True,
                      ("aircraft",), "train")
    windows = co.bare_ground([image], 64, np.random.default_rng(0))
    assert all(float(next(windows).max()) == 50.0 for _ in range(20))


def test_typing_counts_right_unknown_and_wrong_names():
    pairs, preds, truths = [], {}, {}
    box = (0.0, 0.0, 20.0, 20.0, 0.0)
    su25 = co.Cutout("su-25", Path("su25_1.png"), ("Su-25",), 15.5, "dev")
    mig29 = co.Cutout("mig-29", Path("mig29_1.png"), (), 17.3, "dev")
    for k, (cutout, typ) in enumerate([(su25, "Su-25"), (su25, UNKNOWN_TYPE), (su25, "Su-35"), (mig29, UNKNOWN_TYPE),
                                       (mig29, "Su-35"), (mig29, None)]):
        image = RealImage("military_cutouts", f"i{k}", Path(f"i{k}.png"), 0.5, np.zeros((1, 5)), ("aircraft",), True,
                          ("aircraft",), "dev")
        pairs.append((image, cutout))
        truths[image.image_id] = [Labelled("aircraft", box, directed=False)]
        preds[image.image_id] = [Labelled("aircraft", box, typ, None, 0.9)] if typ else []
    typing = co.typing_of(pairs, preds, truths, 0.5)
    third = round(1 / 3, 4)
    assert typing == {"catalogue": {"found": 3, "right": third, "unknown": third, "wrong": third},
                      "outside": {"found": 2, "unknown": 0.5, "named": 0.5}}


def test_sizing_says_how_found_footprints_fit_their_own_types():
    pairs, preds, truths = [], {}, {}
    box = (0.0, 0.0, 20.0, 20.0, 0.0)
    su25 = co.Cutout("su-25", Path("su25_1.png"), ("Su-25",), 15.5, "dev")
    tu95 = co.Cutout("tu-95", Path("tu95_1.png"), (), 50.1, "dev")
    # An Su-25 boxed true to size (15.4 x 14.5 m), a Tu-95 boxed true (46.2 x 50.1) and one
    # boxed 1.3x long, which fits no type of its role's size that well, and one not found.
    for k, (cutout, size) in enumerate([(su25, (15.4, 14.5)), (tu95, (46.2, 50.1)), (tu95, (60.1, 65.1)),
                                        (tu95, None)]):
        image = RealImage("military_cutouts", f"i{k}", Path(f"i{k}.png"), 0.5, np.zeros((1, 5)), ("aircraft",), True,
                          ("aircraft",), "dev")
        pairs.append((image, cutout))
        truths[image.image_id] = [Labelled("aircraft", box, directed=False)]
        preds[image.image_id] = [Labelled("aircraft", box, UNKNOWN_TYPE, None, 0.9, oriented_size=size)] if size else []
    sizing = co.sizing_of(pairs, preds, truths, 0.5)
    assert sizing["found"] == 3
    assert sizing["own_type_fits"] == pytest.approx(2 / 3, abs=1e-4)
    assert sizing["measured_over_true"]["under_30m"] == [1.0, 1.0, 1]
    assert sizing["measured_over_true"]["over_30m"] == [pytest.approx(1.15, abs=0.01), pytest.approx(1.15, abs=0.01), 2]
    assert co.sizing_of(pairs, {}, truths, 0.5) == {"found": 0}


def test_dataset_real_refuses_a_bad_paste_range(tmp_path):
    r = CliRunner().invoke(app, ["dataset-real", "--out", str(tmp_path / "c"), "--realdata", str(tmp_path),
                                 "--paste", "3,1"])
    assert r.exit_code != 0 and isinstance(r.exception, InputError)
    assert "--paste" in str(r.exception) and "FEWEST <= MOST" in str(r.exception)


@pytest.mark.realdata
@pytest.mark.skipif(not (REAL / "military_aircraft" / "chips").is_dir(),
                    reason="../shared/realdata is absent (not shipped, licences)")
def test_the_cut_outs_read_with_their_types_and_split():
    cutouts = co.military_cutouts(REAL)
    assert len(cutouts) == 59 and {c.folder for c in cutouts} == set(co.CUTOUT_TYPES)
    assert {c.split for c in cutouts} == {"train", "val", "dev"}
    assert sum(c.in_catalogue for c in cutouts) == 33  # Il-76, Su-24, Su-25, Su-27/35, Su-30/34, Tu-22
    for cutout in cutouts[::5]:  # each at 0.5 m is its type's length along its fuselage
        aircraft = co.read_cutout(cutout, 0.5)
        outline = aircraft[..., 3] > 0.5
        along, _ = co.outline_extent(outline, co.fuselage_axis(outline))
        assert along * 0.5 == pytest.approx(cutout.length_m, rel=0.05)


@pytest.mark.realdata
@pytest.mark.skipif(not (REAL / "military_aircraft" / "chips").is_dir() or not (REAL / "airbus_aircraft").is_dir(),
                    reason="../shared/realdata is absent (not shipped, licences)")
def test_train_catalogue_check_attaches_a_check_the_detector_uses(tmp_path):
    """A check trained for one short epoch on a few simulated aircraft, the real civil
    aircraft and the cut-outs: the detector copy names it, loads it with a threshold in
    (0, 1), and its metrics measure each held-out source."""
    runner = CliRunner()
    data = tmp_path / "chips"
    r = runner.invoke(app, ["dataset", "--out", str(data), "--count", "8", "--gsd", "0.5", "--chip", "192"])
    assert r.exit_code == 0, r.output
    shipped = DetectionModel().path
    r = runner.invoke(app, ["train-catalogue-check", "--data", str(data), "--detector", str(shipped), "--realdata",
                            str(REAL), "--out-dir", str(tmp_path / "check"), "--max-simulated", "40", "--pastes", "1",
                            "--epochs", "1", "--threads", "1"])
    assert r.exit_code == 0, r.output
    m = DetectionModel(tmp_path / "check" / shipped.name)
    check = m.catalogue_check
    assert check is not None and check.path.name == "sitewatch-ocn.catalogue.onnx"
    assert check.info.applies_to == ("aircraft",) and 0.5 <= check.threshold <= 0.99
    assert {"catalogue simulated: called outside", "outside airbus: called outside",
            "catalogue cut-outs: called outside"} <= set(check.info.metrics)
    assert m.verifiers and m.type_reader is not None  # the other companions came along
    crops = np.full((2, cc.CROP_PX, cc.CROP_PX, 3), 120.0, np.float32)
    p = check.outside_of_crops(crops, np.array(["aircraft", "aircraft"]))
    assert p.shape == (2,) and ((p >= 0) & (p <= 1)).all()


@pytest.mark.realdata
@pytest.mark.skipif(not (REAL / "airbus_aircraft").is_dir(), reason="../shared/realdata is absent (not shipped, licences)")
def test_the_shipped_check_names_real_civil_aircraft_unknown_and_leaves_simulated_ones_their_type():
    """On the Airbus development images (civil airports, never trained on) the shipped check
    calls most labelled aircraft outside the catalogue (0.97 of the validation side at its
    threshold); on fresh simulated chips (every aircraft a catalogue type) almost none."""
    from sitewatch.evaluation.realdata import real_images
    from sitewatch.training.dataset import make_chip

    check = DetectionModel().catalogue_check
    assert check is not None
    outside = []
    for image in real_images("airbus", REAL, split="dev")[:3]:
        rgb = cv2.cvtColor(cv2.imread(str(image.path)), cv2.COLOR_BGR2RGB).astype(np.float32)
        side = 0.85 * image.boxes[:, 2:4].max(axis=1)  # an axis-aligned label is wider than the aircraft
        boxes = np.column_stack([image.boxes[:, :2], side, side, np.zeros(len(side))])
        outside += list(check.outside(rgb, boxes, np.array(["aircraft"] * len(boxes))) >= check.threshold)
    assert len(outside) >= 40 and np.mean(outside) >= 0.85, (len(outside), np.mean(outside))
    simulated, seed = [], 515000  # apart from every training and benchmark seed
    while len(simulated) < 40:
        img, objects, _ = make_chip(seed, 384, 0.5, 0.5)
        seed += 1
        boxes = np.array([[o.cx, o.cy, o.length_m / 0.5, o.width_m / 0.5, o.heading_deg] for o in objects
                          if o.cls == "aircraft"]).reshape(-1, 5)
        if len(boxes):
            p = check.outside(img.astype(np.float32), boxes, np.array(["aircraft"] * len(boxes)))
            simulated += list(p >= check.threshold)
    assert np.mean(simulated) <= 0.05, np.mean(simulated)
