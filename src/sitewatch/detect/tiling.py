"""Tiles over a scene and the merge of per-tile detections across seams.

A scene of W x H pixels (at the model GSD) is covered by tiles of `size` pixels that
overlap by `overlap` pixels; the last row and column of tiles are pulled back inside the
scene rather than padded, so every tile is full unless the scene is smaller than a tile.
A model whose output depends on where an object falls on its stride grid (a YOLO export)
asks for tile origins on multiples of its stride (`align`); the last tile then starts on
the first such multiple that reaches the scene's end, and may be up to align - 1 pixels short.

Seams: a box cut by a tile edge is predicted from a partial view, and the tile next to it
sees the whole object. The merge keeps, among overlapping same-class boxes, the one whose
box lies farthest inside its own tile (edges on the scene border do not count as seams),
breaking ties by score. That way one object yields one detection, taken from the tile
that saw it whole.

`merge_seams` is the merge for models that suppress their own duplicates within a tile
(YOLO exports, `detect.yolo_obb`): it only ever removes a box for a box of another tile,
so a single-tile image keeps exactly what the model kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from sitewatch.detect import geometry
from sitewatch.detect.model import RawDetections
from sitewatch.detect.probiou import probiou_pairs, xywhr

# A box that touches a seam and has its centre inside, or lies mostly (this share of its
# area) inside, a box kept from another tile is the cut-off view of that object, whatever
# their IoU.
CUT_CONTAINED = 0.6
# Class-agnostic suppression of one object detected as two classes (an aircraft also
# taken for a helicopter): only near-identical boxes.
CROSS_CLASS_IOU = 0.7


@dataclass(frozen=True)
class Tile:
    col: int
    row: int
    width: int
    height: int


def tile_origins(length: int, size: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets along one axis, all multiples of `align`: a step of size - overlap
    (rounded down to a multiple of `align`), the last tile reaching the end."""
    if length <= size:
        return [0]
    step = max(align, (size - overlap) // align * align)
    starts = list(range(0, length - size, step))
    starts.append(-(-(length - size) // align) * align)
    return sorted(set(starts))


def plan_tiles(width: int, height: int, size: int, overlap: int, align: int = 1) -> list[Tile]:
    if overlap >= size:
        raise ValueError(f"tile overlap {overlap} must be smaller than the tile size {size}")
    if align < 1 or align > size:
        raise ValueError(f"tile alignment {align} must be between 1 and the tile size {size}")
    return [Tile(c, r, min(size, width - c), min(size, height - r))
            for r in tile_origins(height, size, overlap, align) for c in tile_origins(width, size, overlap, align)]


def edge_margin(boxes: np.ndarray, tile: Tile, scene_w: int, scene_h: int) -> np.ndarray:
    """For scene-pixel boxes found in `tile`: the smallest distance (pixels) from any box
    corner to a tile edge that is a seam (not the scene border); negative when a corner lies
    beyond the seam, a large number when the tile has no seams."""
    c = geometry.corners(boxes, y_down=True)
    big = 1e9
    dist = np.full(len(boxes), big)
    if tile.col > 0:
        dist = np.minimum(dist, (c[:, :, 0] - tile.col).min(axis=1))
    if tile.col + tile.width < scene_w:
        dist = np.minimum(dist, (tile.col + tile.width - c[:, :, 0]).min(axis=1))
    if tile.row > 0:
        dist = np.minimum(dist, (c[:, :, 1] - tile.row).min(axis=1))
    if tile.row + tile.height < scene_h:
        dist = np.minimum(dist, (tile.row + tile.height - c[:, :, 1]).min(axis=1))
    return dist


def merge(dets: RawDetections, margins: np.ndarray, nms_iou: float, overlap: int) -> RawDetections:
    """One detection per object across tiles (see the module doc)."""
    if len(dets) == 0:
        return dets
    # Boxes well inside their tile (at least half the overlap from a seam) rank by score;
    # boxes closer to a seam rank below them in proportion to how close they come.
    room = np.clip(margins / max(1.0, overlap / 2.0), -1.0, 1.0)
    priority = np.where(room >= 1.0, 2.0 + dets.score, room + dets.score)
    up = geometry.y_up(dets.boxes)
    keep = geometry.rotated_nms(up, dets.score, nms_iou, classes=dets.cls, priority=priority, shared_centres=True)
    dets, priority, margins, up = dets.take(keep), priority[keep], margins[keep], up[keep]
    keep = np.sort(geometry.rotated_nms(up, dets.score, CROSS_CLASS_IOU, priority=priority))
    dets, margins, up = dets.take(keep), margins[keep], up[keep]
    return dets.take(_drop_cut_views(dets, up, margins))


def _drop_cut_views(dets: RawDetections, up: np.ndarray, margins: np.ndarray) -> np.ndarray:
    """Indices to keep after removing seam-touching boxes contained in a whole one."""
    cut = np.nonzero(margins <= 1.0)[0]
    whole = np.nonzero(margins > 1.0)[0]
    if len(cut) == 0 or len(whole) == 0:
        return np.arange(len(dets))
    share = geometry.intersection_share(up[cut], up[whole])
    polys = geometry.polygons(up[whole])
    centre_in = np.array([[shapely.contains_xy(p, x, y) for p in polys] for x, y in up[cut, :2]], bool)
    same = dets.cls[cut][:, None] == dets.cls[whole][None, :]
    drop = cut[(same & ((share >= CUT_CONTAINED) | centre_in)).any(axis=1)]
    return np.setdiff1d(np.arange(len(dets)), drop)


def merge_seams(dets: RawDetections, margins: np.ndarray, tile_ids: np.ndarray, iou: float) -> RawDetections:
    """One detection per object seen by two tiles, for models that ran their own NMS within
    each tile (see the module doc). Two same-class boxes from different tiles are one object
    when they overlap at a probabilistic IoU of `iou` or more, or when one is cut by a seam
    and has its centre in, or lies mostly in, the other, whole, one. Whole views are kept
    before cut ones, then higher scores before lower."""
    if len(dets) == 0 or len(np.unique(tile_ids)) < 2:
        return dets
    whole = margins > 1.0
    up = geometry.y_up(dets.boxes)
    polys = geometry.polygons(up)
    a, b = shapely.STRtree(polys).query(polys, predicate="intersects")
    pair = (tile_ids[a] != tile_ids[b]) & (dets.cls[a] == dets.cls[b])
    a, b = a[pair], b[pair]
    rw = xywhr(dets.boxes)
    one = probiou_pairs(rw[a], rw[b]) >= iou
    inter = shapely.area(shapely.intersection(polys[a], polys[b]))
    for cut, other in ((a, b), (b, a)):
        inside = (inter / np.maximum(up[cut, 2] * up[cut, 3], 1e-12) >= CUT_CONTAINED) | shapely.contains_xy(
            polys[other], up[cut, 0], up[cut, 1])
        one |= ~whole[cut] & whole[other] & inside
    a, b = a[one], b[one]
    by_box = np.argsort(a, kind="stable")
    a, b = a[by_box], b[by_box]
    starts = np.searchsorted(a, np.arange(len(dets) + 1))
    dropped = np.zeros(len(dets), dtype=bool)
    kept = []
    for i in np.lexsort((-dets.score, ~whole)):
        if not dropped[i]:
            kept.append(i)
            dropped[b[starts[i]:starts[i + 1]]] = True
    return dets.take(np.sort(np.array(kept, dtype=np.int64)))
