"""From the catalog to Looks: each usable image of a site, its detections moved into the
reference frame of the site grid, its aligned pixels, and a quality figure.

Detections are stored as the detector found them, in the image's own georeferencing. The
alignment maps a site-grid pixel of the reference frame to the pixel of the image's plain
reprojection that shows the same ground, so a detection at plain pixel p' stands at
reference pixel M^-1 p'. Its heading turns with the alignment's rotation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from sitewatch.change.tracking import Look
from sitewatch.domain import AlignmentResult, Detection, Image, OrientedBox, Site, SiteGrid
from sitewatch.errors import CatalogError
from sitewatch.geo.align import read_aligned
from sitewatch.geo.sharpness import sampled_edge_blur_px
from sitewatch.store import Catalog, alignments_for_site, detections_for_image, images_for_site

# An alignment residual (RMS, grid pixels) at which a look's quality halves. Two pixels
# (1 m at 0.5 m) is about the detector's own centre error: a residual well below it cannot
# make an item seem to come, go or move. (At 0.5 px, well-aligned simulated pairs with
# 0.1-0.26 px residuals lost up to a fifth of every event's confidence, and true arrivals
# fell below moderate: bench_change --detector model, arrived F1 0.76 -> 0.81.)
RESIDUAL_HALF_PX = 2.0


@dataclass
class SiteLooks:
    looks: list[Look] = field(default_factory=list)
    alignments: dict[str, AlignmentResult] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)  # one reason per image left out


def look_quality(image: Image, alignment: AlignmentResult) -> float:
    """Alignment agreement, residual and cloud folded into [0, 1]."""
    if alignment.status == "reference":
        q = 1.0
    else:
        q = float(alignment.quality)
        if alignment.residual_px is not None:
            q *= 1.0 / (1.0 + (alignment.residual_px / RESIDUAL_HALF_PX) ** 2)
    if image.cloud_cover is not None:
        q *= 1.0 - min(max(image.cloud_cover, 0.0), 1.0)
    return max(0.0, min(q, 1.0))


def to_reference_frame(dets: Sequence[Detection], alignment: AlignmentResult, grid: SiteGrid) -> list[Detection]:
    """Detections from an image's own georeferencing into the reference frame of the grid."""
    if alignment.status == "reference":
        return list(dets)
    m = np.vstack([np.asarray(alignment.matrix, float).reshape(2, 3), [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(m)
    turn = -math.degrees(math.atan2(m[1, 0], m[0, 0]))  # clockwise image rotation to undo, on a y-down grid
    out = []
    for d in dets:
        col, row = grid.to_pixel(d.box.cx, d.box.cy)
        c, r, _ = inv @ np.array([col, row, 1.0])
        x, y = grid.to_map(float(c), float(r))
        box = OrientedBox(x, y, d.box.length, d.box.width, d.box.heading_deg + turn)
        out.append(replace(d, box=box))
    return out


def site_looks(catalog: Catalog, site: Site, with_pixels: bool = True) -> tuple[SiteLooks, dict[str, np.ndarray]]:
    """The usable looks of a site in date order, and their aligned pixels (H, W, 3).

    Raises CatalogError when the site has images but none was aligned yet."""
    images = images_for_site(catalog, site.name)
    if not images:
        raise CatalogError(f"site {site.name!r} has no images; run `sitewatch ingest` first")
    aligns = alignments_for_site(catalog, site.name)
    if not aligns:
        raise CatalogError(f"site {site.name!r}: its {len(images)} images are not aligned yet; "
                           f"run `sitewatch align --site {site.name}` first")
    out = SiteLooks(alignments=aligns)
    pixels: dict[str, np.ndarray] = {}
    for img in sorted(images, key=lambda i: i.acquired):
        a = aligns.get(img.id)
        if a is None:
            out.excluded.append(f"{img.id} ({img.acquired:%Y-%m-%d}) is not aligned yet")
            continue
        if not a.usable:
            out.excluded.append(f"{img.id} ({img.acquired:%Y-%m-%d}) could not be aligned: {a.reason}")
            continue
        dets = to_reference_frame(detections_for_image(catalog, img.id), a, site.grid)
        blur_m = None
        if with_pixels:
            pixels[img.id] = read_site_pixels(img, a, site.grid)
            blur_px = sampled_edge_blur_px(pixels[img.id])
            blur_m = None if blur_px is None else blur_px * site.grid.gsd_m
        out.looks.append(Look(img, tuple(dets), look_quality(img, a), blur_m, a.ce90_m))
    return out, pixels


def read_site_pixels(image: Image, alignment: AlignmentResult, grid: SiteGrid) -> np.ndarray:
    """The whole site grid of an aligned image as (H, W, 3) uint8 (first three bands; a
    single band is repeated; other dtypes are stretched to 8 bits on their 0.5-99.5%)."""
    a = None if alignment.status == "reference" else alignment
    arr = read_aligned(image, a, grid, (0, 0, grid.width_px, grid.height_px))
    arr = np.moveaxis(arr, 0, -1)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        f = arr.astype(np.float32)
        valid = f.max(axis=2) > 0
        lo, hi = np.percentile(f[valid], [0.5, 99.5]) if valid.any() else (0.0, 1.0)
        arr = np.clip((f - lo) / max(hi - lo, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)
