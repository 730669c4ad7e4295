"""Where equipment stands inside a zone: deterministic placement from a seed.

Two patterns, both overlap-free against everything already on the ground (in any zone):

- rows (aprons, helipads, parking, shelter areas, berths): a zone frame with `v` pointing
  to the zone's front, rows of nose lines stepping back from the front edge at a fixed
  pitch (the longest item the zone will ever hold plus the spacing), items side by side
  along `u`. Aircraft, helicopters and vehicles stand abreast with noses towards the
  front; ships lie in line along the berth, bow either way.
- ring (air-defence sites): radars near the middle, launchers and other vehicles on rings
  around them, facing outwards.

The search runs on a 1 m occupancy raster in the zone frame (free = fully inside the zone
and clear of every other footprint plus spacing), so a zone of a few hundred metres costs
milliseconds per item.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from shapely.geometry import Polygon
from shapely.prepared import prep

from sitewatch.domain import OrientedBox, Zone

CELL_M = 1.0  # occupancy raster resolution in the zone frame
SPACING_M = {"aircraft": 8.0, "helicopter": 6.0, "vehicle": 3.0, "air_defence": 4.0, "ship": 12.0}
HEADING_JITTER_DEG = {"aircraft": 1.5, "helicopter": 4.0, "vehicle": 3.0, "air_defence": 3.0, "ship": 0.5}
GAP_PROBABILITY = 0.2  # chance that an item leaves an empty slot before it in its row


class NoRoom(Exception):
    """The zone has no free place for an item of this size."""


@dataclass(frozen=True)
class Frame:
    """A zone frame: origin, `u` along the rows, `v` towards the front (unit vectors, site CRS)."""

    ox: float
    oy: float
    ux: float
    uy: float
    vx: float
    vy: float

    def to_frame(self, pts: np.ndarray) -> np.ndarray:
        d = np.asarray(pts, float) - (self.ox, self.oy)
        return np.stack([d @ (self.ux, self.uy), d @ (self.vx, self.vy)], axis=-1)

    def to_map(self, u: float, v: float) -> tuple[float, float]:
        return self.ox + u * self.ux + v * self.vx, self.oy + u * self.uy + v * self.vy

    @property
    def v_heading_deg(self) -> float:
        return math.degrees(math.atan2(self.vx, self.vy)) % 360.0

    @property
    def u_heading_deg(self) -> float:
        return math.degrees(math.atan2(self.ux, self.uy)) % 360.0


def _unit(deg: float) -> tuple[float, float]:
    r = math.radians(deg)
    return math.sin(r), math.cos(r)


def zone_frame(zone: Zone, site_xy: tuple[float, float], facing_deg: float | None, inline: bool,
               front_deg: float | None = None) -> Frame:
    """The frame rows are laid in; rows fill from the front edge (`v` points to it).

    Abreast (aircraft): `v` = facing_deg if given; else perpendicular to the zone's long
    axis, on the side front_deg points to (default: the side facing the site point). In
    line (ships): `u` = facing_deg if given, else the long axis; `v` across it, on the
    side front_deg points to (a berth's quay), by default the side facing the site point.
    """
    poly = Polygon(zone.polygon)
    c = poly.centroid
    rect = np.asarray(poly.minimum_rotated_rectangle.exterior.coords)[:4]
    e1, e2 = rect[1] - rect[0], rect[2] - rect[1]
    long_axis = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
    long_axis = long_axis / max(np.hypot(*long_axis), 1e-12)
    front = np.array(_unit(front_deg)) if front_deg is not None else np.array([site_xy[0] - c.x, site_xy[1] - c.y])

    def to_front(vec: np.ndarray) -> np.ndarray:
        return -vec if float(vec @ front) < 0 else vec

    if not inline:
        if facing_deg is not None:
            v = np.array(_unit(facing_deg))
        else:
            v = to_front(np.array([-long_axis[1], long_axis[0]]))
        u = np.array([v[1], -v[0]])  # v turned 90 degrees clockwise
    else:
        u = np.array(_unit(facing_deg)) if facing_deg is not None else long_axis
        v = to_front(np.array([-u[1], u[0]]))
    return Frame(float(c.x), float(c.y), float(u[0]), float(u[1]), float(v[0]), float(v[1]))


def _grow(b: OrientedBox, margin: float) -> OrientedBox:
    return OrientedBox(b.cx, b.cy, b.length + 2 * margin, b.width + 2 * margin, b.heading_deg)


class RowPlacer:
    """Places items one at a time in rows inside one zone, avoiding `occupied` boxes."""

    def __init__(self, zone: Zone, frame: Frame, row_pitch_m: float, inline: bool):
        self.frame = frame
        self.inline = inline
        fp = frame.to_frame(np.asarray(zone.polygon))
        self.u0, self.v1 = float(fp[:, 0].min()), float(fp[:, 1].max())
        nu = int(math.ceil((fp[:, 0].max() - self.u0) / CELL_M))
        nv = int(math.ceil((self.v1 - fp[:, 1].min()) / CELL_M))
        self.shape = (max(nv, 1), max(nu, 1))
        inside = np.zeros(self.shape, np.uint8)
        cv2.fillPoly(inside, [self._cells(fp)], 1, lineType=cv2.LINE_8, shift=4)
        # a cell counts as inside only if its neighbours are too: the zone edge is never crossed
        inside = cv2.erode(inside, np.ones((3, 3), np.uint8), borderValue=0)
        self.outside = (inside == 0).astype(np.uint8)
        rows_inside = np.flatnonzero(inside.any(axis=1))
        self.front_row = int(rows_inside[0]) if rows_inside.size else 0
        self.pitch_cells = max(1, int(math.ceil(row_pitch_m / CELL_M)))

    def _cells(self, fp: np.ndarray) -> np.ndarray:
        col = (fp[:, 0] - self.u0) / CELL_M
        row = (self.v1 - fp[:, 1]) / CELL_M
        return np.round(np.stack([col, row], axis=-1) * 16).astype(np.int32)

    def _blocked(self, occupied: list[tuple[OrientedBox, float]], own_margin: float) -> np.ndarray:
        blocked = self.outside.copy()
        for b, margin in occupied:
            fp = self.frame.to_frame(np.asarray(_grow(b, margin + own_margin).corners()))
            # one call per box: fillPoly with several contours would leave their overlaps as holes
            cv2.fillPoly(blocked, [self._cells(fp)], 1, lineType=cv2.LINE_8, shift=4)
        return blocked

    def place(self, length: float, width: float, spacing: float, occupied: list[tuple[OrientedBox, float]],
              rng: np.random.Generator, jitter_deg: float) -> OrientedBox:
        """A box for an item of this footprint; raises NoRoom. `occupied` holds every box
        already on the ground with the spacing it demands around itself."""
        jitter = float(np.clip(rng.normal(0.0, jitter_deg / 2.0), -jitter_deg, jitter_deg))
        eu, ev = (length, width) if self.inline else (width, length)
        # the window is the footprint itself, turned by its jitter: items may touch the zone's
        # edge (a ship its quay, a nose line the taxiway); neighbours are grown by both items'
        # half spacings
        cj, sj = abs(math.cos(math.radians(jitter))), abs(math.sin(math.radians(jitter)))
        eu, ev = eu * cj + ev * sj, ev * cj + eu * sj
        wu = int(math.ceil(eu / CELL_M)) + 1
        wv = int(math.ceil(ev / CELL_M)) + 1
        nv, nu = self.shape
        if wu > nu or wv > nv:
            raise NoRoom
        blocked = self._blocked(occupied, spacing / 2.0)
        s = np.zeros((nv + 1, nu + 1), np.int64)
        s[1:, 1:] = blocked.cumsum(0).cumsum(1)
        win = s[wv:, wu:] - s[:-wv, wu:] - s[wv:, :-wu] + s[:-wv, :-wu]
        free = win == 0
        rows = [r for r in range(self.front_row, free.shape[0], self.pitch_cells) if free[r].any()]
        if not rows:  # nothing on the row lines: take any free place, front first
            rows = [int(r) for r in np.flatnonzero(free.any(axis=1))[:1]]
        if not rows:
            raise NoRoom
        r = rows[0]
        cols = np.flatnonzero(free[r])
        c = int(cols[0])
        if rng.random() < GAP_PROBABILITY:
            later = cols[cols >= c + wu + int(rng.integers(0, wu))]
            if later.size:
                c = int(later[0])
        u = self.u0 + (c + wu / 2.0) * CELL_M
        v = self.v1 - (r + wv / 2.0) * CELL_M
        cx, cy = self.frame.to_map(u, v)
        if self.inline:
            heading = self.frame.u_heading_deg + (180.0 if rng.random() < 0.5 else 0.0)
        else:
            heading = self.frame.v_heading_deg
        return OrientedBox(cx, cy, length, width, heading + jitter)


def place_in_ring(zone: Zone, length: float, width: float, spacing: float, centre_first: bool,
                  occupied: list[tuple[OrientedBox, float]], rng: np.random.Generator,
                  jitter_deg: float) -> OrientedBox:
    """A box on rings around the zone's centre (radars: at the centre first), heading
    outwards; raises NoRoom."""
    poly = Polygon(zone.polygon)
    inside = prep(poly)
    c = poly.centroid
    obstacles = [Polygon(_grow(b, m).corners()) for b, m in occupied]
    radius_max = max(math.hypot(x - c.x, y - c.y) for x, y in zone.polygon)
    step = max(length, width) + spacing
    start = float(rng.uniform(0.0, 360.0))
    radii = ([0.0] if centre_first else []) + [float(r) for r in np.arange(step, radius_max, step * 0.75)]
    for radius in radii:
        n = 1 if radius == 0 else max(4, int(2 * math.pi * radius / (width + spacing + 2.0)))
        for k in range(n):
            ang = start + 360.0 * k / n
            ux, uy = _unit(ang)
            cx, cy = float(c.x + radius * ux), float(c.y + radius * uy)
            jitter = float(np.clip(rng.normal(0.0, jitter_deg / 2.0), -jitter_deg, jitter_deg))
            heading = (ang if radius > 0 else start) + jitter
            cand = OrientedBox(cx, cy, length, width, heading)
            shape = Polygon(_grow(cand, spacing / 2.0).corners())
            if inside.contains(shape) and not any(shape.intersects(o) for o in obstacles):
                return cand
    raise NoRoom
