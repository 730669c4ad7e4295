"""Zone geometry on the pixel grid: outlines, oriented frames and per-pixel frame coords."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from sitewatch.domain import SiteGrid
from sitewatch.simulate.render.raster import SHIFT, to_cv


@dataclass(frozen=True)
class Frame:
    """A zone's oriented frame: centre (map m), unit long axis (map), long and short sides."""

    cx: float
    cy: float
    ax: float
    ay: float
    length: float
    width: float


def poly_px(grid: SiteGrid, poly_xy) -> np.ndarray:
    p = np.asarray(poly_xy, float)
    return np.stack([(p[:, 0] - grid.origin_x) / grid.gsd_m, (grid.origin_y - p[:, 1]) / grid.gsd_m], axis=1)


def frame_of(poly_xy) -> Frame:
    p64 = np.asarray(poly_xy, float)
    mx, my = p64[:, 0].mean(), p64[:, 1].mean()
    (cx, cy), (w, h), ang = cv2.minAreaRect((p64 - (mx, my)).astype(np.float32))  # centred: float32 keeps mm
    cx, cy = cx + mx, cy + my
    t = math.radians(ang)
    ux, uy = math.cos(t), math.sin(t)  # direction of side "w"
    if h > w:
        ux, uy = -uy, ux
        w, h = h, w
    return Frame(float(cx), float(cy), ux, uy, float(w), float(h))


def window(pp: np.ndarray, shape: tuple[int, int], pad: int = 1) -> tuple[slice, slice] | None:
    c0 = max(int(math.floor(pp[:, 0].min())) - pad, 0)
    r0 = max(int(math.floor(pp[:, 1].min())) - pad, 0)
    c1 = min(int(math.ceil(pp[:, 0].max())) + pad, shape[1])
    r1 = min(int(math.ceil(pp[:, 1].max())) + pad, shape[0])
    if c1 <= c0 or r1 <= r0:
        return None
    return slice(r0, r1), slice(c0, c1)


def mask_in(pp: np.ndarray, win: tuple[slice, slice], antialias: bool = True) -> np.ndarray:
    """Float32 0..1 cover of a pixel-space polygon inside a window."""
    rs, cs = win
    m = np.zeros((rs.stop - rs.start, cs.stop - cs.start), np.uint8)
    cv2.fillPoly(m, [to_cv(pp, 1.0, (cs.start, rs.start))], 255, cv2.LINE_AA if antialias else cv2.LINE_8, SHIFT)
    return m.astype(np.float32) * np.float32(1.0 / 255.0)


def frame_coords(grid: SiteGrid, win: tuple[slice, slice], f: Frame) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) metres of each window pixel centre along and across the frame's long axis."""
    rs, cs = win
    x = (grid.origin_x + (np.arange(cs.start, cs.stop, dtype=np.float64) + 0.5) * grid.gsd_m - f.cx)[None, :]
    y = (grid.origin_y - (np.arange(rs.start, rs.stop, dtype=np.float64) + 0.5) * grid.gsd_m - f.cy)[:, None]
    a = (x * f.ax + y * f.ay).astype(np.float32)
    b = (-x * f.ay + y * f.ax).astype(np.float32)
    return a, b


def frame_point(f: Frame, a: float, b: float) -> tuple[float, float]:
    return f.cx + a * f.ax - b * f.ay, f.cy + a * f.ay + b * f.ax


def frame_rect(f: Frame, a0: float, a1: float, b0: float, b1: float) -> list[tuple[float, float]]:
    return [frame_point(f, a0, b0), frame_point(f, a1, b0), frame_point(f, a1, b1), frame_point(f, a0, b1)]


def paint(img: np.ndarray, win: tuple[slice, slice], cover: np.ndarray, colour) -> None:
    """img[win] = img * (1 - cover) + colour * cover; colour is an RGB triple or (h, w, 3)."""
    sub = img[win]
    c3 = cover[..., None]
    sub *= 1.0 - c3
    sub += np.asarray(colour, np.float32) * c3
