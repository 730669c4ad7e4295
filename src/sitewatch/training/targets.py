"""Training samples: chips and their labels, augmentation, and the network's targets.

Numpy only, so it can be tested without torch. Boxes are in pixel space (col, row, length
px, width px, heading clockwise from image up).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from sitewatch import equipment
from sitewatch.detect import labels as label_io
from sitewatch.domain import CLASSES, STATES
from sitewatch.errors import InputError
from sitewatch.evaluation.real_pixels import CROSS_SHAPED

TYPES: tuple[str, ...] = equipment.TYPE_NAMES
MAX_OBJECTS = 128


@dataclass(frozen=True)
class Sample:
    image: np.ndarray  # (H, W, 3) uint8 RGB at the model GSD
    boxes: np.ndarray  # (N, 5) pixel boxes
    cls: np.ndarray  # (N,) class index
    type: np.ndarray  # (N,) type index, -1 unknown
    state: np.ndarray  # (N,) state index, -1 unknown
    directed: np.ndarray  # (N,) bool: the heading gives the nose
    # Real labels are partial. complete: (C,) bool, the classes every instance of which is
    # labelled (None: all), so only those heatmap channels learn from the chip's background.
    # sized: (N,) bool, the box gives length, width and axis (None: all); an axis-aligned
    # label gives only the centre.
    complete: np.ndarray | None = None
    sized: np.ndarray | None = None


def _empty_sample(image: np.ndarray) -> Sample:
    z = np.zeros(0, np.int64)
    return Sample(image, np.zeros((0, 5)), z, z, z, np.zeros(0, bool))


def _sized(sample: Sample) -> np.ndarray:
    return np.ones(len(sample.boxes), bool) if sample.sized is None else sample.sized


def load_chip_dir(root: Path, model_gsd: float, data_gsd: float | None = None,
                  class_map: dict[str, str] | None = None) -> list[tuple[Path, Path, str]]:
    """(image, label, kind) triples of a dataset folder.

    kind "meta": our JSON labels (meta/<id>.json); kind "yolo"/"dota": text labels in
    labels/ beside images/, which need `data_gsd`.
    """
    root = Path(root)
    images = sorted(p for p in (root / "images").glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif"))
    if not images:
        raise InputError(str(root), "no images/ folder with .png/.jpg/.tif chips")
    out = []
    for img in images:
        meta = root / "meta" / f"{img.stem}.json"
        if meta.exists():
            out.append((img, meta, "meta"))
            continue
        txt = root / "labels" / f"{img.stem}.txt"
        if not txt.exists():
            continue
        if data_gsd is None:
            raise InputError(str(root), "text labels without sitewatch meta need --data-gsd (metres per pixel)")
        out.append((img, txt, "dota" if label_io.looks_like_dota(txt) else "yolo"))
    if not out:
        raise InputError(str(root), "no labels found (meta/*.json or labels/*.txt)")
    return out


def read_sample(image_path: Path, label_path: Path, kind: str, model_gsd: float,
                data_gsd: float | None = None, class_map: dict[str, str] | None = None) -> Sample:
    bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(str(image_path), "cannot read image")
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if kind == "meta":
        meta = json.loads(Path(label_path).read_text())
        gsd = float(meta["gsd_m"])
        objs = meta["objects"]
        complete = None
        if "complete_classes" in meta:  # real chips: labels partial (training.real_chips)
            complete = np.array([c in meta["complete_classes"] for c in CLASSES])
        if not objs:
            return rescale(replace(_empty_sample(image), complete=complete), gsd / model_gsd)
        boxes = np.array([[o["cx"], o["cy"], o["length_m"] / gsd, o["width_m"] / gsd, o["heading_deg"]] for o in objs])
        cls = np.array([CLASSES.index(o["cls"]) for o in objs])
        typ = np.array([TYPES.index(o["type"]) if o["type"] in TYPES else -1 for o in objs])
        state = np.array([STATES.index(o["state"]) if o.get("state") in STATES else -1 for o in objs])
        directed = np.array([bool(o.get("directed", True)) for o in objs])
        sized = np.array([bool(o.get("sized", True)) for o in objs])
        sample = Sample(image, boxes, cls, typ, state, directed, complete, sized)
        return rescale(sample, gsd / model_gsd)
    cmap = class_map or label_io.parse_class_map(None)
    h, w = image.shape[:2]
    found = (label_io.read_dota(label_path, cmap) if kind == "dota"
             else label_io.read_yolo_obb(label_path, w, h, cmap))
    if not found:
        sample = _empty_sample(image)
    else:
        sample = Sample(image, np.array([f.box for f in found]), np.array([CLASSES.index(f.cls) for f in found]),
                        np.full(len(found), -1), np.full(len(found), -1), np.zeros(len(found), bool))
    return rescale(sample, float(data_gsd) / model_gsd)


def rescale(sample: Sample, factor: float) -> Sample:
    """Resample a sample by `factor` (new pixels per old pixel)."""
    if abs(factor - 1.0) < 1e-6:
        return sample
    h, w = sample.image.shape[:2]
    nw, nh = max(1, int(round(w * factor))), max(1, int(round(h * factor)))
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    image = cv2.resize(sample.image, (nw, nh), interpolation=interp)
    boxes = sample.boxes.copy()
    boxes[:, :4] *= (nw / w + nh / h) / 2.0
    return replace(sample, image=image, boxes=boxes)


def crop_or_pad(sample: Sample, size: int, rng: np.random.Generator) -> Sample:
    """A size x size window (random offset), padding with grey; keeps boxes whose centre
    falls inside."""
    h, w = sample.image.shape[:2]
    x0 = int(rng.integers(0, w - size + 1)) if w > size else -int(rng.integers(0, size - w + 1))
    y0 = int(rng.integers(0, h - size + 1)) if h > size else -int(rng.integers(0, size - h + 1))
    canvas = np.full((size, size, 3), 114, np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + size, w), min(y0 + size, h)
    canvas[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = sample.image[sy0:sy1, sx0:sx1]
    boxes = sample.boxes.copy()
    boxes[:, 0] -= x0
    boxes[:, 1] -= y0
    inside = (boxes[:, 0] >= 0) & (boxes[:, 0] < size) & (boxes[:, 1] >= 0) & (boxes[:, 1] < size)
    return Sample(canvas, boxes[inside], sample.cls[inside], sample.type[inside], sample.state[inside],
                  sample.directed[inside], sample.complete, _sized(sample)[inside])


def augment(sample: Sample, rng: np.random.Generator, size: int, sensor: bool = False) -> Sample:
    """Domain randomisation: scale within the GSD tolerance, flips and quarter turns that
    keep headings consistent, colour, blur, noise, grey; with `sensor`, a satellite
    product's look too (`sensor_look`)."""
    s = rescale(sample, float(rng.uniform(0.93, 1.07)))
    s = crop_or_pad(s, size, rng)
    img, b = s.image, s.boxes.copy()
    if rng.random() < 0.5:  # mirror left-right: nose east becomes nose west
        img = img[:, ::-1]
        b[:, 0] = size - b[:, 0]
        b[:, 4] = 360.0 - b[:, 4]
    if rng.random() < 0.5:  # mirror top-bottom: nose north becomes nose south
        img = img[::-1]
        b[:, 1] = size - b[:, 1]
        b[:, 4] = 180.0 - b[:, 4]
    for _ in range(int(rng.integers(0, 4))):  # quarter turn clockwise
        img = np.rot90(img, k=-1)
        b[:, 0], b[:, 1] = size - b[:, 1], b[:, 0].copy()
        b[:, 4] = b[:, 4] + 90.0
    b[:, 4] = np.mod(b[:, 4], 360.0)
    img = img.astype(np.float32)
    img = img * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30)  # contrast, brightness
    img = img * rng.uniform(0.85, 1.15, 3)[None, None]  # colour balance
    if rng.random() < 0.15:
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)  # panchromatic
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 1.5)))
    if rng.random() < 0.5:
        img = img + rng.normal(0, rng.uniform(1, 8), img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if sensor:
        img = sensor_look(img, rng)
    return replace(s, image=np.ascontiguousarray(img), boxes=b)


def sensor_look(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a satellite product does to pixels, each step at random: sharpening halos (the
    pansharpening and MTF compensation of Maxar/Airbus products), a stretch of an 11-bit
    range into 8 bits with a gamma, and JPEG compression (8-bit delivery, web mosaics)."""
    out = img.astype(np.float32)
    if rng.random() < 0.4:  # unsharp mask: a bright and a dark fringe along every edge
        blur = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.8, 2.0)))
        out = out + float(rng.uniform(0.3, 1.2)) * (out - blur)
    if rng.random() < 0.4:  # 11-bit DN range clipped at chosen percentiles, with a gamma
        lo, hi = np.percentile(out, [float(rng.uniform(0, 3)), float(rng.uniform(97, 100))])
        out = 255.0 * (np.clip((out - lo) / max(hi - lo, 1.0), 0, 1) ** float(rng.uniform(0.7, 1.4)))
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 90))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).reshape(out.shape)
    return out


def build_targets(sample: Sample, n_classes: int, stride: int, gsd_m: float) -> dict[str, np.ndarray]:
    """Heatmap and per-cell regression targets at the network's stride.

    heat: (C, h, w) oriented Gaussians, 1 at each object's centre cell;
    reg_index (K,) flat cell indices, reg_weight (K,), offset (K, 2) in cells,
    logsize (K, 2) log length and width in metres, sincos (K, 2) of the heading,
    type (K,), state (K,) (-1: unknown), directed (K,), sized (K,): the size and axis are
    known; extent (K, 2) log width and height in metres of the image-axis-aligned box around
    the labelled box, and cross (K,): the class is cross-shaped (`CROSS_SHAPED`), which is
    what an unsized (axis-aligned) label can still teach the size with;
    heat_mask (C,): the channels whose background is known to be empty.
    Regression covers the centre cell and its 8 neighbours where the object's Gaussian
    is at least 0.5 (weight 0.5), so small objects train on one cell and large on nine.
    """
    h, w = sample.image.shape[0] // stride, sample.image.shape[1] // stride
    heat = np.zeros((n_classes, h, w), np.float32)
    rows: list[tuple] = []
    sized = _sized(sample)
    cross_ids = [CLASSES.index(c) for c in CROSS_SHAPED]
    for i, (cx, cy, length, width, heading) in enumerate(sample.boxes):
        gx, gy = cx / stride, cy / stride
        ix, iy = int(gx), int(gy)
        if not (0 <= ix < w and 0 <= iy < h):
            continue
        hr = np.radians(heading)
        sl = max(0.6, length / stride / 8.0)
        sw = max(0.6, width / stride / 8.0)
        r = int(np.ceil(3 * max(sl, sw)))
        x0, x1, y0, y1 = max(0, ix - r), min(w, ix + r + 1), max(0, iy - r), min(h, iy + r + 1)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        dx, dy = xx - ix, yy - iy
        along = dx * np.sin(hr) - dy * np.cos(hr)
        across = dx * np.cos(hr) + dy * np.sin(hr)
        g = np.exp(-(along ** 2 / (2 * sl ** 2) + across ** 2 / (2 * sw ** 2))).astype(np.float32)
        c = int(sample.cls[i])
        # An unsized label is axis-aligned at heading 0 or, after a quarter turn, 90.
        x_extent = abs(length * np.sin(hr)) + abs(width * np.cos(hr))
        y_extent = abs(length * np.cos(hr)) + abs(width * np.sin(hr))
        heat[c, y0:y1, x0:x1] = np.maximum(heat[c, y0:y1, x0:x1], g)
        heat[c, iy, ix] = 1.0
        for ddy in (-1, 0, 1):
            for ddx in (-1, 0, 1):
                jx, jy = ix + ddx, iy + ddy
                if not (0 <= jx < w and 0 <= jy < h):
                    continue
                centre = ddx == 0 and ddy == 0
                if not centre:
                    al = ddx * np.sin(hr) - ddy * np.cos(hr)
                    ac = ddx * np.cos(hr) + ddy * np.sin(hr)
                    if np.exp(-(al ** 2 / (2 * sl ** 2) + ac ** 2 / (2 * sw ** 2))) < 0.5:
                        continue
                rows.append((jy * w + jx, 1.0 if centre else 0.5, gx - jx, gy - jy, np.log(length * gsd_m), np.log(width * gsd_m),
                             np.sin(hr), np.cos(hr), sample.type[i], sample.state[i], sample.directed[i], sized[i],
                             np.log(x_extent * gsd_m), np.log(y_extent * gsd_m), c in cross_ids))
    rows = rows[: MAX_OBJECTS * 9]
    k = len(rows)
    arr = np.array(rows, dtype=np.float64).reshape(k, 15)
    heat_mask = np.ones(n_classes, bool) if sample.complete is None else np.asarray(sample.complete, bool)
    return {
        "heat": heat,
        "reg_index": arr[:, 0].astype(np.int64),
        "reg_weight": arr[:, 1].astype(np.float32),
        "offset": arr[:, 2:4].astype(np.float32),
        "logsize": arr[:, 4:6].astype(np.float32),
        "sincos": arr[:, 6:8].astype(np.float32),
        "type": arr[:, 8].astype(np.int64),
        "state": arr[:, 9].astype(np.int64),
        "directed": arr[:, 10].astype(bool),
        "sized": arr[:, 11].astype(bool),
        "extent": arr[:, 12:14].astype(np.float32),
        "cross": arr[:, 14].astype(bool),
        "heat_mask": heat_mask,
    }
