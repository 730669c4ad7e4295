"""Did the ground under an item's footprint change between two aligned images?

The check behind every arrival and departure claim (and behind the tracker's refusal to
call a detector miss a move): an item that came or went changes its footprint; a detector
miss or a false alarm does not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from sitewatch.change.events import NO_EVIDENCE
from sitewatch.change.pixel import _to_float
from sitewatch.domain import OrientedBox, SiteGrid

# The context ring used to match the dates locally reaches this far beyond the box's margin.
CONTEXT_M = 8.0
# A local gain is trusted within these bounds, and only where the ring's after-date values
# spread this much (DN); else only the local offset is matched.
LOCAL_GAIN_RANGE = (0.5, 3.0)
LOCAL_MIN_SPREAD_DN = 3.0
# The tone haze and thin cloud tend to (8-bit, after the global match).
AIRLIGHT_DN = 235.0


def radiometric_match(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band gain and offset that map `after` onto `before` (means and spreads over a
    sparse sample of valid pixels): haze, colour balance and overall brightness."""
    a = _to_float(before[::8, ::8]).reshape(-1, before.shape[2] if before.ndim == 3 else 1)
    b = _to_float(after[::8, ::8]).reshape(-1, a.shape[1])
    ok = (a.max(axis=1) > 0) & (b.max(axis=1) > 0)
    a, b = a[ok], b[ok]
    gain = (a.std(axis=0) + 1e-3) / (b.std(axis=0) + 1e-3)
    return gain, a.mean(axis=0) - gain * b.mean(axis=0)


@dataclass(frozen=True)
class BoxMeasures:
    """What the box check reads off the two dates under one box (see `box_change`).

    Luminance is the mean of the bands, after the after-date has been matched to the
    before-date on the ground around the box."""

    tone: float  # largest band change of the box's mean colour, in units of 40 DN (<= 3)
    silhouette: float  # change of the box's mean contrast against its ring, relative (<= 1.5)
    signature: float  # pixelwise: energy of the change of the item's own pattern / its energy
    pattern: float  # 1 - correlation of the smoothed luminance over the box and margin
    contrast: float  # log of the stronger date's mean contrast against the ring (10 DN = 0)
    context_spread: float  # |log ratio| of the ground's spread around the box, between dates
    size: float  # log of the box's pixel count (50 px = 0)
    strength: float  # log of the stronger date's RMS pattern against the ring (10 DN = 0)
    cross: bool  # the aircraft cross was used instead of the whole box
    local_shift: float  # the ground's tone change around the box beyond the scene's (40 DN)

    def as_vector(self) -> np.ndarray:
        return np.array([self.tone, self.silhouette, self.signature, self.pattern, self.contrast,
                         self.context_spread, self.size, self.strength, float(self.cross), self.local_shift, 1.0])


# Logistic weights of the measures above (the last is the bias), fitted by
# scripts/fit_box_check.py on simulated sites of seeds 6000-6039 (bench_change and
# bench_box_change use 5000 onwards): P(the item came or went | the pixels).
BOX_CHECK_WEIGHTS = np.array([0.539, 1.364, 4.555, 1.866, 0.333, -1.046, 0.358, -1.355, -0.500, -0.858, -3.170])


def box_change(before: np.ndarray, after: np.ndarray, grid: SiteGrid, box: OrientedBox,
               radiometry: tuple[np.ndarray, np.ndarray] | None = None, cross: bool = False) -> float:
    """How likely it is that the item under an oriented box came or went between two
    aligned images, in [0, 1], illumination aside: a logistic model over `box_measures`,
    fitted on simulated sites where the answer is known (sun, haze, thin cloud, blur and
    noise differ between their dates). NO_EVIDENCE where it cannot look (see `box_measures`).

    No single measure does: the box's mean contrast (silhouette) misses a car that is dark
    on one half and bright on the other; the item's pixel pattern (signature) misreads
    blur; the tone misreads haze. Together they tell an item still there from one gone.

    radiometry: (gain, offset) from `radiometric_match`, to reuse over many boxes.
    cross: the item is cross-shaped (an aircraft: fuselage along the axis, wings across), so
    its body fills only part of its box; the inner measures then use that cross."""
    m = box_measures(before, after, grid, box, radiometry, cross)
    if m is None:
        return NO_EVIDENCE
    return float(1.0 / (1.0 + np.exp(-float(m.as_vector() @ BOX_CHECK_WEIGHTS))))


