"""Which way the shadows fall in an image, measured from its pixels around the items found
in it, and whether that matches the sun of the image's stated time and place.

The measurement is a matched filter on each item's own outline: an item standing in the sun
darkens the ground on its far side, so the ground just beyond its box, swept out by moving
the box a metre or few in a direction, is darkest in the direction its shadow falls. For
each item and each direction (every 5 degrees) the mean brightness of that swept ground
(the box moved 1, 2 and 3.5 m, minus the box itself and every other item's box) is read
from two box correlations of the image; its contrast against the item's median direction is
the item's profile. The profiles of all items are summed, each clipped so that one item in
a building's shadow cannot outvote the rest; the darkest direction, refined by a parabola,
is the shadow's direction, the sun's azimuth is opposite it, and a bootstrap over the items
gives its spread.

Limits: it needs five or more items standing on ground lighter than their shadows (not on
water, not under cloud, not in a shelter), most of them agreeing (`ShadowMeasure.usable`):
about a third of the simulated images in bench/bench_shadow_check.py. The box is not the
item's outline: an aircraft's nose and tail shadows leave its box at the ends, its wings'
rarely at the sides, so items of one heading pull the estimate towards their axis (errors to
about 45 degrees on simulated scenes, 8 at the median); other items' boxes and their ground
edges (an apron's rim) add clutter. Only the ground outside all boxes counts; with
the sun high (above about 75 degrees) shadows are a pixel or two long and the direction is
poorly defined, so the check is left out there; radar images have no sun shadows.

The elevation comes from the shadows' lengths (`shadow_reaches`, `measure_sun_elevation`):
how far beyond each box, along the measured direction, the ground stays darker than half its
darkness just beside the box, against each type's height as this measure sees it
(SHADOW_HEIGHT_M, fitted on simulated scenes: the catalogue holds no heights). Only shadows
too short for the stated sun flag an image (a shadow running onto dark ground or into a
neighbour's reads long), and a shadow that runs into another item's box is not measured.
Directions are on the image's grid (grid north up), as `sun.sun_on_grid` states the
computed sun.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import cv2
import numpy as np

from sitewatch.domain import Detection, Image, OrientedBox, SiteGrid
from sitewatch.geo.sun import angle_between, sun_over_grid_point

STEP_DEG = 5.0
SHIFTS_M = (1.0, 2.0, 3.5)  # how far each box is moved to sweep the ground beside it
CLIP = 0.35  # an item's contrast counts at most this much in any direction
# Fewer items than this, or fewer of them than this fraction pointing within 30 degrees of
# the estimate on their own, and the shadows are taken as not measured: on simulated scenes
# most large errors came from three or four items, or from items that disagreed.
MIN_ITEMS = 5
MIN_AGREEING = 0.6
BOOTSTRAP = 200
# The spread (bootstrap standard deviation, degrees) above which the shadows are taken as
# not measured.
MAX_SPREAD_DEG = 15.0


@dataclass(frozen=True)
class ShadowMeasure:
    """The sun's azimuth as the shadows in an image show it (clockwise from grid north,
    degrees), its bootstrap spread (degrees), how many items it rests on and how many of
    them point within 30 degrees of it on their own."""

    sun_azimuth_deg: float
    spread_deg: float
    items: int
    agreeing: int

    @property
    def usable(self) -> bool:
        """Enough items, agreeing enough, for a check (MIN_ITEMS, MIN_AGREEING, MAX_SPREAD_DEG)."""
        return (self.items >= MIN_ITEMS and self.agreeing >= MIN_AGREEING * self.items
                and self.spread_deg <= MAX_SPREAD_DEG)

    @property
    def shadow_azimuth_deg(self) -> float:
        return (self.sun_azimuth_deg + 180.0) % 360.0


def _luminance(pixels: np.ndarray) -> np.ndarray:
    a = np.asarray(pixels, np.float32)
    return a.mean(axis=2) if a.ndim == 3 else a


def _box_px(grid: SiteGrid, box: OrientedBox) -> np.ndarray:
    return np.array([grid.to_pixel(x, y) for x, y in box.corners()], np.float32)


def item_profiles(pixels: np.ndarray, grid: SiteGrid, boxes: Sequence[OrientedBox]) -> tuple[np.ndarray, np.ndarray]:
    """Each item's darkness profile over the directions (rows: items that could be measured;
    columns: shadow directions 0, STEP_DEG, ... clockwise from grid north), and the index of
    each row's item in `boxes`."""
    h, w = pixels.shape[:2]
    gsd = grid.gsd_m
    angles = np.radians(np.arange(0.0, 360.0, STEP_DEG))
    reach = int(math.ceil(max(SHIFTS_M) / gsd)) + 2
    polys = [_box_px(grid, b) for b in boxes]
    lows, highs = [p.min(axis=0) for p in polys], [p.max(axis=0) for p in polys]
    rows, kept = [], []
    for k, p in enumerate(polys):
        c0, r0 = np.floor(lows[k]).astype(int)
        c1, r1 = np.ceil(highs[k]).astype(int)
        if c1 - c0 < 2 or r1 - r0 < 2:
            continue
        x0, y0, x1, y1 = c0 - reach, r0 - reach, c1 + reach + 1, r1 + reach + 1
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            continue
        kern = np.zeros((r1 - r0 + 1, c1 - c0 + 1), np.float32)
        cv2.fillPoly(kern, [np.round(p - [c0, r0]).astype(np.int32)], 1.0)
        if kern.sum() < 4:
            continue
        crop = _luminance(pixels[y0:y1, x0:x1])
        # Every item's box, one pixel wider, is not ground; nor is no data.
        filled = np.zeros(crop.shape, np.uint8)
        for j, q in enumerate(polys):
            if lows[j][0] <= x1 and lows[j][1] <= y1 and highs[j][0] >= x0 and highs[j][1] >= y0:
                cv2.fillPoly(filled, [np.round(q - [x0, y0]).astype(np.int32)], 1)
        items = np.asarray(cv2.dilate(filled, np.ones((3, 3), np.uint8)))
        ground = ((items == 0) & (crop > 0)).astype(np.float32)
        anchor = (0, 0)
        total = cv2.filter2D(crop * ground, cv2.CV_32F, kern, anchor=anchor, borderType=cv2.BORDER_CONSTANT)
        count = cv2.filter2D(ground, cv2.CV_32F, kern, anchor=anchor, borderType=cv2.BORDER_CONSTANT)
        # total[y, x]: the ground's brightness under the box moved so its window starts at
        # (x, y); unmoved it starts at (reach, reach) of the crop.
        prof = np.zeros(len(angles), np.float32)
        ok = True
        for s in SHIFTS_M:
            dx = np.sin(angles) * s / gsd  # east: +col
            dy = -np.cos(angles) * s / gsd  # north: -row
            xs, ys = reach + dx, reach + dy
            num = _bilinear(total, xs, ys)
            den = _bilinear(count, xs, ys)
            if np.any(den < 1.0):
                ok = False
                break
            prof += num / den
        if not ok:
            continue
        prof /= len(SHIFTS_M)
        med = float(np.median(prof))
        if med <= 1.0:
            continue
        rows.append(1.0 - prof / med)
        kept.append(k)
    if not rows:
        return np.zeros((0, len(angles)), np.float32), np.zeros(0, int)
    return np.asarray(rows, np.float32), np.asarray(kept, int)


