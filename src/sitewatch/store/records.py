"""Records the catalog keeps beside the domain objects: what ingestion learnt about an
image, how an image was aligned, and a processing run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sitewatch.domain import Image

ALIGNMENT_STATUSES = ("reference", "ok", "failed")


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
class AlignmentResult:
    """How one image is put on its site's grid, relative to the reference image.

    matrix (a, b, c, d, e, f) maps a site-grid pixel (col, row), in the frame of the
    reference, to the pixel of this image's plain reprojection onto the grid that shows the
    same ground: col' = a*col + b*row + c, row' = d*col + e*row + f. dx_px/dy_px are that
    correction at the grid centre (the displacement of the image content, east and south),
    rotation_deg its rotation, clockwise.
    """

    image_id: str
    reference_id: str
    status: str  # reference, ok, failed
    dx_px: float = 0.0
    dy_px: float = 0.0
    rotation_deg: float = 0.0
    scale: float = 1.0
    matrix: tuple[float, float, float, float, float, float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    quality: float = 0.0  # 0..1: share of windows that agree with the fitted model
    residual_px: float | None = None  # RMS misfit of the agreeing windows, grid pixels
    windows_used: int = 0
    windows_total: int = 0
    reason: str = ""
    path: str = ""

    def __post_init__(self) -> None:
        if self.status not in ALIGNMENT_STATUSES:
            raise ValueError(f"alignment status must be one of {ALIGNMENT_STATUSES}, got {self.status!r}")

    @property
    def usable(self) -> bool:
        return self.status in ("reference", "ok")


@dataclass(frozen=True)
class Run:
    id: str
    kind: str
    site: str | None
    started: datetime
    finished: datetime | None = None
    status: str = "running"
    params: dict = field(default_factory=dict)
