"""The scenario format: sites, zones, baseline inventories and dated changes, in YAML.

`loading.load_scenario` reads and validates a file (or a mapping, or an already-built `Scenario`)
and raises `ScenarioError(file, "sites[0].zones[2].rect: ...")` naming every problem,
one per clause, on one line. Shape and ranges are checked by pydantic; what needs the
catalogue or the site's extent (types, states, zones inside the site) is checked by
`checks`. What needs the date-by-date inventory (a departure of more items than are present,
a zone with no room left) is checked by `sitewatch.simulate.plan`, before anything is
written.

Zone geometry is in metres relative to the site point (lat/lon projected to the site's
UTM grid): x east, y north. A zone is either a `rect` (centre, size, clockwise rotation)
or a `polygon` (a list of [x, y] vertices).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator
from pyproj import Transformer
from shapely.geometry import Polygon

from sitewatch.domain import Site, SiteGrid, Zone
from sitewatch.geo.grid import site_grid
from sitewatch.names import NAME_MAX

ZONE_KINDS: tuple[str, ...] = (
    # Zones where equipment is placed.
    "apron", "helipad", "air_defence_site", "berth", "shelter_area", "parking",
    # Scene furniture the renderer may draw; nothing is placed there by the layout.
    "runway", "taxiway", "water", "pier", "quay", "building_area", "storage",
)
PLACEMENT_ZONE_KINDS = frozenset({"apron", "helipad", "air_defence_site", "berth", "shelter_area", "parking"})
MAX_SHIFT_PX = 64.0  # misregistration larger than this is not "a few pixels"
MAX_ROTATION_DEG = 3.0  # "small rotation"
LOCAL_OVERPASS_HOUR = 10.5  # date-only acquisitions: 10:30 local solar time, a sun-synchronous overpass


class _Strict(BaseModel):
    # NaN and infinities are no coordinate, size or angle: refused at the field, not left to
    # fail in the geometry (a GEOSException on a ring of NaN)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RectModel(_Strict):
    center: tuple[float, float]
    size: tuple[float, float] = Field(description="[width east-west, height north-south] before rotation")
    rotation_deg: float = 0.0

    @field_validator("size")
    @classmethod
    def _positive(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (v[0] > 0 and v[1] > 0):
            raise ValueError(f"both sides must be > 0 m, got {list(v)}")
        return v

    def ring(self) -> tuple[tuple[float, float], ...]:
        """Corners, clockwise rotation applied about the centre (x east, y north)."""
        a = math.radians(self.rotation_deg)
        c, s = math.cos(a), math.sin(a)
        hw, hh = self.size[0] / 2, self.size[1] / 2
        pts = []
        for dx, dy in ((-hw, hh), (hw, hh), (hw, -hh), (-hw, -hh)):
            # clockwise rotation in a y-north frame
            pts.append((self.center[0] + dx * c + dy * s, self.center[1] - dx * s + dy * c))
        return tuple(pts)


class InventoryItemModel(_Strict):
    type: str
    count: int = Field(ge=1, le=500)
    state: str | None = None  # default: the type's first catalogue state
    wings: Literal["spread", "swept"] | None = None  # swing-wing types only; default: by seed
    decoy: bool = False  # a dummy: optical sources show it, radar sources do not


class ZoneModel(_Strict):
    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=r"^[A-Za-z0-9_\-]+$")
    kind: str
    rect: RectModel | None = None
    polygon: list[tuple[float, float]] | None = None
    facing_deg: float | None = Field(default=None, ge=0, lt=360)
    front_deg: float | None = Field(default=None, ge=0, lt=360)  # which edge rows fill from (a berth's quay)
    spacing_m: float | None = Field(default=None, ge=0, le=100)
    inventory: list[InventoryItemModel] = Field(default_factory=list)

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in ZONE_KINDS:
            raise ValueError(f"unknown zone kind {v!r}; known kinds: {', '.join(ZONE_KINDS)}")
        return v

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, v: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if v is None:
            return v
        if len(v) < 3:
            raise ValueError(f"needs at least 3 vertices, got {len(v)}")
        poly = Polygon(v)
        if not poly.is_valid or poly.area <= 0:
            raise ValueError("is not a simple polygon with a positive area (self-crossing or degenerate)")
        return v

    @model_validator(mode="after")
    def _one_geometry(self) -> ZoneModel:
        if (self.rect is None) == (self.polygon is None):
            raise ValueError("give exactly one of `rect` or `polygon`")
        return self

    def ring(self) -> tuple[tuple[float, float], ...]:
        if self.rect is not None:
            return self.rect.ring()
        assert self.polygon is not None
        return tuple((float(x), float(y)) for x, y in self.polygon)


class ConditionsModel(_Strict):
    """Acquisition conditions; the sun defaults to its true position at the acquisition time."""

    sun_azimuth_deg: float | None = Field(default=None, ge=0, lt=360)
    sun_elevation_deg: float | None = Field(default=None, gt=0, le=90)
    haze: float = Field(default=0.0, ge=0, le=1)
    colour_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise_sigma: float = Field(default=0.0, ge=0, le=50)
    blur_sigma_px: float = Field(default=0.0, ge=0, le=10)
    shift_px: tuple[float, float] = (0.0, 0.0)
    rotation_deg: float = Field(default=0.0, ge=-MAX_ROTATION_DEG, le=MAX_ROTATION_DEG)
    cloud_cover: float = Field(default=0.0, ge=0, le=1)

    @field_validator("colour_balance")
    @classmethod
    def _gains(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(0.5 <= g <= 2.0 for g in v):
            raise ValueError(f"gains must lie in 0.5..2.0, got {list(v)}")
        return v

    @field_validator("shift_px")
    @classmethod
    def _shift(cls, v: tuple[float, float]) -> tuple[float, float]:
        if math.hypot(*v) > MAX_SHIFT_PX:
            raise ValueError(f"misregistration of {math.hypot(*v):.1f} px exceeds {MAX_SHIFT_PX:g} px")
        return v


class ArrivalModel(_Strict):
    type: str
    count: int = Field(ge=1, le=500)
    zone: str
    state: str | None = None
    wings: Literal["spread", "swept"] | None = None
    decoy: bool = False  # a dummy: optical sources show it, radar sources do not


class DepartureModel(_Strict):
    type: str
    count: int = Field(ge=1, le=500)
    zone: str
    state: str | None = None  # only items in this state leave


class MoveModel(_Strict):
    type: str
    count: int = Field(ge=1, le=500)
    from_zone: str
    to_zone: str
    state: str | None = None


class StateChangeModel(_Strict):
    type: str
    count: int = Field(ge=1, le=500)
    zone: str
    to_state: str
    from_state: str | None = None  # default: any state other than to_state


MAX_SOURCE_OFFSET_M = 30.0  # a georeference error of tens of metres between providers


class SourceModel(_Strict):
    """One provider's image of a date: the same ground, seen at about the same time by
    another satellite. `minutes_after` the date's time (its sun follows); `offset_m`
    [east, north] the error of its georeference; `seed` its own nuisances (noise, cloud
    shapes); `stated_time_shift_h` how far the time its metadata states is off the true
    one (its stated sun stays the true one, as a mislabelled image's would); `conditions`
    in place of the date's. A radar (`sar`) source is drawn by the optical renderer, but
    shows no decoy: only its metadata and what it sees are a radar's."""

    provider: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.\-]*$")
    platform: str | None = Field(default=None, max_length=80)
    modality: Literal["optical_pan", "optical_multispectral", "sar"] = "optical_multispectral"
    minutes_after: float = Field(default=0.0, ge=-360, le=2880)
    offset_m: tuple[float, float] = (0.0, 0.0)
    seed: int = 0
    stated_time_shift_h: float = Field(default=0.0, ge=-24, le=24)
    conditions: ConditionsModel | None = None

    @field_validator("offset_m")
    @classmethod
    def _offset(cls, v: tuple[float, float]) -> tuple[float, float]:
        if math.hypot(*v) > MAX_SOURCE_OFFSET_M:
            raise ValueError(f"a georeference offset of {math.hypot(*v):.1f} m exceeds {MAX_SOURCE_OFFSET_M:g} m")
        return v