# A veil this thick over an item's place (cloud, most often) hides it: what the pixels and
# the detector say of that date there is no evidence. Simulated vehicles are found a third
# of the time under cloud of 0.3-0.5 opacity, aircraft up to about 0.7 (bench/eval_sim.py,
# session 13). On the change benchmark's sites (seeds 5000+, 7000+, 8000+) the veil read
# 0.5 or more around 0.1% of the items under no cloud, 13-14% under cloud of 0.3-0.5,
# 19-36% under 0.5-0.7 and 82-100% under 0.7 or more.
OBSCURED_AT = 0.5
# Two sightings in one place named as different types are told apart by the pixels under
# them (`matching.stay_cost`). Under a veil this thick on either date the item still shows
# through, but its pixels read as changed (a frigate under thin cloud read 0.94-0.98 on
# seed 5023 of the change benchmark), so they settle nothing and the type scores decide.
# Chosen on that benchmark (0.8.2's detections): 0.25 and 0.35 gave the same events; 0.2
# also kept whole two frigates beside a cloud's edge (veil 0.23 on seed 7039), three false
# events fewer. On the clear dates looked at then, the veil read 0.00-0.08.
DOUBTFUL_AT = 0.2
VEIL_REACH_M = 20.0  # the ring of ground around a place whose tone is compared


def scene_veil(before: np.ndarray, after: np.ndarray) -> float:
    """The veil `after` carries over the whole scene compared with `before` (haze, a
    brighter exposure), from the median luminance of a sparse sample: the share of the way
    from `before`'s median to AIRLIGHT_DN (negative where `after` is darker). Clouds cover
    too little of a usable image (alignment refuses more than half) to move the median."""
    a = _to_float(before[::8, ::8]).mean(axis=2)
    b = _to_float(after[::8, ::8]).mean(axis=2)
    ok = (a > 0) & (b > 0)
    if ok.sum() < 16:
        return 0.0
    la, lb = float(np.median(a[ok])), float(np.median(b[ok]))
    return float(np.clip((lb - la) / max(AIRLIGHT_DN - la, 1.0), -1.0, 0.9))


def veil_over(before: np.ndarray, after: np.ndarray, grid: SiteGrid, box: OrientedBox,
              items: Sequence[OrientedBox] = (), scene: float = 0.0) -> float:
    """How thick a bright veil (cloud, most often) lies over `after` around a box's place
    compared with `before`, in [0, 1]: the share of the way the median luminance of the
    ground around the box moved from `before` towards AIRLIGHT_DN. The ground is a ring
    VEIL_REACH_M wide around the box, the box and `items` (the detections of both dates)
    left out with a margin that takes in most of their shadows: a row of dark aircraft
    that left would otherwise brighten it like a cloud. 0 where `after` is no brighter
    there, and where the box lies off the grid or too little ground is left.

    scene: the veil over the whole scene (`scene_veil`), undone first, so that only a local
    veil counts (haze over a whole hazy date is not cloud). Not a full radiometric match: a
    cloud lifts the scene's spread, and matching it would hide part of the cloud."""
    reach = VEIL_REACH_M + 0.5 * box.width
    context = OrientedBox(box.cx, box.cy, box.length + 2 * reach, box.width + 2 * reach, box.heading_deg)
    pts = np.array([grid.to_pixel(x, y) for x, y in context.corners()])
    c0, r0 = np.maximum(np.floor(pts.min(axis=0)).astype(int), 0)
    c1, r1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int), [grid.width_px, grid.height_px])
    if c1 - c0 < 3 or r1 - r0 < 3:
        return 0.0
    ring = np.zeros((r1 - r0, c1 - c0), np.uint8)
    cv2.fillPoly(ring, [np.round(pts - [c0, r0]).astype(np.int32)], 1)
    for item in (box, *items):
        pad = max(2.0, 0.5 * item.width)
        grown = OrientedBox(item.cx, item.cy, item.length + 2 * pad, item.width + 2 * pad, item.heading_deg)
        corners = np.array([grid.to_pixel(x, y) for x, y in grown.corners()])
        cv2.fillPoly(ring, [np.round(corners - [c0, r0]).astype(np.int32)], 0)
    a = _to_float(before[r0:r1, c0:c1])
    b = _to_float(after[r0:r1, c0:c1])
    ground = ring.astype(bool) & (a.max(axis=2) > 0) & (b.max(axis=2) > 0)
    if ground.sum() < 16:
        return 0.0
    la = float(np.median(a[ground].mean(axis=1)))
    lb = float(np.median(b[ground].mean(axis=1)))
    lb = (lb - scene * AIRLIGHT_DN) / (1.0 - scene)  # the scene-wide veil undone
    if la >= AIRLIGHT_DN - 10.0:
        return 0.0  # bright ground already: a veil cannot be told from it
    return float(np.clip((lb - la) / (AIRLIGHT_DN - la), 0.0, 1.0))


