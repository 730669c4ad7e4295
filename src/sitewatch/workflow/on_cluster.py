"""A site's other per-image stages on a Dask cluster: alignment, and pixel change between
consecutive dates (detection has its own module, `detect.cluster`).

Each task is a small spec: the images (paths and metadata), their alignments, the site grid,
the detections to mask. Pixels never travel: the worker reads the files itself, exactly as
the client would (`geo.align.align_pair`, `workflow.looks.read_site_pixels`), so the results
are the in-process ones. A task is keyed by what it computes, so one retried after its
worker died is the same task. Only the client's `submit` is used: Dask is not imported here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence

import cv2

from sitewatch.change.pixel import ChangedThroughout, change_regions
from sitewatch.change.tracking import Look
from sitewatch.domain import AlignmentResult, ChangeRegion, Detection, Image, Site, SiteGrid
from sitewatch.geo.align import AlignParams, align_pair
from sitewatch.workflow.looks import read_site_pixels

# Pixel-change regions of consecutive look pairs, in pair order; None where the two
# differ throughout (`pixel.ChangedThroughout`).
PairRegions = Callable[[Sequence[tuple[Look, Look]]], list[list[ChangeRegion] | None]]


def task_key(stage: str, *spec: object) -> str:
    return f"sitewatch-{stage}-" + hashlib.sha256(repr(spec).encode()).hexdigest()[:32]


def _one_thread() -> None:
    # The workers' native libraries run on one thread each (detect.cluster.WORKER_ENV);
    # OpenCV's own pool is not governed by those variables.
    cv2.setNumThreads(1)


def _align_on_worker(reference: Image, image: Image, grid: SiteGrid, params: AlignParams) -> AlignmentResult:
    _one_thread()
    return align_pair(reference, image, grid, params)


def align_images(client, reference: Image, images: Sequence[Image], grid: SiteGrid,
                 params: AlignParams) -> Iterator[AlignmentResult]:
    """align_pair(reference, image) of each image, run on the workers, in the order given."""
    futures = [client.submit(_align_on_worker, reference, image, grid, params, pure=True,
                             key=task_key("align", reference, image, grid, params)) for image in images]
    try:
        for future in futures:
            yield future.result()
    finally:
        for future in futures:
            future.release()


def regions_in_process(site: Site, pixels) -> PairRegions:
    """PairRegions from the pixels the client holds (image id -> site-grid array)."""
    def regions_of(pairs: Sequence[tuple[Look, Look]]) -> list[list[ChangeRegion] | None]:
        return [_regions(site, pixels[a.image.id], pixels[b.image.id], a, b) for a, b in pairs]
    return regions_of


def _regions(site: Site, before, after, a: Look, b: Look) -> list[ChangeRegion] | None:
    objects = list(a.detections) + list(b.detections)
    try:
        return change_regions(site, before, after, a.image.id, b.image.id, objects)
    except ChangedThroughout:
        return None


def _change_on_worker(site: Site, before: tuple[Image, AlignmentResult], after: tuple[Image, AlignmentResult],
                      a_dets: tuple[Detection, ...], b_dets: tuple[Detection, ...]) -> list[ChangeRegion] | None:
    _one_thread()
    pixels = [read_site_pixels(image, alignment, site.grid) for image, alignment in (before, after)]
    a = Look(before[0], a_dets, 1.0)
    b = Look(after[0], b_dets, 1.0)
    return _regions(site, pixels[0], pixels[1], a, b)


def regions_on_cluster(client, site: Site, alignments: dict[str, AlignmentResult]) -> PairRegions:
    """PairRegions computed on the workers, each reading its pair's images onto the site
    grid with their stored alignments."""
    def regions_of(pairs: Sequence[tuple[Look, Look]]) -> list[list[ChangeRegion] | None]:
        futures = []
        for a, b in pairs:
            spec = (site, (a.image, alignments[a.image.id]), (b.image, alignments[b.image.id]),
                    tuple(a.detections), tuple(b.detections))
            futures.append(client.submit(_change_on_worker, *spec, pure=True, key=task_key("pixel-change", *spec)))
        try:
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.release()
    return regions_of
