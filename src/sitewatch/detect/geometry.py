"""Oriented-box geometry for detection: polygons, pixel <-> map conversion, rotated IoU and
rotated non-maximum suppression.

Boxes travel through the detector as float arrays of shape (N, 5): centre x, centre y,
length (along the axis), width (across it), heading in degrees. In map space (site CRS,
y north) the heading is clockwise from grid north, as in `OrientedBox`. In pixel space
(column right, row down) it is clockwise from image up; on a north-up image the two agree.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from affine import Affine
from shapely.geometry import Polygon

from sitewatch.domain import OrientedBox, normalise_heading

# Order of the corners, shared with OrientedBox.corners(): front-left, rear-left,
# rear-right, front-right (counter-clockwise in a y-north frame).
_SIGNS = np.array([(1, 1), (-1, 1), (-1, -1), (1, -1)], dtype=np.float64)
# Two long boxes whose axes agree this closely (degrees, either direction) can be one hull.
AXIS_AGREE_DEG = 15.0


def box_array(boxes: list[OrientedBox]) -> np.ndarray:
    """OrientedBoxes as an (N, 5) array."""
    if not boxes:
        return np.zeros((0, 5))
    return np.array([(b.cx, b.cy, b.length, b.width, b.heading_deg) for b in boxes], dtype=np.float64)


def corners(boxes: np.ndarray, y_down: bool = False) -> np.ndarray:
    """(N, 4, 2) corners of (N, 5) boxes, in the order of `OrientedBox.corners()`.

    With y_down the boxes are in pixel space (rows grow downwards), so the axis of a box
    heading 0 points to smaller rows.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    h = np.radians(b[:, 4])
    ax, ay = np.sin(h), np.cos(h)
    if y_down:
        ay = -ay
    # Left of the axis: the axis turned 90 degrees counter-clockwise in a y-north frame;
    # in a y-down frame the same turn is clockwise on screen, which is still the left side.
    px, py = (-ay, ax) if not y_down else (ay, -ax)
    hl, hw = b[:, 2] / 2.0, b[:, 3] / 2.0
    sl, sw = _SIGNS[:, 0], _SIGNS[:, 1]
    x = b[:, None, 0] + sl[None] * (hl * ax)[:, None] + sw[None] * (hw * px)[:, None]
    y = b[:, None, 1] + sl[None] * (hl * ay)[:, None] + sw[None] * (hw * py)[:, None]
    return np.stack([x, y], axis=-1)


def polygons(boxes: np.ndarray) -> np.ndarray:
    """Shapely polygons (an object array) of (N, 5) boxes."""
    c = corners(boxes)
    if len(c) == 0:
        return np.empty(0, dtype=object)
    return shapely.polygons(c)


def box_polygon(box: OrientedBox) -> Polygon:
    return Polygon(box.corners())


def box_from_corners(pts: np.ndarray, y_down: bool = False) -> np.ndarray:
    """(N, 5) boxes from (N, 4, 2) corner quadrilaterals (DOTA order: any start, either
    winding). The longer side becomes the length; its direction gives the heading up to
    180 degrees, folded into [0, 180) because a bare quadrilateral has no nose."""
    p = np.asarray(pts, dtype=np.float64).reshape(-1, 4, 2)
    centre = p.mean(axis=1)
    e1 = p[:, 1] - p[:, 0]
    e2 = p[:, 2] - p[:, 1]
    n1 = np.hypot(e1[:, 0], e1[:, 1])
    n2 = np.hypot(e2[:, 0], e2[:, 1])
    # Average opposite sides so a slightly skewed quadrilateral still gives a fair box.
    e3 = p[:, 3] - p[:, 2]
    e4 = p[:, 0] - p[:, 3]
    n1 = (n1 + np.hypot(e3[:, 0], e3[:, 1])) / 2.0
    n2 = (n2 + np.hypot(e4[:, 0], e4[:, 1])) / 2.0
    long_is_1 = n1 >= n2
    axis = np.where(long_is_1[:, None], e1, e2)
    length = np.maximum(n1, n2)
    width = np.minimum(n1, n2)
    dy = -axis[:, 1] if y_down else axis[:, 1]
    heading = np.degrees(np.arctan2(axis[:, 0], dy)) % 180.0
    return np.column_stack([centre[:, 0], centre[:, 1], length, width, heading])


def fold_heading(heading_deg: np.ndarray | float) -> np.ndarray | float:
    """Fold headings into [0, 180): the axis without its direction."""
    return np.mod(heading_deg, 180.0)


