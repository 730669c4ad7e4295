"""Probabilistic IoU and the non-maximum suppression YOLO oriented-box models are trained
for, so that a bring-your-own model keeps the boxes its own tool (Ultralytics) keeps.

Each box (cx, cy, w, h, r: the w side along (cos r, sin r), radians) is read as a 2-D
Gaussian with the covariance of a uniform rectangle (w^2 / 12, h^2 / 12, turned by r). The
overlap of two boxes is 1 minus the Hellinger distance of their Gaussians, taken from the
Bhattacharyya distance (Llerena et al., 2021, arXiv:2106.06072). Unlike polygon IoU it
is smooth and cheap, and it is what the model's duplicates were tuned against.

The suppression is "fast NMS": candidates sorted by score, and a candidate is dropped when
any higher-scored candidate of its class overlaps it at `iou` or more, even one that was
itself dropped. It is not greedy NMS, and the difference is what Ultralytics does.
"""

from __future__ import annotations

import numpy as np
import shapely

EPS = 1e-7
# Pairs compared at once: BLOCK x BLOCK keeps memory bounded.
BLOCK = 512


def _covariance(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b, r = boxes[..., 2] ** 2 / 12.0, boxes[..., 3] ** 2 / 12.0, boxes[..., 4]
    cos, sin = np.cos(r), np.sin(r)
    return a * cos ** 2 + b * sin ** 2, a * sin ** 2 + b * cos ** 2, (a - b) * cos * sin


def _probiou(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Probabilistic IoU of xywhr boxes in broadcastable (..., 5) arrays."""
    a1, b1, c1 = _covariance(p)
    a2, b2, c2 = _covariance(q)
    dx, dy = p[..., 0] - q[..., 0], p[..., 1] - q[..., 1]
    sa, sb, sc = a1 + a2, b1 + b2, c1 + c2
    det = sa * sb - sc ** 2
    shift = (sa * dy ** 2 + sb * dx ** 2) / (det + EPS) * 0.25 + (sc * -dx * dy) / (det + EPS) * 0.5
    spread = 0.5 * np.log(det / (4.0 * np.sqrt(np.clip(a1 * b1 - c1 ** 2, 0, None)
                                               * np.clip(a2 * b2 - c2 ** 2, 0, None)) + EPS) + EPS)
    bhattacharyya = np.clip(shift + spread, EPS, 100.0)
    return 1.0 - np.sqrt(1.0 - np.exp(-bhattacharyya) + EPS)


def probiou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """(N, M) probabilistic IoU of (N, 5) and (M, 5) xywhr boxes (pixels, radians)."""
    p = np.asarray(boxes1, dtype=np.float64).reshape(-1, 5)
    q = np.asarray(boxes2, dtype=np.float64).reshape(-1, 5)
    return _probiou(p[:, None, :], q[None, :, :])


def probiou_pairs(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """(N,) probabilistic IoU of each box of `boxes1` with the box in the same row of `boxes2`."""
    return _probiou(np.asarray(boxes1, dtype=np.float64).reshape(-1, 5),
                    np.asarray(boxes2, dtype=np.float64).reshape(-1, 5))


def xywhr(boxes: np.ndarray) -> np.ndarray:
    """Pixel-space (N, 5) boxes (length along a heading clockwise from image up) as xywhr
    boxes: the w side along (cos r, sin r) on screen is the length, so r = heading - 90."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    return np.column_stack([b[:, :4], np.radians(b[:, 4] - 90.0)])


def _reach(iou: float, boxes: np.ndarray) -> np.ndarray:
    """A radius per box beyond which no box overlaps it at `iou`: the overlap needs a
    Bhattacharyya distance of at most -ln(1 - (1 - iou)^2), and that distance is at least
    |centre gap|^2 / 4 over the sum of the two covariances' largest variances (the other
    term is never negative). Two boxes can overlap only if their gap is under the larger
    of their two radii."""
    most = max(0.0, float(-np.log(max(1.0 - (1.0 - iou) ** 2 + EPS, EPS))))
    variance = np.maximum(boxes[:, 2], boxes[:, 3]) ** 2 / 12.0
    return np.sqrt(8.0 * most * variance) * 1.05 + 1e-6  # 5% to spare, for rounding


def fast_nms(boxes: np.ndarray, scores: np.ndarray, iou: float, classes: np.ndarray | None = None) -> np.ndarray:
    """Indices of the boxes kept (see the module doc), highest score first. Boxes of
    different `classes` never suppress each other. Only pairs close enough to overlap
    (`_reach`) are compared, so time and memory grow with the overlaps, not N squared."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    n = len(boxes)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    boxes = boxes[order]  # from here on a box's index is its rank
    reach = _reach(iou, boxes)
    centres = shapely.points(boxes[:, :2])
    a, b = shapely.STRtree(centres).query(centres, predicate="dwithin", distance=reach)
    # The higher-scored box of a pair first: only it can suppress the other. A pair found
    # from both ends stays twice (dropping a box twice is dropping it once); taking out the
    # repeats cost more than comparing them (np.unique took most of this call's time).
    other = a != b
    i, j = np.minimum(a, b)[other], np.maximum(a, b)[other]
    gap = np.hypot(boxes[i, 0] - boxes[j, 0], boxes[i, 1] - boxes[j, 1])
    near = gap <= np.maximum(reach[i], reach[j])
    if classes is not None:
        cls = np.asarray(classes)[order]
        near &= cls[i] == cls[j]
    i, j = i[near], j[near]
    dropped = np.zeros(n, dtype=bool)
    for start in range(0, len(i), BLOCK * BLOCK):
        part = slice(start, start + BLOCK * BLOCK)
        hit = probiou_pairs(boxes[i[part]], boxes[j[part]]) >= iou
        dropped[j[part][hit]] = True
    return order[~dropped]