def _bilinear(a: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    return ((a[y0, x0] * (1 - fx) + a[y0, x0 + 1] * fx) * (1 - fy)
            + (a[y0 + 1, x0] * (1 - fx) + a[y0 + 1, x0 + 1] * fx) * fy)


def _peak(profile: np.ndarray) -> float:
    """The direction (degrees) of a circular profile's maximum, refined by a parabola."""
    n = len(profile)
    i = int(np.argmax(profile))
    a, b, c = profile[(i - 1) % n], profile[i], profile[(i + 1) % n]
    den = a - 2 * b + c
    off = 0.0 if den == 0 else 0.5 * (a - c) / den
    return float(((i + max(-0.5, min(0.5, off))) * STEP_DEG) % 360.0)


def _smooth(profile: np.ndarray) -> np.ndarray:
    return (np.roll(profile, 1, axis=-1) + 2 * profile + np.roll(profile, -1, axis=-1)) / 4.0


def _circular_std(deg: np.ndarray) -> float:
    r = float(np.hypot(np.cos(np.radians(deg)).mean(), np.sin(np.radians(deg)).mean()))
    return math.degrees(math.sqrt(-2.0 * math.log(min(max(r, 1e-9), 1.0))))


def measure_shadows(pixels: np.ndarray, grid: SiteGrid, boxes: Sequence[OrientedBox],
                    seed: int = 0) -> ShadowMeasure | None:
    """The sun's azimuth from the shadows beside the items in `boxes` (site CRS) on an image
    on `grid` (H x W x bands, 0 = no data); None with fewer than MIN_ITEMS measurable items."""
    prof, _ = item_profiles(pixels, grid, boxes)
    if len(prof) < MIN_ITEMS:
        return None
    votes = np.clip(_smooth(prof), -CLIP, CLIP)
    shadow = _peak(votes.sum(axis=0))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(votes), size=(BOOTSTRAP, len(votes)))
    boot = np.array([_peak(votes[p].sum(axis=0)) for p in picks])
    own = np.array([_peak(v) for v in votes])
    agreeing = int(sum(angle_between(a, shadow) <= 30.0 for a in own))
    return ShadowMeasure((shadow + 180.0) % 360.0, _circular_std(boot), len(votes), agreeing)


