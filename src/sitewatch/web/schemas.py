"""Request and response bodies, as published in the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal["confirmed", "rejected", "unsure"]


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ProblemDoc(BaseModel):
    """RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str


class Grid(BaseModel):
    crs: str = Field(description="the site CRS, a projected CRS in metres")
    origin_x: float
    origin_y: float
    gsd_m: float
    width_px: int
    height_px: int


class SiteOut(BaseModel):
    name: str
    kind: str
    lat: float
    lon: float
    outline: dict[str, Any] | None = Field(description="GeoJSON polygon, EPSG:4326")
    grid: Grid
    zones: list[str]
    image_count: int


class FeatureCollection(Open):
    type: Literal["FeatureCollection"]
    crs_note: str
    features: list[dict[str, Any]]


class Alignment(BaseModel):
    status: str
    reference_image_id: str
    quality: float = Field(description="share of windows agreeing with the fitted model, 0..1")
    residual_px: float | None
    dx_px: float
    dy_px: float
    rotation_deg: float
    scale: float
    windows_used: int
    windows_total: int
    reason: str
    ce90_m: float | None = Field(default=None, description="registration uncertainty, metres (CE90); None where "
                                 "not measured (alignments stored before it)")
    changed_fraction: float | None = Field(default=None, description="share of the overlap that changed, 0..1")


class ObservationOut(BaseModel):
    """Who took the image and how, as its metadata states it; null where it does not."""

    provider: str | None
    platform: str | None
    constellation: str | None
    instruments: list[str]
    modality: str | None = Field(description="optical_pan, optical_multispectral, sar, or null (unknown)")
    gsd_m: float | None = Field(description="the GSD the metadata states (the file's pixel spacing is the image's gsd_m)")
    off_nadir_deg: float | None
    view_azimuth_deg: float | None = Field(description="ground to sensor, clockwise from true north")
    sun_azimuth_deg: float | None = Field(description="clockwise from true north")
    sun_elevation_deg: float | None
    origin: str | None = Field(description="where these came from: stac, tags, stac+tags, or null")


class ImageOut(BaseModel):
    id: str
    site: str
    acquired: str
    date: str
    gsd_m: float
    crs: str
    width_px: int
    height_px: int
    bands: int
    dtype: str
    cloud_cover: float | None
    valid_fraction: float
    tiled: bool
    datetime_source: str
    footprint: dict[str, Any] = Field(description="GeoJSON, EPSG:4326")
    bounds_lonlat: list[float]
    alignment: Alignment | None
    observation: ObservationOut
    caveats: list[str] = Field(description="what the integrity checks found doubtful: ingest's (a stated sun not "
                               "matching the time), then the last run's shadow check (shadows not matching it)")
    tiles: str = Field(description="XYZ tile URL template (Web Mercator)")


class CountsOut(BaseModel):
    site: str
    types: list[str]
    dates: list[dict[str, Any]]


class VerdictOut(BaseModel):
    verdict: Verdict
    note: str
    created: str


class EventOut(Open):
    id: str
    site: str
    kind: str
    type: str
    confidence: float
    zone: str | None
    note: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    before_image: str | None = Field(None, description="the image the event is seen from")
    after_image: str | None = Field(None, description="the image the event is seen on")
    before_date: str | None = None
    after_date: str | None = None
    bounds_lonlat: list[float]
    evidence: list[dict[str, Any]]
    verdict: VerdictOut | None
    grade: str | None = Field(None, description="corroboration across sources: confirmed, single_source or "
                                               "disputed; null where not graded")
    sources: list[dict[str, Any]] = Field(default_factory=list, description="each source's word on the finding "
                                          "(image, source, modality, verdict: supports, contradicts or no_evidence)")


class Sighting(BaseModel):
    image_id: str
    date: str | None
    state: str
    score: float
    geometry: dict[str, Any] = Field(description="GeoJSON polygon, EPSG:4326, reference frame")


class TrackOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: str
    cls: str = Field(alias="class")
    type: str
    sightings: list[Sighting]


class Review(BaseModel):
    counts: dict[str, int]
    cited: list[str]
    cited_confirmed: list[str]
    cited_rejected: list[str]
    caveats: list[str]


class Reviewed(BaseModel):
    posture: str
    likelihood: str
    confidence: str
    headline: str
    indicators: list[str]
    caveats: list[str] = Field(description="the restated assessment's own caveats")
    without_events: list[str] = Field(description="the rejected events left out")


class AssessmentOut(BaseModel):
    site: str
    assessment: dict[str, Any] | None
    review: Review
    reviewed: Reviewed | None = Field(None, description="the assessment restated without what the analyst "
                                                        "rejected; null when nothing is rejected")


class VerdictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Verdict
    note: str = Field("", max_length=2000)


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    align: bool = Field(default=True, description="align the site's images first")
    detect: bool = Field(default=True, description="detect with the installed model (false: reassess stored detections)")


class JobOut(BaseModel):
    id: str
    site: str
    align: bool
    detect: bool
    status: Literal["queued", "running", "done", "failed"]
    stage: str
    done: int
    total: int
    message: str
    created: str
    finished: str | None
    verdicts_restored: int
    report: str | None


class ReportFile(BaseModel):
    name: str
    bytes: int
    url: str


class UploadOut(BaseModel):
    stored_as: str
    image: ImageOut | None
    message: str
