"""sitewatch's YOLO-OBB adapter against Ultralytics' own ONNX predict, on real Ultralytics
exports (a YOLOv8n-obb built from its config, static and dynamic). Ultralytics is no
dependency of sitewatch (its wheel pulls a CUDA torch in place of the CPU one), so this
skips unless it is installed beside the project, without its dependencies:
`pip install --no-deps ultralytics ultralytics-thop psutil "torchvision==0.28.0"` in an
environment that sees the project's packages (torchvision matching torch 2.13).

The weights are random, with every BatchNorm's statistics taken from textured images so
that boxes and scores vary with the pixels, and the class bias lowered so that a few
hundred candidates pass the default threshold: a dense, arbitrary scene for NMS.
"""

import sys
import types

import numpy as np
import pytest

ultralytics = pytest.importorskip("ultralytics", reason="Ultralytics is not installed (not a sitewatch dependency)")
torch = pytest.importorskip("torch")
import cv2  # noqa: E402
import shapely  # noqa: E402

from sitewatch.detect import geometry  # noqa: E402
from sitewatch.detect.yolo_obb import YoloObbModel  # noqa: E402

IMGSZ = 640  # the export size


def _texture(rng, w, h):
    small = rng.integers(0, 255, (h // 16 + 1, w // 16 + 1, 3)).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    import shutil

    from ultralytics import YOLO

    out = tmp_path_factory.mktemp("ultralytics")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = YOLO("yolov8n-obb.yaml")
    net = model.model
    x = torch.from_numpy(np.stack([_texture(rng, IMGSZ, IMGSZ) for _ in range(8)])).permute(0, 3, 1, 2).float() / 255
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = None  # a plain average over the batch below
            mod.reset_running_stats()
    net.train()
    with torch.no_grad():
        net(x)
    net.eval()
    for branch in net.model[-1].cv3:
        torch.nn.init.constant_(branch[-1].bias, -3.0)
    model.save(str(out / "rand.pt"))
    paths = {}
    for dynamic in (False, True):
        p = YOLO(str(out / "rand.pt")).export(format="onnx", imgsz=IMGSZ, dynamic=dynamic, simplify=False, opset=17)
        paths[dynamic] = shutil.move(p, out / f"rand_{'dynamic' if dynamic else 'static'}.onnx")
    return paths


@pytest.fixture
def no_torchvision_ops(monkeypatch):
    """Ultralytics' predict imports torchvision at warm-up; where its compiled ops cannot
    load (a CPU torch), a bare module stands in: the OBB path never calls them."""
    try:
        import torchvision  # noqa: F401
    except Exception:
        monkeypatch.setitem(sys.modules, "torchvision", types.ModuleType("torchvision"))


def _corners(xywhr):
    cx, cy, w, h, r = xywhr
    c, s = np.cos(r), np.sin(r)
    v1, v2 = np.array([w / 2 * c, w / 2 * s]), np.array([-h / 2 * s, h / 2 * c])
    return np.array([[cx, cy] + v1 + v2, [cx, cy] + v1 - v2, [cx, cy] - v1 - v2, [cx, cy] - v1 + v2])


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("size", [(640, 640), (640, 437), (352, 640)], ids=["full", "short", "narrow"])
def test_sitewatch_boxes_equal_ultralytics_predict(exports, no_torchvision_ops, dynamic, size):
    from ultralytics import YOLO

    path = exports[dynamic]
    img = _texture(np.random.default_rng(1), *size)  # RGB; the short and narrow ones are padded, centred
    ours_model = YoloObbModel(path, {str(i): str(i) for i in range(80)}, gsd_m=0.5)  # every index kept as itself
    (ours,) = ours_model.run(img.transpose(2, 0, 1)[None].astype(np.float32))
    theirs = YOLO(str(path), task="obb").predict(img[..., ::-1].copy(), imgsz=IMGSZ, verbose=False)[0].obb
    boxes, conf, cls = theirs.xywhr.numpy(), theirs.conf.numpy(), theirs.cls.numpy().astype(int)
    assert len(ours) == len(boxes) > 50  # dense: 300 (the cap) on the full image, 67 on the narrow one
    theirs_polys = shapely.polygons(np.array([_corners(b) for b in boxes]))
    ours_polys = shapely.polygons(geometry.corners(ours.boxes, y_down=True))
    for i in range(len(boxes)):  # each of theirs has one of ours: same class and score, same box
        cand = np.nonzero((ours.cls.astype(int) == cls[i]) & (np.abs(ours.score - conf[i]) < 1e-5))[0]
        inter = shapely.area(shapely.intersection(theirs_polys[i], ours_polys[cand]))
        iou = inter / (shapely.area(theirs_polys[i]) + shapely.area(ours_polys[cand]) - inter)
        assert len(cand) and iou.max() > 0.999, (i, boxes[i], conf[i])