# --- how long the shadows are: the sun's elevation ------------------------------------------

MAX_REACH_M = 40.0  # how far beyond an item's box its shadow is followed
REACH_BIN_M = 0.5
# An item whose ground just beyond its box, in the shadow's direction, is darkened less than
# this fraction of its sunlit side's brightness shows no shadow to measure.
MIN_NEAR_DARKNESS = 0.12


def shadow_reaches(pixels: np.ndarray, grid: SiteGrid, boxes: Sequence[OrientedBox],
                   shadow_azimuth_deg: float) -> np.ndarray:
    """How far (metres) each item's shadow reaches beyond its box in the direction
    `shadow_azimuth_deg` (clockwise from grid north): NaN where it could not be measured.

    Each ground pixel beside the item (not in any item's box, one pixel wider, and not no
    data) is given the distance the box must be moved along the shadow's direction to cover
    it; the ground's brightness in 1 m bins of that distance, against the same ground on the
    sunlit side, is the item's darkness curve, and the reach is where it first falls to half
    its value within 1 m of the box (MAX_REACH_M where it never does)."""
    h, w = pixels.shape[:2]
    gsd = grid.gsd_m
    lum = _luminance(pixels)
    a = math.radians(shadow_azimuth_deg)
    ux, uy = math.sin(a), -math.cos(a)  # pixels per pixel of travel: east +col, north -row
    steps = int(math.ceil(MAX_REACH_M / gsd))
    pad = steps + 2
    polys = [_box_px(grid, b) for b in boxes]
    lows, highs = [p.min(axis=0) for p in polys], [p.max(axis=0) for p in polys]
    nbins = int(round(MAX_REACH_M / REACH_BIN_M))
    out = np.full(len(boxes), np.nan)
    for k, p in enumerate(polys):
        c0, r0 = np.floor(lows[k]).astype(int)
        c1, r1 = np.ceil(highs[k]).astype(int)
        if c1 - c0 < 2 or r1 - r0 < 2:
            continue
        x0, y0 = max(c0 - pad, 0), max(r0 - pad, 0)
        x1, y1 = min(c1 + pad + 1, w), min(r1 + pad + 1, h)
        crop = lum[y0:y1, x0:x1]
        filled = np.zeros(crop.shape, np.uint8)
        for j, q in enumerate(polys):
            if lows[j][0] <= x1 and lows[j][1] <= y1 and highs[j][0] >= x0 and highs[j][1] >= y0:
                cv2.fillPoly(filled, [np.round(q - [x0, y0]).astype(np.int32)], 1)
        ground = (cv2.dilate(filled, np.ones((3, 3), np.uint8)) == 0) & (crop > 0)
        own = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(own, [np.round(p - [x0, y0]).astype(np.int32)], 1)
        others = (filled > 0) & ~(cv2.dilate(own, np.ones((3, 3), np.uint8)) > 0)
        curves = []
        blocked = MAX_REACH_M
        for sign in (1.0, -1.0):  # the shadow's side, then the sunlit side
            dist = np.full(crop.shape, np.inf, np.float32)
            for i in range(1, steps + 1):
                m = np.array([[1.0, 0.0, sign * ux * i], [0.0, 1.0, sign * uy * i]], np.float32)
                moved = cv2.warpAffine(own, m, (crop.shape[1], crop.shape[0]), flags=cv2.INTER_NEAREST) > 0
                if not moved.any():
                    break
                if sign > 0 and blocked == MAX_REACH_M and (moved & others).any():
                    blocked = i * gsd  # beyond here the ground is in another item's lee
                new = moved & ~np.isfinite(dist)
                dist[new] = i * gsd
            sel = ground & np.isfinite(dist)
            b = np.minimum(((dist[sel] - 1e-3) / REACH_BIN_M).astype(int), nbins - 1)
            n = np.bincount(b, minlength=nbins)
            t = np.bincount(b, weights=crop[sel], minlength=nbins)
            d = np.bincount(b, weights=dist[sel], minlength=nbins)
            curves.append((t, n, d))
        (ts, ns, ds), (tl, nl, _) = curves
        if nl.sum() < 10:
            continue
        lit = float(tl.sum() / nl.sum())
        filled_bins = np.flatnonzero(ns >= 2)
        if lit <= 1.0 or len(filled_bins) < 3:
            continue
        dark = 1.0 - (ts[filled_bins] / ns[filled_bins]) / lit
        at = ds[filled_bins] / ns[filled_bins]
        first = filled_bins[:2]
        near = float(1.0 - ts[first].sum() / ns[first].sum() / lit)
        if not near >= MIN_NEAR_DARKNESS or at[0] > 2.0:
            continue
        reach = MAX_REACH_M
        for i in range(2, len(dark)):
            if dark[i] < 0.5 * near:
                prev = dark[i - 1]
                f = 0.0 if prev <= dark[i] else (prev - 0.5 * near) / (prev - dark[i])
                reach = float(at[i - 1] + min(max(f, 0.0), 1.0) * (at[i] - at[i - 1]))
                break
        if reach > blocked:
            continue  # the shadow runs into another item's box: its end is not seen
        out[k] = reach
    return out