def box_measures(before: np.ndarray, after: np.ndarray, grid: SiteGrid, box: OrientedBox,
                 radiometry: tuple[np.ndarray, np.ndarray] | None = None,
                 cross: bool = False) -> BoxMeasures | None:
    """The measures behind `box_change`; None where it cannot look: the box lies off the
    grid or covers too few pixels, or one date lacks data around it.

    Before any of them, the after image is matched to the before image *locally*, on the
    ground in a context ring around the box (beyond the margin; see `_match_locally`). Haze
    and thin cloud vary across a scene, so the global match leaves a hazy patch dimmer in
    contrast and brighter in tone; without the local match every item under it would look
    changed."""
    margin = max(2.0, 0.25 * box.width)
    grown = OrientedBox(box.cx, box.cy, box.length + 2 * margin, box.width + 2 * margin, box.heading_deg)
    reach = margin + max(CONTEXT_M, 0.5 * box.width)
    context = OrientedBox(box.cx, box.cy, box.length + 2 * reach, box.width + 2 * reach, box.heading_deg)
    pts = np.array([grid.to_pixel(x, y) for x, y in grown.corners()])
    ctx_pts = np.array([grid.to_pixel(x, y) for x, y in context.corners()])
    c0, r0 = np.floor(ctx_pts.min(axis=0)).astype(int) - 1
    c1, r1 = np.ceil(ctx_pts.max(axis=0)).astype(int) + 1
    c0, r0 = max(c0, 0), max(r0, 0)
    c1, r1 = min(c1, grid.width_px), min(r1, grid.height_px)
    if c1 - c0 < 3 or r1 - r0 < 3:
        return None
    outer = np.zeros((r1 - r0, c1 - c0), np.uint8)
    cv2.fillPoly(outer, [np.round(pts - [c0, r0]).astype(np.int32)], 1)
    ctx = np.zeros_like(outer)
    cv2.fillPoly(ctx, [np.round(ctx_pts - [c0, r0]).astype(np.int32)], 1)
    inner = np.zeros_like(outer)
    parts = [box]
    if cross:  # fuselage a fifth of the span wide, wings a quarter of the length deep
        parts = [OrientedBox(box.cx, box.cy, box.length, max(box.width * 0.2, grid.gsd_m * 2), box.heading_deg),
                 OrientedBox(box.cx, box.cy, max(box.length * 0.25, grid.gsd_m * 2), box.width, box.heading_deg)]
    for part in parts:
        inner_pts = np.array([grid.to_pixel(x, y) for x, y in part.corners()]) - [c0, r0]
        cv2.fillPoly(inner, [np.round(inner_pts).astype(np.int32)], 1)
    mo, mi = outer.astype(bool), inner.astype(bool)
    ring = mo & ~mi
    if mi.sum() < 4 or ring.sum() < 4:
        return None
    a = _to_float(before[r0:r1, c0:c1])
    b = _to_float(after[r0:r1, c0:c1])
    has_data = (a.max(axis=2) > 0) & (b.max(axis=2) > 0)
    if (~has_data[mo]).mean() > 0.5:
        return None  # no data around the box on one date
    gain, offset = radiometry if radiometry is not None else radiometric_match(before, after)
    around = ctx.astype(bool) & ~mo & has_data
    b = b * gain + offset
    local_shift = float(np.abs(np.median(a[around], axis=0) - np.median(b[around], axis=0)).max()) / 40.0 \
        if around.any() else 0.0
    b = _match_locally(a, b, around)
    tone = float(np.abs(a[mi].mean(axis=0) - b[mi].mean(axis=0)).max()) / 40.0
    la, lb = a.mean(axis=2), b.mean(axis=2)
    # The item against its surroundings: present on both dates, it stands out the same way
    # on both; gone (or new), it stands out on one date only.
    ca = float(la[mi].mean() - la[ring].mean())
    cb = float(lb[mi].mean() - lb[ring].mean())
    silhouette = abs(ca - cb) / max(abs(ca), abs(cb), 3.0)
    # The same pixel by pixel: an item dark on one side and bright on the other has no mean
    # contrast, but a pattern that goes with it.
    sa_raw, sb_raw = la[mi] - np.median(la[ring]), lb[mi] - np.median(lb[ring])
    sma = cv2.GaussianBlur(la, (0, 0), 0.5)
    smb = cv2.GaussianBlur(lb, (0, 0), 0.5)
    sa, sb = sma[mi] - np.median(sma[ring]), smb[mi] - np.median(smb[ring])
    energy = float((sa ** 2).mean() + (sb ** 2).mean())
    signature = float(((sa - sb) ** 2).mean()) / energy if energy > 1e-6 else 0.0
    # The outline against the surroundings, whatever the sun does to the item's shading.
    pa = cv2.GaussianBlur(la, (0, 0), 1.0)[mo]
    pb = cv2.GaussianBlur(lb, (0, 0), 1.0)[mo]
    ncc = float(((pa - pa.mean()) * (pb - pb.mean())).mean() / max(pa.std() * pb.std(), 1e-6))
    spread_a = float(la[around].std()) if around.any() else 0.0
    spread_b = float(lb[around].std()) if around.any() else 0.0
    rms = math.sqrt(max(float((sa_raw ** 2).mean()), float((sb_raw ** 2).mean())))
    return BoxMeasures(
        tone=min(tone, 3.0),
        silhouette=min(silhouette, 1.5),
        signature=signature,
        pattern=1.0 - max(ncc, 0.0),
        contrast=math.log((max(abs(ca), abs(cb)) + 1.0) / 10.0),
        context_spread=abs(math.log((spread_a + 2.0) / (spread_b + 2.0))),
        size=math.log(mi.sum() / 50.0),
        strength=math.log((rms + 1.0) / 10.0),
        cross=cross,
        local_shift=min(local_shift, 3.0),
    )


