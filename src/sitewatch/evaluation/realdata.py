"""Real labelled imagery (`../shared/realdata`): readers and the fixed development split.

Why here: the split is what keeps the real-pixel figures honest, so it is defined once, beside
the scoring, and training (`sitewatch.training.real_chips`) takes only the other side of it.

Each reader returns `RealImage`s: a file, its ground sample distance, its labels as pixel
boxes, and the classes whose labels are complete there (an Airbus airport image boxes every
aircraft and nothing else, so a box found there is a false aircraft, while a car found there
may be a real, unlabelled car). The sets are public files with their own terms (see the
folder's README); they are read in place, never copied into the project.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sitewatch.detect.labels import parse_class_map, read_yolo_obb
from sitewatch.errors import InputError

ENV_VAR = "SITEWATCH_REALDATA"
# A quarter of each set is kept for development: never trained on, always reported. An
# eighth more is kept for validation: never trained on, used to choose operating points.
DEV_SHARE = 4
VAL_SHARE = 8
# Airbus images that show one airport on two dates (the dataset's README): a pair goes to
# one side of the split together, so no airport is both trained on and measured.
AIRBUS_PAIRS = (("534ba32c", "b7ab0316"), ("6627e7c7", "af67041b"), ("03f84930", "e18dde99"))
AIRBUS_GSD_M = 0.5
# Six Airbus images box every aircraft twice (two labelling passes, IoU 0.53-0.98 between
# the two boxes of one aircraft). Distinct aircraft in the set overlap at most 0.2, so two
# boxes at this IoU or more are taken as one aircraft, and their corners averaged.
DUPLICATE_LABEL_IOU = 0.5


@dataclass(frozen=True)
class RealImage:
    """One real image and what its labels say."""

    set_name: str
    image_id: str
    path: Path
    gsd_m: float | None  # None: not stated by the set (DOTA chips are 0.1-0.5 m)
    boxes: np.ndarray  # (N, 5) pixel boxes: col, row, length px, width px, heading from image up
    cls: tuple[str, ...]  # (N,) our class names
    axis_aligned: bool  # the labels are axis-aligned boxes, not oriented outlines
    complete: tuple[str, ...]  # classes every instance of which is labelled
    split: str  # 'dev' (never trained on, reported), 'val' (never trained on, tunes) or 'train'
    outside_catalogue: bool = False  # every labelled item is of a type the catalogue lacks


def split_of(group: str) -> str:
    """'dev', 'val' or 'train', fixed by a hash of the group name (stable across machines)."""
    h = int(hashlib.sha1(group.encode()).hexdigest()[:8], 16)
    if h % DEV_SHARE == 0:
        return "dev"
    return "val" if h % VAL_SHARE == 1 else "train"


def default_root() -> Path | None:
    """$SITEWATCH_REALDATA, else ../shared/realdata beside the checkout, else None."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        candidate = parent.parent / "shared" / "realdata"
        if (candidate / "README.md").exists():
            return candidate
    return None


def aabb_boxes(corners: np.ndarray) -> np.ndarray:
    """(N, 4) x0, y0, x1, y1 -> (N, 5) pixel boxes with heading 0 (length along the rows)."""
    c = np.asarray(corners, float).reshape(-1, 4)
    return np.column_stack([(c[:, 0] + c[:, 2]) / 2, (c[:, 1] + c[:, 3]) / 2, c[:, 3] - c[:, 1], c[:, 2] - c[:, 0],
                            np.zeros(len(c))])