# How tall each item stands for its shadow (metres): the shadow's reach beyond the box times
# the tangent of the sun's elevation, the median over the items of the type on 80 simulated
# multi-provider scenes (bench/bench_shadow_check.py seeds 100-179, lit by their true sun; at
# least 10 items a type). It is the height of the item's bulk as this measure sees it (a car's
# comes out at 2.4 m, not its 1.5, for the half-darkness end and the pixel of margin), fitted
# to the simulator's models: real imagery would need it fitted again. Other types stand at
# their class's median height per metre of length. The Su-24M's own fit (14 m, clutter on its
# aprons) is not used.
SHADOW_HEIGHT_M = {"car": 2.4, "truck": 3.85, "92N6 radar": 3.97, "S-400 launcher": 3.76, "Pantsir-S1": 4.89,
                   "Mi-8/17": 4.58, "Su-34": 2.48}
SHADOW_HEIGHT_PER_LENGTH = {"vehicle": 0.50, "helicopter": 0.23, "air_defence": 0.31, "aircraft": 0.16}
MIN_LENGTH_ITEMS = 3  # fewer items with a measured reach and the elevation is not measured


@dataclass(frozen=True)
class ShadowLengths:
    """The sun's elevation as the lengths of the shadows show it (degrees): the median over
    `items` items of the elevation at which each item's expected height casts the shadow
    measured beside it (`shadow_reaches`)."""

    elevation_deg: float
    items: int


def shadow_height(cls: str, type_name: str, length_m: float) -> float | None:
    """How tall an item stands for its shadow (SHADOW_HEIGHT_M), None for a class without one."""
    if type_name in SHADOW_HEIGHT_M:
        return SHADOW_HEIGHT_M[type_name]
    per = SHADOW_HEIGHT_PER_LENGTH.get(cls)
    return None if per is None else per * length_m


