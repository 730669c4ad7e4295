"""Did the ground under an item's footprint change between two aligned images?

The check behind every arrival and departure claim (and behind the tracker's refusal to
call a detector miss a move): an item that came or went changes its footprint; a detector
miss or a false alarm does not.
"""

from __future__ import annotations

import cv2
import numpy as np

from sitewatch.change.events import NO_EVIDENCE
from sitewatch.change.pixel import _to_float
from sitewatch.domain import OrientedBox, SiteGrid

# An item that differs from its surroundings by at least this much (mean luminance, DN) has
# a silhouette worth comparing between dates.
SILHOUETTE_MIN_DN = 8.0
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


def box_change(before: np.ndarray, after: np.ndarray, grid: SiteGrid, box: OrientedBox,
               radiometry: tuple[np.ndarray, np.ndarray] | None = None, cross: bool = False) -> float:
    """How much the ground under an oriented box changed between two aligned images, in
    [0, 1], illumination aside. The larger of two measures:

    - silhouette: how the box's mean luminance stands out from a ring around it, compared
      between dates (used when it stands out by SILHOUETTE_MIN_DN on either date); else
    - pattern: 1 - the correlation of the (slightly smoothed) luminance over the box grown
      by a margin, so the item's outline against its surroundings is part of the pattern;
      an item still there keeps its outline whatever the sun does to its shading;
    - tone: the change of the mean colour inside the box, after matching the after image's
      bands to the before image's, against 40 DN (a clear change of tone).

    Before any of these, the after image is matched to the before image *locally*, on the
    ground in a context ring around the box (beyond the margin; see `_match_locally`). Haze
    and thin cloud vary across a scene, so the global match leaves a hazy patch dimmer in
    contrast and brighter in tone; without the local match every item under it would look
    changed.

    radiometry: (gain, offset) from `radiometric_match`, to reuse over many boxes.
    cross: the item is cross-shaped (an aircraft: fuselage along the axis, wings across), so
    its body fills only part of its box; the inner measures then use that cross."""
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
        return 0.0
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
    if mi.sum() < 4:
        return 0.0
    a = _to_float(before[r0:r1, c0:c1])
    b = _to_float(after[r0:r1, c0:c1])
    has_data = (a.max(axis=2) > 0) & (b.max(axis=2) > 0)
    if (~has_data[mo]).mean() > 0.5:
        return NO_EVIDENCE  # no data around the box on one date
    gain, offset = radiometry if radiometry is not None else radiometric_match(before, after)
    b = _match_locally(a, b * gain + offset, ctx.astype(bool) & ~mo & has_data)
    tone = float(np.abs(a[mi].mean(axis=0) - b[mi].mean(axis=0)).max()) / 40.0
    ring = mo & ~mi
    if ring.sum() >= 4:
        # The item against its surroundings: present on both dates, it stands out the same
        # way on both; gone (or new), it stands out on one date only.
        ca = float(a[mi].mean() - a[ring].mean())
        cb = float(b[mi].mean() - b[ring].mean())
        if max(abs(ca), abs(cb)) >= SILHOUETTE_MIN_DN:
            silhouette = abs(ca - cb) / max(abs(ca), abs(cb))
            return float(np.clip(max(tone, silhouette), 0.0, 1.0))
    la = cv2.GaussianBlur(a.mean(axis=2), (0, 0), 1.0)[mo]
    lb = cv2.GaussianBlur(b.mean(axis=2), (0, 0), 1.0)[mo]
    sa, sb = la.std(), lb.std()
    pattern = 0.0
    if max(sa, sb) > 6.0:  # some pattern to compare (6 DN: above sensor noise)
        ncc = float(((la - la.mean()) * (lb - lb.mean())).mean() / max(sa * sb, 1e-6))
        pattern = 1.0 - max(ncc, 0.0)
    return float(np.clip(max(tone, pattern), 0.0, 1.0))


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
