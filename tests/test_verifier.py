"""The presence check (`detect.verifier`): how its answer rescores detections, which
detections it sees, training it on the detector's own detections and attaching it, and the
errors for a check that is missing or not one."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.detect.model import DEFAULT_MODEL, DetectionModel, RawDetections
from sitewatch.detect.second_look import verifier as vf
from sitewatch.errors import InputError, ModelError
from sitewatch.training.export import with_metadata


def test_combine_keeps_the_operating_point_and_follows_both_answers():
    s = np.array([0.5, 0.3, 0.3, 0.9, 0.9])
    p = np.array([0.5, 0.95, 0.05, 0.95, 0.05])
    out = vf.combine(s, p, 0.5)
    assert out[0] == pytest.approx(0.5)
    assert out[1] == pytest.approx(np.sqrt(0.3 * 0.95)) and out[1] > 0.5  # a real item lifted over 0.5
    assert out[4] == pytest.approx(np.sqrt(0.9 * 0.05)) and out[4] < 0.5  # clutter dropped under it
    assert out[2] < out[1] < out[3]
    assert np.allclose(vf.combine(s, p, 0.0), s) and np.allclose(vf.combine(s, p, 1.0), p)


class _Answers:
    """An ONNX session stand-in that answers fixed presence logits (one row per crop)."""

    def __init__(self, logits):
        self.logits = np.array(logits, np.float32)

    def run(self, _, feeds):
        assert feeds["crops"].shape == (len(self.logits), 3, vf.CROP_PX, vf.CROP_PX)
        return [self.logits]


def _stub_verifier(model: DetectionModel, logits, applies_to=("air_defence",), weight=0.5, floor=0.2):
    from sitewatch.detect.second_look.crop_reader import ReaderInfo

    check = object.__new__(vf.Verifier)
    check.info = ReaderInfo(model.info.classes, applies_to, vf.CROP_PX, {}, {})
    check.fill, check.input_name, check.weight, check.floor = vf.FILL, "crops", weight, floor
    check.session = _Answers(logits)
    return check


def _launchers_and_cars(scores) -> RawDetections:
    """Two S-400 launchers and two cars on a 160 px tile, scored as given."""
    boxes = np.array([[40.0, 40.0, 27.0, 6.4, 10.0], [120.0, 40.0, 27.0, 6.4, 90.0],
                      [40.0, 120.0, 9.0, 3.6, 0.0], [120.0, 120.0, 9.0, 3.6, 45.0]])
    cls = np.array(["air_defence", "air_defence", "vehicle", "vehicle"], dtype=object)
    typ = np.array(["S-400 launcher", "S-400 launcher", "car", "car"], dtype=object)
    state = np.array(["erect", "erect", "normal", "normal"], dtype=object)
    return RawDetections(boxes, cls, np.array(scores, float), typ, np.full(4, 0.9), state, np.full(4, 0.9))


def test_second_look_rescores_the_checked_classes_and_cuts_at_the_threshold():
    """Air defence is checked: one scored 0.3 that the check finds there (logit +3, p 0.95)
    is lifted over the 0.5 threshold, one scored 0.6 it finds absent (logit -3) falls under
    it. Vehicles are not checked: one at 0.7 keeps its score, one at 0.3 is dropped as the
    detector alone would drop it."""
    model = DetectionModel()
    model.box_refiners = model.hull_refiners = ()
    model.type_reader = model.state_reader = None
    logits = np.zeros((2, len(model.info.classes)))
    ad = model.info.classes.index("air_defence")
    logits[:, ad] = [3.0, -3.0]
    model.verifiers = (_stub_verifier(model, logits),)
    dets = _launchers_and_cars([0.3, 0.6, 0.7, 0.3])
    out = model.second_look(np.full((3, 160, 160), 120.0, np.float32), dets, threshold=0.5)
    p = 1 / (1 + np.exp(-3.0))
    assert list(out.cls) == ["air_defence", "vehicle"]
    assert out.boxes[0, 0] == 40.0 and out.score[0] == pytest.approx(np.sqrt(0.3 * p))
    assert out.score[1] == pytest.approx(0.7)


def test_two_checks_each_rescore_their_own_classes_and_two_for_one_class_are_refused(tmp_path):
    """An air-defence check that finds both launchers there and a vehicle check (weight 1)
    that finds both cars absent: the launcher scored 0.3 is lifted over 0.5, both cars
    fall under it; a detector naming two checks of one class is refused by name."""
    model = DetectionModel()
    model.box_refiners = model.hull_refiners = ()
    model.type_reader = model.state_reader = model.catalogue_check = None
    ad, veh = model.info.classes.index("air_defence"), model.info.classes.index("vehicle")
    yes, no = np.zeros((2, len(model.info.classes))), np.zeros((2, len(model.info.classes)))
    yes[:, ad], no[:, veh] = 3.0, -3.0
    model.verifiers = (_stub_verifier(model, yes), _stub_verifier(model, no, applies_to=("vehicle",), weight=1.0))
    assert sorted(model.checked_classes()) == ["air_defence", "vehicle"]
    dets = _launchers_and_cars([0.3, 0.6, 0.7, 0.9])
    out = model.second_look(np.full((3, 160, 160), 120.0, np.float32), dets, threshold=0.5)
    p = 1 / (1 + np.exp(-3.0))
    assert list(out.cls) == ["air_defence", "air_defence"]
    assert out.score == pytest.approx([np.sqrt(0.3 * p), np.sqrt(0.6 * p)])
    shipped = DetectionModel().verifiers[0].path
    (tmp_path / shipped.name).write_bytes(shipped.read_bytes())
    for companion in DEFAULT_MODEL.parent.glob("sitewatch-ocn.*.onnx"):
        if not (tmp_path / companion.name).exists():
            (tmp_path / companion.name).write_bytes(companion.read_bytes())
    twice = with_metadata(DEFAULT_MODEL, tmp_path / "twice.onnx", {"verifier": f"{shipped.name},{shipped.name}"})
    with pytest.raises(ModelError, match="two presence checks apply to one class"):
        DetectionModel(twice)


@pytest.fixture(scope="module")
def air_defence_tile(tmp_path_factory):
    """A held-out simulated air base (seed 110010 at 0.7 m, read at the model's 0.5 m) whose
    air-defence site the detector scores from 0.2 to 0.8, as one tile."""
    from sitewatch.detect.inference import SceneReader
    from sitewatch.detect.tiling import Tile
    from sitewatch.simulate import simulate_scenario
    from sitewatch.simulate.random_scenario import random_scenario

    out = tmp_path_factory.mktemp("ad")
    result = simulate_scenario(random_scenario(110010, kind="airbase", gsd_m=0.7, size_px=428, n_dates=2), out)
    reader = SceneReader(str(result.images[0]), 0.5)
    try:
        image, _ = reader.read(Tile(0, 0, reader.grid.width, reader.grid.height))
    finally:
        reader.close()
    return image


def test_run_decodes_the_checked_classes_down_to_what_the_check_can_lift(air_defence_tile):
    """The check sees the air-defence detections down to the lowest score it could still
    lift to the threshold: with weight 0.5, a sure "present" lifts 0.25 to 0.5, so it sees
    those over 0.25 and none of those at 0.2-0.25 (a dozen candidates over its floor 0.2 on
    this site, a few of them over 0.5). A check of weight 0 cannot lift anything and sees only
    those over the threshold, and run then gives exactly what the detector alone gives."""
    model = DetectionModel()
    model.verifiers = ()  # the shipped checks would rescore: the detector alone first
    batch = air_defence_tile[None]
    alone = model.run(batch, score_threshold=0.5)[0]
    n_alone = int((alone.cls == "air_defence").sum())
    over = {t: int((model.run(batch, score_threshold=t)[0].cls == "air_defence").sum()) for t in (0.2, 0.25)}
    assert n_alone >= 1 and over[0.2] >= 10 and n_alone < over[0.25] < over[0.2], (n_alone, over)
    seen = []

    class Even:
        def run(self, _, feeds):
            seen.append(len(feeds["crops"]))
            return [np.zeros((len(feeds["crops"]), len(model.info.classes)), np.float32)]

    for weight, expected in ((0.5, over[0.25]), (0.0, n_alone)):
        seen.clear()
        model.verifiers = (_stub_verifier(model, np.zeros((0, 5)), weight=weight, floor=0.2),)
        model.verifiers[0].session = Even()
        checked = model.run(batch, score_threshold=0.5)[0]
        assert seen == [expected], (weight, seen)
    assert sorted(checked.score.round(6)) == sorted(alone.score.round(6))
    assert list(sorted(checked.cls)) == list(sorted(alone.cls))


def test_decode_floor_is_the_floor_or_what_a_sure_answer_can_lift():
    model = DetectionModel()
    check = _stub_verifier(model, np.zeros((0, 5)), weight=0.5, floor=0.2)
    assert check.decode_floor(0.5) == pytest.approx(0.25)  # sqrt(0.25) * sqrt(1) = 0.5
    assert check.decode_floor(0.3) == pytest.approx(0.2)  # 0.09 lifts to 0.3; the floor holds
    assert check.decode_floor(0.05) == pytest.approx(0.05)  # AP over all scores: the threshold itself
    check.weight = 1.0  # the check's answer alone: anything down to the floor may pass
    assert check.decode_floor(0.5) == pytest.approx(0.2)


def _check_of(model: DetectionModel, cls: str) -> vf.Verifier:
    return next(v for v in model.verifiers if cls in v.info.applies_to)


@pytest.fixture(scope="module")
def trained_check(tmp_path_factory):
    """A check trained for one epoch on the shipped detector's detections on six scenes."""
    out = tmp_path_factory.mktemp("check")
    r = CliRunner().invoke(app, ["train-verifier", "--detector", str(DEFAULT_MODEL), "--out-dir", str(out),
                                 "--scenes", "6", "--epochs", "1", "--threads", "1", "--classes",
                                 "air_defence,vehicle", "--weight", "0.4", "--floor", "0.1", "--version", "9.9.9"])
    assert r.exit_code == 0, r.output
    return out, json.loads(r.output.strip().splitlines()[-1])


def test_train_verifier_attaches_a_check_the_detector_uses(trained_check):
    out, record = trained_check
    assert record["counts"]["air_defence present"] > 0 and record["counts"]["air_defence absent"] > 0
    assert record["crops"] == sum(v for k, v in record["counts"].items() if k != "seeds skipped")
    m = DetectionModel(out / DEFAULT_MODEL.name)
    assert m.info.version == "9.9.9"
    # It takes the place of the shipped check of its classes; the aircraft and ship checks stay beside it.
    assert sorted(v.info.applies_to for v in m.verifiers) == [("air_defence", "vehicle"), ("aircraft",), ("ship",)]
    check = _check_of(m, "air_defence")
    assert check.path.name == "sitewatch-ocn.verifier-air_defence-vehicle.onnx"
    assert check.weight == 0.4 and check.floor == 0.1 and check.info.training["scenes"] == 6
    # The other companions came along, and the shipped detector itself has no check.
    assert m.type_reader is not None and m.state_reader is not None and m.box_refiners
    image = np.full((200, 200, 3), 120.0, np.float32)
    p = check.presence(image, np.array([[100.0, 100.0, 27.0, 6.4, 30.0]]), np.array(["air_defence"]))
    assert p.shape == (1,) and 0.0 < p[0] < 1.0


def test_missing_or_foreign_check_is_refused(trained_check, tmp_path):
    out, _ = trained_check
    copy = with_metadata(out / DEFAULT_MODEL.name, out / "foreign.onnx", {"verifier": DEFAULT_MODEL.name})
    with pytest.raises(ModelError, match="not a sitewatch-verifier model"):
        DetectionModel(copy)
    gone = with_metadata(out / DEFAULT_MODEL.name, out / "gone.onnx", {"verifier": "nowhere.onnx"})
    with pytest.raises(ModelError, match="nowhere.onnx"):
        DetectionModel(gone)


def test_collected_crops_are_saved_and_train_again(trained_check, tmp_path):
    """Collecting is the long part: its crops are kept, and a second training reads them
    instead of rendering the six scenes again, with the same counts for the classes asked."""
    out, record = trained_check
    saved = out / "verifier-crops-300000-6.npz"
    assert saved.exists() and not saved.with_name(saved.name + ".part").exists()
    r = CliRunner().invoke(app, ["train-verifier", "--detector", str(DEFAULT_MODEL), "--out-dir", str(tmp_path),
                                 "--crops", str(saved), "--epochs", "1", "--classes", "air_defence",
                                 "--floor", "0.1", "--held-out", str(saved)])
    assert r.exit_code == 0, r.output
    again = json.loads(r.output.strip().splitlines()[-1])
    assert again["counts"] == {k: v for k, v in record["counts"].items() if k.startswith("air_defence")}
    # Measured on the held-out crops (here the same ones) and written into the check's metadata.
    held = again["metrics"]["air_defence"]
    assert held["present"] == again["counts"]["air_defence present"] and "vehicle" not in again["metrics"]
    assert 0.0 <= held["check_auc"] <= 1.0 and held["auc_by_weight"]["0.0"] > 0.5  # the detector's own ranking
    assert _check_of(DetectionModel(tmp_path / DEFAULT_MODEL.name), "air_defence").info.metrics["air_defence"] == held
    assert not list(tmp_path.glob("verifier-crops-*.npz"))  # nothing collected, nothing saved


def test_crops_of_another_floor_or_not_crops_are_refused(trained_check, tmp_path):
    out, _ = trained_check
    saved = out / "verifier-crops-300000-6.npz"
    bogus = tmp_path / "bogus.npz"
    bogus.write_bytes(b"not a zip")
    for path, floor, message in ((saved, "0.2", "collected down to score 0.1"), (bogus, "0.1", "not a presence-check")):
        r = CliRunner().invoke(app, ["train-verifier", "--detector", str(DEFAULT_MODEL), "--out-dir", str(tmp_path),
                                     "--crops", str(path), "--floor", floor])
        assert isinstance(r.exception, InputError), r.output
        assert message in str(r.exception) and path.name in str(r.exception)
    assert not (tmp_path / DEFAULT_MODEL.name).exists()


def test_ranking_auc_counts_pairs_ranked_right():
    from sitewatch.training.verify_train import ranking_auc

    # Positives 0.35 and 0.8 against negatives 0.1 and 0.4: three of the four pairs ranked right.
    assert ranking_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True])) == 0.75
    assert ranking_auc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5  # a tie counts half
    assert ranking_auc(np.array([0.2, 0.3]), np.array([True, True])) is None  # no negative to rank against