def merge_duplicate_labels(corners: np.ndarray, iou_min: float = DUPLICATE_LABEL_IOU) -> np.ndarray:
    """(N, 4) axis-aligned x0, y0, x1, y1 -> (M, 4): boxes overlapping another at `iou_min`
    or more are one object labelled twice, merged into the mean of their corners."""
    c = np.asarray(corners, float).reshape(-1, 4)
    x0, y0 = np.maximum(c[:, None, 0], c[None, :, 0]), np.maximum(c[:, None, 1], c[None, :, 1])
    x1, y1 = np.minimum(c[:, None, 2], c[None, :, 2]), np.minimum(c[:, None, 3], c[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (c[:, 2] - c[:, 0]) * (c[:, 3] - c[:, 1])
    iou = inter / np.maximum(area[:, None] + area[None, :] - inter, 1e-9)
    merged, used = [], np.zeros(len(c), bool)
    for i in range(len(c)):
        if used[i]:
            continue
        group = ~used & (iou[i] >= iou_min)
        group[i] = True
        used |= group
        merged.append(c[group].mean(axis=0))
    return np.array(merged, float).reshape(-1, 4)


def airbus_aircraft(root: Path) -> list[RealImage]:
    """Airbus Pleiades airports at 0.5 m: every aircraft boxed (truncated ones too). Civil
    airports, so the aircraft are airliners, business jets and light aircraft: types the
    catalogue (Russian military) lacks."""
    folder = root / "airbus_aircraft"
    table = folder / "annotations.csv"
    if not table.exists():
        raise InputError(str(table), "missing: the Airbus aircraft set is not there")
    by_image: dict[str, list] = {}
    with table.open(newline="") as f:
        for n, row in enumerate(csv.DictReader(f), start=2):
            try:
                pts = np.array(ast.literal_eval(row["geometry"]), float)
            except (ValueError, SyntaxError, KeyError) as exc:
                raise InputError(str(table), f"line {n}: geometry is not a list of (x, y) points") from exc
            by_image.setdefault(row["image_id"], []).append((pts[:, 0].min(), pts[:, 1].min(),
                                                              pts[:, 0].max(), pts[:, 1].max()))
    pair_of = {a: a for pair in AIRBUS_PAIRS for a in pair} | {b: a for a, b in AIRBUS_PAIRS}
    out = []
    for path in sorted((folder / "images").glob("*.jpg")):
        prefix = path.stem[:8]
        boxes = aabb_boxes(merge_duplicate_labels(np.array(by_image.get(path.name, []), float)))
        out.append(RealImage("airbus", path.stem, path, AIRBUS_GSD_M, boxes, ("aircraft",) * len(boxes), True,
                             ("aircraft", "helicopter", "air_defence"), split_of("airbus:" + pair_of.get(prefix, prefix)),
                             outside_catalogue=True))
    return out


def dota8(root: Path) -> list[RealImage]:
    """The eight DOTA v1 Google Earth chips (0.1-0.5 m, GSD not stated), oriented labels.
    Academic-use terms: measured on only, never trained on, so all are 'dev'."""
    folder = root / "dota8"
    out = []
    cmap = parse_class_map(None)  # DOTA's names and dota8's YOLO indices onto our classes
    for path in sorted((folder / "images").glob("*.jpg")):
        img = cv2.imread(str(path))
        if img is None:
            raise InputError(str(path), "cannot read image")
        h, w = img.shape[:2]
        label = folder / "labels" / f"{path.stem}.txt"
        found = read_yolo_obb(label, w, h, cmap) if label.exists() else []
        boxes = np.array([f.box for f in found], float).reshape(-1, 5)
        # DOTA boxes every plane, ship, vehicle and helicopter it sees, with a few misses at
        # chip borders (the folder's README); counted complete, misses checked by eye.
        out.append(RealImage("dota8", path.stem, path, None, boxes, tuple(f.cls for f in found), False,
                             ("aircraft", "helicopter", "ship", "vehicle"), "dev"))
    return out


def empty_airbases(root: Path) -> list[RealImage]:
    """Thirty real military aprons with no aircraft on them (about 0.5-1.3 m a pixel); each
    label's first line is the image's extent in metres (x first), which gives its GSD."""
    folder = root / "military_aircraft" / "empty_airbases"
    out = []
    for path in sorted((folder / "images").glob("*.png"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0):
        label = folder / "labels" / f"{path.stem}.txt"
        img = cv2.imread(str(path))
        if img is None or not label.exists():
            raise InputError(str(path), "cannot read the image or its label")
        try:
            extent_x = float(label.read_text().splitlines()[0].split(",")[0])
        except (ValueError, IndexError) as exc:
            raise InputError(str(label), "first line is not the extent 'x_m,y_m'") from exc
        out.append(RealImage("empty_airbases", path.stem, path, extent_x / img.shape[1], np.zeros((0, 5)), (), True,
                             ("aircraft", "helicopter"), split_of(f"empty_airbases:{path.stem}")))
    return out


# FAIR1M's classes in the four sample images, onto ours.
FAIR1M_CLASSES = {"A220": "aircraft", "A321": "aircraft", "Boeing737": "aircraft", "Dry Cargo Ship": "ship",
                  "Fishing Boat": "ship"}
# The samples state no GSD (FAIR1M's images are 0.3-0.8 m). Each was measured by eye: the
# labelled airliner's fuselage in pixels against its type's length (A220-300 38.7 m, A321
# 44.5 m, Boeing 737-800 39.5 m), and in the port image (no aircraft) parked cars of about
# 4.5 m. Measured so, each is good to about 15 %.
FAIR1M_GSD_M = {"1023": 0.51, "1048": 0.91, "1063": 0.40, "1068": 0.58}


def fair1m(root: Path) -> list[RealImage]:
    """The four FAIR1M samples: three airports with one airliner each, and a river port
    with four dry-cargo barges and a fishing boat; axis-aligned labels. Looked over by eye,
    nothing else there is an aircraft, a helicopter or a ship, so those are counted
    complete. FAIR1M's terms: measured on only, never trained on, so all are 'dev'."""
    folder = root / "fair1m"
    table = folder / "labels_hbb_from_OpenAnote_test_metadata.csv"
    if not table.exists():
        raise InputError(str(table), "missing: the FAIR1M samples are not there")
    by_image: dict[str, list[tuple[tuple[float, float, float, float], str]]] = {}
    with table.open(newline="") as f:
        for n, row in enumerate(csv.DictReader(f), start=2):
            try:
                corners = (float(row["xmin"]), float(row["ymin"]), float(row["xmax"]), float(row["ymax"]))
                cls = FAIR1M_CLASSES[row["class"]]
            except (KeyError, ValueError) as exc:
                raise InputError(str(table), f"line {n}: expected xmin, ymin, xmax, ymax and a known class") from exc
            by_image.setdefault(Path(row["file_name"]).stem, []).append((corners, cls))
    out = []
    for stem, gsd in FAIR1M_GSD_M.items():
        path = folder / f"{stem}.jpg"
        labels = by_image.get(stem, [])
        boxes = aabb_boxes(np.array([c for c, _ in labels], float))
        out.append(RealImage("fair1m", stem, path, gsd, boxes, tuple(c for _, c in labels), True,
                             ("aircraft", "helicopter", "ship"), "dev", outside_catalogue=True))
    return out


READERS = {"airbus": airbus_aircraft, "dota8": dota8, "empty_airbases": empty_airbases, "fair1m": fair1m}


def real_images(set_name: str, root: Path, split: str | None = None) -> list[RealImage]:
    """The images of one set, of one side of the split (None: both)."""
    if set_name not in READERS:
        raise InputError(set_name, f"unknown real set; one of {', '.join(READERS)}")
    images = READERS[set_name](root)
    return [im for im in images if split is None or im.split == split]
