"""From a validated scenario to what is on the ground on each date, and what changed.

`plan_scenario` places each site's baseline, then applies each date's changes in a fixed
order (departures, moves, state changes, arrivals), giving every item a stable
`track_id`. Items a date does not touch keep exactly the same box. Everything that can go
wrong (a departure of more items than are present, a zone with no room left, a night-time
acquisition) raises `ScenarioError` naming the field, so callers can plan everything
before writing anything.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from sitewatch import equipment
from sitewatch.domain import OrientedBox, Site
from sitewatch.errors import ScenarioError
from sitewatch.geo.sun import sun_position
from sitewatch.simulate.layout import HEADING_JITTER_DEG, SPACING_M, NoRoom, RowPlacer, place_in_ring, zone_frame
from sitewatch.simulate.loading import load_scenario, scenario_error
from sitewatch.simulate.scenario import (
    ConditionsModel,
    DateModel,
    SiteModel,
    ZoneModel,
    acquisition_datetime,
    build_site,
    site_point_xy,
)
from sitewatch.simulate.scene import Conditions, PlacedObject, SceneSpec

MIN_SUN_ELEVATION_DEG = 5.0  # below this an optical image is of no use


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts, stable across runs and platforms (no Python hash())."""
    words = [zlib.crc32(str(p).encode("utf-8")) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(2, np.uint64)[0] >> np.uint64(1))


