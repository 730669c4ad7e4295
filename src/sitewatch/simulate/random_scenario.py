"""Random but plausible scenarios: new sites, inventories, changes and conditions from a seed.

For detector training data and change-detection benchmarks. Each call builds one small
site (a chip's worth, 512 to 1024 px by default) somewhere on Earth between 50 S and 50 N,
with zones laid out along a random base axis, an inventory sized to the zones, and changes
on later dates that are valid by construction (nothing leaves that is not there). The
result is a validated `Scenario`, so it goes through the same planning, rendering and
truth code as a hand-written file:

    plans = plan_scenario(random_scenario(seed=7, kind="naval_base"))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from shapely.affinity import rotate
from shapely.geometry import Polygon, box

from sitewatch import equipment
from sitewatch.errors import ScenarioError
from sitewatch.simulate.layout import SPACING_M
from sitewatch.simulate.loading import load_scenario
from sitewatch.simulate.plan import derive_seed, plan_scenario, reserve_footprint
from sitewatch.simulate.scenario import Scenario

ZONE_TYPES: dict[str, tuple[str, ...]] = {
    "apron": ("An-124", "Il-76", "An-26", "An-72", "Su-24M", "Su-25", "Su-34", "Su-35", "Tu-22M3"),
    "helipad": ("Mi-8/17", "Mi-24/35", "Ka-52"),
    "air_defence_site": ("S-400 launcher", "92N6 radar", "Pantsir-S1"),
    "parking": ("truck", "car"),
    "berth": ("Kilo submarine", "Admiral Grigorovich frigate", "Ropucha landing ship", "Admiral Gorshkov frigate",
              "Dubna tanker"),
}
FILL_FRACTION = 0.45  # share of a zone's area the baseline footprints (with spacing) may take
MAX_ATTEMPTS = 25


def _rect(cx: float, cy: float, w: float, h: float, rot: float) -> dict[str, Any]:
    return {"center": [round(cx, 2), round(cy, 2)], "size": [round(w, 2), round(h, 2)], "rotation_deg": round(rot, 2)}


def _rect_poly(r: dict[str, Any]) -> Polygon:
    (cx, cy), (w, h) = r["center"], r["size"]
    return rotate(box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), -r["rotation_deg"], origin=(cx, cy))


def _footprint_area(type_name: str, spacing: float) -> float:
    length, width = reserve_footprint(type_name)
    return (length + spacing) * (width + spacing)


def _zones_airbase(rng: np.random.Generator, half_w: float, half_h: float, axis: float) -> list[dict[str, Any]]:
    zones: list[dict[str, Any]] = []
    taken: list[Polygon] = []
    inner = box(-half_w * 0.96, -half_h * 0.96, half_w * 0.96, half_h * 0.96)
    full = box(-half_w, -half_h, half_w, half_h)
    scale = min(half_w, half_h)
    if scale > 250 and rng.random() < 0.7:  # a runway strip across the site, as scene furniture
        off = float(rng.uniform(-0.6, 0.6)) * scale
        length = 2.0 * math.hypot(half_w, half_h)
        runway = _rect_poly(_rect(off * math.cos(math.radians(axis)), -off * math.sin(math.radians(axis)), 45.0,
                                  length, axis))
        zones.append({"name": "runway", "kind": "runway", "polygon": _clipped(runway, full)})
        taken.append(runway.buffer(30.0))
        side = 1.0 if rng.random() < 0.5 else -1.0  # a parallel taxiway on one side
        t_off = off + side * float(rng.uniform(90.0, 160.0))
        taxiway = _rect_poly(_rect(t_off * math.cos(math.radians(axis)), -t_off * math.sin(math.radians(axis)), 23.0,
                                   length, axis))
        if taxiway.intersects(inner):
            zones.append({"name": "taxiway", "kind": "taxiway", "polygon": _clipped(taxiway, full)})
            taken.append(taxiway.buffer(15.0))
    wanted = ["apron"] + [k for k, p in (("apron", 0.5), ("helipad", 0.6), ("air_defence_site", 0.4),
                                         ("parking", 0.5)) if rng.random() < p]
    # scene furniture: buildings and storage yards, clutter a detector must learn to ignore
    wanted += ["building_area"] * int(rng.integers(0, 3)) + (["storage"] if rng.random() < 0.4 else [])
    sizes = {"apron": (0.35, 0.9), "helipad": (0.25, 0.6), "air_defence_site": (0.25, 0.4), "parking": (0.15, 0.35),
             "building_area": (0.2, 0.45), "storage": (0.15, 0.3)}
    counts: dict[str, int] = {}
    for kind in wanted:
        lo, hi = sizes[kind]
        for _ in range(40):
            w = float(rng.uniform(lo, hi)) * scale * (0.6 if kind != "apron" else 0.45)
            h = float(rng.uniform(lo, hi)) * scale * (1.6 if kind in ("apron", "helipad") else 1.0)
            w, h = max(w, 40.0), max(h, 40.0)
            cx, cy = float(rng.uniform(-half_w, half_w)), float(rng.uniform(-half_h, half_h))
            r = _rect(cx, cy, w, h, axis if kind != "air_defence_site" else float(rng.uniform(0, 90)))
            p = _rect_poly(r)
            if inner.contains(p) and not any(p.intersects(t) for t in taken):
                counts[kind] = counts.get(kind, 0) + 1
                zones.append({"name": f"{kind}_{counts[kind]}", "kind": kind, "rect": r})
                taken.append(p.buffer(10.0))
                break
    return zones


def _clipped(poly: Polygon, extent: Polygon) -> list[list[float]]:
    """A furniture zone cut to the site extent, as a polygon vertex list."""
    part = poly.intersection(extent)
    if part.geom_type != "Polygon":
        part = max(getattr(part, "geoms", [part]), key=lambda g: g.area)
    return [[round(x, 2), round(y, 2)] for x, y in list(part.exterior.coords)[:-1]]


def _zones_naval(rng: np.random.Generator, half_w: float, half_h: float, axis: float) -> list[dict[str, Any]]:
    """Water on one side of a quay line through the site; berths along the quay, in the water."""
    a = math.radians(axis)
    ux, uy = math.sin(a), math.cos(a)  # along the quay
    nx, ny = -uy, ux  # across it, towards the water
    inner = box(-half_w * 0.96, -half_h * 0.96, half_w * 0.96, half_h * 0.96)
    full = box(-half_w, -half_h, half_w, half_h)
    off = float(rng.uniform(-0.25, 0.0)) * min(half_w, half_h)
    span = 2.0 * math.hypot(half_w, half_h)
    water = _rect_poly(_rect(nx * (off + span / 2), ny * (off + span / 2), span, span, axis))
    quay = _rect_poly(_rect(nx * (off - 8), ny * (off - 8), 16.0, span, axis))
    zones: list[dict[str, Any]] = [{"name": "harbour", "kind": "water", "polygon": _clipped(water, full)},
                                   {"name": "quay", "kind": "quay", "polygon": _clipped(quay, full)}]
    depth = 0.0
    for k in range(int(rng.integers(1, 4))):
        d = float(rng.uniform(30.0, 50.0))
        c = off + depth + d / 2
        for length in (float(rng.uniform(0.6, 1.0)) * 2 * min(half_w, half_h), min(half_w, half_h)):
            along = float(rng.uniform(-0.15, 0.15)) * length
            r = _rect(nx * c + ux * along, ny * c + uy * along, d, length, axis)
            if inner.contains(_rect_poly(r)):
                zones.append({"name": f"berth_{k + 1}", "kind": "berth", "rect": r,
                              "front_deg": round(math.degrees(math.atan2(-nx, -ny)) % 360.0, 3)})  # the quay
                break
        depth += d
    # buildings on the land side of the quay
    for k in range(int(rng.integers(1, 4))):
        for _ in range(30):
            w = float(rng.uniform(min(40.0, 0.5 * half_w), max(40.0, 0.5 * half_w)))
            h = float(rng.uniform(min(40.0, 0.6 * half_h), max(40.0, 0.6 * half_h)))
            back = off - 16.0 - float(rng.uniform(10.0, max(12.0, half_w))) - w / 2
            along = float(rng.uniform(-0.7, 0.7)) * min(half_w, half_h)
            r = _rect(nx * back + ux * along, ny * back + uy * along, w, h, axis)
            p = _rect_poly(r)
            if inner.contains(p) and not p.intersects(quay.buffer(5.0)) and not p.intersects(water) and not any(
                    p.intersects(_zone_poly(z)) for z in zones if z["kind"] == "building_area"):
                zones.append({"name": f"buildings_{k + 1}", "kind": "building_area", "rect": r})
                break
    return zones


def _zone_poly(z: dict[str, Any]) -> Polygon:
    return _rect_poly(z["rect"]) if "rect" in z else Polygon(z["polygon"])


def _fitting(z: dict[str, Any]) -> list[str]:
    """The zone's candidate types whose largest outline, with spacing, fits the zone at all:
    abreast items need their length across the zone's short side, ships theirs along the long side."""
    short, long_ = sorted(z["rect"]["size"])
    out = []
    for t in ZONE_TYPES[z["kind"]]:
        length, width = reserve_footprint(t)
        spacing = SPACING_M[equipment.get(t).cls]
        if equipment.get(t).cls == "ship":
            ok = length + spacing <= long_ and width + 2.0 <= short
        elif z["kind"] == "air_defence_site":
            ok = max(length, width) + spacing <= short
        else:
            ok = length + 2.0 <= short and width + spacing <= long_
        if ok:
            out.append(t)
    return out