def test_real_labels_teach_present_absent_or_nothing():
    """Against axis-aligned real labels: a detection on a label is present, one on bare
    ground absent, and a badly boxed one centred on a real aircraft is left out rather
    than taught as absent."""
    from sitewatch.training.verify_train import real_label

    labels = np.array([[0.0, 0.0, 40.0, 40.0, 0.0], [200.0, 0.0, 30.0, 30.0, 0.0]])
    assert real_label(np.array([1.0, -1.0, 38.0, 42.0, 0.0]), labels) is True
    assert real_label(np.array([100.0, 100.0, 30.0, 30.0, 0.0]), labels) is False
    assert real_label(np.array([2.0, 2.0, 12.0, 12.0, 0.0]), labels) is None  # inside, IoU 0.09: a small box
    assert real_label(np.array([22.0, 0.0, 30.0, 30.0, 0.0]), labels) is None  # IoU 0.18, centre outside
    assert real_label(np.array([30.0, 0.0, 30.0, 30.0, 0.0]), np.zeros((0, 5))) is False


def test_a_class_the_real_ground_holds_none_of_is_taught_absent_even_on_another_label():
    from pathlib import Path

    from sitewatch.evaluation.realdata import RealImage
    from sitewatch.training.verify_train import VerifyTrainConfig, label_on_real

    image = RealImage("t", "a", Path("a.png"), 0.5, np.zeros((1, 5)), ("aircraft",), True,
                      ("aircraft", "helicopter", "air_defence"), "train")
    truth = np.array([[0.0, 0.0, 40.0, 40.0, 0.0]])  # one labelled aircraft, map metres
    on_it = np.array([1.0, 1.0, 38.0, 40.0, 0.0])
    plain = VerifyTrainConfig(classes=("aircraft", "ship"))
    assert label_on_real(plain, "aircraft", on_it, truth, image) is True
    assert label_on_real(plain, "ship", on_it, truth, image) is None  # ships not vouched for: not taught
    inland = VerifyTrainConfig(classes=("ship",), none_on_real=("ship",))
    assert label_on_real(inland, "ship", on_it, truth, image) is False  # no ship there, whatever else is


