"""Aligning a site: choose its reference image and put every image of it on the site grid
(`geo.align.align_pair`), storing each result in the catalog."""

from __future__ import annotations

from collections.abc import Callable

from sitewatch.domain import AlignmentResult, Image, Site
from sitewatch.errors import AlignmentError, CatalogError
from sitewatch.geo.align import AlignParams, align_pair
from sitewatch.store import Catalog, image_details, images_for_site, save_alignment, set_reference_image
from sitewatch.workflow.on_cluster import align_images


def choose_reference(catalog: Catalog, site: Site, images: list[Image], params: AlignParams) -> Image:
    """The first good date: enough of the site covered and not too cloudy."""
    for img in images:
        if img.cloud_cover is not None and img.cloud_cover > params.max_cloud_cover:
            continue
        overlap = dict(image_details(catalog, img.id)["sites"]).get(site.name, 0.0)
        if overlap >= 0.5:
            return img
    raise AlignmentError(f"site {site.name!r}: no image covers at least half the site with little cloud; "
                         "nothing can serve as the reference")


def align_site(catalog: Catalog, site: Site, reference: str | None = None, params: AlignParams = AlignParams(),
               progress: Callable[[int, int, Image], None] | None = None, client=None) -> list[AlignmentResult]:
    """Align every image of the site to its reference (the first good date, or the image
    id given) and store the results. Returns them oldest first. With a Dask `client`
    (`detect.cluster.connect`), the images are aligned on its workers (the same results)."""
    images = images_for_site(catalog, site.name)
    if not images:
        raise CatalogError(f"site {site.name!r} has no images; run `sitewatch ingest` first")
    if reference is not None:
        matches = [i for i in images if i.id == reference or i.id.startswith(reference)]
        if len(matches) != 1:
            raise CatalogError(f"site {site.name!r}: reference {reference!r} matches {len(matches)} images")
        ref = matches[0]
    else:
        ref = choose_reference(catalog, site, images, params)
    set_reference_image(catalog, site.name, ref.id)
    others = [img for img in images if img.id != ref.id]
    aligned = (align_images(client, ref, others, site.grid, params) if client is not None
               else (align_pair(ref, img, site.grid, params) for img in others))
    results = []
    for k, img in enumerate(images):
        if img.id == ref.id:
            res = AlignmentResult(img.id, ref.id, "reference", quality=1.0, residual_px=0.0, path=img.path,
                                  reason="reference image")
        else:
            res = next(aligned)
        save_alignment(catalog, site.name, res)
        results.append(res)
        if progress is not None:
            progress(k + 1, len(images), img)
    return results
