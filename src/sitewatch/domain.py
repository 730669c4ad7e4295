"""The vocabulary every stage speaks.

Plain dataclasses, no I/O and no imports from the rest of sitewatch. Geometry is in the
site CRS (a projected CRS in metres) unless a field says otherwise.

Heading convention: degrees clockwise from grid north, in [0, 360), pointing where the
nose or bow points. On the site grid, x grows east and y grows north, so the unit vector
along the object's axis is (sin h, cos h).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

CLASSES: tuple[str, ...] = ("aircraft", "helicopter", "ship", "vehicle", "air_defence")
STATES: tuple[str, ...] = ("normal", "cargo_open", "rotor_removed", "erect", "stowed", "deployed")
UNKNOWN_TYPE = "unknown"

SiteKind = Literal["airbase", "naval_base"]
EventKind = Literal["arrived", "departed", "moved", "state_changed"]
EVENT_KINDS: tuple[str, ...] = ("arrived", "departed", "moved", "state_changed")
POSTURES: tuple[str, ...] = ("withdrawal", "buildup", "largely_unchanged", "insufficient_evidence")
LIKELIHOOD_WORDS: tuple[str, ...] = ("almost certainly", "likely", "roughly even chance", "unlikely")
CONFIDENCE_LEVELS: tuple[str, ...] = ("high", "moderate", "low")


def normalise_heading(heading_deg: float) -> float:
    """Fold any angle into [0, 360)."""
    h = math.fmod(heading_deg, 360.0)
    if h < 0:
        h += 360.0
    # fmod(-1e-17, 360) + 360 rounds to exactly 360.0
    return 0.0 if h >= 360.0 else h


@dataclass(frozen=True)
class OrientedBox:
    """An oriented rectangle: centre, length along the axis, width across it, heading."""

    cx: float
    cy: float
    length: float
    width: float
    heading_deg: float

    def __post_init__(self) -> None:
        if not (self.length > 0 and self.width > 0):
            raise ValueError(f"box sides must be positive, got {self.length} x {self.width}")
        object.__setattr__(self, "heading_deg", normalise_heading(self.heading_deg))

    def corners(self) -> list[tuple[float, float]]:
        """Four corners in map coordinates (x east, y north), counter-clockwise from the
        front-left corner: front-left, rear-left, rear-right, front-right."""
        h = math.radians(self.heading_deg)
        ax, ay = math.sin(h), math.cos(h)  # along the axis, towards the nose
        px, py = -ay, ax  # to the object's left (axis turned 90 deg counter-clockwise)
        hl, hw = self.length / 2.0, self.width / 2.0
        pts = []
        for sl, sw in ((1, 1), (-1, 1), (-1, -1), (1, -1)):
            pts.append((self.cx + sl * hl * ax + sw * hw * px, self.cy + sl * hl * ay + sw * hw * py))
        return pts

    @property
    def area(self) -> float:
        return self.length * self.width


@dataclass(frozen=True)
class Zone:
    """A named part of a site: an apron, a helipad, an air-defence site, a berth."""

    name: str
    kind: str
    polygon: tuple[tuple[float, float], ...]  # site CRS, exterior ring, not closed


@dataclass(frozen=True)
class SiteGrid:
    """The fixed pixel grid every image of a site is processed on.

    origin is the top-left corner of the top-left pixel in the site CRS.
    """

    crs: str  # e.g. "EPSG:32636"
    origin_x: float
    origin_y: float
    gsd_m: float
    width_px: int
    height_px: int

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """Map coordinates to (col, row) in continuous pixel units (0,0 = top-left corner)."""
        return (x - self.origin_x) / self.gsd_m, (self.origin_y - y) / self.gsd_m

    def to_map(self, col: float, row: float) -> tuple[float, float]:
        return self.origin_x + col * self.gsd_m, self.origin_y - row * self.gsd_m

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the site CRS."""
        return (
            self.origin_x,
            self.origin_y - self.height_px * self.gsd_m,
            self.origin_x + self.width_px * self.gsd_m,
            self.origin_y,
        )


@dataclass(frozen=True)
class Site:
    name: str
    kind: SiteKind
    lat: float
    lon: float
    grid: SiteGrid
    zones: tuple[Zone, ...] = ()

    def zone(self, name: str) -> Zone:
        for z in self.zones:
            if z.name == name:
                return z
        raise KeyError(f"site {self.name!r} has no zone {name!r}")


# What kind of picture an image is. An image whose metadata does not tell is None (unknown).
MODALITIES: tuple[str, ...] = ("optical_pan", "optical_multispectral", "sar")


@dataclass(frozen=True)
class Observation:
    """Who took an image and how, as its metadata states it (a STAC item, else the file's
    tags). Every field is None (or empty) where nothing says: never guessed.

    provider: the producing (else licensing, else first named) organisation; platform: the
    satellite or aircraft (STAC `platform`, e.g. worldview-3); constellation and instruments
    as STAC names them; modality: one of MODALITIES; gsd_m: the GSD the metadata states
    (the sensor's, which the file's pixel spacing, Image.gsd_m, may not equal). Angles in
    degrees: off-nadir, the view azimuth (from the ground to the sensor, clockwise from
    true north), the sun's azimuth (clockwise from true north) and elevation. origin: where
    the fields came from, "stac", "tags", "stac+tags", or None when nothing was found."""

    provider: str | None = None
    platform: str | None = None
    constellation: str | None = None
    instruments: tuple[str, ...] = ()
    modality: str | None = None
    gsd_m: float | None = None
    off_nadir_deg: float | None = None
    view_azimuth_deg: float | None = None
    sun_azimuth_deg: float | None = None
    sun_elevation_deg: float | None = None
    origin: str | None = None

    @property
    def source_name(self) -> str | None:
        """A short name of the source for listings: provider and platform, as known."""
        parts = [p for p in (self.provider, self.platform or self.constellation) if p]
        return " / ".join(dict.fromkeys(parts)) or None


