"""CI proves the training path: a tiny dataset, a few steps, resume, export, load, run."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from typer.testing import CliRunner  # noqa: E402

from sitewatch.cli.main import app  # noqa: E402
from sitewatch.detect.model import DetectionModel  # noqa: E402

CHIP = 128  # small crops keep the test to seconds
STEPS = 3


def test_dataset_train_resume_export(tmp_path):
    runner = CliRunner()
    data = tmp_path / "chips"
    r = runner.invoke(app, ["dataset", "--out", str(data), "--count", "4", "--gsd", "0.4,0.6", "--chip", "192"])
    assert r.exit_code == 0, r.output
    summary = json.loads((data / "dataset.json").read_text())
    assert summary["count"] == 4 and len(list((data / "images").glob("*.png"))) == 4
    model, ckpt = tmp_path / "m.onnx", tmp_path / "c.pt"
    common = ["train", "--data", str(data), "--out", str(model), "--checkpoint", str(ckpt), "--batch", "2",
              "--chip", str(CHIP), "--no-pretrained", "--threads", "1"]
    r = runner.invoke(app, common + ["--steps", str(STEPS)])
    assert r.exit_code == 0, r.output
    assert torch.load(ckpt, weights_only=False)["step"] == STEPS
    r = runner.invoke(app, common + ["--steps", str(STEPS + 2), "--resume"])
    assert r.exit_code == 0, r.output
    assert torch.load(ckpt, weights_only=False)["step"] == STEPS + 2
    # fine-tuning starts from the checkpoint's weights with a fresh step count
    ft = tmp_path / "ft.pt"
    r = runner.invoke(app, [*common[:6], str(ft), *common[7:], "--steps", "1", "--init-from", str(ckpt),
                            "--out", str(tmp_path / "ft.onnx")])
    assert r.exit_code == 0, r.output
    assert torch.load(ft, weights_only=False)["step"] == 1
    r = runner.invoke(app, [*common, "--steps", "1", "--init-from", str(tmp_path / "missing.pt")])
    assert r.exit_code != 0 and "missing.pt" in str(r.exception or r.output)
    m = DetectionModel(model)
    assert m.gsd_m == 0.5
    assert m.info.training["steps"] == STEPS + 2
    assert "car" in m.info.types and m.info.type_classes["Ka-52"] == "helicopter"
    out = m.run(np.zeros((2, 3, CHIP, CHIP), np.float32), score_threshold=0.0)
    assert len(out) == 2
    # Every decoded type belongs to the decoded class, every state to the type.
    d = out[0]
    assert len(d) > 0
    for cls, typ, state in zip(d.cls, d.type, d.state):
        assert m.info.type_classes[typ] == cls
        assert state in m.info.type_states[typ]


def test_train_on_yolo_obb_labels_without_types(tmp_path):
    """Text labels (YOLO-OBB here) train the box and class heads; type and state losses
    are masked because such labels do not say them."""
    import shutil
    from dataclasses import replace

    from sitewatch.training import targets as tg
    from sitewatch.training.network import build_network
    from sitewatch.training.train import ChipStream, TrainConfig, compute_loss

    runner = CliRunner()
    data = tmp_path / "chips"
    r = runner.invoke(app, ["dataset", "--out", str(data), "--count", "3", "--gsd", "0.5", "--chip", "160"])
    assert r.exit_code == 0, r.output
    shutil.rmtree(data / "meta")
    cmap = "0=aircraft,1=helicopter,2=ship,3=vehicle,4=air_defence"  # the dataset's own YOLO indices
    items = tg.load_chip_dir(data, 0.5, data_gsd=0.5)
    assert {kind for _, _, kind in items} == {"yolo"}
    from sitewatch.detect.labels import parse_class_map

    cfg = TrainConfig(data=[str(data)], batch=2, chip=CHIP, data_gsd=0.5, class_map=parse_class_map(cmap),
                      pretrained=False)
    batch = ChipStream(cfg).batch()
    assert "extent" in batch and "extent" not in ChipStream(replace(cfg, outline_size=False)).batch()
    assert (batch["type"] == -1).all() and (batch["state"] == -1).all() and not batch["directed"].any()
    net, _ = build_network(False)
    losses = compute_loss(net(batch["image"]), batch)
    assert losses["type"].item() == 0.0 and losses["state"].item() == 0.0
    r = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "m.onnx"), "--checkpoint",
                            str(tmp_path / "c.pt"), "--steps", "2", "--batch", "2", "--chip", str(CHIP),
                            "--no-pretrained", "--data-gsd", "0.5", "--class-map", cmap])
    assert r.exit_code == 0, r.output


def test_relative_centre_error_is_along_over_length_plus_across_over_width():
    """A nose-east car (4 m x 2 m) whose centre is off by 1 m east (along its axis) and
    0.5 m south (across it): 1/4 + 0.5/2. Offsets are in cells of 2 m, y down."""
    import math

    from sitewatch.training.train import relative_centre_error

    pred = torch.tensor([[0.5 + 0.5, 0.5 + 0.25]])
    target = torch.tensor([[0.5, 0.5]])
    logsize = torch.tensor([[math.log(4.0), math.log(2.0)]])
    east = torch.tensor([[1.0, 0.0]])  # sin, cos of 90 degrees
    assert relative_centre_error(pred, target, logsize, east, cell_m=2.0).item() == pytest.approx(0.5)
    north = torch.tensor([[0.0, 1.0]])  # the same miss on a nose-north car: 0.5/4 along, 1/2 across
    assert relative_centre_error(pred, target, logsize, north, cell_m=2.0).item() == pytest.approx(0.625)


def test_fine_tune_from_an_onnx_detector(tmp_path):
    """The network rebuilt from a detector's ONNX file answers as the file does (its batch
    norms are folded into the convolutions there); `train --init-from FILE.onnx` fine-tunes
    it with the batch-norm statistics frozen, and exports a model that loads and runs. A
    file whose convolutions do not line up is refused by name."""
    from sitewatch.errors import ModelError
    from sitewatch.training.from_onnx import FOLDED_BN, largest_difference, network_from_onnx
    from sitewatch.training.network import build_network

    runner = CliRunner()
    data = tmp_path / "chips"
    assert runner.invoke(app, ["dataset", "--out", str(data), "--count", "2", "--gsd", "0.5", "--chip", "192"]).exit_code == 0
    common = ["train", "--data", str(data), "--batch", "2", "--chip", str(CHIP), "--no-pretrained", "--threads", "1"]
    r = runner.invoke(app, common + ["--steps", "3", "--out", str(tmp_path / "m.onnx"), "--checkpoint",
                                     str(tmp_path / "m.pt")])
    assert r.exit_code == 0, r.output
    rebuilt = network_from_onnx(tmp_path / "m.onnx")
    assert largest_difference(tmp_path / "m.onnx", rebuilt) < 1e-3
    assert largest_difference(tmp_path / "m.onnx", build_network(False)[0]) > 1e-2  # the check can tell
    r = runner.invoke(app, common + ["--steps", "2", "--init-from", str(tmp_path / "m.onnx"), "--out",
                                     str(tmp_path / "ft.onnx"), "--checkpoint", str(tmp_path / "ft.pt")])
    assert r.exit_code == 0, r.output
    state = torch.load(tmp_path / "ft.pt", weights_only=False)
    assert state[FOLDED_BN] is True and state["step"] == 2
    means = [v for k, v in state["net"].items() if k.endswith("running_mean")]
    assert means and all(float(v.abs().max()) == 0.0 for v in means)  # statistics never updated
    m = DetectionModel(tmp_path / "ft.onnx")
    assert len(m.run(np.zeros((1, 3, CHIP, CHIP), np.float32), score_threshold=0.0)) == 1
    torch.onnx.export(torch.nn.Conv2d(3, 4, 3).eval(), torch.zeros(1, 3, 8, 8), str(tmp_path / "other.onnx"), dynamo=True,
                      verbose=False)
    with pytest.raises(ModelError, match="other.onnx"):
        network_from_onnx(tmp_path / "other.onnx")