def _match_locally(a: np.ndarray, b: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """b mapped onto a by the ground in `ring` (a boolean mask of pixels with data on both
    dates): per band, a straight line fitted from b's values to a's over the ring's pixels
    (the images are aligned, so each pixel is a pair), refitted once without the pixels it
    fits worst. A ring that mixes water and quay gives the fit a wide range to work with; a
    neighbour that came or went, or a shadow that swung with the sun, is left out by the
    refit."""
    if ring.sum() < 16:
        return b
    out = np.empty_like(b)
    for k in range(a.shape[2]):
        x, y = b[..., k][ring], a[..., k][ring]
        keep = np.ones(len(x), bool)
        for _ in range(2):
            xs, ys = x[keep], y[keep]
            if xs.std() >= LOCAL_MIN_SPREAD_DN:
                gain = float(np.clip(np.cov(xs, ys, bias=True)[0, 1] / xs.var(), *LOCAL_GAIN_RANGE))
            else:
                # Even ground says nothing about contrast; assume the difference in tone is
                # haze (a veil of AIRLIGHT_DN laid over the ground) and undo that veil.
                mx, my = float(np.median(xs)), float(np.median(ys))
                gain = 1.0
                if max(mx, my) < AIRLIGHT_DN - 10.0:
                    gain = float(np.clip((AIRLIGHT_DN - my) / (AIRLIGHT_DN - mx), *LOCAL_GAIN_RANGE))
            offset = float(np.median(ys - gain * xs))
            resid = np.abs(y - (gain * x + offset))
            keep = resid <= max(2.5 * 1.4826 * float(np.median(resid[keep])), 2.0)
            if keep.sum() < 16:
                break
        out[..., k] = b[..., k] * gain + offset
    return out
