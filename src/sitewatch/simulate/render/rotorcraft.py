"""Top-down planforms of helicopters, laid out from the nose (s = 0) backwards.

With the rotor on, the catalogue box runs from the front tip of the rotor disc to the tail
and spans the disc; parked blades are thin lines from the hub to the rim, at an angle that
is fixed per airframe, so only the blade tips reach the disc. rotor_removed leaves the
bare fuselage (and its stub wings) with the hub; the tail rotor goes with the main rotor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sitewatch.simulate.render.parts import Part, blade, body, ellipse, fit_to_box, rect


@dataclass(frozen=True)
class Heli:
    cabin_len: float
    cabin_w: float
    nose_len: float
    boom_w: float
    bare_len: float
    hub_s: float  # hub distance from the nose
    radius: float
    blades: int
    chord: float
    z: tuple[float, float]
    coaxial: bool = False
    stub: tuple[float, float, float] | None = None  # s start, s end, half span
    canopies: tuple[tuple[float, float, float], ...] = ()  # s start, s end, width
    engines: tuple[float, float, float] = (2.5, 6.5, 1.6)  # s start, s end, width
    tail_rotor: tuple[float, float, float] | None = None  # s centre, v, diameter (vertical disc)
    tailplane: tuple[float, float, float] = (0.0, 0.0, 0.0)  # s, chord, half span


HELIS = {
    "Mi-8/17": Heli(cabin_len=11.5, cabin_w=2.5, nose_len=2.2, boom_w=0.9, bare_len=18.2, hub_s=6.0, radius=10.65,
                    blades=5, chord=0.52, z=(0.9, 4.0), canopies=((0.5, 2.0, 1.9),), engines=(2.6, 7.0, 1.8),
                    tail_rotor=(16.6, -0.55, 3.9), tailplane=(16.6, 0.9, 1.4)),
    "Mi-24/35": Heli(cabin_len=10.5, cabin_w=2.0, nose_len=3.2, boom_w=0.8, bare_len=17.5, hub_s=6.3, radius=8.65,
                     blades=5, chord=0.58, z=(0.9, 3.6), stub=(6.8, 9.0, 3.25),
                     canopies=((0.6, 2.0, 0.9), (2.3, 4.1, 1.1)), engines=(4.2, 8.6, 1.7),
                     tail_rotor=(15.9, 0.55, 3.9), tailplane=(15.9, 1.0, 1.7)),
    "Ka-52": Heli(cabin_len=8.5, cabin_w=2.1, nose_len=2.0, boom_w=0.9, bare_len=13.5, hub_s=5.5, radius=7.25,
                  blades=3, chord=0.45, z=(0.9, 3.3), coaxial=True, stub=(5.2, 7.0, 3.65),
                  canopies=((0.9, 3.2, 1.7),), engines=(4.0, 7.6, 2.4), tailplane=(11.9, 1.2, 1.7)),
}


def _s(poly: np.ndarray) -> np.ndarray:
    out = poly.copy()
    out[:, 0] = -out[:, 0]
    return out


def helicopter_parts(type_name: str, length: float, width: float, state: str, phase_deg: float) -> list[Part]:
    h = HELIS[type_name]
    z0, z1 = h.z
    bare = state == "rotor_removed"
    tail_end = max(h.bare_len, h.tail_rotor[0] + h.tail_rotor[2] / 2) if h.tail_rotor else h.bare_len
    radius = width / 2.0
    if not bare:
        # Put the hub where the catalogue's overall length says: disc front to tail end.
        h = replace(h, radius=radius, hub_s=min(max(radius - (length - tail_end), 2.0), h.cabin_len))
    parts: list[Part] = []
    if h.stub:
        s0, s1, half = h.stub
        stub = np.array([(s0, 0.0), (s0 + 0.3, half), (s1, half), (s1 + 0.3, 0.0), (s1, -half), (s0 + 0.3, -half)])
        parts.append(Part(_s(stub), z0 + 0.8, z0 + 1.1, "paint"))
        for sgn in (1, -1):  # weapon pylons under the stub wings
            for f in (0.45, 0.8):
                parts.append(Part(_s(ellipse((s0 + s1) / 2, sgn * half * f, 1.0, 0.22, 10)), z0 + 0.2, z0 + 0.75,
                                  "dark", rounded=True))
    cabin = body(0.0, -h.cabin_len, h.cabin_w, h.nose_len, 2.5, tail_width=h.boom_w * 1.4, nose_width=h.cabin_w * 0.3)
    parts.append(Part(cabin, z0, z1, "paint", rounded=True))
    boom = body(-(h.cabin_len - 0.5), -(h.bare_len - 0.6), h.boom_w, 0.5, 1.8, tail_width=h.boom_w * 0.8,
                nose_width=h.boom_w)
    parts.append(Part(boom, z0 + 1.2, z1 - 0.6, "paint", rounded=True))
    # Tail pylon (fin) at the very end of the boom, and the stabiliser just ahead of it.
    parts.append(Part(_s(rect(h.bare_len - 1.4, h.bare_len, -0.45, 0.45)), z0 + 1.2, z1 + 0.8, "paint"))
    s, c, half = h.tailplane
    parts.append(Part(_s(rect(s, s + c, -half, half)), z0 + 1.5, z0 + 1.7, "paint"))
    e0, e1, ew = h.engines
    parts.append(Part(body(-e0, -e1, ew, 1.0, 1.2, tail_width=ew * 0.6, nose_width=ew * 0.7), z1 - 0.2, z1 + 0.6,
                      "super", rounded=True))
    for c0, c1, cw in h.canopies:
        parts.append(Part(_s(ellipse((c0 + c1) / 2, 0.0, (c1 - c0) / 2, cw / 2, 16)), z1 - 0.6, z1 - 0.5, "glass",
                          casts_shadow=False))
    hub_z = z1 + 1.0
    parts.append(Part(_s(ellipse(h.hub_s, 0.0, 0.55, 0.55, 12)), z1, hub_z, "metal", rounded=True))
    if bare:
        return fit_to_box(parts, length, width)
    if h.tail_rotor:
        sc, v, d = h.tail_rotor
        parts.append(Part(_s(rect(sc - d / 2, sc + d / 2, v - 0.12, v + 0.12)), z1 - 1.5, z1 + 0.2, "rotor"))
    sets = [(phase_deg, hub_z)] + ([(phase_deg + 60.0, hub_z + 0.8)] if h.coaxial else [])
    for ph, zb in sets:
        for k in range(h.blades):
            ang = ph + k * 360.0 / h.blades
            b = blade(h.hub_s, 0.0, ang, h.radius, h.chord, root=0.3)
            parts.append(Part(_s(b), zb - 0.1, zb, "rotor"))
    parts.sort(key=lambda p: p.z1)
    return fit_to_box(parts, length, width, extent=(-tail_end, -(h.hub_s - h.radius), h.radius))


def blade_phase(appearance_seed: int) -> float:
    """Parked blade angle: fixed per airframe, so it is the same on every date."""
    rng = np.random.default_rng([appearance_seed, 0xB1ADE])
    return float(rng.uniform(0.0, 360.0))
