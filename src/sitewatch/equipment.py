"""The equipment catalogue: the one place where facts about equipment types live.

Figures come from public reference material; sources disagree by up to about 5%.
Footprints are the top-down extent that an oriented box must cover: length along the
object's axis (nose to tail, bow to stern, or rotor tip to tail tip), width across it
(wing span, rotor disc, beam).

Two tables:
- `CATALOGUE`: the types the simulator renders and sitewatch's networks are trained to name.
- `REFERENCE`: types known by size and role only (Western, Chinese and more Russian military
  types, common civil aircraft, more warships). No network names them; an item the networks
  call `unknown` is compared with them by size (`size_matches`), so an analyst is told which
  types its measured footprint fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sitewatch.domain import CLASSES, STATES, UNKNOWN_TYPE

# What a type is for: the assessment reads this, the detector does not.
ROLES = (
    "heavy_transport",
    "transport",
    "strike",
    "attack",
    "fighter",
    "bomber",
    "helicopter",
    "air_defence_launcher",
    "air_defence_radar",
    "air_defence_gun_missile",
    "truck",
    "car",
    "submarine",
    "frigate",
    "landing_ship",
    "support_ship",
    # Roles that only reference types have so far.
    "tanker",
    "airborne_early_warning",
    "maritime_patrol",
    "trainer",
    "uav",
    "airliner",
    "business_jet",
    "light_aircraft",
    "destroyer",
    "cruiser",
    "corvette",
    "patrol_ship",
)

COMBAT_ROLES = frozenset({"strike", "attack", "fighter", "bomber", "helicopter"})


@dataclass(frozen=True)
class EquipmentType:
    name: str
    cls: str
    role: str
    length_m: float
    width_m: float
    states: tuple[str, ...] = ("normal",)
    # Swing-wing aircraft: the span with wings fully swept (width_m is the spread span).
    swept_width_m: float | None = None
    # Helicopters: the bare fuselage footprint once the rotor is off.
    bare_length_m: float | None = None
    bare_width_m: float | None = None

    def __post_init__(self) -> None:
        if self.cls not in CLASSES:
            raise ValueError(f"{self.name}: unknown class {self.cls!r}")
        if self.role not in ROLES:
            raise ValueError(f"{self.name}: unknown role {self.role!r}")
        bad = [s for s in self.states if s not in STATES]
        if bad:
            raise ValueError(f"{self.name}: unknown states {bad}")

    @property
    def default_state(self) -> str:
        return self.states[0]

    @property
    def swing_wing(self) -> bool:
        return self.swept_width_m is not None

    @property
    def is_combat(self) -> bool:
        return self.role in COMBAT_ROLES

    def footprint(self, state: str = "normal", wings_swept: bool = False) -> tuple[float, float]:
        """(length, width) in metres of the top-down outline in this state."""
        if state not in self.states:
            raise ValueError(f"{self.name} has no state {state!r}; it has {', '.join(self.states)}")
        if state == "rotor_removed":
            assert self.bare_length_m is not None and self.bare_width_m is not None
            return self.bare_length_m, self.bare_width_m
        if wings_swept and self.swept_width_m is not None:
            return self.length_m, self.swept_width_m
        return self.length_m, self.width_m


_TYPES = (
    # Aircraft: length, span.
    EquipmentType("An-124", "aircraft", "heavy_transport", 69.1, 73.3, ("normal", "cargo_open")),
    EquipmentType("Il-76", "aircraft", "heavy_transport", 46.6, 50.5, ("normal", "cargo_open")),
    EquipmentType("An-26", "aircraft", "transport", 23.8, 29.2, ("normal", "cargo_open")),
    EquipmentType("An-72", "aircraft", "transport", 28.1, 31.9, ("normal", "cargo_open")),
    EquipmentType("Su-24M", "aircraft", "strike", 22.7, 17.6, swept_width_m=10.4),
    EquipmentType("Su-25", "aircraft", "attack", 15.4, 14.5),
    EquipmentType("Su-34", "aircraft", "strike", 23.3, 14.7),
    EquipmentType("Su-35", "aircraft", "fighter", 21.9, 15.3),
    EquipmentType("Tu-22M3", "aircraft", "bomber", 42.5, 34.3, swept_width_m=23.3),
    # Helicopters: length with rotor, rotor disc; bare fuselage (with stub wings) without rotor.
    EquipmentType("Mi-8/17", "helicopter", "helicopter", 25.2, 21.3, ("normal", "rotor_removed"),
                  bare_length_m=18.2, bare_width_m=2.5),
    EquipmentType("Mi-24/35", "helicopter", "helicopter", 21.6, 17.3, ("normal", "rotor_removed"),
                  bare_length_m=17.5, bare_width_m=6.5),
    EquipmentType("Ka-52", "helicopter", "helicopter", 16.0, 14.5, ("normal", "rotor_removed"),
                  bare_length_m=13.5, bare_width_m=7.3),
    # Air defence: vehicles on wheels, length and width.
    EquipmentType("S-400 launcher", "air_defence", "air_defence_launcher", 13.5, 3.2, ("stowed", "erect")),
    EquipmentType("92N6 radar", "air_defence", "air_defence_radar", 13.8, 3.1, ("stowed", "deployed")),
    EquipmentType("Pantsir-S1", "air_defence", "air_defence_gun_missile", 10.5, 2.9),
    # Vehicles.
    EquipmentType("truck", "vehicle", "truck", 8.0, 2.5),
    EquipmentType("car", "vehicle", "car", 4.5, 1.8),
    # Ships: length overall, beam.
    EquipmentType("Kilo submarine", "ship", "submarine", 74.0, 9.9),
    EquipmentType("Admiral Grigorovich frigate", "ship", "frigate", 124.8, 15.2),
    EquipmentType("Ropucha landing ship", "ship", "landing_ship", 112.5, 15.0),
    EquipmentType("Admiral Gorshkov frigate", "ship", "frigate", 135.0, 16.0),
    # Support tanker of the Dubna class (not in the design table; about 130 m by 20 m).
    EquipmentType("Dubna tanker", "ship", "support_ship", 130.0, 20.0),
)


def _aircraft(name: str, role: str, length_m: float, span_m: float, swept_m: float | None = None) -> EquipmentType:
    return EquipmentType(name, "aircraft", role, length_m, span_m, swept_width_m=swept_m)


def _helicopter(name: str, length_m: float, rotor_m: float) -> EquipmentType:
    return EquipmentType(name, "helicopter", "helicopter", length_m, rotor_m)


def _ship(name: str, role: str, length_m: float, beam_m: float) -> EquipmentType:
    return EquipmentType(name, "ship", role, length_m, beam_m)


# Reference types: length (rotors turning for helicopters) and span (rotor disc, beam), metres.
# Where variants differ, the figures are those of the variant named.
_REFERENCE_TYPES = (
    # Russian aircraft the networks do not name.
    _aircraft("MiG-29", "fighter", 17.3, 11.4),
    _aircraft("MiG-31", "fighter", 22.7, 13.5),
    _aircraft("Su-27", "fighter", 21.9, 14.7),
    _aircraft("Su-30SM", "fighter", 21.9, 14.7),
    _aircraft("Su-57", "fighter", 20.1, 14.1),
    _aircraft("Tu-95MS", "bomber", 46.2, 50.1),
    _aircraft("Tu-160", "bomber", 54.1, 55.7, swept_m=35.6),
    _aircraft("A-50", "airborne_early_warning", 46.6, 50.5),
    _aircraft("Il-78", "tanker", 46.6, 50.5),
    _aircraft("Il-38", "maritime_patrol", 40.2, 37.4),
    _aircraft("Tu-142", "maritime_patrol", 49.5, 50.0),
    _aircraft("An-12", "transport", 33.1, 38.0),
    _aircraft("Yak-130", "trainer", 11.5, 9.8),
    _aircraft("L-39", "trainer", 12.1, 9.5),
    _aircraft("Orion UAV", "uav", 8.0, 16.3),
    # US and NATO aircraft.
    _aircraft("F-16", "fighter", 15.1, 10.0),
    _aircraft("F-15", "fighter", 19.4, 13.1),
    _aircraft("F/A-18E/F", "fighter", 18.3, 13.6),
    _aircraft("F-35A/B", "fighter", 15.7, 10.7),
    _aircraft("F-35C", "fighter", 15.7, 13.1),
    _aircraft("F-22", "fighter", 18.9, 13.6),
    _aircraft("A-10", "attack", 16.3, 17.5),
    _aircraft("Eurofighter Typhoon", "fighter", 16.0, 11.0),
    _aircraft("Rafale", "fighter", 15.3, 10.8),
    _aircraft("Gripen", "fighter", 14.1, 8.4),
    _aircraft("Tornado", "strike", 16.7, 13.9, swept_m=8.6),
    _aircraft("B-52", "bomber", 48.5, 56.4),
    _aircraft("B-1B", "bomber", 44.5, 41.8, swept_m=24.1),
    _aircraft("B-2", "bomber", 21.0, 52.4),
    _aircraft("C-17", "heavy_transport", 53.0, 51.8),
    _aircraft("C-5", "heavy_transport", 75.3, 67.9),
    _aircraft("A400M", "heavy_transport", 45.1, 42.4),
    _aircraft("C-130", "transport", 29.8, 40.4),
    _aircraft("KC-135", "tanker", 41.5, 39.9),
    _aircraft("KC-46", "tanker", 50.5, 48.1),
    _aircraft("E-3", "airborne_early_warning", 46.6, 44.4),
    _aircraft("P-8", "maritime_patrol", 39.5, 37.6),
    _aircraft("MQ-9", "uav", 11.0, 20.1),
    _aircraft("RQ-4", "uav", 14.5, 39.9),
    # Chinese aircraft.
    _aircraft("J-10", "fighter", 16.9, 9.8),
    _aircraft("J-11/J-16", "fighter", 21.9, 14.7),
    _aircraft("J-15", "fighter", 21.9, 14.7),
    _aircraft("J-20", "fighter", 20.4, 13.0),
    _aircraft("JH-7", "strike", 22.3, 12.8),
    _aircraft("H-6", "bomber", 34.8, 33.0),
    _aircraft("Y-20", "heavy_transport", 47.0, 50.0),
    _aircraft("Y-9", "transport", 36.0, 38.0),
    _aircraft("KJ-500", "airborne_early_warning", 36.0, 38.0),
    _aircraft("KJ-2000", "airborne_early_warning", 46.6, 50.5),
    # Civil aircraft an analyst meets at shared airfields.
    _aircraft("Airbus A220", "airliner", 38.7, 35.1),
    _aircraft("Airbus A320", "airliner", 37.6, 35.8),
    _aircraft("Airbus A321", "airliner", 44.5, 35.8),
    _aircraft("Airbus A330", "airliner", 63.7, 60.3),
    _aircraft("Airbus A350", "airliner", 66.8, 64.8),
    _aircraft("Airbus A380", "airliner", 72.7, 79.8),
    _aircraft("Boeing 737", "airliner", 39.5, 35.8),
    _aircraft("Boeing 747", "airliner", 70.6, 64.4),
    _aircraft("Boeing 777", "airliner", 73.9, 64.8),
    _aircraft("Boeing 787", "airliner", 62.8, 60.1),
    _aircraft("Embraer E190", "airliner", 36.2, 28.7),
    _aircraft("CRJ900", "airliner", 36.2, 24.9),
    _aircraft("ATR 72", "airliner", 27.2, 27.1),
    _aircraft("Dash 8-400", "airliner", 32.8, 28.4),
    _aircraft("Gulfstream G650", "business_jet", 30.4, 30.4),
    _aircraft("Learjet 45", "business_jet", 17.7, 14.6),
    _aircraft("Cessna 172", "light_aircraft", 8.3, 11.0),
    # Helicopters.
    _helicopter("Mi-26", 40.0, 32.0),
    _helicopter("Mi-28", 17.0, 17.2),
    _helicopter("Ka-27/29", 15.9, 15.9),
    _helicopter("AH-64", 17.7, 14.6),
    _helicopter("UH-60", 19.8, 16.4),
    _helicopter("CH-47", 30.1, 18.3),
    _helicopter("NH90", 19.6, 16.3),
    _helicopter("AW101", 22.8, 18.6),
    _helicopter("Z-10", 14.2, 13.0),
    _helicopter("Z-20", 19.8, 16.4),
    _helicopter("Z-8/Z-18", 23.0, 18.9),
    # Warships.
    _ship("Slava cruiser", "cruiser", 186.4, 20.8),
    _ship("Buyan-M corvette", "corvette", 74.1, 11.0),
    _ship("Karakurt corvette", "corvette", 67.0, 11.0),
    _ship("Bykov patrol ship", "patrol_ship", 94.0, 14.0),
    _ship("Arleigh Burke destroyer", "destroyer", 155.3, 20.1),
    _ship("Type 052D destroyer", "destroyer", 157.0, 18.0),
    _ship("Type 054A frigate", "frigate", 134.0, 16.0),
)

CATALOGUE: dict[str, EquipmentType] = {t.name: t for t in _TYPES}
TYPE_NAMES: tuple[str, ...] = tuple(CATALOGUE)
REFERENCE: dict[str, EquipmentType] = {t.name: t for t in _REFERENCE_TYPES}


def _lookup(name: str) -> EquipmentType | None:
    return CATALOGUE.get(name) or REFERENCE.get(name)


def get(name: str) -> EquipmentType:
    """The entry for a type name in either table, or a KeyError that lists the known names."""
    found = _lookup(name)
    if found is None:
        raise KeyError(f"unknown equipment type {name!r}; known types: {', '.join(TYPE_NAMES)}, "
                       f"and by size only: {', '.join(REFERENCE)}")
    return found


def role_of(name: str) -> str | None:
    """The role of a type in either table; None for `unknown` or a name neither table has."""
    found = _lookup(name)
    return found.role if found else None


def types_of_class(cls: str) -> tuple[EquipmentType, ...]:
    """The catalogue's types of a class: those the networks name."""
    return tuple(t for t in _TYPES if t.cls == cls)


