"""Pixel change the detector cannot name: IR-MAD on aligned pixels, objects masked out.

Method (Nielsen 2007, iteratively reweighted multivariate alteration detection):

1. Both images, already on the site grid, are averaged down to a working GSD (1 m by
   default), which also absorbs residual misregistration (<= 0.2 px after `align`).
2. Canonical correlation analysis pairs linear combinations of the bands of the two dates
   that correlate best. Their differences (MAD variates) are uncorrelated; any linear change
   of each band (haze, gain, colour balance, overall sun brightness) cancels in them.
3. The sum of squared standardised MAD variates is chi-square with B degrees of freedom on
   unchanged pixels. Pixels are reweighted by their probability of no change and the CCA is
   redone until the canonical correlations settle, so real change stops pulling the fit.
4. Pixels beyond the chi-square quantile `p_change` are change candidates; the final
   statistic uses a robust (median absolute deviation) scale per variate, since real scenes
   are not Gaussian. Detected objects and the reach of their shadows are masked beforehand,
   and so are pixels without data on either date (alignment borders).
5. Shadows are not linear in the bands and are removed next, in three ways: a flat
   after/before ratio over ground that is in shadow on one date only (a shadow scales the
   ground it falls on); regions that fell into shadow on one side and rose out of it on the
   other (a tree's or building's shadow that turned with the sun); and regions that only
   darkened (or only brightened) by the pair's own shadow factor, measured on at least
   three shadow-like regions (a mast's shadow that lengthened as the sun sank).
6. Cloud and its shadow are removed last: a region is dropped when most of it
   (`cloud_share`) is ground seen through a veil (pulled toward the cloud's tone by one
   share on every band, its colour faded by that share) or ground scaled darker or lighter
   with its hue kept (a cloud's shadow, too large for the local shadow tests above).
7. Morphological opening and closing, connected components, a minimum area, and polygons
   in the site CRS with their area and zone.

Known limit: a dark new object whose darkening matches the shadow factor (within
`shadow_factor_tol`) and keeps the ground's hue is taken for a shadow; the detector, not
this stage, is expected to find equipment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from scipy import linalg, stats

from sitewatch.change.zones import zone_name_at
from sitewatch.domain import ChangeRegion, Detection, OrientedBox, Site, SiteGrid


class ChangedThroughout(Exception):
    """The two images differ throughout (snow, season, wholesale works, or not the same
    ground): IR-MAD's premise, a scene mostly unchanged, fails, and no region it reported
    could be trusted. Raised instead of returning regions; the caller says so."""

    def __init__(self, correlation: float):
        super().__init__(f"the images differ throughout (luminance correlation {correlation:.2f})")
        self.correlation = correlation


@dataclass(frozen=True)
class PixelChangeParams:
    work_gsd_m: float = 1.0
    # Below this correlation of the two dates' luminance (on 4 x 4 working-cell blocks) the
    # dates are not comparable pixel by pixel. Simulated site pairs with another sun, haze,
    # cloud and a 10 px shift: 0.43-0.99; the painted no-change test pair: 0.66; the real
    # LEVIR-CD pair, woodland turned housing estate: 0.12.
    min_correlation: float = 0.25
    p_change: float = 0.9999  # chi-square quantile beyond which a pixel is a candidate
    max_iter: int = 30
    tol: float = 1e-4
    min_area_m2: float = 100.0
    shadow_ratio: float = 0.75  # darker than this fraction of the local median: in shadow
    shadow_window_m: float = 81.0
    ratio_window_px: int = 5  # working pixels over which a shadow's ratio must be flat
    shadow_hue_deg: float = 3.0  # spectral angle within which a shadow keeps the ground's hue
    ratio_flatness: float = 0.12  # std of log(after / before) below which the ratio is flat
    shadow_max_hue_deg: float = 8.0  # a shadow shifts the hue of the ground by less than this
    shadow_side_min: float = 0.1  # a moved shadow: at least this share fell into shadow, and rose out of it
    shadow_share_min: float = 0.6  # and together these make up at least this share of the region
    cast_shadow_share: float = 0.45  # a region this much in shadow on either date (the rest: penumbra)...
    shadow_factor_tol: float = 0.2  # ...darkened by the pair's shadow factor (log ratio) is a lengthened shadow
    min_shadow_regions: int = 3
    cast_shadow_max_hue_deg: float = 12.0  # sky light tints shadows on coloured ground: allow more hue shift
    relit_hue_share: float = 0.8  # relit: this share of the region keeps its hue...
    # ...and at least shadow_side_min of it darkened, and brightened, by this log ratio (shadow-like
    # regions needed to measure the shadow factor)
    relit_step: float = 0.15
    object_margin_m: float = 3.0
    shadow_reach_m: float = 25.0  # how far an object's shadow may fall, any direction
    veil_min: float = 0.08  # a cloud veil: the ground pulled at least this far toward the cloud's tone...
    veil_chroma_dn: float = 10.0  # ...its colour faded by the same share (within this, DN)
    shade_range: tuple[float, float] = (0.15, 0.88)  # a cloud's shadow scales the ground by this much
    shade_hue_deg: float = 4.0  # and keeps its hue within this (olive canvas on sand shifts it about 6)
    cloud_share: float = 0.6  # a region this much veiled or shaded is cloud or its shadow


def _to_float(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, dtype=np.float32)
    return a[..., None] if a.ndim == 2 else a


def downsample(img: np.ndarray, factor: int) -> np.ndarray:
    """Block mean by an integer factor (the edge remainder is dropped)."""
    if factor <= 1:
        return img
    h, w = img.shape[0] // factor * factor, img.shape[1] // factor * factor
    a = img[:h, :w]
    return a.reshape(h // factor, factor, w // factor, factor, *a.shape[2:]).mean(axis=(1, 3))


def irmad(x: np.ndarray, y: np.ndarray, valid: np.ndarray | None = None, max_iter: int = 30,
          tol: float = 1e-4, sample: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """IR-MAD of two (H, W, B) images. Returns (chi2 per pixel, canonical correlations)."""
    h, w, nb = x.shape
    X_all = x.reshape(-1, nb).astype(np.float64)
    Y_all = y.reshape(-1, nb).astype(np.float64)
    ok_all = np.ones(len(X_all), bool) if valid is None else valid.reshape(-1)
    # Fit on a fixed random sample of the valid pixels (enough for a 2B x 2B covariance),
    # then apply the transform to every pixel: the same answer, a fraction of the time.
    idx = np.flatnonzero(ok_all)
    if len(idx) > sample:
        idx = np.sort(np.random.default_rng(0).choice(idx, sample, replace=False))
    X, Y = X_all[idx], Y_all[idx]
    weights = np.ones(len(X))
    rho_old = np.zeros(nb)
    for _ in range(max_iter):
        ws = weights.sum()
        mx = weights @ X / ws
        my = weights @ Y / ws
        Z = np.hstack([X - mx, Y - my])
        C = (Z * weights[:, None]).T @ Z / ws
        sxx, syy, sxy = C[:nb, :nb], C[nb:, nb:], C[:nb, nb:]
        sxx = sxx + np.eye(nb) * 1e-6
        syy = syy + np.eye(nb) * 1e-6
        # Generalised eigenproblems: A a = rho^2 B a.
        lam, A = linalg.eigh(sxy @ np.linalg.solve(syy, sxy.T), sxx)
        order = np.argsort(lam)  # ascending: least correlated first, as in MAD
        lam, A = lam[order], A[:, order]
        rho = np.sqrt(np.clip(lam, 0, 1))
        B = np.linalg.solve(syy, sxy.T @ A)
        B = B / np.sqrt(np.einsum("ij,ij->j", B, syy @ B))[None, :]
        A = A / np.sqrt(np.einsum("ij,ij->j", A, sxx @ A))[None, :]
        # Sign: make each pair positively correlated.
        s = np.sign(np.einsum("ij,ij->j", A, sxy @ B))
        B = B * np.where(s == 0, 1, s)[None, :]
        mad = (X - mx) @ A - (Y - my) @ B
        var = np.maximum(2.0 * (1.0 - rho), 1e-9)
        chi2 = (mad**2 / var[None, :]).sum(axis=1)
        weights = stats.chi2.sf(chi2, nb)
        if np.max(np.abs(rho - rho_old)) < tol:
            break
        rho_old = rho
    # Final statistic with a robust scale per variate: real scenes are not Gaussian (texture,
    # residual misregistration, quantisation), and the theoretical 2 (1 - rho) of a variate
    # with rho near 1 is far too small for them. The median absolute deviation is not.
    sel = mad
    mad = (X_all - mx) @ A - (Y_all - my) @ B
    centre = np.median(sel, axis=0)
    scale = 1.4826 * np.median(np.abs(sel - centre), axis=0) + 1e-9
    chi2 = (((mad - centre) / scale) ** 2).sum(axis=1)
    return chi2.reshape(h, w), rho


def object_mask(grid: SiteGrid, boxes: Sequence[OrientedBox], params: PixelChangeParams) -> np.ndarray:
    """Pixels (on the site grid) under any box, grown by a margin and by the reach of its
    shadow in every direction, since the sun differs between dates."""
    mask = np.zeros((grid.height_px, grid.width_px), np.uint8)
    for b in boxes:
        grown = OrientedBox(b.cx, b.cy, b.length + 2 * params.object_margin_m, b.width + 2 * params.object_margin_m,
                            b.heading_deg)
        pts = np.array([grid.to_pixel(x, y) for x, y in grown.corners()], np.float32)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    reach = int(math.ceil(params.shadow_reach_m / grid.gsd_m))
    if reach > 0 and mask.any():
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
        mask = cv2.dilate(mask, k)  # type: ignore[assignment]  # OpenCV's stubs widen the dtype
    return mask.astype(bool)


def _luminance(a: np.ndarray) -> np.ndarray:
    return np.maximum(a.mean(axis=2), 1.0)  # >= 1 DN, so that ratios and logs stay finite


def _spectral_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = (a * b).sum(axis=2)
    den = np.linalg.norm(a, axis=2) * np.linalg.norm(b, axis=2) + 1e-6
    return np.degrees(np.arccos(np.clip(num / den, -1, 1)))


def _normalise_to(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """y's bands mapped linearly onto x's on the no-change pixels (radiometric normalisation)."""
    out = np.empty_like(y)
    w = weights.reshape(-1)
    for b in range(y.shape[2]):
        xb, yb = x[..., b].reshape(-1), y[..., b].reshape(-1)
        sw = w.sum() + 1e-9
        mx, my = (w @ xb) / sw, (w @ yb) / sw
        sx = math.sqrt((w @ (xb - mx) ** 2) / sw) + 1e-6
        sy = math.sqrt((w @ (yb - my) ** 2) / sw) + 1e-6
        out[..., b] = (y[..., b] - my) * (sx / sy) + mx
    return out


def _refuse_if_changed_throughout(x: np.ndarray, y: np.ndarray, valid: np.ndarray, params: PixelChangeParams) -> None:
    """Raise ChangedThroughout when the dates' luminance hardly correlates (4 x 4 blocks of
    working cells, so that texture noise does not count)."""
    block = 4
    lx, ly = downsample(x.mean(axis=2), block), downsample(y.mean(axis=2), block)
    ok = downsample(valid.astype(np.float32), block) > 0.99
    if ok.sum() < 16 or lx[ok].std() < 1e-6 or ly[ok].std() < 1e-6:
        return
    r = float(np.corrcoef(lx[ok], ly[ok])[0, 1])
    if r < params.min_correlation:
        raise ChangedThroughout(r)


def change_mask(before: np.ndarray, after: np.ndarray, ignore: np.ndarray | None, gsd_m: float,
                params: PixelChangeParams | None = None) -> tuple[Any, ...]:
    """Changed pixels at the working GSD. Returns (mask, chi2, factor from site grid pixels,
    shade, log ratio, hue, cloud-like)."""
    params = params or PixelChangeParams()
    factor = max(1, int(round(params.work_gsd_m / gsd_m)))
    x = downsample(_to_float(before), factor)
    y = downsample(_to_float(after), factor)
    valid = np.ones(x.shape[:2], bool)
    if ignore is not None:
        valid = ~(downsample(ignore.astype(np.float32), factor) > 0)
    _refuse_if_changed_throughout(x, y, valid, params)
    chi2, _ = irmad(x, y, valid, params.max_iter, params.tol)
    nb = x.shape[2]
    cand = (chi2 > stats.chi2.ppf(params.p_change, nb)) & valid
    # Shadows that moved with the sun: brightness-only change, darker date in shadow.
    no_change_w = valid & ~cand
    y_n = _normalise_to(x, y, no_change_w.astype(np.float64))
    lx, ly = _luminance(x), _luminance(y_n)
    k = max(3, int(params.shadow_window_m / (gsd_m * factor)) | 1)
    med_x = cv2.medianBlur(np.clip(lx, 0, 255).astype(np.uint8), min(k, 255))
    med_y = cv2.medianBlur(np.clip(ly, 0, 255).astype(np.uint8), min(k, 255))
    shadow_x = lx < params.shadow_ratio * med_x
    shadow_y = ly < params.shadow_ratio * med_y
    # A shadow scales the ground it falls on: the ratio of the two dates is flat across it,
    # and the darker date is the shadowed one. A new object replaces the ground instead.
    logr = np.log(ly) - np.log(lx)
    win = (params.ratio_window_px, params.ratio_window_px)
    mean = cv2.blur(logr.astype(np.float32), win)
    sd = np.sqrt(np.maximum(cv2.blur((logr * logr).astype(np.float32), win) - mean * mean, 0))
    flat = sd < params.ratio_flatness
    darker_in_shadow = (shadow_x & ~shadow_y & (logr > 0)) | (shadow_y & ~shadow_x & (logr < 0))
    # and a shadow keeps the hue of the ground (after radiometric normalisation), where a
    # dark new object (olive canvas on sand) does not.
    same_hue = _spectral_angle_deg(x, y_n) < params.shadow_hue_deg
    moved_shadow = (flat & darker_in_shadow & same_hue).astype(np.uint8)
    # Grow the flat core over the whole shadow (its edges are not flat) and its penumbra.
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    for _ in range(params.ratio_window_px):
        moved_shadow = cv2.dilate(moved_shadow, cross) & darker_in_shadow.astype(np.uint8)
    moved_shadow = cv2.dilate(moved_shadow, cross)
    cand &= ~moved_shadow.astype(bool)
    m = cand.astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    # Per pixel: +1 fell into shadow, -1 came out of shadow, 2 in shadow on both dates, 0
    # none of these (all with the hue kept).
    hue = _spectral_angle_deg(x, y_n)
    hue_kept = hue < params.shadow_max_hue_deg
    shade = np.zeros(m.shape, np.int8)
    shade[shadow_y & ~shadow_x & (logr < 0) & hue_kept] = 1
    shade[shadow_x & ~shadow_y & (logr > 0) & hue_kept] = -1
    shade[shadow_x & shadow_y & hue_kept] = 2
    return m.astype(bool), chi2, factor, shade, logr, hue, _cloud_like(x, y_n, hue < params.shade_hue_deg, params)


def _veiled(ground: np.ndarray, seen: np.ndarray, params: PixelChangeParams) -> np.ndarray:
    """Pixels where `seen` is `ground` under a veil of cloud or haze: pulled toward the
    brightest tone of `seen` (the cloud's) by one share on every band, its colour faded by
    that same share. New bright objects (a white roof) keep a colour of their own."""
    lg, ls = _luminance(ground), _luminance(seen)
    top = float(np.percentile(ls, 99.5))
    room = top - lg
    share = np.where(room > 15.0, (ls - lg) / np.maximum(room, 1e-3), 0.0)
    faded = (1.0 - share)[..., None] * (ground - lg[..., None])
    colour_kept = np.abs((seen - ls[..., None]) - faded).max(axis=2) <= params.veil_chroma_dn
    return (share >= params.veil_min) & (share <= 1.05) & colour_kept


def _cloud_like(x: np.ndarray, y: np.ndarray, hue_kept: np.ndarray, params: PixelChangeParams) -> np.ndarray:
    """Working pixels whose change is cloud or cloud shadow on either date: veiled toward
    the cloud's tone, or scaled darker (or lighter, the shadow on the earlier date) with
    the hue kept. y is the later date normalised to x's radiometry."""
    ratio = _luminance(y) / _luminance(x)
    lo, hi = params.shade_range
    shaded = hue_kept & (((ratio >= lo) & (ratio <= hi)) | ((ratio >= 1.0 / hi) & (ratio <= 1.0 / lo)))
    return _veiled(x, y, params) | _veiled(y, x, params) | shaded


def change_regions(site: Site, before: np.ndarray, after: np.ndarray, before_id: str, after_id: str,
                   objects: Sequence[Detection] = (), params: PixelChangeParams | None = None,
                   nodata: np.ndarray | None = None) -> list[ChangeRegion]:
    """Unexplained change between two aligned images of a site, as polygons in the site CRS.
    Raises ChangedThroughout when the two images are not comparable pixel by pixel.

    objects: the detections of both dates; their footprints and shadows are masked out, since
    the events already account for them. nodata: pixels (site grid) to leave out, e.g. borders.
    """
    params = params or PixelChangeParams()
    grid = site.grid
    if before.shape[:2] != (grid.height_px, grid.width_px) or after.shape != before.shape:
        raise ValueError(f"images must both be on the site grid {grid.height_px}x{grid.width_px}; "
                         f"got {before.shape} and {after.shape}")
    ignore = object_mask(grid, [d.box for d in objects], params)
    if nodata is not None:
        ignore |= nodata
    # No data on either date (alignment borders, nodata fill): all bands 0. Grow it by the
    # working cell so that resampled edges do not count either.
    empty = ((before.max(axis=2) if before.ndim == 3 else before) == 0) | \
        ((after.max(axis=2) if after.ndim == 3 else after) == 0)
    if empty.any():
        k = 2 * max(1, int(round(params.work_gsd_m / grid.gsd_m))) + 1
        ignore |= cv2.dilate(empty.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    mask, chi2, factor, shade, logr, hue, cloudy = change_mask(before, after, ignore, grid.gsd_m, params)
    n, labels, statsx, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    # The pair's shadow factors: how much darker shadowed ground is than sunlit ground,
    # as log(after / before) where ground fell into shadow (and rose out of it). Every
    # shadow in a pair darkens its ground by about the same factor (sky light over sun
    # light); a dark new object darkens its place by its own albedo instead. The factors
    # come from shadows that turned with the sun, and from regions that look like shadows
    # when there are at least `min_shadow_regions` of them, so no single object sets them.
    cell = grid.gsd_m * factor
    min_px = params.min_area_m2 / (cell * cell)

    def part(lab: int, arr: np.ndarray) -> np.ndarray:
        x0, y0, w, h = (int(v) for v in statsx[lab, :4])
        return arr[y0:y0 + h, x0:x0 + w][labels[y0:y0 + h, x0:x0 + w] == lab]

    big = [lab for lab in range(1, n) if statsx[lab, cv2.CC_STAT_AREA] >= min_px / 2]
    moved: dict[int, bool] = {}
    per_side: dict[int, list[float]] = {1: [], -1: []}
    for lab in big:
        sh, lr = part(lab, shade), part(lab, logr)
        moved[lab] = _moved_shadow(sh, params)
        for side in (1, -1):
            on = sh == side
            if on.any() and (moved[lab] or (sh != 0).mean() >= params.cast_shadow_share):
                per_side[side].append(float(np.median(lr[on])))
    fell_k = float(np.median(per_side[1])) if len(per_side[1]) >= params.min_shadow_regions else None
    rose_k = float(np.median(per_side[-1])) if len(per_side[-1]) >= params.min_shadow_regions else None
    regions: list[ChangeRegion] = []
    nb = before.shape[2] if before.ndim == 3 else 1
    for lab in big:
        area = float(statsx[lab, cv2.CC_STAT_AREA]) * cell * cell
        if area < params.min_area_m2:
            continue
        if moved[lab] or _cast_shadow(part(lab, shade), part(lab, logr), part(lab, hue), fell_k, rose_k, params) \
                or _relit(part(lab, logr), part(lab, hue), params) \
                or float(np.mean(part(lab, cloudy))) >= params.cloud_share:
            continue
        x0, y0, w, h = (int(v) for v in statsx[lab, :4])
        comp = (labels[y0:y0 + h, x0:x0 + w] == lab).astype(np.uint8)
        contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=(x0, y0))
        c = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(float)
        # Contour points are working-cell centres: add half a cell, then to map coordinates.
        ring = tuple(grid.to_map((px + 0.5) * factor, (py + 0.5) * factor) for px, py in c)
        if len(ring) < 3:
            continue
        cx, cy = np.mean([p[0] for p in ring]), np.mean([p[1] for p in ring])
        score = float(np.clip(1.0 - stats.chi2.sf(np.median(part(lab, chi2)), nb), 0, 1))
        regions.append(ChangeRegion(f"{site.name}-R-{after_id}-{len(regions) + 1:03d}", site.name, ring, area,
                                    score, zone_name_at(site, float(cx), float(cy)), before_id, after_id))
    regions.sort(key=lambda r: -r.area_m2)
    return regions


def _moved_shadow(shade: np.ndarray, params: PixelChangeParams) -> bool:
    """A region made of ground that fell into shadow on one side and came out of shadow on
    the other, the hue kept: the shadow of a static tree or building that turned with the
    sun. A new object only darkens (or only brightens) its place, so it is kept."""
    fell, rose, both = float(np.mean(shade == 1)), float(np.mean(shade == -1)), float(np.mean(shade == 2))
    return min(fell, rose) >= params.shadow_side_min and fell + rose + both >= params.shadow_share_min


def _relit(logr: np.ndarray, hue: np.ndarray, params: PixelChangeParams) -> bool:
    """A region whose colour stayed (hue kept on most pixels) while parts of it grew darker
    and other parts brighter: the same surfaces lit from another side (roof facets, walls,
    shadows turning), not a change of the ground."""
    if float(np.mean(hue < params.shadow_max_hue_deg)) < params.relit_hue_share:
        return False
    darker = float(np.mean(logr < -params.relit_step))
    brighter = float(np.mean(logr > params.relit_step))
    return min(darker, brighter) >= params.shadow_side_min


def _cast_shadow(shade: np.ndarray, logr: np.ndarray, hue: np.ndarray, fell_k: float | None,
                 rose_k: float | None, params: PixelChangeParams) -> bool:
    """A region that darkened (or brightened) by the pair's own shadow factor on most of its
    pixels (log ratio within `shadow_factor_tol`), its hue roughly kept: a shadow that grew
    or shrank with the sun's height (a mast's, a crane's, a building's)."""
    if float(np.median(hue)) >= params.cast_shadow_max_hue_deg:
        return False
    for k in (fell_k, rose_k):
        if k is None:
            continue
        share = float(np.mean(np.abs(logr - k) <= params.shadow_factor_tol)) + float(np.mean(shade == 2))
        if share >= params.cast_shadow_share:
            return True
    return False
