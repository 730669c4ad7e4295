"""Detection over a catalogued site: every image read on the site grid, detections stored
in the catalog (through `sitewatch.store`, no SQL here).

Stored detections are in each image's own georeferencing, expressed in the site CRS (the
image is reprojected onto the site grid, no alignment correction): what the sensor saw.
Later stages move them into the reference frame with the stored alignment
(`sitewatch.workflow.looks.to_reference_frame`, and the web app's boxes), so the correction
is applied exactly once, and a re-alignment never invalidates stored detections.

The site grid is resampled to the model's GSD when they differ.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
from affine import Affine
from rasterio.enums import Resampling

from sitewatch.detect.inference import FEATURELESS_STD, FILL, RunStats, SceneGrid, _value_scale, detect_tiles
from sitewatch.detect.model import DetectionModel
from sitewatch.detect.plausible import plausible
from sitewatch.domain import Detection, Image, Site, SiteGrid
from sitewatch.errors import CatalogError
from sitewatch.geo.align import warp_window
from sitewatch.geo.imagefile import open_checked
from sitewatch.store import alignment_for, finish_run, get_site, images_for_site, save_detections, start_run

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # warp_window with no alignment correction


class SiteGridReader:
    """Model-GSD tiles of one catalogued image reprojected onto its site's grid."""

    def __init__(self, image: Image, site: Site, model_gsd: float):
        self.path = image.path
        self.src = open_checked(image.path)
        g = site.grid
        k = model_gsd / g.gsd_m  # model pixels -> site-grid pixels
        w, h = max(1, int(round(g.width_px / k))), max(1, int(round(g.height_px / k)))
        self.model_grid = SiteGrid(g.crs, g.origin_x, g.origin_y, model_gsd, w, h)
        self.grid = SceneGrid(g.crs, Affine(model_gsd, 0, g.origin_x, 0, -model_gsd, g.origin_y), w, h, image.gsd_m)
        self.sun = self.grid.sun_at_centre(image.acquired)
        self.bands = [1, 2, 3] if self.src.count >= 3 else [1]
        self.offset, self.gain = _value_scale(self.src, self.bands)
        self.shrink = image.gsd_m < model_gsd

    def close(self) -> None:
        self.src.close()

    def read(self, tile):
        data = warp_window(self.src, self.model_grid, IDENTITY, (tile.col, tile.row, tile.width, tile.height),
                           self.bands, Resampling.average if self.shrink else Resampling.bilinear,
                           dtype="float32", nodata=None)
        valid = np.all(np.isfinite(data), axis=0)
        if not valid.any():
            return None, "nodata"
        if len(self.bands) == 1:
            data = np.repeat(data, 3, axis=0)
        if self.src.dtypes[0] != "uint8":
            off = np.resize(self.offset, 3)
            gain = np.resize(self.gain, 3)
            data = np.clip((data - off[:, None, None]) * gain[:, None, None], 0, 255)
        data[:, ~valid] = FILL
        if float(data[:, ::8, ::8].std(axis=(1, 2)).max()) < FEATURELESS_STD:
            return None, "featureless"
        return data, ""


@dataclass(frozen=True)
class SiteImageSource:
    """A catalogued image read on its site's grid, as shipped to a Dask worker
    (`detect.cluster`), which opens the file itself."""

    image: Image
    site: Site

    @property
    def key(self) -> str:
        return f"site:{self.site.name}:{self.image.id}:{self.image.path}"

    def open(self, model_gsd: float) -> SiteGridReader:
        return SiteGridReader(self.image, self.site, model_gsd)


def _usable(catalog, site_name: str, image: Image) -> bool:
    try:
        alignment = alignment_for(catalog, site_name, image.id)
    except CatalogError:
        warnings.warn(f"{image.path}: not aligned on {site_name} yet; detected all the same", stacklevel=3)
        return True
    if not alignment.usable:
        warnings.warn(f"{image.path}: alignment failed ({alignment.reason}); skipped", stacklevel=3)
    return alignment.usable


def _in_process(images: list[Image], site: Site, model: DetectionModel, score_threshold: float | None, batch: int,
                progress: Callable[[str, int, int], None] | None) -> Iterator[tuple[list[Detection], RunStats]]:
    for image in images:
        reader = SiteGridReader(image, site, model.gsd_m)
        try:
            dets, _, stats = detect_tiles(reader, model, image.id, batch, score_threshold,
                                          progress=partial(progress, image.id) if progress else None)
        finally:
            reader.close()
        yield dets, stats


def _on_cluster(client, images: list[Image], site: Site, model: DetectionModel, score_threshold: float | None,
                batch: int, progress: Callable[[str, int, int], None] | None) -> Iterator[tuple[list[Detection], RunStats]]:
    """The same detections from a Dask cluster, in image order (images run side by side)."""
    from sitewatch.detect import cluster  # noqa: PLC0415  (the cluster extra: Dask)

    plans = [cluster.plan_source(SiteImageSource(im, site), im.path, im.id, model, batch) for im in images]
    on_tiles = (lambda i, k, n: progress(images[i].id, k, n)) if progress else None
    done: dict[int, tuple[list[Detection], RunStats]] = {}
    for r in cluster.detect_scenes(client, plans, model, score_threshold, on_tiles):
        done[r.index] = (r.detections, r.stats)
    for i in range(len(images)):
        yield done[i]


def detect_site(catalog, site_name: str, model: DetectionModel, score_threshold: float | None = None,
                batch: int = 2, progress: Callable[[str, int, int], None] | None = None,
                client=None) -> list[tuple[Image, int, RunStats]]:
    """Detect on every image of the site and store the detections in one run; returns
    (image, detections stored, stats) per image. Detections the site's zones rule out (a
    ship on a runway, a truck on open water: `detect.plausible`) are not stored; each
    image's stats say how many were dropped and why. With a Dask `client`
    (`detect.cluster.connect`), the tiles run on its workers and the results are the same."""
    site = get_site(catalog, site_name)
    images = images_for_site(catalog, site_name)
    if not images:
        raise CatalogError(f"site {site_name!r} has no images; run `sitewatch ingest` first")
    run = start_run(catalog, "detect", site_name, {"model_id": model.info.model_id,
                                                   "model_version": model.info.version,
                                                   "score_threshold": score_threshold})
    out = []
    try:
        usable = [image for image in images if _usable(catalog, site_name, image)]
        found = (_on_cluster(client, usable, site, model, score_threshold, batch, progress) if client is not None
                 else _in_process(usable, site, model, score_threshold, batch, progress))
        for image, (dets, stats) in zip(usable, found):
            dets, dropped = plausible(site, dets)
            if dropped:
                kinds = ", ".join(f"{n} {why.split(' (')[0]}" for why, n in Counter(dropped).most_common())
                stats.warnings.append(f"{image.path}: dropped {len(dropped)} detection(s) the site's zones rule "
                                      f"out: {kinds}")
            save_detections(catalog, run, dets, site=site_name, crs=site.grid.crs)
            out.append((image, len(dets), stats))
    except BaseException:
        finish_run(catalog, run, "failed")
        raise
    finish_run(catalog, run, "done")
    return out