def is_known_type(name: str) -> bool:
    """A type the networks can name (or `unknown`)."""
    return name in CATALOGUE or name == UNKNOWN_TYPE


# How far a measured footprint may be from a type's and still fit it: the spread of measured
# about true sizes (a relative and an absolute part, in log units) and the most spreads a fit
# may be off. Chosen on the validation side of the real military cut-outs (bench/eval_military.py):
# the detector's boxes there are 3-15 % small (median), and at these figures 96 % of the
# aircraft found fit their own type; a 12 % spread keeps 90 % and fits only 16 types, not 19.
SIZE_SPREAD_REL = 0.15
SIZE_SPREAD_ABS_M = 1.0
SIZE_FIT_LIMIT = 2.0


def outlines(t: EquipmentType) -> set[tuple[float, float]]:
    """Every (length, width) in metres the type's top-down outline can take (states, wings)."""
    return {t.footprint(s, wings_swept=w) for s in t.states for w in (False, True)}


def size_misfit(t: EquipmentType, length_m: float, width_m: float) -> float:
    """How many spreads a measured footprint is from the type's nearest outline; the box is
    taken either way round, as a heading read 90 degrees off swaps length and width."""
    def off(measured: float, true: float) -> float:
        spread = math.hypot(SIZE_SPREAD_REL, SIZE_SPREAD_ABS_M / true)
        return abs(math.log(max(measured, 1e-3) / true)) / spread

    return min(math.hypot(off(a, tl), off(b, tw)) for tl, tw in outlines(t)
               for a, b in ((length_m, width_m), (width_m, length_m)))


