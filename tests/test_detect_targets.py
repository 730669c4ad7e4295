import numpy as np
import pytest

from sitewatch.detect import geometry
from sitewatch.detect.labels import parse_class_map, read_yolo_obb
from sitewatch.domain import CLASSES
from sitewatch.training import targets as tg
from sitewatch.training.dataset import make_chip, yolo_obb_line

STRIDE = 4
GSD = 0.5


def _sample(boxes, size=64):
    n = len(boxes)
    return tg.Sample(np.zeros((size, size, 3), np.uint8), np.array(boxes, float), np.zeros(n, int),
                     np.zeros(n, int), np.zeros(n, int), np.ones(n, bool))


def _nose_pixel(box):
    """Where the nose of a pixel-space box is (front edge midpoint)."""
    c = geometry.corners(np.array([box]), y_down=True)[0]
    return (c[0] + c[3]) / 2


def test_targets_peak_at_centre_cell_with_log_metres():
    s = _sample([[21.0, 30.0, 20.0, 8.0, 90.0]])
    t = tg.build_targets(s, len(CLASSES), STRIDE, GSD)
    heat = t["heat"][0]
    assert heat.max() == 1.0
    assert np.unravel_index(heat.argmax(), heat.shape) == (30 // STRIDE, 21 // STRIDE)
    centre = t["reg_weight"] == 1.0
    assert centre.sum() == 1
    # 20 px at 0.5 m = 10 m long, 8 px = 4 m wide.
    assert np.exp(t["logsize"][centre][0]) == pytest.approx([10.0, 4.0], rel=1e-5)
    assert t["offset"][centre][0] == pytest.approx([21 / STRIDE - 5, 30 / STRIDE - 7])
    assert t["sincos"][centre][0] == pytest.approx([1.0, 0.0], abs=1e-6)  # heading 90


def test_targets_gaussian_is_elongated_along_the_axis():
    # A ship-like box heading east: the heat spreads further along x than along y.
    s = _sample([[64.0, 64.0, 120.0, 16.0, 90.0]], size=128)
    heat = tg.build_targets(s, len(CLASSES), STRIDE, GSD)["heat"][0]
    cy, cx = 16, 16
    assert heat[cy, cx + 3] > heat[cy + 3, cx]


@pytest.mark.parametrize("seed", range(6))
def test_augment_keeps_noses_on_the_object(seed):
    # Paint each object's front half white, rear half black; after any flips and turns
    # the pixel at the labelled nose side must still be the white half.
    size = 96
    img = np.full((size, size, 3), 128, np.uint8)
    box = [48.0, 48.0, 40.0, 12.0, 30.0]
    import cv2
    c = geometry.corners(np.array([box]), y_down=True)[0]
    front = np.array([c[0], (c[0] + c[1]) / 2, (c[2] + c[3]) / 2, c[3]])
    rear = np.array([(c[0] + c[1]) / 2, c[1], c[2], (c[2] + c[3]) / 2])
    cv2.fillPoly(img, [np.round(front).astype(np.int32)], (255, 255, 255))
    cv2.fillPoly(img, [np.round(rear).astype(np.int32)], (0, 0, 0))
    s = tg.Sample(img, np.array([box]), np.zeros(1, int), np.zeros(1, int), np.zeros(1, int), np.ones(1, bool))
    out = tg.augment(s, np.random.default_rng(seed), size)
    assert len(out.boxes) == 1
    b = out.boxes[0].copy()
    quarter = b.copy()
    quarter[2] /= 2  # a point a quarter length from the centre towards the nose
    fx, fy = _nose_pixel(quarter)
    rx, ry = 2 * b[:2] - np.array([fx, fy])
    grey = out.image.mean(axis=2)
    assert grey[int(fy), int(fx)] > grey[int(ry), int(rx)] + 60


def test_chip_labels_round_trip_through_yolo_obb():
    img, objects, _ = make_chip(seed=3, chip_px=256, model_gsd=GSD, native_gsd=0.3)
    assert img.shape == (256, 256, 3) and objects
    lines = "".join(yolo_obb_line(o, 256, GSD) + "\n" for o in objects)
    import pathlib
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = pathlib.Path(d) / "x.txt"
        p.write_text(lines)
        back = read_yolo_obb(p, 256, 256, {str(i): c for i, c in enumerate(CLASSES)})
    assert [b.cls for b in back] == [o.cls for o in objects]
    for o, b in zip(objects, back):
        assert b.box[0] == pytest.approx(o.cx, abs=1e-3)
        assert max(b.box[2], b.box[3]) * GSD == pytest.approx(max(o.length_m, o.width_m), rel=1e-3)
        assert geometry.heading_error(b.box[4], o.heading_deg, directed=False) < 0.01


def test_class_map_parsing():
    assert parse_class_map(None)["plane"] == "aircraft"
    assert parse_class_map(None)["10"] == "vehicle"
    assert parse_class_map("boat=ship") == {"boat": "ship"}
    with pytest.raises(ValueError, match="not one of our classes"):
        parse_class_map("boat=boat")


def test_scene_chips_cover_both_dates_and_keep_centres_inside():
    from sitewatch.training.dataset import make_scene_chips

    chip = 192  # 96 m chips; the scenario is 2 x 2 chips
    chips = make_scene_chips(seed=11, chip_px=chip, model_gsd=GSD, native_gsd=0.4)
    assert len(chips) == 2 * 4  # two dates, four chips each
    total = 0
    for img, objects, _ in chips:
        assert img.shape == (chip, chip, 3)
        for o in objects:
            assert 0 <= o.cx < chip and 0 <= o.cy < chip
            assert o.cls in CLASSES
        total += len(objects)
    assert total > 0


def test_chip_meta_records_the_sun_the_chip_was_rendered_under(tmp_path):
    """The box refiner learns from the sun in each chip's meta: it must be the renderer's,
    turned with the picture when a scene chip is misregistered."""
    import json

    from sitewatch.training.dataset import make_scene_chips, write_dataset

    seen = []

    def render(spec):
        seen.append(spec.conditions)
        return np.zeros((8, 8, 3), np.uint8)

    chip = make_chip(seed=5, chip_px=64, model_gsd=GSD, native_gsd=0.5, render=render)
    assert (chip.sun.azimuth_deg, chip.sun.elevation_deg) == (seen[0].sun_azimuth_deg, seen[0].sun_elevation_deg)
    seen.clear()
    chips = make_scene_chips(seed=11, chip_px=64, model_gsd=GSD, native_gsd=0.5, render=render)
    first = seen[0]
    assert chips[0].sun.azimuth_deg == pytest.approx((first.sun_azimuth_deg + first.rotation_deg) % 360.0)
    write_dataset(tmp_path, 2, [0.5], model_gsd=GSD, chip_px=64, seed=4)
    meta = json.loads((tmp_path / "meta" / "0004_000001.json").read_text())
    again = make_chip(4 * 1_000_003 + 1, 64, GSD, 0.5, render=render)
    assert meta["sun_azimuth_deg"] == pytest.approx(again.sun.azimuth_deg, abs=1e-3)
    assert meta["sun_elevation_deg"] == pytest.approx(again.sun.elevation_deg, abs=1e-3)
