"""The catalog's tables (SQLAlchemy 2, portable between SQLite and PostgreSQL).

Geometry is stored as text (WKT in EPSG:4326 for footprints and site outlines, JSON rings in
the site CRS for zones and boxes) so that the schema needs no spatial extension. The schema is
created and changed only by the Alembic migrations in store/migrations; these classes must
match them (a test compares the two).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class SiteRow(Base):
    __tablename__ = "sites"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    polygon_wkt: Mapped[str] = mapped_column(Text)  # EPSG:4326, lon lat
    grid_crs: Mapped[str] = mapped_column(String(100))
    grid_origin_x: Mapped[float] = mapped_column(Float)
    grid_origin_y: Mapped[float] = mapped_column(Float)
    grid_gsd_m: Mapped[float] = mapped_column(Float)
    grid_width_px: Mapped[int] = mapped_column(Integer)
    grid_height_px: Mapped[int] = mapped_column(Integer)
    reference_image_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime)


class ZoneRow(Base):
    __tablename__ = "zones"
    __table_args__ = (UniqueConstraint("site", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(ForeignKey("sites.name", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(60))
    polygon: Mapped[list] = mapped_column(JSON)  # site CRS, [[x, y], ...]


class ImageRow(Base):
    __tablename__ = "images"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # from the checksum
    path: Mapped[str] = mapped_column(Text)
    acquired: Mapped[datetime] = mapped_column(DateTime, index=True)
    datetime_source: Mapped[str] = mapped_column(String(40))
    gsd_m: Mapped[float] = mapped_column(Float)
    crs_wkt: Mapped[str] = mapped_column(Text)
    crs: Mapped[str] = mapped_column(String(200))  # "EPSG:xxxx" where one exists, else "custom"
    width_px: Mapped[int] = mapped_column(Integer)
    height_px: Mapped[int] = mapped_column(Integer)
    bands: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(20))
    nodata: Mapped[float | None] = mapped_column(Float, nullable=True)
    footprint_wkt: Mapped[str] = mapped_column(Text)  # EPSG:4326 valid-data outline
    valid_fraction: Mapped[float] = mapped_column(Float)
    cloud_cover: Mapped[float | None] = mapped_column(Float, nullable=True)
    checksum: Mapped[str] = mapped_column(String(64), unique=True)
    tiled: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str | None] = mapped_column(Text, nullable=True)  # STAC item href, if any
    ingested: Mapped[datetime] = mapped_column(DateTime)
    # what the image's metadata states about its source and geometry (domain.Observation);
    # None where it does not (issue 32, migration 0005)
    provider: Mapped[str | None] = mapped_column(String(200), nullable=True)
    platform: Mapped[str | None] = mapped_column(String(200), nullable=True)
    constellation: Mapped[str | None] = mapped_column(String(200), nullable=True)
    instruments: Mapped[list | None] = mapped_column(JSON, nullable=True)
    modality: Mapped[str | None] = mapped_column(String(40), nullable=True)
    stated_gsd_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    off_nadir_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    view_azimuth_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    sun_azimuth_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    sun_elevation_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    observation_origin: Mapped[str | None] = mapped_column(String(40), nullable=True)  # stac, tags, stac+tags
    caveats: Mapped[list | None] = mapped_column(JSON, nullable=True)  # integrity checks' findings
    # the last run's checks on the image's pixels (the shadow check), replaced by each run (migration 0010)
    check_caveats: Mapped[list | None] = mapped_column(JSON, nullable=True)


class SiteImageRow(Base):
    __tablename__ = "site_images"

    site: Mapped[str] = mapped_column(ForeignKey("sites.name", ondelete="CASCADE"), primary_key=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    overlap: Mapped[float] = mapped_column(Float)  # fraction of the site polygon covered


class AlignmentRow(Base):
    __tablename__ = "alignments"
    __table_args__ = (UniqueConstraint("site", "image_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(ForeignKey("sites.name", ondelete="CASCADE"), index=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    reference_image_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))  # reference, ok, georef, failed
    reason: Mapped[str] = mapped_column(Text, default="")
    dx_px: Mapped[float] = mapped_column(Float)
    dy_px: Mapped[float] = mapped_column(Float)
    rotation_deg: Mapped[float] = mapped_column(Float)
    scale: Mapped[float] = mapped_column(Float)
    matrix: Mapped[list] = mapped_column(JSON)  # 2x3, grid pixel -> unaligned grid pixel
    quality: Mapped[float] = mapped_column(Float)
    residual_px: Mapped[float | None] = mapped_column(Float, nullable=True)
    windows_used: Mapped[int] = mapped_column(Integer)
    windows_total: Mapped[int] = mapped_column(Integer)
    ce90_m: Mapped[float | None] = mapped_column(Float, nullable=True)  # registration uncertainty
    changed_fraction: Mapped[float | None] = mapped_column(Float, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime)


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # ingest, align, detect, compare, assess
    site: Mapped[str | None] = mapped_column(String(200), nullable=True)
    started: Mapped[datetime] = mapped_column(DateTime)
    finished: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(20))  # running, done, failed
    params: Mapped[dict] = mapped_column(JSON)


class DetectionRow(Base):
    __tablename__ = "detections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    site: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    cls: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float)
    type_score: Mapped[float] = mapped_column(Float)
    state_score: Mapped[float] = mapped_column(Float)
    presence_score: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: not checked
    cx: Mapped[float] = mapped_column(Float)  # site CRS, metres
    cy: Mapped[float] = mapped_column(Float)
    length: Mapped[float] = mapped_column(Float)
    width: Mapped[float] = mapped_column(Float)
    heading_deg: Mapped[float] = mapped_column(Float)
    crs: Mapped[str | None] = mapped_column(String(100), nullable=True)
    win_col: Mapped[int | None] = mapped_column(Integer, nullable=True)
    win_row: Mapped[int | None] = mapped_column(Integer, nullable=True)
    win_width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    win_height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    model_id: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(60))


class TrackRow(Base):
    __tablename__ = "tracks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(200), index=True)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cls: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(60))
    sightings: Mapped[list] = mapped_column(JSON)  # [{image_id, detection_id | null, box}]


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(200), index=True)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))
    track_id: Mapped[str] = mapped_column(String(64))
    cls: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(60))
    confidence: Mapped[float] = mapped_column(Float)
    zone: Mapped[str | None] = mapped_column(String(200), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # a detection as JSON
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    evidence: Mapped[list] = mapped_column(JSON)
    # {"grade": ..., "sources": [{image_id, source, modality, verdict, note, detection}]}; None: not graded
    corroboration: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class ChangeRegionRow(Base):
    __tablename__ = "change_regions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(200), index=True)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    polygon: Mapped[list] = mapped_column(JSON)  # site CRS ring
    area_m2: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    zone: Mapped[str | None] = mapped_column(String(200), nullable=True)
    before_image: Mapped[str] = mapped_column(String(64))
    after_image: Mapped[str] = mapped_column(String(64))


class AssessmentRow(Base):
    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(200), index=True)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    period_start: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    period_end: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    posture: Mapped[str] = mapped_column(String(40))
    likelihood: Mapped[str] = mapped_column(String(40))
    confidence: Mapped[str] = mapped_column(String(20))
    headline: Mapped[str] = mapped_column(Text)
    indicators: Mapped[list] = mapped_column(JSON)
    evidence: Mapped[list] = mapped_column(JSON)
    caveats: Mapped[list] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(DateTime)


class AnalystVerdictRow(Base):
    __tablename__ = "analyst_verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    verdict: Mapped[str] = mapped_column(String(40))  # confirmed, rejected, unsure
    note: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime)


# --- watching sites (issue 30) -------------------------------------------------------------

class SubscriptionRow(Base):
    """A site watched for new imagery, the findings that alert, and where alerts go."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site: Mapped[str] = mapped_column(ForeignKey("sites.name", ondelete="CASCADE"), index=True)
    rules: Mapped[dict] = mapped_column(JSON)  # watch.rules.AlertRules as JSON
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    webhook_secret: Mapped[str | None] = mapped_column(Text, nullable=True)  # never returned by listings
    created: Mapped[datetime] = mapped_column(DateTime)


