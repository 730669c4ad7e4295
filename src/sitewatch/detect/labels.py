"""Label files: YOLO-OBB and DOTA text labels, with a class map onto our classes.

YOLO-OBB: one object per line, `class_index x1 y1 x2 y2 x3 y3 x4 y4`, corners normalised
to 0..1 by the image width and height.
DOTA: `x1 y1 x2 y2 x3 y3 x4 y4 class_name difficult`, corners in pixels; header lines
(`imagesource:`, `gsd:`) are allowed.

Both give quadrilaterals without a nose, so headings read from them are folded into
[0, 180) and flagged as undirected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sitewatch.detect import geometry
from sitewatch.domain import CLASSES
from sitewatch.errors import InputError

# DOTA v1 class names (and the YOLO-OBB indices of dota8.yaml) onto ours.
DOTA_CLASS_MAP: dict[str, str] = {
    "plane": "aircraft",
    "helicopter": "helicopter",
    "ship": "ship",
    "large-vehicle": "vehicle",
    "small-vehicle": "vehicle",
    "large vehicle": "vehicle",
    "small vehicle": "vehicle",
}
DOTA_INDEX_NAMES: dict[int, str] = {0: "plane", 1: "ship", 9: "large-vehicle", 10: "small-vehicle", 11: "helicopter"}


@dataclass(frozen=True)
class LabelledBox:
    """One label in pixel space (col, row, length px, width px, heading from image up)."""

    cls: str
    box: tuple[float, float, float, float, float]
    type: str = "unknown"
    state: str | None = None  # None: the label does not say
    directed: bool = False  # True when the heading gives the nose direction
    difficult: bool = False


def parse_class_map(text: str | None) -> dict[str, str]:
    """'plane=aircraft,ship=ship,0=aircraft' -> dict; None gives the DOTA map."""
    if not text:
        out = dict(DOTA_CLASS_MAP)
        out.update({str(i): DOTA_CLASS_MAP[n] for i, n in DOTA_INDEX_NAMES.items()})
        return out
    out = {}
    for item in text.split(","):
        if "=" not in item:
            raise InputError("--class-map", f"expected name=class pairs, got {item!r}")
        src, dst = (s.strip() for s in item.split("=", 1))
        if dst not in CLASSES:
            raise InputError("--class-map", f"{dst!r} is not one of our classes ({', '.join(CLASSES)})")
        out[src] = dst
    return out


def read_yolo_obb(path: Path, width: int, height: int, class_map: dict[str, str]) -> list[LabelledBox]:
    """Labels of one YOLO-OBB file; classes absent from the map are skipped."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 9:
            raise InputError(str(path), f"line {n}: expected 9 fields (class and 4 corners), got {len(parts)}")
        try:
            idx = str(int(float(parts[0])))
            pts = np.array([float(v) for v in parts[1:]]).reshape(4, 2) * (width, height)
        except ValueError as exc:
            raise InputError(str(path), f"line {n}: {exc}") from exc
        cls = class_map.get(idx)
        if cls is None:
            continue
        out.append(LabelledBox(cls, tuple(geometry.box_from_corners(pts[None], y_down=True)[0])))
    return out


def read_dota(path: Path, class_map: dict[str, str]) -> list[LabelledBox]:
    """Labels of one DOTA text file; classes absent from the map are skipped."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if len(parts) < 9 or parts[0].endswith(":"):
            continue  # header lines: imagesource:, gsd:
        try:
            pts = np.array([float(v) for v in parts[:8]]).reshape(4, 2)
        except ValueError as exc:
            raise InputError(str(path), f"line {n}: {exc}") from exc
        cls = class_map.get(parts[8])
        if cls is None:
            continue
        difficult = len(parts) > 9 and parts[9] == "1"
        out.append(LabelledBox(cls, tuple(geometry.box_from_corners(pts[None], y_down=True)[0]), difficult=difficult))
    return out


def looks_like_dota(path: Path) -> bool:
    """DOTA lines end in a class name; YOLO-OBB lines start with an index."""
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 9 and not parts[0].endswith(":"):
            try:
                float(parts[8])
                return False
            except ValueError:
                return True
    return False
