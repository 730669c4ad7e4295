"""Detection scores on real images (`evaluation.realdata`): the measure of the detector.

Each image is given a synthetic north-up UTM georeference at its set's GSD (or an assumed
one where the set states none), run through `sitewatch detect`'s code path, and scored in
metres. Axis-aligned labels are compared with the axis-aligned box around each prediction,
oriented labels with the oriented prediction, both at IoU 0.5.

Reported per class: AP50, and recall and precision at the model's operating score, for
the classes the set labels completely and has instances of; false items per km² for the
classes the set labels completely and has none of (real ground with nothing of the class).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import rasterio
from affine import Affine

from sitewatch.detect import geometry
from sitewatch.detect.inference import detect_scene
from sitewatch.detect.labels import Labelled
from sitewatch.detect.model import DetectionModel
from sitewatch.domain import CLASSES
from sitewatch.evaluation.detection import evaluate
from sitewatch.evaluation.realdata import RealImage
from sitewatch.errors import InputError

# A synthetic UTM frame for images without georeferencing; any metric CRS would do.
SYNTHETIC_CRS = "EPSG:32636"
SYNTHETIC_ORIGIN = (500000.0, 4000000.0)


def map_aabb(boxes: np.ndarray) -> np.ndarray:
    """(N, 5) map boxes (y up) -> the (N, 5) axis-aligned boxes around them, heading 0."""
    if not len(boxes):
        return np.zeros((0, 5))
    c = geometry.corners(np.asarray(boxes, float))
    x0, x1, y0, y1 = c[..., 0].min(1), c[..., 0].max(1), c[..., 1].min(1), c[..., 1].max(1)
    return np.column_stack([(x0 + x1) / 2, (y0 + y1) / 2, y1 - y0, x1 - x0, np.zeros(len(c))])


def write_georeferenced(image: RealImage, gsd_m: float, folder: Path) -> tuple[Path, Affine, tuple[int, int]]:
    """A north-up GeoTIFF copy of a real image at `gsd_m`; (path, transform, (h, w))."""
    bgr = cv2.imread(str(image.path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(str(image.path), "cannot read image")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    transform = Affine(gsd_m, 0, SYNTHETIC_ORIGIN[0], 0, -gsd_m, SYNTHETIC_ORIGIN[1])
    path = folder / f"{image.set_name}_{image.image_id}.tif"
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8", crs=SYNTHETIC_CRS,
                       transform=transform, tiled=True, blockxsize=256, blockysize=256) as ds:
        ds.write(rgb.transpose(2, 0, 1))
    return path, transform, (h, w)


def detect_real(images: list[RealImage], model: DetectionModel, assumed_gsd_m: float | None = None,
                progress: Callable[[int, int], None] | None = None) -> tuple[dict, dict, float]:
    """(predictions, truths, area km²) of real images, keyed by image id, in metres."""
    preds: dict[str, list[Labelled]] = {}
    truths: dict[str, list[Labelled]] = {}
    area_km2 = 0.0
    floor = min(model.info.score_threshold, 0.05)  # low enough to draw the whole precision-recall curve
    with tempfile.TemporaryDirectory() as tmp:
        for n, image in enumerate(images, start=1):
            gsd = image.gsd_m if image.gsd_m is not None else assumed_gsd_m
            if gsd is None:
                raise InputError(str(image.path), "its set states no GSD; give an assumed one")
            path, transform, (h, w) = write_georeferenced(image, gsd, Path(tmp))
            area_km2 += h * w * gsd * gsd / 1e6
            dets, _, _ = detect_scene(path, model, image_id=image.image_id, score_threshold=floor)
            boxes = geometry.box_array([d.box for d in dets]).reshape(-1, 5)
            if image.axis_aligned:
                boxes = map_aabb(boxes)
            preds[image.image_id] = [Labelled(d.cls, tuple(float(v) for v in b), d.type, d.state, d.score)
                                     for d, b in zip(dets, boxes)]
            true_boxes = geometry.boxes_pixel_to_map(image.boxes, transform)
            truths[image.image_id] = [Labelled(c, tuple(float(v) for v in b), directed=False)
                                      for c, b in zip(image.cls, true_boxes)]
            Path(path).unlink()
            if progress:
                progress(n, len(images))
    return preds, truths, area_km2


def score_real(images: list[RealImage], preds: dict, truths: dict, area_km2: float, threshold: float) -> dict:
    """Per class: AP50 and recall/precision at `threshold` where the set has instances of it,
    false items per km² where it labels the class completely and has none."""
    complete = set().union(*(im.complete for im in images)) if images else set()
    result = evaluate(preds, truths, score_threshold=threshold)
    out: dict = {"images": len(images), "area_km2": round(area_km2, 3), "score_threshold": threshold, "classes": {}}
    for cls in CLASSES:
        if cls not in complete:
            continue
        pc = result["per_class"][cls]
        if pc["true"]:
            out["classes"][cls] = {"true": pc["true"], "ap50": pc["ap50"], "recall": pc["recall"],
                                   "precision": pc["precision"]}
        else:
            found = sum(1 for p in preds.values() for d in p if d.cls == cls and d.score >= threshold)
            out["classes"][cls] = {"true": 0, "false_items": found,
                                   "false_per_km2": round(found / area_km2, 2) if area_km2 else None}
    return out
