"""Images, their site assignments, and their alignment to the site grid."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select

from sitewatch.domain import Image, Observation
from sitewatch.errors import CatalogError
from sitewatch.store.catalog import Catalog
from sitewatch.store.models import AlignmentRow, ImageRow, SiteImageRow, SiteRow
from sitewatch.store.records import AlignmentResult, ImageRecord


def _naive_utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def _aware_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def add_image(catalog: Catalog, record: ImageRecord) -> Image:
    """Add an image and its site assignments in one transaction. CatalogError if an image
    with the same checksum is already there, or a named site does not exist."""
    img = record.image
    with catalog.transaction() as s:
        dup = s.scalars(select(ImageRow).where(ImageRow.checksum == img.checksum)).first()
        if dup is not None or s.get(ImageRow, img.id) is not None:
            other = dup.path if dup is not None else img.id
            raise CatalogError(f"{img.path}: duplicate of image {img.id} already in the catalog ({other})")
        for name, _ in record.sites:
            if s.get(SiteRow, name) is None:
                raise CatalogError(f"{img.path}: no site named {name!r} in the catalog")
        s.add(ImageRow(id=img.id, path=img.path, acquired=_naive_utc(img.acquired),
                       datetime_source=record.datetime_source, gsd_m=img.gsd_m, crs_wkt=record.crs_wkt,
                       crs=img.crs, width_px=img.width_px, height_px=img.height_px, bands=img.bands,
                       dtype=img.dtype, nodata=record.nodata, footprint_wkt=record.footprint_wkt,
                       valid_fraction=record.valid_fraction, cloud_cover=img.cloud_cover,
                       checksum=img.checksum or img.id, tiled=record.tiled, source=record.source,
                       ingested=datetime.now(UTC).replace(tzinfo=None), **_observation_columns(img)))
        s.flush()
        for name, overlap in record.sites:
            s.add(SiteImageRow(site=name, image_id=img.id, overlap=overlap))
    return img


def _observation_columns(img: Image) -> dict:
    o = img.observation
    return {"provider": o.provider, "platform": o.platform, "constellation": o.constellation,
            "instruments": list(o.instruments) or None, "modality": o.modality, "stated_gsd_m": o.gsd_m,
            "off_nadir_deg": o.off_nadir_deg, "view_azimuth_deg": o.view_azimuth_deg,
            "sun_azimuth_deg": o.sun_azimuth_deg, "sun_elevation_deg": o.sun_elevation_deg,
            "observation_origin": o.origin, "caveats": list(img.caveats) or None}


def _to_observation(row: ImageRow) -> Observation:
    return Observation(provider=row.provider, platform=row.platform, constellation=row.constellation,
                       instruments=tuple(row.instruments or ()), modality=row.modality, gsd_m=row.stated_gsd_m,
                       off_nadir_deg=row.off_nadir_deg, view_azimuth_deg=row.view_azimuth_deg,
                       sun_azimuth_deg=row.sun_azimuth_deg, sun_elevation_deg=row.sun_elevation_deg,
                       origin=row.observation_origin)


def _to_image(row: ImageRow, site: str) -> Image:
    return Image(id=row.id, site=site, path=row.path, acquired=_aware_utc(row.acquired), gsd_m=row.gsd_m,
                 crs=row.crs, width_px=row.width_px, height_px=row.height_px, bands=row.bands, dtype=row.dtype,
                 cloud_cover=row.cloud_cover, checksum=row.checksum, observation=_to_observation(row),
                 caveats=(*(row.caveats or ()), *(row.check_caveats or ())))


def save_check_caveats(catalog: Catalog, found: dict[str, list[str]]) -> None:
    """Store what a run's checks on each image's pixels found doubtful (image id -> its
    caveats, empty where nothing), replacing what an earlier run stored for those images;
    the image's record (`get_image`, `images_for_site`) states them after ingest's own.
    An image no longer in the catalog is passed over."""
    with catalog.transaction() as s:
        for image_id, caveats in found.items():
            row = s.get(ImageRow, image_id)
            if row is not None:
                row.check_caveats = list(dict.fromkeys(caveats)) or None


def image_by_checksum(catalog: Catalog, checksum: str) -> Image | None:
    with catalog.reading() as s:
        row = s.scalars(select(ImageRow).where(ImageRow.checksum == checksum)).first()
        if row is None:
            return None
        first = s.scalars(select(SiteImageRow.site).where(SiteImageRow.image_id == row.id)).first()
        return _to_image(row, first or "")


def get_image(catalog: Catalog, image_id: str, site: str | None = None) -> Image:
    with catalog.reading() as s:
        row = s.get(ImageRow, image_id)
        if row is None:
            raise CatalogError(f"no image {image_id!r} in the catalog")
        if site is None:
            site = s.scalars(select(SiteImageRow.site).where(SiteImageRow.image_id == image_id)).first() or ""
        return _to_image(row, site)


def image_details(catalog: Catalog, image_id: str) -> dict:
    """What ingestion recorded beyond the domain Image: footprint, CRS WKT, nodata, sites."""
    with catalog.reading() as s:
        row = s.get(ImageRow, image_id)
        if row is None:
            raise CatalogError(f"no image {image_id!r} in the catalog")
        sites = s.execute(select(SiteImageRow.site, SiteImageRow.overlap)
                          .where(SiteImageRow.image_id == image_id)).all()
        return {"footprint_wkt": row.footprint_wkt, "crs_wkt": row.crs_wkt, "nodata": row.nodata,
                "valid_fraction": row.valid_fraction, "datetime_source": row.datetime_source,
                "tiled": bool(row.tiled), "source": row.source, "sites": [(n, o) for n, o in sites]}


def images_for_site(catalog: Catalog, site: str) -> list[Image]:
    """The site's images, oldest first (ties broken by id, so the order is stable)."""
    with catalog.reading() as s:
        rows = s.scalars(select(ImageRow).join(SiteImageRow, SiteImageRow.image_id == ImageRow.id)
                         .where(SiteImageRow.site == site).order_by(ImageRow.acquired, ImageRow.id)).all()
        return [_to_image(r, site) for r in rows]


