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
from sitewatch.detect.inference import MAX_GSD_RATIO, detect_scene
from sitewatch.detect.labels import Labelled
from sitewatch.detect.model import DetectionModel
from sitewatch.domain import CLASSES, UNKNOWN_TYPE
from sitewatch.errors import InputError
from sitewatch.evaluation.detection import evaluate, match_image
from sitewatch.evaluation.realdata import RealImage

# A synthetic UTM frame for images without georeferencing; any metric CRS would do.
SYNTHETIC_CRS = "EPSG:32636"
SYNTHETIC_ORIGIN = (500000.0, 4000000.0)


# An aircraft or helicopter is a cross, not a rectangle: turned 45 degrees, the axis-aligned
# box around its L x S oriented box is about twice as wide as the box around its outline, so
# an axis-aligned label is compared with the box around a cross of a fuselage (L long,
# FUSELAGE_SHARE of L wide) and a wing (S long, WING_CHORD_SHARE of L wide).
CROSS_SHAPED = ("aircraft", "helicopter")
FUSELAGE_SHARE = 0.12
WING_CHORD_SHARE = 0.2


def map_aabb(boxes: np.ndarray, cls: list[str] | tuple[str, ...] | None = None) -> np.ndarray:
    """(N, 5) map boxes (y up) -> the (N, 5) axis-aligned boxes around them, heading 0; the
    boxes of `CROSS_SHAPED` classes are taken as cross-shaped outlines."""
    b = np.asarray(boxes, float).reshape(-1, 5)
    if not len(b):
        return np.zeros((0, 5))
    cross = np.isin(np.asarray(cls if cls is not None else [""] * len(b), dtype=object), CROSS_SHAPED)
    fuselage = b.copy()
    fuselage[cross, 3] = FUSELAGE_SHARE * b[cross, 2]
    wing = b.copy()
    wing[cross, 2], wing[cross, 3] = WING_CHORD_SHARE * b[cross, 2], b[cross, 3]
    c = np.concatenate([geometry.corners(fuselage), geometry.corners(wing)], axis=1)
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


def in_working_range(image: RealImage, model: DetectionModel, assumed_gsd_m: float | None = None) -> bool:
    """Whether `sitewatch detect` takes the image (it refuses imagery coarser than
    MAX_GSD_RATIO times the model's GSD)."""
    gsd = image.gsd_m if image.gsd_m is not None else assumed_gsd_m
    return gsd is not None and gsd <= model.gsd_m * MAX_GSD_RATIO


