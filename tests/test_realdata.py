"""Real labelled sets: readers, the fixed development split, partial-label training chips,
and scoring against axis-aligned labels. Built on small fabricated folders in the sets'
own formats, so they run without ../shared/realdata; one test reads the real folder and
skips without it."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sitewatch.detect.labels import Labelled
from sitewatch.domain import CLASSES
from sitewatch.evaluation import realdata as rd
from sitewatch.evaluation.real_pixels import map_aabb, score_real
from sitewatch.training import targets as tg
from sitewatch.training.real_chips import write_real_chips

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"


def _airbus_folder(root: Path, names: list[str]) -> None:
    """Airbus-format images (2560 px would be slow; 600 px is enough) with one plane each,
    a 40 x 30 px box at (100, 200)-(140, 230)."""
    (root / "airbus_aircraft" / "images").mkdir(parents=True)
    rows = ["id,image_id,geometry,class"]
    for n, name in enumerate(names):
        cv2.imwrite(str(root / "airbus_aircraft" / "images" / f"{name}.jpg"), np.full((600, 600, 3), 90, np.uint8))
        rows.append(f'{n},{name}.jpg,"[(100, 200), (140, 200), (140, 230), (100, 230), (100, 200)]",Airplane')
    (root / "airbus_aircraft" / "annotations.csv").write_text("\n".join(rows) + "\n")


def test_airbus_reader_turns_corner_lists_into_centre_boxes(tmp_path):
    _airbus_folder(tmp_path, ["aaaaaaaa-1"])
    (im,) = rd.airbus_aircraft(tmp_path)
    assert im.gsd_m == 0.5 and im.axis_aligned and im.cls == ("aircraft",)
    # Centre (120, 215); heading 0, so length runs along the rows (30 px) and width across (40 px).
    assert im.boxes[0] == pytest.approx([120.0, 215.0, 30.0, 40.0, 0.0])
    assert "aircraft" in im.complete and "vehicle" not in im.complete


def test_an_aircraft_boxed_twice_is_one_label_and_close_neighbours_stay_two():
    corners = np.array([[100, 200, 140, 230], [102, 199, 141, 233],  # one aircraft, two passes (IoU 0.82)
                        [150, 200, 190, 230],  # its neighbour, 10 px away
                        [300, 300, 340, 330], [310, 305, 350, 335]], float)  # IoU 0.45: two aircraft
    merged = rd.merge_duplicate_labels(corners)
    assert len(merged) == 4
    assert merged[0] == pytest.approx([101, 199.5, 140.5, 231.5])
    assert merged[1:].tolist() == corners[2:].tolist()


def test_fair1m_reader_maps_its_classes_and_refuses_an_unknown_one(tmp_path):
    folder = tmp_path / "fair1m"
    folder.mkdir()
    table = folder / "labels_hbb_from_OpenAnote_test_metadata.csv"
    table.write_text("file_name,xmin,ymin,xmax,ymax,class\nimages/1063.jpg,10,20,50,40,Dry Cargo Ship\n"
                     "images/1023.jpg,0,0,30,30,A220\n")
    by_id = {im.image_id: im for im in rd.fair1m(tmp_path)}
    assert by_id["1063"].cls == ("ship",) and by_id["1063"].boxes[0] == pytest.approx([30, 30, 20, 40, 0])
    assert by_id["1023"].cls == ("aircraft",) and by_id["1048"].cls == () and by_id["1063"].gsd_m == 0.40
    table.write_text("file_name,xmin,ymin,xmax,ymax,class\nimages/1063.jpg,10,20,50,40,Submarine\n")
    with pytest.raises(rd.InputError, match="line 2: expected xmin, ymin, xmax, ymax and a known class"):
        rd.fair1m(tmp_path)


def test_the_split_is_fixed_and_keeps_each_airport_pair_on_one_side(tmp_path):
    names = [f"{i:08x}-x" for i in range(40)] + [f"{a}-x" for pair in rd.AIRBUS_PAIRS for a in pair]
    _airbus_folder(tmp_path, names)
    images = {im.image_id[:8]: im.split for im in rd.airbus_aircraft(tmp_path)}
    assert images == {im.image_id[:8]: im.split for im in rd.airbus_aircraft(tmp_path)}  # same on a second read
    for a, b in rd.AIRBUS_PAIRS:
        assert images[a] == images[b]
    dev = sum(s == "dev" for s in images.values())
    assert 0 < dev < len(images)  # both sides are used (about a quarter dev, DEV_SHARE)


def test_real_chips_never_read_the_development_side(tmp_path):
    names = [f"{i:08x}-x" for i in range(12)]
    _airbus_folder(tmp_path, names)
    summary = write_real_chips(tmp_path, ["airbus"], tmp_path / "chips", chip=512)
    train = {f"airbus/{im.image_id}" for im in rd.airbus_aircraft(tmp_path) if im.split == "train"}
    assert set(summary["images"]) == train and train
    metas = [json.loads(p.read_text()) for p in (tmp_path / "chips" / "meta").glob("*.json")]
    assert {m["source"] for m in metas} == train
    # 600 px cut into 512 px chips with overlap: 2 x 2 windows an image; the plane is in one row of them.
    assert len(metas) == 4 * len(train)
    obj = next(o for m in metas for o in m["objects"])
    assert obj["sized"] is False and obj["directed"] is False and obj["length_m"] == pytest.approx(15.0)


def test_partial_labels_mask_the_heatmap_and_bound_the_size_in_training(tmp_path):
    """A real chip's unlabelled classes teach nothing; an axis-aligned box teaches the size
    only through the box around the predicted outline."""
    torch = pytest.importorskip("torch")
    from sitewatch.training.train import compute_loss, outline_extent

    names = [f"{i:08x}-x" for i in range(12)]
    _airbus_folder(tmp_path, names)
    write_real_chips(tmp_path, ["airbus"], tmp_path / "chips", chip=512)
    path = next(p for p in sorted((tmp_path / "chips" / "meta").glob("*.json")) if json.loads(p.read_text())["objects"])
    s = tg.read_sample(tmp_path / "chips" / "images" / f"{path.stem}.png", path, "meta", 0.5)
    t = tg.build_targets(s, len(CLASSES), 4, 0.5)
    assert list(t["heat_mask"]) == [c in ("aircraft", "helicopter", "air_defence") for c in CLASSES]
    assert len(t["sized"]) and not t["sized"].any() and t["cross"].all()
    # The label is 40 x 30 px at 0.5 m: 20 m wide, 15 m high.
    assert np.exp(t["extent"][0]) == pytest.approx([20.0, 15.0], rel=1e-4)
    k = len(t["reg_index"])
    batch = {"heat": torch.from_numpy(t["heat"][None]), "heat_mask": torch.from_numpy(t["heat_mask"][None]),
             "reg_batch": torch.zeros(k, dtype=torch.long)}
    for key in ("reg_index", "reg_weight", "offset", "logsize", "sincos", "type", "state", "directed", "sized",
                "extent", "cross"):
        batch[key] = torch.from_numpy(t[key])
    h, w = t["heat"].shape[1:]
    out = {"heat": torch.full((1, len(CLASSES), h, w), -4.0), "box": torch.zeros(1, 6, h, w),
           "type": torch.zeros(1, 22, h, w), "state": torch.zeros(1, 6, h, w)}
    # A 15 m aircraft with a 20 m span pointing north has exactly the label's box around it.
    out["box"][:, 2] = float(np.log(15.0))
    out["box"][:, 3] = float(np.log(20.0))
    out["box"][:, 5] = 1.0
    fitted = compute_loss(out, batch)
    centre_only = compute_loss(out, {k: v for k, v in batch.items() if k not in ("extent", "cross")})
    assert fitted["box"].item() == pytest.approx(centre_only["box"].item(), abs=1e-4)  # the size costs nothing
    # Turned 45 degrees the same cross fills (15 * 0.2 + 20) / sqrt(2) = 16.3 m each way.
    side = (3.0 + 20.0) / 2 ** 0.5
    assert outline_extent(torch.tensor([[np.log(15.0), np.log(20.0)]]), torch.tensor([[2 ** -0.5, 2 ** -0.5]]),
                          torch.tensor([True])).exp()[0].tolist() == pytest.approx([side, side])
    vehicle = CLASSES.index("vehicle")
    out["heat"][:, vehicle] = 4.0  # vehicles everywhere: not labelled on this chip, so no loss
    assert compute_loss(out, batch)["heat"].item() == pytest.approx(fitted["heat"].item())
    out["box"][:, 2:4] = 5.0  # a 148 m outline: far outside the label's box, so it costs
    assert compute_loss(out, batch)["box"].item() > fitted["box"].item() + 1.0
    out["box"][:, 2:4] = 0.0
    out["heat"][:, CLASSES.index("air_defence")] = 4.0  # labelled complete: false air defence costs
    assert compute_loss(out, batch)["heat"].item() > fitted["heat"].item() + 1.0
    # Turned 45 degrees off, the outline's box can be fitted by the size alone (the default)
    # or also by turning the heading back (outline_heading): only then does the heading learn.
    turned = {k: v.clone() for k, v in out.items()}
    turned["box"][:, 2] = float(np.log(15.0))
    turned["box"][:, 3] = float(np.log(20.0))
    turned["box"][:, 4:6] = 2 ** -0.5
    for outline_heading in (False, True):
        box = turned["box"].clone().requires_grad_(True)
        compute_loss({**turned, "box": box}, batch, outline_heading=outline_heading)["total"].backward()
        assert box.grad is not None
        turns = float(box.grad[:, 4:6].abs().sum())
        assert (turns > 1e-3) == outline_heading


def test_an_aircraft_at_45_degrees_matches_its_axis_aligned_label():
    # A 40 m x 40 m rectangle turned 45 degrees fills a 56.6 m square box ...
    pred = np.array([[10.0, 20.0, 40.0, 40.0, 45.0]])
    assert map_aabb(pred)[0] == pytest.approx([10.0, 20.0, 40 * 2 ** 0.5, 40 * 2 ** 0.5, 0.0])
    # ... but an aircraft is a cross: its fuselage (40 m x 4.8 m) and wing (40 m x 8 m) turned
    # 45 degrees fill (40 + 8) / sqrt(2) = 33.9 m, which is what its outline's label boxes.
    side = (40 + 0.2 * 40) / 2 ** 0.5
    assert map_aabb(pred, ["aircraft"])[0] == pytest.approx([10.0, 20.0, side, side, 0.0])
    assert map_aabb(np.array([[0.0, 0.0, 40.0, 30.0, 0.0]]), ["aircraft"])[0] == pytest.approx([0, 0, 40, 30, 0])
    image = rd.RealImage("t", "a", Path("a.jpg"), 0.5, np.zeros((1, 5)), ("aircraft",), True,
                         ("aircraft", "helicopter"), "dev")
    preds = {"a": [Labelled("aircraft", tuple(map_aabb(pred)[0]), score=0.9),  # the rectangle's box
                   Labelled("helicopter", (300.0, 300.0, 20.0, 20.0, 0.0), score=0.8),
                   Labelled("helicopter", (400.0, 300.0, 20.0, 20.0, 0.0), score=0.1)]}
    truths = {"a": [Labelled("aircraft", (10.0, 20.0, 56.0, 57.0, 0.0), directed=False)]}
    scores = score_real([image], preds, truths, area_km2=0.5, threshold=0.5)
    assert scores["classes"]["aircraft"] == {"true": 1, "ap50": 1.0, "recall": 1.0, "precision": 1.0}
    # One helicopter over the operating score on 0.5 km² that has none: 2 false a km².
    assert scores["classes"]["helicopter"]["false_per_km2"] == 2.0
    assert "vehicle" not in scores["classes"]  # not labelled: neither scored nor counted as false
    # Classes the image does not vouch for are counted apart, never scored: none found here.
    assert scores["found_unlabelled_per_km2"] == {"ship": 0.0, "vehicle": 0.0, "air_defence": 0.0}


def test_on_ground_with_nothing_labelled_the_unvouched_classes_are_counted_apart():
    image = rd.RealImage("t", "apron", Path("a.jpg"), 0.5, np.zeros((0, 5)), (), True, ("aircraft", "helicopter"), "dev")
    preds = {"apron": [Labelled("vehicle", (10.0 * i, 0.0, 4.5, 2.0, 0.0), score=0.7) for i in range(3)]
             + [Labelled("vehicle", (0.0, 50.0, 4.5, 2.0, 0.0), score=0.2),  # under the operating score
                Labelled("aircraft", (0.0, 90.0, 30.0, 30.0, 0.0), score=0.6)]}
    scores = score_real([image], preds, {"apron": []}, area_km2=0.25, threshold=0.5)
    assert scores["classes"]["aircraft"]["false_per_km2"] == 4.0  # vouched for: false
    assert scores["found_unlabelled_per_km2"] == {"ship": 0.0, "vehicle": 12.0, "air_defence": 0.0}


@pytest.mark.realdata
@pytest.mark.skipif(not (REAL / "airbus_aircraft").is_dir(), reason="../shared/realdata is absent (not shipped, licences)")
def test_the_real_sets_read_and_split_as_the_model_card_says():
    airbus = rd.real_images("airbus", REAL)
    dev = [im for im in airbus if im.split == "dev"]
    # 2,707 rows; six images box every aircraft twice, merged into one label each.
    assert len(airbus) == 80 and sum(len(im.boxes) for im in airbus) == 2551
    assert len(dev) == 25 and sum(len(im.boxes) for im in dev) == 810
    twice = next(im for im in airbus if im.image_id.startswith("48ef8e15"))
    assert len(twice.boxes) == 18  # 35 rows: 17 aircraft boxed twice, one once
    assert all(im.split == "dev" for im in rd.real_images("dota8", REAL))
    fair = rd.real_images("fair1m", REAL)
    assert [im.image_id for im in fair] == ["1023", "1048", "1063", "1068"] and all(im.split == "dev" for im in fair)
    assert sum(c == "aircraft" for im in fair for c in im.cls) == 3 and sum(c == "ship" for im in fair for c in im.cls) == 5


def test_the_sensor_look_rings_edges_and_keeps_the_chip_shape():
    """A 50 -> 200 step edge: an unsharp mask leaves a fringe brighter than 200 beside it."""
    img = np.full((64, 64, 3), 50, np.uint8)
    img[:, 32:] = 200
    outs = [tg.sensor_look(img, np.random.default_rng(seed)) for seed in range(30)]
    assert all(o.shape == img.shape and o.dtype == np.uint8 for o in outs)
    assert any(int(o[:, 33:36].max()) > 205 for o in outs)  # halos (JPEG alone rings by a few levels)
    assert all(abs(float(o[:, 40:].mean()) - 200) < 60 for o in outs)  # flat areas stay near their level


def test_found_by_centre_tells_a_small_box_from_a_miss():
    from sitewatch.evaluation.real_pixels import found_by_centre

    truths = {"a": [Labelled("aircraft", (0.0, 0.0, 40.0, 40.0, 0.0)), Labelled("aircraft", (100.0, 0.0, 40.0, 40.0, 0.0))]}
    # One 30 m box centred on the first aircraft (too small for IoU 0.5 but found), none near the second.
    preds = {"a": [Labelled("aircraft", (2.0, -1.0, 30.0, 30.0, 0.0), score=0.9)]}
    assert found_by_centre(preds, truths, 0.5) == {"aircraft": {"found_share": 0.5, "size_ratio_median": [0.75, 0.75],
                                                                "found_by_size_m": {"40-60": [1, 2]}}}
