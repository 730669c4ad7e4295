"""What a scenario must satisfy beyond its shape: catalogue types and states, zones inside
the site, names that exist, dates in order. Each problem is one line naming the field."""

from __future__ import annotations

from datetime import date, datetime

from shapely.geometry import Polygon, box

from sitewatch import equipment
from sitewatch.simulate.scenario import (
    PLACEMENT_ZONE_KINDS,
    Scenario,
    ZoneModel,
    acquisition_datetime,
    build_grid,
    site_extent_box,
)


def _check_type_state(t: str, state: str | None, path: str, field: str, problems: list[str]) -> None:
    if t in equipment.REFERENCE:
        problems.append(f"{path}.type: {t} is known by size only, the simulator cannot draw it; it draws "
                        f"{', '.join(equipment.TYPE_NAMES)}")
        return
    if t not in equipment.CATALOGUE:
        problems.append(f"{path}.type: unknown equipment type {t!r}; known types: {', '.join(equipment.TYPE_NAMES)}")
        return
    if state is not None and state not in equipment.get(t).states:
        problems.append(f"{path}.{field}: {t} has no state {state!r}; it has {', '.join(equipment.get(t).states)}")


def _check_wings(t: str, wings: str | None, path: str, problems: list[str]) -> None:
    if wings is not None and t in equipment.CATALOGUE and not equipment.get(t).swing_wing:
        problems.append(f"{path}.wings: {t} has fixed wings; `wings` applies to swing-wing types only")


def _check_zone(name: str, zones: dict[str, ZoneModel], path: str, problems: list[str]) -> None:
    if name not in zones:
        problems.append(f"{path}: no zone named {name!r}; zones of this site: {', '.join(zones) or 'none'}")
    elif zones[name].kind not in PLACEMENT_ZONE_KINDS:
        problems.append(f"{path}: zone {name!r} is a {zones[name].kind}; equipment goes in "
                        f"{', '.join(sorted(PLACEMENT_ZONE_KINDS))} zones")


def _check_fit(t: str, name: str, zones: dict[str, ZoneModel], path: str, problems: list[str]) -> None:
    """Ships go in berths and nothing else does."""
    if t not in equipment.CATALOGUE or name not in zones:
        return
    kind = zones[name].kind
    is_ship = equipment.get(t).cls == "ship"
    if is_ship and kind != "berth":
        problems.append(f"{path}: a {t} cannot stand in {kind} zone {name!r}; ships go in berth zones")
    elif not is_ship and kind == "berth":
        problems.append(f"{path}: a {t} cannot stand in berth zone {name!r}; berths hold ships only")


def semantic_problems(sc: Scenario) -> list[str]:
    """Every problem found, in file order, without duplicates."""
    problems: list[str] = []
    names = [s.name for s in sc.sites]
    for i, site in enumerate(sc.sites):
        sp = f"sites[{i}]"
        if names.index(site.name) != i:
            problems.append(f"{sp}.name: {site.name!r} is used by sites[{names.index(site.name)}] too")
        grid = build_grid(site)
        ext = box(*site_extent_box(site, grid))
        zones: dict[str, ZoneModel] = {}
        for j, z in enumerate(site.zones):
            zp = f"{sp}.zones[{j}]"
            if z.name in zones:
                problems.append(f"{zp}.name: {z.name!r} is used by another zone of this site")
            zones[z.name] = z
            poly = Polygon(z.ring())
            if not ext.buffer(1e-6).contains(poly):
                x0, y0, x1, y1 = poly.bounds
                e = ext.bounds
                problems.append(
                    f"{zp}.{'rect' if z.rect else 'polygon'}: zone {z.name!r} (x {x0:.0f}..{x1:.0f} m, "
                    f"y {y0:.0f}..{y1:.0f} m) lies outside the site extent "
                    f"(x {e[0]:.0f}..{e[2]:.0f} m, y {e[1]:.0f}..{e[3]:.0f} m from the site point)")
            if z.inventory and z.kind not in PLACEMENT_ZONE_KINDS:
                problems.append(f"{zp}.inventory: a {z.kind} zone holds no equipment; use one of "
                                f"{', '.join(sorted(PLACEMENT_ZONE_KINDS))}")
            for k, it in enumerate(z.inventory):
                ip = f"{zp}.inventory[{k}]"
                _check_type_state(it.type, it.state, ip, "state", problems)
                _check_wings(it.type, it.wings, ip, problems)
                if z.kind in PLACEMENT_ZONE_KINDS:
                    _check_fit(it.type, z.name, {z.name: z}, f"{ip}.type", problems)
        seen_days: dict[date, int] = {}
        prev: datetime | None = None
        for d, dm in enumerate(site.dates):
            dp = f"{sp}.dates[{d}]"
            when = acquisition_datetime(site, dm)
            if when.date() in seen_days:
                problems.append(f"{dp}.date: {when.date()} is already used by dates[{seen_days[when.date()]}] "
                                f"(one image per site per day)")
            seen_days.setdefault(when.date(), d)
            if prev is not None and when <= prev:
                problems.append(f"{dp}.date: {when.isoformat()} is not after the previous date {prev.isoformat()}")
            prev = when
            if d == 0 and dm.has_changes():
                problems.append(f"{dp}: the first date shows the baseline and can have no changes; "
                                f"put its equipment in the zones' inventory")
            for k, a in enumerate(dm.arrivals):
                _check_type_state(a.type, a.state, f"{dp}.arrivals[{k}]", "state", problems)
                _check_wings(a.type, a.wings, f"{dp}.arrivals[{k}]", problems)
                _check_zone(a.zone, zones, f"{dp}.arrivals[{k}].zone", problems)
                _check_fit(a.type, a.zone, zones, f"{dp}.arrivals[{k}].zone", problems)
            for k, a in enumerate(dm.departures):
                _check_type_state(a.type, a.state, f"{dp}.departures[{k}]", "state", problems)
                _check_zone(a.zone, zones, f"{dp}.departures[{k}].zone", problems)
            for k, a in enumerate(dm.moves):
                _check_type_state(a.type, a.state, f"{dp}.moves[{k}]", "state", problems)
                _check_zone(a.from_zone, zones, f"{dp}.moves[{k}].from_zone", problems)
                _check_zone(a.to_zone, zones, f"{dp}.moves[{k}].to_zone", problems)
                _check_fit(a.type, a.to_zone, zones, f"{dp}.moves[{k}].to_zone", problems)
                if a.from_zone == a.to_zone:
                    problems.append(f"{dp}.moves[{k}].to_zone: same as from_zone {a.from_zone!r}")
            for k, a in enumerate(dm.state_changes):
                _check_type_state(a.type, a.to_state, f"{dp}.state_changes[{k}]", "to_state", problems)
                _check_type_state(a.type, a.from_state, f"{dp}.state_changes[{k}]", "from_state", problems)
                _check_zone(a.zone, zones, f"{dp}.state_changes[{k}].zone", problems)
                if a.from_state is not None and a.from_state == a.to_state:
                    problems.append(f"{dp}.state_changes[{k}].to_state: same as from_state {a.to_state!r}")
    # an unknown type is reported once per place, but the same message may repeat: keep order, drop duplicates
    return list(dict.fromkeys(problems))