def test_chip_folders_read_as_real_training_images(tmp_path):
    import cv2

    from sitewatch.training.verify_train import chip_folder_images

    (tmp_path / "images").mkdir()
    (tmp_path / "meta").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "c1.png"), np.full((64, 64, 3), 90, np.uint8))
    (tmp_path / "meta" / "c1.json").write_text(json.dumps({
        "gsd_m": 0.5, "complete_classes": ["aircraft"],
        "objects": [{"cx": 20.0, "cy": 30.0, "length_m": 10.0, "width_m": 6.0, "heading_deg": 0.0, "cls": "aircraft"}]}))
    (im,) = chip_folder_images(tmp_path)
    assert im.split == "train" and im.axis_aligned and im.complete == ("aircraft",) and im.gsd_m == 0.5
    assert im.boxes.tolist() == [[20.0, 30.0, 20.0, 12.0, 0.0]] and im.cls == ("aircraft",)
    with pytest.raises(InputError, match="holds no chips"):
        chip_folder_images(tmp_path / "images")


def test_real_chips_too_coarse_for_detect_are_left_out_not_fatal(tmp_path):
    """A 1.2 m chip (which `detect` refuses) is counted and skipped; a bare 0.5 m chip gives
    no aircraft to learn from, which is one error naming the detector."""
    import cv2

    from sitewatch.training import verify_train as vt

    for folder in ("images", "meta"):
        (tmp_path / folder).mkdir()
    for name, gsd in (("coarse", 1.2), ("bare", 0.5)):
        cv2.imwrite(str(tmp_path / "images" / f"{name}.png"), np.full((128, 128, 3), 90, np.uint8))
        (tmp_path / "meta" / f"{name}.json").write_text(json.dumps({"gsd_m": gsd, "complete_classes": ["aircraft"],
                                                                    "objects": []}))
    cfg = vt.VerifyTrainConfig(classes=("aircraft",), threads=1)
    with pytest.raises(InputError, match="reported no aircraft on the real images"):
        vt.collect_real_crops(cfg, DEFAULT_MODEL, vt.chip_folder_images(tmp_path))
    assert cfg.counts["real images too coarse"] == 1