_WHEN_HELP = "is not an ISO date or datetime (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)"


def _parse_when(v: Any) -> date | datetime:
    """An ISO date, or a datetime (naive means UTC) returned as an aware UTC datetime.
    A plain `date` means "no time given"; `acquisition_datetime` completes it."""
    if isinstance(v, str):
        s = v.strip()
        try:
            if len(s) == 10:
                return date.fromisoformat(s)
            v = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"{v!r} {_WHEN_HELP}") from None
    if isinstance(v, datetime):
        try:
            dt = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is before the first UTC datetime
            raise ValueError(f"{v.isoformat()!r} is out of range in UTC") from None
        return dt.replace(microsecond=0)
    if isinstance(v, date):
        return v
    raise ValueError(f"{v!r} {_WHEN_HELP}")


class DateModel(_Strict):
    date: datetime | date
    conditions: ConditionsModel = Field(default_factory=ConditionsModel)
    arrivals: list[ArrivalModel] = Field(default_factory=list)
    departures: list[DepartureModel] = Field(default_factory=list)
    moves: list[MoveModel] = Field(default_factory=list)
    state_changes: list[StateChangeModel] = Field(default_factory=list)
    # Images of this date from several providers; none: one image, of no named source.
    sources: list[SourceModel] = Field(default_factory=list, max_length=8)

    @field_validator("date", mode="plain")
    @classmethod
    def _date(cls, v: Any) -> date | datetime:
        return _parse_when(v)

    @field_serializer("date")
    def _iso(self, v: date | datetime) -> str:
        return v.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(v, datetime) else v.isoformat()

    @property
    def has_time(self) -> bool:
        return isinstance(self.date, datetime)

    def has_changes(self) -> bool:
        return bool(self.arrivals or self.departures or self.moves or self.state_changes)

    @model_validator(mode="after")
    def _distinct_sources(self) -> DateModel:
        names = [s.provider.lower() + "/" + s.modality for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("sources: two sources of one date share a provider and modality")
        return self


class SiteModel(_Strict):
    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    kind: Literal["airbase", "naval_base"]
    lat: float = Field(ge=-80, le=84)
    lon: float = Field(ge=-180, le=180)
    extent_m: tuple[float, float] = Field(description="[width east-west, height north-south] in metres")
    gsd_m: float = Field(gt=0, le=10)
    seed_offset: int = 0
    zones: list[ZoneModel] = Field(default_factory=list)
    dates: list[DateModel] = Field(min_length=1)

    @field_validator("extent_m")
    @classmethod
    def _extent(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (v[0] > 0 and v[1] > 0):
            raise ValueError(f"both sides must be > 0 m, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _pixels(self) -> SiteModel:
        w, h = (self.extent_m[0] / self.gsd_m, self.extent_m[1] / self.gsd_m)
        if w * h > 20000 * 20000:
            raise ValueError(f"extent of {w:.0f} x {h:.0f} px at {self.gsd_m} m GSD is too large (max 400 Mpx)")
        return self


class Scenario(_Strict):
    seed: int = 0
    sites: list[SiteModel] = Field(min_length=1)


# --- from the model to the domain ----------------------------------------------------

def build_grid(site: SiteModel) -> SiteGrid:
    return site_grid(site.lat, site.lon, site.extent_m[0], site.extent_m[1], site.gsd_m)


def site_point_xy(site: SiteModel, crs: str) -> tuple[float, float]:
    """The site point (lat/lon) in the site CRS: the origin of zone coordinates."""
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(site.lon, site.lat)


def build_site(site: SiteModel) -> Site:
    """The domain Site: its grid (local UTM, origin snapped to the GSD) and zones in the site CRS."""
    grid = build_grid(site)
    cx, cy = site_point_xy(site, grid.crs)
    zones = tuple(Zone(z.name, z.kind, tuple((cx + x, cy + y) for x, y in z.ring())) for z in site.zones)
    return Site(name=site.name, kind=site.kind, lat=site.lat, lon=site.lon, grid=grid, zones=zones)


def site_extent_box(site: SiteModel, grid: SiteGrid) -> tuple[float, float, float, float]:
    """The grid's bounds relative to the site point (x east, y north), metres."""
    cx, cy = site_point_xy(site, grid.crs)
    left, bottom, right, top = grid.bounds
    return left - cx, bottom - cy, right - cx, top - cy


def acquisition_datetime(site: SiteModel, dm: DateModel) -> datetime:
    """The acquisition time in UTC. A date without a time gets 10:30 local solar time
    (a typical sun-synchronous morning overpass), rounded to the minute."""
    if isinstance(dm.date, datetime):
        return dm.date
    minutes = round((LOCAL_OVERPASS_HOUR - site.lon / 15.0) * 60)
    return datetime.combine(dm.date, time(0, 0), tzinfo=UTC) + timedelta(minutes=minutes)


def dump_scenario(scenario: Scenario) -> str:
    """The scenario as YAML that `loading.load_scenario` reads back to an equal Scenario (defaults left out)."""
    data = scenario.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