def _inventory(rng: np.random.Generator, zones: list[dict[str, Any]], density: float) -> None:
    for z in zones:
        kind = z["kind"]
        if kind not in ZONE_TYPES:
            continue
        area = _rect_poly(z["rect"]).area
        types = _fitting(z)
        if not types:
            z["inventory"] = []
            continue
        if kind == "air_defence_site":
            picks = [t for t in (["92N6 radar", "S-400 launcher"] if rng.random() < 0.7 else ["Pantsir-S1"]) if t in types]
        else:
            picks = [str(t) for t in rng.choice(types, size=min(len(types), int(rng.integers(1, 3))), replace=False)]
        budget = area * FILL_FRACTION * density
        items = []
        for t in picks:
            cls = equipment.get(t).cls
            spacing = SPACING_M[cls]
            n = max(1, int(budget / len(picks) // _footprint_area(t, spacing)))
            if t == "92N6 radar":
                n = 1
            if n >= 1:
                n = int(rng.integers(1, n + 1))
                state = str(rng.choice(equipment.get(t).states))
                items.append({"type": t, "count": n, "state": state})
        z["inventory"] = items


def _conditions(rng: np.random.Generator) -> dict[str, Any]:
    c: dict[str, Any] = {
        "haze": round(float(rng.uniform(0.0, 0.35)), 3),
        "colour_balance": [round(float(g), 3) for g in rng.uniform(0.9, 1.1, 3)],
        "noise_sigma": round(float(rng.uniform(0.5, 5.0)), 2),
        "blur_sigma_px": round(float(rng.uniform(0.0, 1.2)), 2),
        "shift_px": [round(float(v), 2) for v in rng.uniform(-6.0, 6.0, 2)],
        "rotation_deg": round(float(rng.uniform(-0.5, 0.5)), 3),
    }
    if rng.random() < 0.25:
        c["cloud_cover"] = round(float(rng.uniform(0.02, 0.3)), 3)
    return c


def _changes(rng: np.random.Generator, zones: list[dict[str, Any]], change_rate: float) -> dict[str, list[Any]]:
    """One date's changes, applied to the running counts stored on the zones (`_now`)."""
    out: dict[str, list[Any]] = {"departures": [], "moves": [], "state_changes": [], "arrivals": []}
    holding = [z for z in zones if z["kind"] in ZONE_TYPES]
    for z in holding:
        for (t, state), n in sorted(z["_now"].items()):
            if n <= 0 or rng.random() > change_rate:
                continue
            what = rng.choice(["departure", "move", "state"])
            k = int(rng.integers(1, n + 1))
            others = [o for o in holding if o is not z and o["kind"] == z["kind"]]
            states = [s for s in equipment.get(t).states if s != state]
            if what == "move" and others:
                to = others[int(rng.integers(len(others)))]
                out["moves"].append({"type": t, "count": k, "from_zone": z["name"], "to_zone": to["name"],
                                     "state": state})
                to["_now"][(t, state)] = to["_now"].get((t, state), 0) + k
            elif what == "state" and states:
                new = str(rng.choice(states))
                out["state_changes"].append({"type": t, "count": k, "zone": z["name"], "to_state": new,
                                             "from_state": state})
                z["_now"][(t, new)] = z["_now"].get((t, new), 0) + k
            else:
                out["departures"].append({"type": t, "count": k, "zone": z["name"], "state": state})
            z["_now"][(t, state)] -= k
    for z in holding:
        fitting = _fitting(z)
        if fitting and rng.random() < change_rate:
            t = str(rng.choice(fitting))
            state = str(rng.choice(equipment.get(t).states))
            k = int(rng.integers(1, 3))
            out["arrivals"].append({"type": t, "count": k, "zone": z["name"], "state": state})
            z["_now"][(t, state)] = z["_now"].get((t, state), 0) + k
    return {k: v for k, v in out.items() if v}


def _draft(seed: int, kind: str, gsd_m: float, size_px: tuple[int, int], n_dates: int, density: float,
           change_rate: float, lat: float | None, lon: float | None) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    width_m, height_m = size_px[0] * gsd_m, size_px[1] * gsd_m
    axis = float(rng.uniform(0.0, 180.0))
    half_w, half_h = width_m / 2, height_m / 2
    zones = (_zones_airbase if kind == "airbase" else _zones_naval)(rng, half_w, half_h, axis)
    _inventory(rng, zones, density)
    for z in zones:
        z["_now"] = {(i["type"], i["state"]): i["count"] for i in z.get("inventory", [])}
    day0 = np.datetime64("2024-01-01") + np.timedelta64(int(rng.integers(0, 365)), "D")
    dates = [{"date": str(day0), "conditions": _conditions(rng)}]
    day = day0
    for _ in range(1, n_dates):
        day = day + np.timedelta64(int(rng.integers(1, 15)), "D")
        entry: dict[str, Any] = {"date": str(day), "conditions": _conditions(rng)}
        entry.update(_changes(rng, zones, change_rate))
        dates.append(entry)
    for z in zones:
        z.pop("_now", None)
    site = {
        "name": f"random-{kind.replace('_', '-')}-{seed % 1_000_000:06d}",
        "kind": kind,
        "lat": round(float(lat if lat is not None else rng.uniform(-50.0, 50.0)), 6),
        "lon": round(float(lon if lon is not None else rng.uniform(-179.0, 179.0)), 6),
        "extent_m": [width_m, height_m],
        "gsd_m": gsd_m,
        "zones": zones,
        "dates": dates,
    }
    return {"seed": int(seed), "sites": [site]}


def random_scenario(seed: int, kind: str = "airbase", gsd_m: float = 0.5, size_px: int | tuple[int, int] = 768,
                    n_dates: int = 2, density: float = 1.0, change_rate: float = 0.35,
                    lat: float | None = None, lon: float | None = None) -> Scenario:
    """A validated one-site scenario that plans without error. Same arguments, same scenario."""
    if kind not in ("airbase", "naval_base"):
        raise ValueError(f"kind must be 'airbase' or 'naval_base', got {kind!r}")
    if not gsd_m > 0:
        raise ValueError(f"gsd_m must be > 0, got {gsd_m}")
    size = (size_px, size_px) if isinstance(size_px, int) else (int(size_px[0]), int(size_px[1]))
    last: ScenarioError | None = None
    for attempt in range(MAX_ATTEMPTS):
        draft = _draft(derive_seed(seed, kind, gsd_m, size, n_dates, attempt), kind, gsd_m, size, n_dates, density,
                       change_rate, lat, lon)
        draft["seed"] = int(seed)
        draft["sites"][0]["name"] = f"random-{kind.replace('_', '-')}-{seed}"
        try:
            scenario, _ = load_scenario(draft)
            plan_scenario(scenario)
            return scenario
        except ScenarioError as exc:  # no room for an arrival, an empty site: draw again
            last = exc
    raise RuntimeError(f"no plannable random scenario after {MAX_ATTEMPTS} draws (last problem: {last})")


def gsd_and_kind_of_scene(i: int, gsds: tuple[float, ...]) -> tuple[float, str]:
    """Scene i of a numbered run of random scenes (held-out benchmarks, the presence check's
    training): two air bases and a naval base in every three scenes, and every GSD of
    `gsds` for each kind within 3 * len(gsds) scenes. (Cycling the GSD with i alone, in step
    with the kind, showed air bases at only some GSDs and naval bases at the others.)"""
    return gsds[(i // 3) % len(gsds)], ("naval_base" if i % 3 == 2 else "airbase")