def heading_error(a: np.ndarray | float, b: np.ndarray | float, directed: bool = True) -> np.ndarray | float:
    """Smallest absolute angle between headings, in degrees (0..180 directed, 0..90 undirected)."""
    period = 360.0 if directed else 180.0
    d = np.mod(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), period)
    out = np.minimum(d, period - d)
    return float(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------- pixel <-> map


def boxes_pixel_to_map(boxes_px: np.ndarray, transform: Affine) -> np.ndarray:
    """Pixel-space boxes (col, row, length px, width px, heading from image up) to map-space
    boxes (x, y, length m, width m, heading from grid north) through an affine geotransform.

    Works for rotated and anisotropic transforms: the nose direction and the side direction
    are carried through the transform's linear part, never assumed north-up.
    """
    b = np.asarray(boxes_px, dtype=np.float64).reshape(-1, 5)
    a, bb, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    x = a * b[:, 0] + bb * b[:, 1] + c
    y = d * b[:, 0] + e * b[:, 1] + f
    h = np.radians(b[:, 4])
    # Nose direction in pixel space: (sin h, -cos h) in (col, row); side: (cos h, sin h).
    ax_c, ax_r = np.sin(h), -np.cos(h)
    sd_c, sd_r = np.cos(h), np.sin(h)
    ax_x, ax_y = a * ax_c + bb * ax_r, d * ax_c + e * ax_r
    sd_x, sd_y = a * sd_c + bb * sd_r, d * sd_c + e * sd_r
    length = b[:, 2] * np.hypot(ax_x, ax_y)
    width = b[:, 3] * np.hypot(sd_x, sd_y)
    heading = np.mod(np.degrees(np.arctan2(ax_x, ax_y)), 360.0)
    return np.column_stack([x, y, length, width, heading])


def boxes_map_to_pixel(boxes_map: np.ndarray, transform: Affine) -> np.ndarray:
    """The inverse of `boxes_pixel_to_map`."""
    b = np.asarray(boxes_map, dtype=np.float64).reshape(-1, 5)
    inv = ~transform
    a, bb, c, d, e, f = inv.a, inv.b, inv.c, inv.d, inv.e, inv.f
    col = a * b[:, 0] + bb * b[:, 1] + c
    row = d * b[:, 0] + e * b[:, 1] + f
    h = np.radians(b[:, 4])
    ax_x, ax_y = np.sin(h), np.cos(h)
    sd_x, sd_y = np.cos(h), -np.sin(h)  # to the right of the nose, in a y-north frame
    ax_c, ax_r = a * ax_x + bb * ax_y, d * ax_x + e * ax_y
    sd_c, sd_r = a * sd_x + bb * sd_y, d * sd_x + e * sd_y
    length = b[:, 2] * np.hypot(ax_c, ax_r)
    width = b[:, 3] * np.hypot(sd_c, sd_r)
    heading = np.mod(np.degrees(np.arctan2(ax_c, -ax_r)), 360.0)
    return np.column_stack([col, row, length, width, heading])


def y_up(boxes: np.ndarray) -> np.ndarray:
    """Pixel-space boxes (rows down) mirrored into a y-up frame, where `corners`,
    `rotated_iou` and `rotated_nms` apply: the heading keeps its value, the row changes
    sign. (Feeding pixel boxes to them directly mirrors each box about its own centre,
    which is wrong for rotated neighbours.)"""
    out = np.array(boxes, dtype=np.float64).reshape(-1, 5).copy()
    out[:, 1] = -out[:, 1]
    return out


def to_oriented_box(row: np.ndarray) -> OrientedBox:
    return OrientedBox(float(row[0]), float(row[1]), float(row[2]), float(row[3]), normalise_heading(float(row[4])))


# ---------------------------------------------------------------- IoU and NMS


def _pairwise_intersections(a: np.ndarray, b: np.ndarray):
    """Intersection areas of every pair of boxes that can touch.

    Only pairs whose circumscribed circles overlap are intersected as polygons (shapely,
    vectorised); the rest cannot touch. Returns the (N, 5) and (M, 5) arrays, the pair
    indices (ii, jj) and their intersection areas.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 5)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 5)
    if len(a) == 0 or len(b) == 0:
        empty = np.zeros(0, dtype=np.intp)
        return a, b, empty, empty, np.zeros(0)
    ra = np.hypot(a[:, 2], a[:, 3]) / 2.0
    rb = np.hypot(b[:, 2], b[:, 3]) / 2.0
    dist = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    ii, jj = np.nonzero(dist < ra[:, None] + rb[None, :])
    if len(ii) == 0:
        return a, b, ii, jj, np.zeros(0)
    return a, b, ii, jj, shapely.area(shapely.intersection(polygons(a)[ii], polygons(b)[jj]))


def rotated_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) matrix of intersection over union between two sets of (N, 5) / (M, 5) boxes."""
    a, b, ii, jj, inter = _pairwise_intersections(a, b)
    out = np.zeros((len(a), len(b)))
    union = a[ii, 2] * a[ii, 3] + b[jj, 2] * b[jj, 3] - inter
    out[ii, jj] = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    return out


def intersection_share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) share of each box of `a` that lies inside each box of `b` (0..1)."""
    a, b, ii, jj, inter = _pairwise_intersections(a, b)
    out = np.zeros((len(a), len(b)))
    out[ii, jj] = inter / np.maximum(a[ii, 2] * a[ii, 3], 1e-12)
    return out


def rotated_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float,
    classes: np.ndarray | None = None,
    priority: np.ndarray | None = None,
    shared_centres: bool = False,
) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression on rotated IoU.

    Boxes of different classes never suppress each other when `classes` is given. Boxes are
    visited in decreasing `priority` (default: score); the seam merge passes a priority that
    prefers boxes far from their tile's edge. Returned indices are in visiting order.

    shared_centres: two long, narrow boxes (length at least twice the width) whose centres
    lie closer than the narrower one's width also overlap, whatever their IoU. Two views of
    one launcher that disagree on its axis, or sit a metre apart across it, have a low IoU;
    two real long items cannot stand closer than their width without touching. (Square
    boxes can: two helicopters whose rotor discs overlap.) So do two long boxes on one axis
    (within AXIS_AGREE_DEG, less than half the narrower width across it) whose centres lie
    less than half the shorter length apart along it: one hull, seen twice with the
    centre slid along it, which is where the detector errs on a ship. Two real hulls on one
    axis, bow to stern, are at least the shorter length apart.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    n = len(boxes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    key = np.asarray(priority if priority is not None else scores, dtype=np.float64)
    order = np.argsort(-key, kind="stable")
    # Candidate pairs from an R-tree, so memory grows with the overlaps, not with N squared.
    polys = polygons(boxes)
    left, right = shapely.STRtree(polys).query(polys, predicate="intersects")
    off_diagonal = left != right
    left, right = left[off_diagonal], right[off_diagonal]
    if classes is not None:
        cls = np.asarray(classes)
        same = cls[left] == cls[right]
        left, right = left[same], right[same]
    inter = shapely.area(shapely.intersection(polys[left], polys[right]))
    union = boxes[left, 2] * boxes[left, 3] + boxes[right, 2] * boxes[right, 3] - inter
    overlapping = inter / np.maximum(union, 1e-12) > iou_threshold
    if shared_centres:
        long_ = boxes[:, 2] >= 2.0 * boxes[:, 3]
        gap = np.hypot(boxes[left, 0] - boxes[right, 0], boxes[left, 1] - boxes[right, 1])
        both_long = long_[left] & long_[right]
        overlapping |= both_long & (gap < np.minimum(boxes[left, 3], boxes[right, 3]))
        h = np.radians(boxes[left, 4])
        dx, dy = boxes[right, 0] - boxes[left, 0], boxes[right, 1] - boxes[left, 1]
        along = np.abs(dx * np.sin(h) + dy * np.cos(h))
        across = np.abs(dx * np.cos(h) - dy * np.sin(h))
        on_one_axis = heading_error(boxes[left, 4], boxes[right, 4], directed=False) <= AXIS_AGREE_DEG
        overlapping |= (both_long & on_one_axis & (across < 0.5 * np.minimum(boxes[left, 3], boxes[right, 3]))
                        & (along < 0.5 * np.minimum(boxes[left, 2], boxes[right, 2])))
    left, right = left[overlapping], right[overlapping]
    by_box = np.argsort(left, kind="stable")
    left, right = left[by_box], right[by_box]
    starts = np.searchsorted(left, np.arange(n + 1))
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed[right[starts[i]:starts[i + 1]]] = True
    return np.array(keep, dtype=np.int64)


def heading_from_vector(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Heading (clockwise from north, [0, 360)) of map-space direction vectors."""
    return np.mod(np.degrees(np.arctan2(dx, dy)), 360.0)


def circle_radius(length: float, width: float) -> float:
    return math.hypot(length, width) / 2.0