@dataclass(frozen=True)
class Image:
    """One georeferenced image of a site on one date.

    observation: its source and viewing geometry as its metadata states them; caveats: what
    the integrity checks found doubtful about it (a sun that does not match its time), one
    sentence each."""

    id: str
    site: str
    path: str
    acquired: datetime
    gsd_m: float
    crs: str
    width_px: int
    height_px: int
    bands: int = 3
    dtype: str = "uint8"
    cloud_cover: float | None = None
    checksum: str | None = None
    observation: Observation = field(default_factory=Observation)
    caveats: tuple[str, ...] = ()


@dataclass(frozen=True)
class PixelWindow:
    """A window of the source image, in pixels: column and row offsets, width, height."""

    col_off: int
    row_off: int
    width: int
    height: int


@dataclass(frozen=True)
class Detection:
    """One detected object. The box is in the site CRS (metres)."""

    box: OrientedBox
    cls: str
    type: str
    state: str
    score: float
    type_score: float
    state_score: float
    image_id: str = ""
    window: PixelWindow | None = None
    model_id: str = ""
    model_version: str = ""
    # The presence check's own answer, where the model has one for this class; `score` then
    # combines the detector's score with it (see detect.verifier).
    presence_score: float | None = None


@dataclass
class Track:
    """One item followed across dates: the detection per image id where it was seen."""

    id: str
    site: str
    cls: str
    type: str
    sightings: dict[str, Detection] = field(default_factory=dict)


@dataclass(frozen=True)
class Evidence:
    """A pointer from a claim back to pixels."""

    image_id: str
    window: PixelWindow | None = None
    event_id: str | None = None
    note: str = ""


# How far other sources bear out a finding (`change.corroboration`): seen in two or more
# independent sources of the same moment, in one only, or contradicted by another of
# adequate quality.
GRADES: tuple[str, ...] = ("confirmed", "single_source", "disputed")
# What one source says of a finding: it shows it, it shows the contrary, or it cannot tell
# (the place under cloud, out of its frame, too coarse or too poor to show the item).
SOURCE_VERDICTS: tuple[str, ...] = ("supports", "contradicts", "no_evidence")


@dataclass(frozen=True)
class SourceReport:
    """One source's word on a finding: the image, its source (provider and modality), its
    verdict (one of SOURCE_VERDICTS), why, and the sighting it rests on, where it has one."""

    image_id: str
    source: str
    modality: str | None
    verdict: str
    note: str = ""
    detection: Detection | None = None


@dataclass(frozen=True)
class Event:
    id: str
    kind: EventKind
    site: str
    track_id: str
    cls: str
    type: str
    before: Detection | None
    after: Detection | None
    confidence: float
    zone: str | None = None
    note: str = ""
    # The corroboration grade (one of GRADES) and each source's word, once graded.
    grade: str | None = None
    sources: tuple[SourceReport, ...] = ()


@dataclass(frozen=True)
class ChangeRegion:
    """Pixel change the detector cannot name: a polygon in the site CRS."""

    id: str
    site: str
    polygon: tuple[tuple[float, float], ...]
    area_m2: float
    score: float
    zone: str | None
    before_image: str
    after_image: str


@dataclass(frozen=True)
class Assessment:
    site: str
    period_start: datetime | None
    period_end: datetime | None
    posture: str
    likelihood: str
    confidence: str
    headline: str
    indicators: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    caveats: tuple[str, ...] = ()


# georef: no fit was possible, so the image is kept on its own georeference, with its
# registration uncertainty (ce90_m) and the reason as a caveat; failed: left out (no
# coverage of the site, unreadable, under cloud).
ALIGNMENT_STATUSES = ("reference", "ok", "georef", "failed")


@dataclass(frozen=True)
class AlignmentResult:
    """How one image is put on its site's grid, relative to the reference image.

    matrix (a, b, c, d, e, f) maps a site-grid pixel (col, row), in the frame of the
    reference, to the pixel of this image's plain reprojection onto the grid that shows the
    same ground: col' = a*col + b*row + c, row' = d*col + e*row + f. dx_px/dy_px are that
    correction at the grid centre (the displacement of the image content, east and south),
    rotation_deg its rotation, clockwise. ce90_m: the radius, in metres, within which a
    point of this image lies from the same ground in the reference with 90% probability
    (None for the reference). changed_fraction: the share of the overlap whose structure
    differs between the two dates after the correction (change, or relief seen from another
    angle), None where not measured.
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
    reason: str = ""  # why it failed, or the caveat of a georef result
    path: str = ""
    ce90_m: float | None = None
    changed_fraction: float | None = None

    def __post_init__(self) -> None:
        if self.status not in ALIGNMENT_STATUSES:
            raise ValueError(f"alignment status must be one of {ALIGNMENT_STATUSES}, got {self.status!r}")

    @property
    def usable(self) -> bool:
        return self.status in ("reference", "ok", "georef")