class WatchSourceRow(Base):
    """One place a subscription takes new images from: a folder, or a static STAC catalog."""

    __tablename__ = "watch_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # folder, stac
    location: Mapped[str] = mapped_column(Text)


class WatchedFileRow(Base):
    """A file version a source has taken (processed) or turned away (refused), never again."""

    __tablename__ = "watched_files"
    __table_args__ = (UniqueConstraint("source_id", "path", "size", "mtime_ns", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("watch_sources.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))  # processed, refused
    image_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    seen: Mapped[datetime] = mapped_column(DateTime)


class WatchedDocumentRow(Base):
    """A document of a remote static STAC catalog as last read whole: its validators (ETag,
    Last-Modified), the SHA-256 of its body, and its links, so the next read can be conditional."""

    __tablename__ = "watched_documents"
    __table_args__ = (UniqueConstraint("source_id", "url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("watch_sources.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_modified: Mapped[str | None] = mapped_column(Text, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64))
    links: Mapped[dict] = mapped_column(JSON)  # {"children": [url...], "items": [url...]}
    checked: Mapped[datetime] = mapped_column(DateTime)


class AlertRow(Base):
    """The outbox: an alert a new image triggered, written with its events, and its delivery.

    Alerts outlive their subscription (no foreign key), so a site's feed keeps its history."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the webhook-id: deliveries are idempotent by it
    subscription_id: Mapped[str] = mapped_column(String(32), index=True)
    site: Mapped[str] = mapped_column(String(200), index=True)
    image_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # event, posture, retraction
    event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    title: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(DateTime)
    delivery: Mapped[str] = mapped_column(String(20))  # pending, delivered, dead, none (no webhook)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    delivered: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    dead_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # when its retries ran out
    replays: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # `sitewatch alerts replay`
    acknowledged: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # in the web inbox


class AlertEmailRow(Base):
    """An alert's e-mail to one recipient: queued with the alert, in its transaction, and
    its delivery (pending, sent, dead)."""

    __tablename__ = "alert_emails"

    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
