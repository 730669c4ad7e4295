"""Putting every image of a site on the site grid, co-registered to a reference image.

Reading aligned pixels is geo.ongrid's job; `read_aligned` and `warp_window` are
re-exported here. The correction is a 2x3 matrix from reference-frame grid pixels to the
image's plain reprojection onto the grid.

Estimating: coarse to fine. A decimated copy of both images (read through overviews when
the file has them) is first registered as a whole (one phase correlation of the overlap,
which finds offsets of tens of metres between providers), then by phase correlation on a
grid of windows there, giving a first similarity; then full-resolution windows,
resampled with the current estimate, give sub-pixel shifts and a robust similarity fit,
twice. Windows with real change (or relief seen from another view angle) disagree with
the consensus and are left out; the share of the overlap that differs after the fit is
reported as changed_fraction.

Outcomes. "ok": the fit holds; ce90_m follows from the agreeing windows' misfit. "georef":
no fit is possible (too much change, too little stable texture, an implausible
correction), so the image is kept on its own georeference with an assumed registration
uncertainty (AlignParams.georef_ce90_m) and the reason as a caveat; later stages widen
their gates by it. "failed": the image is left out, only when it does not cover the site,
is mostly cloud, or cannot be read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import rasterio

from sitewatch.domain import AlignmentResult, Image, SiteGrid
from sitewatch.geo import coregister as cr
from sitewatch.geo.imagefile import open_image
from sitewatch.geo.ongrid import (
    alignment_matrix,
    coarse_on_grid,
    lattice_offset,
    lum_bands,
    luminance,
    read_aligned,
    read_plain,
    warp_window,
)

__all__ = ["AlignParams", "align_pair", "alignment_matrix", "estimate", "read_aligned", "warp_window"]


@dataclass(frozen=True)
class AlignParams:
    coarse_max_side: int = 1024  # the coarse pass works on a grid no larger than this
    coarse_window: int = 128
    # Many small windows rather than a few large ones: more of them fall wholly on stable
    # ground between buildings and planes (real pairs, issue 32).
    fine_window: int = 128
    windows_per_side: int = 16
    fine_iterations: int = 2
    min_valid: float = 0.95  # share of valid pixels a window needs in both images
    min_overlap_windows: float = 0.25  # share of the grid's windows both images must cover
    min_agreeing: int = 6  # windows that must agree with the fitted model
    # agreeing windows / windows with a usable correlation peak; 0.35 until issue 32, where a
    # Pleiades pair with leaning buildings had 0.34 (the standard-error gate guards the fit)
    min_quality: float = 0.25
    # The agreeing windows may disagree locally by up to max_spread_px (3 robust sigmas at
    # most): relief and elevation-model differences between two views of flat ground. The
    # fitted correction itself must be known to max_standard_error_px (RMS misfit over the
    # square root of the agreeing windows).
    max_spread_px: float = 1.5
    max_residual_px: float = 1.5  # RMS misfit of the agreeing windows
    max_standard_error_px: float = 0.15
    max_cloud_cover: float = 0.5
    max_shift_m: float = 150.0  # a larger correction means the georeferencing is wrong, not off
    # Registration uncertainty (CE90, metres) of an image kept on its own georeference.
    # Commercial very-high-resolution products state 3-10 m CE90 without ground control
    # (WorldView about 5 m, Pleiades 8.5 m), and providers' images of one site have been
    # seen tens of metres apart (issue 32): 25 m is assumed where nothing better is known.
    georef_ce90_m: float = 25.0
    # How much an image kept on its own georeference counts as evidence (the alignment
    # quality that scales its events' confidence; a fitted image's is its share of agreeing
    # windows). Half: its items are seen, but where they stand is known only to georef_ce90_m.
    georef_quality: float = 0.5
    # Both images are resampled to the grid's GSD, so what is left is a shift and a rotation;
    # fitting no scale removes one unknown. False fits a similarity (scale free).
    rigid: bool = True


@dataclass
class _Estimate:
    matrix: np.ndarray
    fit: cr.Fit | None
    measured: int  # windows with a usable correlation peak
    covered: int  # candidate window positions both images cover
    total: int  # candidate window positions on the grid
    tried: int  # windows measured
    coarse: _Coarse | None = None


def _measure(ref_lum, ref_valid, tgt_lum, tgt_valid, corners, size, min_valid) -> tuple[list[cr.WindowShift], int]:
    shifts, covered = [], 0
    for (x, y) in corners:
        rv = ref_valid[y:y + size, x:x + size]
        tv = tgt_valid[y:y + size, x:x + size]
        if rv.mean() < min_valid or tv.mean() < min_valid:
            continue
        covered += 1
        valid = rv & tv
        a = cr.structure(ref_lum[y:y + size, x:x + size], valid)
        b = cr.structure(tgt_lum[y:y + size, x:x + size], valid)
        s = cr.window_shift(a, b, x + size / 2, y + size / 2)
        if s is not None:
            shifts.append(s)
    return shifts, covered


@dataclass
class _Coarse:
    factor: int
    matrix: np.ndarray  # first estimate, on the full-resolution grid
    ref_lum: np.ndarray
    ref_valid: np.ndarray
    tgt_valid: np.ndarray
    tgt_lum: np.ndarray


GLOBAL_MAX_SIDE = 512  # the whole-overlap registration works on at most this many pixels a side


def _global_translation(rl, rv, tl, tv) -> np.ndarray:
    """The offset of the whole target on the coarse grid (as a 2x3 translation), from a
    further decimated copy of both; identity when there is no clear peak."""
    k = max(1, math.ceil(max(rl.shape) / GLOBAL_MAX_SIDE))
    size = (math.ceil(rl.shape[1] / k), math.ceil(rl.shape[0] / k))

    def small(lum, valid):
        lum_s = cv2.resize(np.where(valid, lum, 0).astype(np.float32), size, interpolation=cv2.INTER_AREA)
        valid_s = cv2.resize(valid.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.999
        return lum_s, valid_s

    s = cr.global_shift(*small(rl, rv), *small(tl, tv))
    if s is None:
        return cr.IDENTITY.copy()
    return np.array([[1.0, 0.0, s.dx * k], [0.0, 1.0, s.dy * k]])


def _coarse(ref_ds, tgt_ds, grid: SiteGrid, p: AlignParams) -> _Coarse:
    """Both images on a grid of at most coarse_max_side pixels, and a first similarity
    from phase correlation on a lattice of windows there."""
    factor = max(1, math.ceil(max(grid.width_px, grid.height_px) / p.coarse_max_side))
    rl, rv = coarse_on_grid(ref_ds, grid, factor)
    tl, tv = coarse_on_grid(tgt_ds, grid, factor)
    start = _global_translation(rl, rv, tl, tv)
    dx, dy = start[0, 2], start[1, 2]
    tl_s, tv_s = cr.shifted(tl, dx, dy), cr.shifted(tv.astype(np.float32), dx, dy) > 0.999
    size = min(p.coarse_window, _pow2_at_most(min(rl.shape) // 2))
    corners = cr.window_centres(rl.shape[1], rl.shape[0], size, p.windows_per_side)
    shifts, _ = _measure(rl, rv, tl_s, tv_s, corners, size, p.min_valid)
    src, dst, w = cr.correspondences(shifts, start)
    fit = cr.robust_similarity(src, dst, w, threshold=1.0)
    m = cr.scale_matrix(start, 1.0 / factor)
    if fit is not None and fit.inliers.sum() >= min(p.min_agreeing, len(shifts)):
        m = cr.scale_matrix(fit.matrix, 1.0 / factor)
    # with too little coarse agreement the fine pass starts from the whole-image offset (or
    # the plain reprojection) and can still manage offsets up to a quarter of its window
    return _Coarse(factor, m, rl, rv, tv, tl)


def _pow2_at_most(n: int) -> int:
    return 1 << max(4, int(math.floor(math.log2(max(16, n)))))


def select_windows(c: _Coarse, grid: SiteGrid, size: int, p: AlignParams) -> tuple[list[tuple[int, int]], int, int]:
    """Full-resolution windows to measure, among those both images cover: spread over the
    grid (`_spread`), the most textured (on the coarse reference) of each part first,
    overlapping by at most half a window, at most windows_per_side**2 of them.
    Returns them, how many candidate positions both images cover, and how many exist."""
    f = c.factor
    step = max(16, size // 2)
    xs = list(range(0, grid.width_px - size + 1, step))
    ys = list(range(0, grid.height_px - size + 1, step))
    if xs and xs[-1] != grid.width_px - size:
        xs.append(grid.width_px - size)
    if ys and ys[-1] != grid.height_px - size:
        ys.append(grid.height_px - size)
    lum = np.where(c.ref_valid, c.ref_lum, 0).astype(np.float32)
    gx = cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3)
    grad = np.sqrt(gx * gx + gy * gy)
    both = (c.ref_valid & c.tgt_valid).astype(np.float32)
    ig = cv2.integral(grad, sdepth=cv2.CV_64F)
    iv = cv2.integral(both, sdepth=cv2.CV_64F)
    h, w = grad.shape

    def box(integral, x, y):
        x0, y0 = min(w, x // f), min(h, y // f)
        x1, y1 = min(w, max(x0 + 1, (x + size) // f)), min(h, max(y0 + 1, (y + size) // f))
        area = max(1, (x1 - x0) * (y1 - y0))
        return (integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]) / area

    scored = []
    total = len(xs) * len(ys)
    for y in ys:
        for x in xs:
            if box(iv, x, y) >= p.min_valid:
                scored.append((box(ig, x, y), x, y))
    chosen: list[tuple[int, int]] = []
    limit = p.windows_per_side ** 2
    for x, y in _spread(scored, grid, size, p.windows_per_side):
        # neighbours may overlap by half a window at most
        if all(abs(x - cx) >= size // 2 and abs(y - cy) >= size // 2 or abs(x - cx) >= size or abs(y - cy) >= size
               for cx, cy in chosen):
            chosen.append((x, y))
            if len(chosen) == limit:
                break
    return chosen, len(scored), total


def _spread(scored: list[tuple[float, int, int]], grid: SiteGrid, size: int, per_side: int) -> list[tuple[int, int]]:
    """Candidate windows in the order they are taken: the most textured of each of
    per_side x per_side cells of the grid first, then each cell's second, and so on.

    Taking the most textured windows of the whole grid would put most of them where the
    texture is, on built-up ground; seen from another view angle, buildings lean, and the
    fit would follow their lean rather than the ground (issue 32: 211 of 231 windows on the
    terminal half of a Pleiades airport, 0.6 px off the open half). Spread over the grid,
    the windows sample the scene as a whole."""
    cw, ch = grid.width_px / per_side, grid.height_px / per_side
    by_cell: dict[tuple[int, int], list[tuple[float, int, int]]] = {}
    for t, x, y in scored:
        by_cell.setdefault((int((x + size / 2) // cw), int((y + size / 2) // ch)), []).append((t, x, y))
    ranked = []
    for members in by_cell.values():
        members.sort(reverse=True)
        ranked += [(rank, -t, x, y) for rank, (t, x, y) in enumerate(members)]
    ranked.sort()
    return [(x, y) for _, _, x, y in ranked]


def _target_window(tgt_ds, grid: SiteGrid, m: np.ndarray, x: int, y: int, size: int,
                   offset) -> tuple[np.ndarray, np.ndarray]:
    """Luminance and valid mask of the target resampled with m on the grid window (x, y,
    size, size): the plain reprojection of the region m maps the window to is read once,
    then warped in memory (cubic)."""
    corners = np.array([[x, y], [x + size, y], [x, y + size], [x + size, y + size]], float)
    q = cr.apply(m, corners)
    pad = 4  # cubic interpolation needs two pixels either side
    rx, ry = int(math.floor(q[:, 0].min())) - pad, int(math.floor(q[:, 1].min())) - pad
    rw, rh = int(math.ceil(q[:, 0].max())) + pad - rx, int(math.ceil(q[:, 1].max())) + pad - ry
    lum, valid = luminance(read_plain(tgt_ds, grid, (rx, ry, rw, rh), lum_bands(tgt_ds), offset))
    local = m.copy()
    local[:, 2] = m[:, :2] @ np.array([x, y], float) + m[:, 2] - np.array([rx, ry], float)
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(np.where(valid, lum, 0).astype(np.float32), local, (size, size), flags=flags)
    ok = cv2.warpAffine(valid.astype(np.float32), local, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    return out, ok > 0.999


def estimate(ref_ds, tgt_ds, grid: SiteGrid, params: AlignParams = AlignParams()) -> _Estimate:
    """The matrix taking reference-frame grid pixels to the target's plain reprojection."""
    p = params
    coarse = _coarse(ref_ds, tgt_ds, grid, p)
    m = coarse.matrix
    size = min(p.fine_window, _pow2_at_most(min(grid.width_px, grid.height_px) // 3))
    corners, covered_candidates, total = select_windows(coarse, grid, size, p)
    ref_off, tgt_off = lattice_offset(ref_ds, grid), lattice_offset(tgt_ds, grid)
    ref_windows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    fit: cr.Fit | None = None
    measured = 0
    for it in range(p.fine_iterations):
        shifts: list[cr.WindowShift] = []
        for (x, y) in corners:
            if (x, y) not in ref_windows:
                ref_windows[(x, y)] = luminance(read_plain(ref_ds, grid, (x, y, size, size), lum_bands(ref_ds), ref_off))
            rl, rv = ref_windows[(x, y)]
            if rv.mean() < p.min_valid:
                continue
            tl, tv = _target_window(tgt_ds, grid, m, x, y, size, tgt_off)
            if tv.mean() < p.min_valid:
                continue
            valid = rv & tv
            s = cr.window_shift(cr.structure(rl, valid), cr.structure(tl, valid), x + size / 2, y + size / 2)
            if s is not None:
                shifts.append(s)
        measured = len(shifts)
        src, dst, w = cr.correspondences(shifts, m)
        fit = cr.robust_similarity(src, dst, w, threshold=1.0 if it == 0 else 0.5, seed=it, rigid=p.rigid,
                                   max_bound=p.max_spread_px, l1=True)
        if fit is None:
            break
        m = fit.matrix
    return _Estimate(m, fit, measured, covered_candidates, total, len(corners), coarse)


def changed_fraction(c: _Coarse, m: np.ndarray) -> float | None:
    """The share of the textured overlap that differs once the target is resampled with
    m, judged on the coarse grid (cells of 16 coarse pixels)."""
    mc = cr.scale_matrix(m, c.factor)
    h, w = c.ref_lum.shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    tl = cv2.warpAffine(np.where(c.tgt_valid, c.tgt_lum, 0).astype(np.float32), mc, (w, h), flags=flags)
    tv = cv2.warpAffine(c.tgt_valid.astype(np.float32), mc, (w, h), flags=flags) > 0.999
    return cr.changed_share(c.ref_lum, c.ref_valid, tl, tv)


def ce90_from_misfit(rms_px: float, gsd_m: float) -> float:
    """CE90 (metres) of a fit whose agreeing windows miss by rms_px (2-D RMS): for a
    circular normal error of sigma per axis, CE90 = 2.146 sigma, and sigma = rms / sqrt 2."""
    return 2.146 * rms_px / math.sqrt(2.0) * gsd_m


def _no_fit(est: _Estimate, grid: SiteGrid, p: AlignParams) -> str | None:
    """Why the estimate cannot be used as a correction; None when it can."""
    if est.fit is None or est.measured < p.min_agreeing:
        return (f"too different from the reference: only {est.measured} of {est.tried} windows matched "
                "(cloud, sea, a featureless or a changed scene)")
    agreeing = int(est.fit.inliers.sum())
    if agreeing < p.min_agreeing or agreeing / max(1, est.measured) < p.min_quality:
        return (f"too different from the reference (only {agreeing} of {est.measured} matched windows agree; "
                "cloud, haze or a changed scene)")
    if est.fit.rms > p.max_residual_px:
        return f"too different from the reference (windows disagree by {est.fit.rms:.2f} px RMS)"
    if est.fit.rms / math.sqrt(agreeing) > p.max_standard_error_px:
        return (f"too uncertain a fit ({agreeing} windows disagreeing by {est.fit.rms:.2f} px RMS leave the "
                f"correction uncertain by {est.fit.rms / math.sqrt(agreeing):.2f} px)")
    dx, dy, _, scale = cr.describe(est.matrix, grid.width_px, grid.height_px)
    if math.hypot(dx, dy) * grid.gsd_m > p.max_shift_m or abs(scale - 1) > 0.02:
        return f"implausible correction ({dx:.1f}, {dy:.1f}) px, scale {scale:.3f}: check the georeferencing"
    return None


def _six(matrix: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """A 2x3 affine as the six floats an AlignmentResult keeps, row by row."""
    a, b, c, d, e, f = (float(v) for v in matrix.reshape(6))
    return a, b, c, d, e, f


def georef_caveat(why: str, ce90_m: float) -> str:
    return (f"not co-registered, {why}; kept on its own georeference with an assumed registration "
            f"uncertainty of {ce90_m:.0f} m CE90, so positions compared with other dates are uncertain by that much")


def align_pair(reference: Image, image: Image, grid: SiteGrid, params: AlignParams = AlignParams()) -> AlignmentResult:
    """Co-register one image to the reference on the grid. Without a usable fit the image
    is kept on its own georeference (status georef, with the caveat as its reason); a
    failed result (no coverage, cloud, unreadable) says why."""
    p = params

    def failed(reason: str, **kw) -> AlignmentResult:
        return AlignmentResult(image.id, reference.id, "failed", reason=reason, path=image.path, **kw)

    if image.cloud_cover is not None and image.cloud_cover > p.max_cloud_cover:
        return failed(f"too cloudy ({image.cloud_cover:.0%} cloud cover, more than {p.max_cloud_cover:.0%})")
    try:
        with open_image(reference.path) as ref_ds, open_image(image.path) as tgt_ds:
            est = estimate(ref_ds, tgt_ds, grid, p)
    except rasterio.errors.RasterioIOError as exc:
        return failed(f"cannot read the pixels ({str(exc).splitlines()[0]})")
    counts: dict[str, Any] = {"windows_used": 0 if est.fit is None else int(est.fit.inliers.sum()),
                              "windows_total": est.tried}
    if est.covered < p.min_overlap_windows * est.total:
        return failed(f"too little overlap with the reference (both cover {est.covered} of {est.total} window "
                      "positions on the site grid)", **counts)
    why = _no_fit(est, grid, p)
    if why is not None:
        changed = None if est.coarse is None else changed_fraction(est.coarse, cr.IDENTITY)
        return AlignmentResult(image.id, reference.id, "georef", quality=p.georef_quality, path=image.path,
                               reason=georef_caveat(why, p.georef_ce90_m), ce90_m=p.georef_ce90_m,
                               changed_fraction=changed, **counts)
    assert est.fit is not None  # _no_fit says so
    dx, dy, rot, scale = cr.describe(est.matrix, grid.width_px, grid.height_px)
    changed = None if est.coarse is None else changed_fraction(est.coarse, est.matrix)
    return AlignmentResult(image.id, reference.id, "ok", path=image.path, dx_px=dx, dy_px=dy, rotation_deg=rot,
                           scale=scale, quality=counts["windows_used"] / max(1, est.measured),
                           residual_px=est.fit.rms, matrix=_six(est.matrix),
                           ce90_m=ce90_from_misfit(est.fit.rms, grid.gsd_m), changed_fraction=changed, **counts)