def measure_sun_elevation(pixels: np.ndarray, grid: SiteGrid, items: Sequence[tuple[OrientedBox, str, str]],
                          shadow_azimuth_deg: float) -> ShadowLengths | None:
    """The sun's elevation from the lengths of the shadows beside `items` ((box, class, type)
    each) falling towards `shadow_azimuth_deg` (the measured direction, `ShadowMeasure`);
    None with fewer than MIN_LENGTH_ITEMS measured."""
    reaches = shadow_reaches(pixels, grid, [b for b, _, _ in items], shadow_azimuth_deg)
    logs = []
    for (box, cls, type_name), reach in zip(items, reaches):
        h = shadow_height(cls, type_name, box.length)
        if h is not None and np.isfinite(reach) and reach > 0:
            logs.append(math.log(h / reach))
    if len(logs) < MIN_LENGTH_ITEMS:
        return None
    return ShadowLengths(math.degrees(math.atan(math.exp(float(np.median(logs))))), len(logs))


# --- do the shadows match the stated time and place? ---------------------------------------

# A difference between the measured and the computed azimuth beyond this (degrees), or beyond
# three times the measurement's own spread, flags the image. On 80 simulated multi-provider
# scenes (bench/bench_shadow_check.py) the usable measurements are off the true sun by 8
# degrees at the median and 22 at the 90th percentile, with a tail to about 45 (rows of items
# of one heading pull the estimate towards their axis), while a timestamp three hours off
# moves the sun's azimuth by 47 degrees at the median (less in a winter morning): 30 flagged
# as few true timestamps as 40 (3 of 77) and more shifted ones (-3 h: 37 of 73 against 22).
SHADOW_TOLERANCE_DEG = 30.0
# Above this computed elevation shadows are too short to measure, and the azimuth turns fast
# with the time: no check.
MAX_CHECK_ELEVATION_DEG = 75.0
# Shadows shorter than the computed sun casts them by more than this (natural log of the ratio
# of the tangents of the elevations, 0.8: a factor 2.2) flag the image. Only too short: a
# shadow followed onto dark ground or into a neighbour's shadow reads long, never short. Chosen
# on seeds 100-179 of bench/bench_shadow_check.py, where 0.6 flagged two true timestamps by the
# lengths with the noise model's detections (--detector-noise) and 0.8 none, catching -3 h
# about as often (63 of 71 against 64; true boxes: 70 of 77, the azimuth alone 52). On seeds
# 0-79 the lengths flag no true timestamp (3 of 77 flagged, all by the azimuth; noise-model
# detections 5 of 76) and raise -3 h from 37 of 73 to 54 (noise-model: 42 to 62).
SHORT_SHADOWS_LOG = 0.8
SHADOW_CAVEAT_PREFIX = "shadow check:"  # how the check's caveat begins


@dataclass(frozen=True)
class ShadowCheck:
    """The shadows measured in an image against the sun computed for its stated time and
    place (azimuths on the grid, clockwise from grid north). error_deg is None where the
    azimuths were not compared (the sun below the horizon: a mismatch of its own)."""

    measured: ShadowMeasure
    lat: float
    lon: float
    computed_azimuth_deg: float
    computed_elevation_deg: float
    error_deg: float | None
    tolerance_deg: float
    lengths: ShadowLengths | None = None

    @property
    def too_short(self) -> bool:
        """The shadows are shorter than the computed sun would cast them, by more than
        SHORT_SHADOWS_LOG: the sun stood higher than the stated time puts it."""
        if self.lengths is None or self.computed_elevation_deg <= 0.0:
            return False
        ratio = math.tan(math.radians(self.lengths.elevation_deg)) / math.tan(math.radians(self.computed_elevation_deg))
        return math.log(ratio) > SHORT_SHADOWS_LOG

    @property
    def mismatch(self) -> bool:
        if self.computed_elevation_deg <= 0.0:
            return True
        return (self.error_deg is not None and self.error_deg > self.tolerance_deg) or self.too_short


