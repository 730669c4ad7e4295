"""Paint schemes: the colours of an object's materials, chosen from its appearance seed.

The same appearance_seed gives the same scheme on every date. Colours are linear-ish 8-bit
albedos before shading; camouflage is a smooth function of the object's local (u, v) metres,
so it moves with the object and does not depend on the GSD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Rgb = tuple[float, float, float]


@dataclass(frozen=True)
class Scheme:
    colours: dict[str, Rgb]
    camo: Rgb | None  # second tone of a camouflage pattern on "paint", or None
    camo_scale_m: float
    camo_phase: tuple[float, ...]
    sheen: float  # strength of panel-to-panel tone variation


def _jitter(rng: np.random.Generator, rgb: Rgb, amount: float) -> Rgb:
    j = rng.normal(0.0, amount, 3) * 0.3 + rng.normal(0.0, amount)
    return tuple(float(np.clip(c + d, 5, 250)) for c, d in zip(rgb, j))  # type: ignore[return-value]


_AIRCRAFT_SCHEMES: dict[str, tuple[Rgb, Rgb | None, Rgb]] = {
    # name: (main, camouflage second tone or None, underside / wing tone)
    "light_grey": ((178, 182, 184), None, (168, 172, 176)),
    "blue_grey": ((150, 162, 172), (118, 132, 146), (160, 170, 178)),
    "sea_blue": ((120, 140, 158), (92, 112, 132), (130, 148, 164)),
    "white_grey": ((214, 216, 216), None, (170, 174, 176)),
    "green_brown": ((112, 118, 88), (138, 118, 86), (120, 124, 96)),
    "desert": ((170, 150, 118), (132, 112, 86), (164, 148, 120)),
    "dark_grey": ((108, 112, 116), None, (116, 120, 124)),
}
_BY_ROLE = {
    "heavy_transport": ("white_grey", "light_grey", "light_grey"),
    "transport": ("white_grey", "light_grey", "green_brown"),
    "strike": ("light_grey", "blue_grey", "sea_blue", "green_brown", "desert"),
    "attack": ("green_brown", "desert", "light_grey", "blue_grey"),
    "fighter": ("blue_grey", "light_grey", "sea_blue", "dark_grey"),
    "bomber": ("white_grey", "light_grey", "dark_grey"),
    "helicopter": ("green_brown", "desert", "light_grey", "dark_grey", "blue_grey"),
}
_VEHICLE = {
    "olive": ((84, 92, 62), None),
    "olive_brown": ((88, 94, 66), (110, 96, 70)),
    "desert": ((160, 142, 108), (128, 112, 84)),
    "sand_green": ((150, 140, 104), (92, 100, 70)),
    "grey": ((118, 122, 120), None),
}


def scheme_for(cls: str, role: str, appearance_seed: int) -> Scheme:
    rng = np.random.default_rng([appearance_seed, 0x5EED])
    phase = tuple(float(x) for x in rng.uniform(0, 2 * np.pi, 12))
    glass = _jitter(rng, (38, 46, 56), 6)
    dark = _jitter(rng, (36, 36, 38), 4)
    metal = _jitter(rng, (120, 122, 124), 10)
    black = _jitter(rng, (30, 31, 33), 3)
    white = (228.0, 228.0, 224.0)
    if cls in ("aircraft", "helicopter"):
        names = _BY_ROLE.get(role, ("light_grey",))
        main, camo, under = _AIRCRAFT_SCHEMES[names[int(rng.integers(len(names)))]]
        main, under = _jitter(rng, main, 6), _jitter(rng, under, 6)
        colours = {"paint": main, "paint_under": under, "super": under, "deck": _jitter(rng, (96, 98, 96), 8),
                   "rotor": _jitter(rng, (50, 52, 54), 5)}
        scale = float(rng.uniform(2.0, 4.5))
        camo_rgb = _jitter(rng, camo, 5) if camo else None
    elif cls == "ship":
        hull = _jitter(rng, (112, 118, 124), 8)
        deck = _jitter(rng, (86, 88, 90), 6) if rng.random() < 0.75 else _jitter(rng, (112, 84, 74), 6)
        sup = _jitter(rng, (150, 156, 160), 8)
        colours = {"paint": hull, "paint_under": hull, "deck": deck, "super": sup, "tarp": deck,
                   "rotor": dark}
        camo_rgb, scale = None, 10.0
    else:  # vehicles and air defence
        keys = list(_VEHICLE)
        main, camo = _VEHICLE[keys[int(rng.integers(len(keys)))]]
        main = _jitter(rng, main, 6)
        colours = {"paint": main, "paint_under": main, "super": _jitter(rng, main, 6),
                   "deck": _jitter(rng, (74, 76, 70), 6), "tarp": _jitter(rng, (104, 104, 78), 10),
                   "rotor": dark}
        camo_rgb = _jitter(rng, camo, 5) if camo and rng.random() < 0.7 else None
        scale = float(rng.uniform(0.8, 1.8))
    colours.update({"dark": dark, "glass": glass, "metal": metal, "white": white, "black": black})
    return Scheme(colours, camo_rgb, scale, phase, float(rng.uniform(0.02, 0.06)))


def camo_weight(scheme: Scheme, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """0..1 weight of the second camouflage tone at local (u, v) metres (soft-edged blobs)."""
    p = scheme.camo_phase
    k = 1.0 / scheme.camo_scale_m
    f = (np.sin(u * k * 1.00 + v * k * 0.62 + p[0]) + np.sin(u * k * 0.57 - v * k * 1.31 + p[1])
         + 0.6 * np.sin(u * k * 2.3 + v * k * 1.7 + p[2]) + 0.5 * np.sin(-u * k * 1.9 + v * k * 2.6 + p[3]))
    return np.clip(f * 2.0 + 0.3, 0.0, 1.0).astype(np.float32)