def slug(type_name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", type_name.lower()).strip("-")


@dataclass(frozen=True)
class Change:
    """One item's change between two consecutive dates. `source` is the scenario field
    it comes from, e.g. "sites[0].dates[1].arrivals[0]"."""

    kind: str  # arrived, departed, moved, state_changed
    track_id: str
    type: str
    cls: str
    source: str
    zone: str | None = None  # arrived, departed, state_changed
    from_zone: str | None = None  # moved
    to_zone: str | None = None
    state: str | None = None  # arrived, departed, moved: the item's state
    from_state: str | None = None  # state_changed
    to_state: str | None = None

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"kind": self.kind, "track_id": self.track_id, "class": self.cls, "type": self.type}
        for key in ("zone", "from_zone", "to_zone", "state", "from_state", "to_state"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        d["source"] = self.source
        return d


@dataclass(frozen=True)
class SourceInfo:
    """Who took a date's image: provider, platform, modality, and the acquisition time its
    metadata states (the true one unless the scenario shifts it)."""

    provider: str
    platform: str | None
    modality: str
    stated_acquired: datetime


@dataclass(frozen=True)
class DatePlan:
    label: str  # YYYY-MM-DD, the image's file stem (YYYY-MM-DD-provider for a named source)
    acquired: datetime  # UTC
    spec: SceneSpec
    # The date's named source (none for a date without `sources`), and the images of the
    # same date by its other sources, each a DatePlan of its own.
    source: SourceInfo | None = None
    others: tuple[DatePlan, ...] = ()

    @property
    def images(self) -> tuple[DatePlan, ...]:
        """This image and the date's other sources' images."""
        return (self, *self.others)


@dataclass(frozen=True)
class SitePlan:
    site: Site
    model: SiteModel
    dates: tuple[DatePlan, ...]
    changes: tuple[tuple[Change, ...], ...]  # changes[i]: between dates[i] and dates[i + 1]
    seed: int


@dataclass
class _Item:
    obj: PlacedObject
    margin: float  # half the spacing it keeps from its neighbours
    reserved: OrientedBox  # the largest footprint of its type, same centre: room for any state


def reserve_footprint(type_name: str) -> tuple[float, float]:
    """(length, width) of the largest outline a type takes in any state or wing position.
    Items are placed by it so that a later state change (a rotor refitted) never
    overlaps a neighbour or leaves the zone."""
    t = equipment.get(type_name)
    sizes = [t.footprint(s, w) for s in t.states for w in ((False, True) if t.swing_wing else (False,))]
    return max(length for length, _ in sizes), max(width for _, width in sizes)


class _Ground:
    """The items on the ground of one site while the dates are played through."""

    def __init__(self, site: Site, model: SiteModel, seed: int, label: str, path: str):
        self.site, self.model, self.seed, self.label, self.path = site, model, seed, label, path
        self.items: dict[str, _Item] = {}
        self.counters: dict[str, int] = {}
        self.rng = np.random.default_rng(derive_seed(seed, model.name, model.seed_offset, "layout"))
        self.site_xy = site_point_xy(model, site.grid.crs)
        self.zone_models = {z.name: z for z in model.zones}
        self.pitch = _row_pitches(model)
        self.placers: dict[tuple[str, bool], RowPlacer] = {}

    def fail(self, where: str, problem: str) -> ScenarioError:
        return scenario_error(self.label, [f"{self.path}.{where}: {problem}"])

    def new_track_id(self, type_name: str) -> str:
        n = self.counters.get(type_name, 0) + 1
        self.counters[type_name] = n
        return f"{slug(type_name)}-{n:03d}"

    def _placer(self, zm: ZoneModel, inline: bool) -> RowPlacer:
        key = (zm.name, inline)
        if key not in self.placers:
            zone = self.site.zone(zm.name)
            frame = zone_frame(zone, self.site_xy, zm.facing_deg, inline, zm.front_deg)
            self.placers[key] = RowPlacer(zone, frame, self.pitch[key], inline)
        return self.placers[key]

    def place(self, type_name: str, state: str, wings_swept: bool, zone_name: str, track_id: str,
              decoy: bool = False) -> _Item:
        t = equipment.get(type_name)
        zm = self.zone_models[zone_name]
        spacing = zm.spacing_m if zm.spacing_m is not None else SPACING_M[t.cls]
        length, width = t.footprint(state, wings_swept)
        rl, rw = reserve_footprint(type_name)
        occupied = [(it.reserved, it.margin) for it in self.items.values()]
        jitter = HEADING_JITTER_DEG[t.cls]
        spot: OrientedBox | None = None
        if zm.kind == "air_defence_site" and t.cls != "ship":
            try:
                spot = place_in_ring(self.site.zone(zone_name), rl, rw, spacing,
                                     t.role == "air_defence_radar", occupied, self.rng, jitter)
            except NoRoom:
                spot = None
        if spot is None:
            spot = self._placer(zm, t.cls == "ship").place(rl, rw, spacing, occupied, self.rng, jitter)
        box = OrientedBox(spot.cx, spot.cy, length, width, spot.heading_deg)
        appearance = derive_seed(self.seed, self.model.name, track_id, "appearance") & 0x7FFFFFFF
        obj = PlacedObject(track_id=track_id, type=type_name, cls=t.cls, state=state, box=box,
                           wings_swept=wings_swept, appearance_seed=appearance, zone=zone_name, decoy=decoy)
        item = _Item(obj, spacing / 2.0, spot)
        self.items[track_id] = item
        return item

    def wings(self, type_name: str, wings: str | None) -> bool:
        if not equipment.get(type_name).swing_wing:
            return False
        return wings == "swept" if wings is not None else bool(self.rng.random() < 0.5)

    def pick(self, rng: np.random.Generator, type_name: str, zone: str, count: int, where: str, verb: str,
             state: str | None = None, not_state: str | None = None) -> list[_Item]:
        pool = [it for it in self.items.values()
                if it.obj.type == type_name and it.obj.zone == zone
                and (state is None or it.obj.state == state) and (not_state is None or it.obj.state != not_state)]
        if count > len(pool):
            what = f"{type_name}" + (f" in state {state!r}" if state else "")
            if not_state:
                what += f" not already {not_state!r}"
            raise self.fail(f"{where}.count", f"{count} {what} {verb} zone {zone!r} but only {len(pool)} "
                                              f"{'is' if len(pool) == 1 else 'are'} there")
        idx = sorted(int(i) for i in rng.choice(len(pool), size=count, replace=False))
        return [pool[i] for i in idx]


def _row_pitches(model: SiteModel) -> dict[tuple[str, bool], float]:
    """Row pitch per (zone, in line): the deepest footprint the zone will ever hold plus its spacing."""
    pitch: dict[tuple[str, bool], float] = {}
    spacing_of = {z.name: z.spacing_m for z in model.zones}

    def see(zone: str, type_name: str) -> None:
        t = equipment.get(type_name)
        inline = t.cls == "ship"
        length, width = reserve_footprint(type_name)
        depth = width if inline else length
        spacing = spacing_of[zone] if spacing_of[zone] is not None else SPACING_M[t.cls]
        key = (zone, inline)
        pitch[key] = max(pitch.get(key, 0.0), depth + spacing)

    for z in model.zones:
        for it in z.inventory:
            see(z.name, it.type)
    for d in model.dates:
        for a in d.arrivals:
            see(a.zone, a.type)
        for m in d.moves:
            see(m.to_zone, m.type)
    return pitch


def _conditions(site: SiteModel, cm: ConditionsModel, when: datetime, where: str, label: str) -> Conditions:
    az, el = sun_position(site.lat, site.lon, when)
    if cm.sun_elevation_deg is None and el < MIN_SUN_ELEVATION_DEG:
        raise scenario_error(label, [f"{where}.date: the sun is {el:.1f} deg above the horizon at "
                                     f"{when.isoformat()} (needs >= {MIN_SUN_ELEVATION_DEG:g}); give a daytime "
                                     f"time or set conditions.sun_elevation_deg"])
    return Conditions(
        sun_azimuth_deg=round(cm.sun_azimuth_deg if cm.sun_azimuth_deg is not None else az, 2),
        sun_elevation_deg=round(cm.sun_elevation_deg if cm.sun_elevation_deg is not None else el, 2),
        haze=cm.haze,
        colour_balance=tuple(cm.colour_balance),  # type: ignore[arg-type]
        noise_sigma=cm.noise_sigma,
        blur_sigma_px=cm.blur_sigma_px,
        shift_px=tuple(cm.shift_px),  # type: ignore[arg-type]
        rotation_deg=cm.rotation_deg,
        cloud_cover=cm.cloud_cover,
    )


def _place_baseline(g: _Ground, model: SiteModel) -> None:
    """Track ids follow the file's order; placement goes type group by type group, the
    groups of a zone in an order drawn from the seed."""
    for zi, zm in enumerate(model.zones):
        entries = []
        for k, it in enumerate(zm.inventory):
            state = it.state or equipment.get(it.type).default_state
            for _ in range(it.count):
                entries.append((k, it.type, state, it.wings, g.new_track_id(it.type), it.decoy))
        order = list(dict.fromkeys(e[1] for e in entries))
        rank = {name: int(r) for r, name in zip(g.rng.permutation(len(order)), order)}
        for k, type_name, state, wings, tid, decoy in sorted(entries, key=lambda e: (rank[e[1]], e[4])):
            try:
                g.place(type_name, state, g.wings(type_name, wings), zm.name, tid, decoy)
            except NoRoom:
                raise g.fail(f"zones[{zi}].inventory[{k}]",
                             f"no room left in zone {zm.name!r} for another {type_name}; enlarge the zone, "
                             f"lower the count or the spacing") from None


def _apply_changes(g: _Ground, dm: DateModel, where: str, rng: np.random.Generator) -> list[Change]:
    """One date's changes, in order: departures, moves, state changes, arrivals."""
    out: list[Change] = []
    for k, dep in enumerate(dm.departures):
        src = f"{g.path}.{where}.departures[{k}]"
        for it in g.pick(rng, dep.type, dep.zone, dep.count, f"{where}.departures[{k}]", "asked to leave",
                         state=dep.state):
            del g.items[it.obj.track_id]
            out.append(Change("departed", it.obj.track_id, it.obj.type, it.obj.cls, src, zone=dep.zone,
                              state=it.obj.state))
    for k, mv in enumerate(dm.moves):
        src = f"{g.path}.{where}.moves[{k}]"
        for it in g.pick(rng, mv.type, mv.from_zone, mv.count, f"{where}.moves[{k}]", "asked to move from",
                         state=mv.state):
            del g.items[it.obj.track_id]
            try:
                g.place(it.obj.type, it.obj.state, it.obj.wings_swept, mv.to_zone, it.obj.track_id, it.obj.decoy)
            except NoRoom:
                raise g.fail(f"{where}.moves[{k}].to_zone",
                             f"no room left in zone {mv.to_zone!r} for another {mv.type}") from None
            out.append(Change("moved", it.obj.track_id, it.obj.type, it.obj.cls, src, from_zone=mv.from_zone,
                              to_zone=mv.to_zone, state=it.obj.state))
    for k, sc in enumerate(dm.state_changes):
        src = f"{g.path}.{where}.state_changes[{k}]"
        for it in g.pick(rng, sc.type, sc.zone, sc.count, f"{where}.state_changes[{k}]", "asked to change in",
                         state=sc.from_state, not_state=sc.to_state):
            # same centre and heading; the reserved outline already holds the new footprint
            length, width = equipment.get(it.obj.type).footprint(sc.to_state, it.obj.wings_swept)
            b, old_state = it.obj.box, it.obj.state
            it.obj = replace(it.obj, state=sc.to_state, box=OrientedBox(b.cx, b.cy, length, width, b.heading_deg))
            out.append(Change("state_changed", it.obj.track_id, it.obj.type, it.obj.cls, src, zone=sc.zone,
                              from_state=old_state, to_state=sc.to_state))
    for k, ar in enumerate(dm.arrivals):
        src = f"{g.path}.{where}.arrivals[{k}]"
        state = ar.state or equipment.get(ar.type).default_state
        for _ in range(ar.count):
            tid = g.new_track_id(ar.type)
            try:
                item = g.place(ar.type, state, g.wings(ar.type, ar.wings), ar.zone, tid, ar.decoy)
            except NoRoom:
                raise g.fail(f"{where}.arrivals[{k}]", f"no room left in zone {ar.zone!r} for another "
                                                       f"{ar.type}; enlarge the zone or lower the count") from None
            out.append(Change("arrived", tid, ar.type, item.obj.cls, src, zone=ar.zone, state=state))
    return out


def _plan_site(model: SiteModel, index: int, seed: int, label: str) -> SitePlan:
    site = build_site(model)
    g = _Ground(site, model, seed, label, f"sites[{index}]")
    _place_baseline(g, model)
    dates: list[DatePlan] = []
    changes: list[tuple[Change, ...]] = []
    for di, dm in enumerate(model.dates):
        where = f"dates[{di}]"
        when = acquisition_datetime(model, dm)
        rng = np.random.default_rng(derive_seed(seed, model.name, model.seed_offset, "changes", di))
        out = _apply_changes(g, dm, where, rng)
        if di > 0:
            changes.append(tuple(out))
        spec = SceneSpec(
            site=site,
            objects=tuple(it.obj for it in sorted(g.items.values(), key=lambda it: it.obj.track_id)),
            conditions=_conditions(model, dm.conditions, when, f"{g.path}.{where}", label),
            site_seed=derive_seed(seed, model.name, model.seed_offset, "site") & 0x7FFFFFFF,
            date_seed=derive_seed(seed, model.name, model.seed_offset, "nuisance", when.date()) & 0x7FFFFFFF,
        )
        plain = DatePlan(when.date().isoformat(), when, spec)
        if not dm.sources:
            dates.append(plain)
            continue
        shots = [_source_plan(model, dm, plain, k, f"{g.path}.{where}.sources[{k}]", label)
                 for k in range(len(dm.sources))]
        dates.append(replace(shots[0], others=tuple(shots[1:])))
    return SitePlan(site, model, tuple(dates), tuple(changes), seed)


def _source_plan(model: SiteModel, dm: DateModel, plain: DatePlan, k: int, where: str, label: str) -> DatePlan:
    """The date as source k of its `sources` shows it: its own time and sun, conditions,
    nuisances and georeference offset (as content shifted against the grid, like any
    misregistration); a radar source without the decoys."""
    src = dm.sources[k]
    when = plain.acquired + timedelta(minutes=src.minutes_after)
    cond = _conditions(model, src.conditions or dm.conditions, when, where, label)
    gsd = plain.spec.site.grid.gsd_m
    # content shifted by the offset: east is +col, north is -row
    shift = (cond.shift_px[0] + src.offset_m[0] / gsd, cond.shift_px[1] - src.offset_m[1] / gsd)
    objects = tuple(o for o in plain.spec.objects if not (o.decoy and src.modality == "sar"))
    spec = replace(plain.spec, objects=objects, conditions=replace(cond, shift_px=shift),
                   date_seed=derive_seed(plain.spec.date_seed, "source", src.provider, src.seed) & 0x7FFFFFFF)
    info = SourceInfo(src.provider, src.platform, src.modality, when + timedelta(hours=src.stated_time_shift_h))
    return DatePlan(f"{plain.label}-{slug(src.provider)}-{slug(src.modality)}", when, spec, info)


def plan_scenario(source: object, seed: int | None = None) -> list[SitePlan]:
    """Validate and plan a scenario (a path, a mapping or a `Scenario`). `seed` overrides
    the scenario's own. Raises ScenarioError before anything is written."""
    scenario, label = load_scenario(source)  # type: ignore[arg-type]
    use_seed = scenario.seed if seed is None else int(seed)
    return [_plan_site(s, i, use_seed, label) for i, s in enumerate(scenario.sites)]


__all__ = ["Change", "DatePlan", "SitePlan", "SourceInfo", "derive_seed", "plan_scenario"]