def size_matches(cls: str, length_m: float, width_m: float, limit: float = SIZE_FIT_LIMIT) -> list[str]:
    """The types of a class, in both tables, whose outline a measured footprint fits, best first."""
    fits = sorted((size_misfit(t, length_m, width_m), t.name) for t in (*_TYPES, *_REFERENCE_TYPES) if t.cls == cls)
    return [name for misfit, name in fits if misfit <= limit]


def size_roles(cls: str, length_m: float, width_m: float) -> list[str]:
    """The roles of the types a measured footprint fits, the most often fitted first."""
    return _roles(size_matches(cls, length_m, width_m))


def _roles(names: list[str]) -> list[str]:
    roles = [role_of(name) for name in names]
    return sorted({r for r in roles if r}, key=lambda r: (-roles.count(r), r))


def describe_size(cls: str, type_name: str, length_m: float, width_m: float) -> dict:
    """What the catalogue says of an item: its role (the named type's; for `unknown`, the
    one role every fitting type shares, else None) and the types and roles its footprint fits."""
    matches = size_matches(cls, length_m, width_m)
    roles = _roles(matches)
    role = role_of(type_name) if type_name != UNKNOWN_TYPE else (roles[0] if len(roles) == 1 else None)
    return {"role": role, "size_matches": matches, "size_roles": roles}
