"""The equipment catalogue: the one place where facts about equipment types live.

Figures come from public reference material; sources disagree by up to about 5%.
Footprints are the top-down extent that an oriented box must cover: length along the
object's axis (nose to tail, bow to stern, or rotor tip to tail tip), width across it
(wing span, rotor disc, beam).
"""

from __future__ import annotations

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

CATALOGUE: dict[str, EquipmentType] = {t.name: t for t in _TYPES}
TYPE_NAMES: tuple[str, ...] = tuple(CATALOGUE)


def get(name: str) -> EquipmentType:
    """The catalogue entry for a type name, or a KeyError that lists the known names."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"unknown equipment type {name!r}; known types: {', '.join(TYPE_NAMES)}") from None


def types_of_class(cls: str) -> tuple[EquipmentType, ...]:
    return tuple(t for t in _TYPES if t.cls == cls)


def is_known_type(name: str) -> bool:
    return name in CATALOGUE or name == UNKNOWN_TYPE