def detect_real(images: list[RealImage], model: DetectionModel, assumed_gsd_m: float | None = None,
                progress: Callable[[int, int], None] | None = None,
                floor: float = 0.2) -> tuple[dict, dict, float]:
    """(predictions, truths, area km²) of real images, keyed by image id, in metres; give
    only images `in_working_range`. Detections are kept down to `floor` (on the model's
    0.5-at-the-operating-point scale): AP is the area under the curve down to there, and
    every candidate above it gets the second look, whose cost grows with their number."""
    preds: dict[str, list[Labelled]] = {}
    truths: dict[str, list[Labelled]] = {}
    area_km2 = 0.0
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
                boxes = map_aabb(boxes, [d.cls for d in dets])
            preds[image.image_id] = [Labelled(d.cls, tuple(float(v) for v in b), d.type, d.state, d.score,
                                              oriented_size=(d.box.length, d.box.width))
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
    if images and all(im.outside_catalogue for im in images):
        out["catalogue_type_share"] = catalogue_type_share(preds, truths, threshold)
    if images and all(im.axis_aligned for im in images) and any(truths.values()):
        out["found_by_centre"] = found_by_centre(preds, truths, threshold)
        # and by any candidate kept (down to the detection floor): seen, but scored too low?
        out["found_by_centre_at_floor"] = found_by_centre(preds, truths, 0.0)
    if images:
        # What is found of the classes the set does not vouch for (cars and boats at the
        # Airbus airports, anything but aircraft on the empty aprons): counted, never scored,
        # since some are real; where the ground cannot hold them (ships on a runway) they are
        # false, and only an eye can tell.
        out["found_unlabelled_per_km2"] = {
            cls: round(sum(1 for p in preds.values() for d in p if d.cls == cls and d.score >= threshold) / area_km2, 1)
            for cls in CLASSES if cls not in complete and area_km2}
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


def catalogue_type_share(preds: dict, truths: dict, threshold: float) -> float | None:
    """Share of the true items found at `threshold` that are given a catalogue type, on a set
    whose items are all outside the catalogue (civil airliners): every such name is wrong;
    the right answer is `unknown`."""
    named = found = 0
    for key, truth in truths.items():
        kept = [p for p in preds.get(key, []) if p.score >= threshold]
        for pred, m in zip(kept, match_image(kept, truth, 0.5)):
            if m >= 0:
                found += 1
                named += pred.type != UNKNOWN_TYPE
    return round(named / found, 4) if found else None


def best_f1_threshold(preds: dict, truths: dict, cls: str, floor: float) -> tuple[float, float]:
    """(score, F1): the operating score of `cls` with the best F1 over images (scores on the
    model's scale; candidates kept down to `floor`)."""
    best = (floor, -1.0)
    for t in np.arange(floor, 0.96, 0.01):
        r = evaluate(preds, truths, score_threshold=float(t))["per_class"][cls]
        p, rc = r["precision"] or 0.0, r["recall"] or 0.0
        f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
        if f1 > best[1]:
            best = (round(float(t), 2), round(f1, 4))
    return best


# Bands of a label's longer side (m) in which `found_by_centre` also counts what is found.
SIZE_BANDS_M = (0.0, 15.0, 25.0, 40.0, 60.0, 100.0)


def found_by_centre(preds: dict, truths: dict, threshold: float) -> dict:
    """Per class, against axis-aligned labels: the share of true items with a detection of
    their class at `threshold` centred inside their box (found, whatever its size), the
    median ratio of that detection's box to the label's, height and width, and the found
    share per band of the label's longer side (`SIZE_BANDS_M`; "lo-hi": [found, labels]).
    Tells a miss from a box of the wrong size, and which sizes are missed."""
    out = {}
    edges = np.asarray(SIZE_BANDS_M)
    names = [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:])]
    for cls in sorted({t.cls for ts in truths.values() for t in ts}):
        ratios, sides, hits = [], [], []
        for key, ts in truths.items():
            cands = np.array([p.box for p in preds.get(key, []) if p.cls == cls and p.score >= threshold]).reshape(-1, 5)
            for t in (t for t in ts if t.cls == cls):
                inside = (np.abs(cands[:, 0] - t.box[0]) < t.box[3] / 2) & (np.abs(cands[:, 1] - t.box[1]) < t.box[2] / 2)
                sides.append(max(t.box[2], t.box[3]))
                hits.append(bool(inside.any()))
                if inside.any():
                    near = cands[inside][np.argmin(np.hypot(*(cands[inside, :2] - np.array(t.box[:2])).T))]
                    ratios.append((near[2] / t.box[2], near[3] / t.box[3]))
        r, hit = np.array(ratios).reshape(-1, 2), np.array(hits, bool)
        band = np.searchsorted(edges, np.array(sides), side="right") - 1  # -1 or len(names): outside every band
        by_size = {name: [int(hit[band == i].sum()), int((band == i).sum())] for i, name in enumerate(names)}
        out[cls] = {"found_share": round(float(hit.mean()), 4) if len(hit) else None,
                    "size_ratio_median": [round(float(v), 3) for v in np.median(r, axis=0)] if len(r) else None,
                    "found_by_size_m": {k: v for k, v in by_size.items() if v[1]}}
    return out