def check_shadows(measured: ShadowMeasure | None, grid: SiteGrid, when: datetime,
                  tolerance_deg: float = SHADOW_TOLERANCE_DEG, lengths: ShadowLengths | None = None) -> ShadowCheck | None:
    """Compare a shadow measurement (and, given, the elevation the shadows' lengths show)
    with the sun over the grid's centre at `when`. None (no check) without a usable
    measurement (`ShadowMeasure.usable`), for a time of exactly midnight UTC (a date without
    a time of day), and with the computed sun above MAX_CHECK_ELEVATION_DEG."""
    if measured is None or not measured.usable:
        return None
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    if (when.hour, when.minute, when.second, when.microsecond) == (0, 0, 0, 0):
        return None
    left, bottom, right, top = grid.bounds
    found = sun_over_grid_point(grid.crs, (left + right) / 2.0, (bottom + top) / 2.0, when)
    if found is None:
        return None
    lat, lon, sun = found
    if sun.elevation_deg > MAX_CHECK_ELEVATION_DEG:
        return None
    error = None if sun.elevation_deg <= 0.0 else angle_between(measured.sun_azimuth_deg, sun.azimuth_deg)
    tolerance = max(tolerance_deg, 3.0 * measured.spread_deg)
    return ShadowCheck(measured, lat, lon, sun.azimuth_deg, sun.elevation_deg, error, tolerance, lengths)


def shadow_caveat(check: ShadowCheck, when: datetime, stated_azimuth_deg: float | None = None) -> str | None:
    """One sentence for an image whose shadows do not match its stated time and place (None
    when they match), naming both azimuths; with the metadata's own sun azimuth, whether it
    sides with the shadows (then the timestamp is the likelier error) or with the time."""
    if not check.mismatch:
        return None
    m = check.measured
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    place = f"{abs(check.lat):.3f} {'N' if check.lat >= 0 else 'S'}, {abs(check.lon):.3f} {'E' if check.lon >= 0 else 'W'}"
    if check.error_deg is None:
        off = "below the horizon"
    else:
        off = f"{check.error_deg:.0f} deg off (tolerance {check.tolerance_deg:.0f})"
        if check.too_short and check.lengths is not None:
            off += (f"; the shadows' lengths beside {check.lengths.items} items put it at elevation about "
                    f"{check.lengths.elevation_deg:.0f} deg: they are too short for the stated time")
    text = (f"{SHADOW_CAVEAT_PREFIX} the shadows beside {m.items} items put the sun at azimuth {m.sun_azimuth_deg:.0f} "
            f"+/- {m.spread_deg:.0f} deg, but at the stated time ({when:%Y-%m-%d %H:%M} UTC) over {place} it stood at "
            f"azimuth {check.computed_azimuth_deg:.1f}, elevation {check.computed_elevation_deg:.1f} deg, {off}")
    if stated_azimuth_deg is not None:
        if angle_between(stated_azimuth_deg, m.sun_azimuth_deg) <= check.tolerance_deg:
            text += (f"; the metadata's sun azimuth ({stated_azimuth_deg:.0f}) agrees with the shadows: "
                     "the timestamp is likely wrong")
        else:
            text += f"; the metadata's sun azimuth ({stated_azimuth_deg:.0f}) does not agree with the shadows either"
    return text + ": a wrong timestamp or a mislabelled image"


# Detections of these classes stand on land in the sun; ships' shadows fall on water, which is
# as dark as they are.
SHADOW_CLASSES = ("aircraft", "helicopter", "vehicle", "air_defence")
MIN_SCORE = 0.5


def image_shadow_caveat(image: Image, grid: SiteGrid, pixels: np.ndarray,
                        detections: Sequence[Detection]) -> str | None:
    """The shadow check's caveat for one optical image on `grid` (its aligned pixels, the
    items found in it, in the same frame), or None: it matches, or nothing could be
    measured. Only detections of SHADOW_CLASSES scored MIN_SCORE or more count. A radar
    image has no sun shadows: None."""
    if image.observation.modality == "sar":
        return None
    kept = [d for d in detections if d.cls in SHADOW_CLASSES and d.score >= MIN_SCORE]
    measured = measure_shadows(pixels, grid, [d.box for d in kept])
    lengths = None
    if measured is not None and measured.usable:
        lengths = measure_sun_elevation(pixels, grid, [(d.box, d.cls, d.type) for d in kept],
                                        measured.shadow_azimuth_deg)
    check = check_shadows(measured, grid, image.acquired, lengths=lengths)
    if check is None:
        return None
    return shadow_caveat(check, image.acquired, image.observation.sun_azimuth_deg)
