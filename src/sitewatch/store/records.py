"""Records the catalog keeps beside the domain objects: what ingestion learnt about an
image, and a processing run. (How an image was aligned, `AlignmentResult`, is a domain
record; it is re-exported here.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sitewatch.domain import ALIGNMENT_STATUSES, AlignmentResult, Image

__all__ = ["ALIGNMENT_STATUSES", "AlignmentResult", "ImageRecord", "Run"]


@dataclass(frozen=True)
class ImageRecord:
    """An image with the facts ingestion found. image.site is the first covered site."""

    image: Image
    crs_wkt: str
    footprint_wkt: str  # EPSG:4326 outline of the valid (not nodata, not black-border) pixels
    valid_fraction: float
    datetime_source: str  # stac, tiff_tag, option, filename
    tiled: bool
    nodata: float | None = None
    source: str | None = None  # STAC item href
    sites: tuple[tuple[str, float], ...] = ()  # (site name, fraction of the site covered)


@dataclass(frozen=True)
class Run:
    id: str
    kind: str
    site: str | None
    started: datetime
    finished: datetime | None = None
    status: str = "running"
    params: dict = field(default_factory=dict)