def image_count(catalog: Catalog) -> int:
    with catalog.reading() as s:
        return len(s.scalars(select(ImageRow.id)).all())


def save_alignment(catalog: Catalog, site: str, result: AlignmentResult) -> None:
    """Store (replacing any earlier one) how an image is aligned on a site's grid."""
    with catalog.transaction() as s:
        s.execute(delete(AlignmentRow).where(AlignmentRow.site == site, AlignmentRow.image_id == result.image_id))
        s.add(AlignmentRow(site=site, image_id=result.image_id, reference_image_id=result.reference_id,
                           status=result.status, reason=result.reason, dx_px=result.dx_px, dy_px=result.dy_px,
                           rotation_deg=result.rotation_deg, scale=result.scale, matrix=list(result.matrix),
                           quality=result.quality, residual_px=result.residual_px,
                           windows_used=result.windows_used, windows_total=result.windows_total,
                           ce90_m=result.ce90_m, changed_fraction=result.changed_fraction,
                           created=datetime.now(UTC).replace(tzinfo=None)))


def _to_alignment(row: AlignmentRow, path: str) -> AlignmentResult:
    return AlignmentResult(image_id=row.image_id, reference_id=row.reference_image_id, status=row.status,
                           dx_px=row.dx_px, dy_px=row.dy_px, rotation_deg=row.rotation_deg, scale=row.scale,
                           matrix=tuple(float(v) for v in row.matrix),  # type: ignore[arg-type]
                           quality=row.quality, residual_px=row.residual_px, windows_used=row.windows_used,
                           windows_total=row.windows_total, reason=row.reason, path=path,
                           ce90_m=row.ce90_m, changed_fraction=row.changed_fraction)


def alignments_for_site(catalog: Catalog, site: str) -> dict[str, AlignmentResult]:
    """image id -> its alignment on the site's grid (images never aligned are absent)."""
    with catalog.reading() as s:
        rows = s.execute(select(AlignmentRow, ImageRow.path).join(ImageRow, ImageRow.id == AlignmentRow.image_id)
                         .where(AlignmentRow.site == site)).all()
        return {r.image_id: _to_alignment(r, p) for r, p in rows}


def alignment_for(catalog: Catalog, site: str, image_id: str) -> AlignmentResult:
    """The stored alignment; CatalogError if the image was never aligned on that site."""
    found = alignments_for_site(catalog, site).get(image_id)
    if found is None:
        raise CatalogError(f"image {image_id} has not been aligned on site {site!r}; run `sitewatch align --site {site}`")
    return found


def aligned_images(catalog: Catalog, site: str) -> list[tuple[Image, AlignmentResult]]:
    """The site's images that may be compared, oldest first, each with its alignment: the
    reference, those aligned ok and those kept on their own georeference (georef, with
    their registration uncertainty). Images never aligned or whose alignment failed are left
    out, so no later stage uses them by mistake."""
    alignments = alignments_for_site(catalog, site)
    return [(img, alignments[img.id]) for img in images_for_site(catalog, site)
            if img.id in alignments and alignments[img.id].usable]
