"""Top-down planforms of fixed-wing aircraft, laid out from the nose (s = 0) backwards.

Dimensions are the catalogue's, sub-parts are from public three-view drawings, to roughly
5%; fit_to_box removes what is left so the outline fills the catalogue box exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sitewatch.simulate.render.parts import Part, blade, body, ellipse, fit_to_box, mirror, rect, wing


@dataclass(frozen=True)
class Fin:
    s_le: float
    chord: float
    v: float
    height: float


@dataclass(frozen=True)
class Nacelle:
    s_front: float
    length: float
    dia: float
    v: float  # mirrored to -v
    z: float  # top
    prop_dia: float = 0.0


@dataclass(frozen=True)
class Planform:
    fus_w: float
    nose_len: float
    tail_len: float
    fus_z: tuple[float, float]
    canopy: tuple[float, float, float]  # s start, s end, width
    wing_le: float  # s of the leading edge at the root
    wing_root: float
    wing_tip: float
    wing_sweep: float
    wing_z: float
    tail_le: float
    tail_root: float
    tail_tip: float
    tail_half: float
    tail_sweep: float
    tail_z: float
    fins: tuple[Fin, ...]
    nacelles: tuple[Nacelle, ...] = ()
    nose_w: float = 0.0
    tail_w: float = 0.6
    glazed_nose: float = 0.0  # length of a glazed navigator's nose
    # Flanker-style engine bodies either side of a narrow centre body: (s_front, s_end, v, width)
    engine_bodies: tuple[tuple[float, float, float, float], ...] = ()
    lerx: tuple[float, float, float] | None = None  # s start, s end, v at the end
    canard: tuple[float, float, float, float, float] | None = None  # le, root, tip, half span, sweep
    # Swing wing: pivot (s, v), panel root chord, tip chord, sweep spread, sweep swept, glove polygon (s, v)
    swing: tuple[float, float, float, float, float, float] | None = None
    glove: tuple[tuple[float, float], ...] = ()
    spread_half: float = 0.0  # swing wing: half span with wings spread
    nozzles: tuple[float, float, float] | None = None  # s start, v, dia (mirrored)
    intakes: tuple[float, float, float, float] | None = None  # s start, s end, v in, v out


def _s(poly: np.ndarray) -> np.ndarray:
    """From (s, v) with s backwards from the nose to local (u, v)."""
    out = poly.copy()
    out[:, 0] = -out[:, 0]
    return out


PLANFORMS: dict[str, Planform] = {
    "An-124": Planform(
        fus_w=7.3, nose_len=10.0, tail_len=15.0, fus_z=(1.0, 8.5), canopy=(4.0, 6.5, 3.4),
        wing_le=24.0, wing_root=14.0, wing_tip=4.0, wing_sweep=35.0, wing_z=8.9,
        tail_le=55.0, tail_root=8.0, tail_tip=3.0, tail_half=12.0, tail_sweep=38.0, tail_z=9.5,
        fins=(Fin(52.0, 11.0, 0.0, 20.8),),
        nacelles=(Nacelle(0, 8.0, 3.0, 10.5, 7.8), Nacelle(0, 8.0, 3.0, 19.0, 7.6)),
        tail_w=1.2),
    "Il-76": Planform(
        fus_w=4.8, nose_len=6.5, tail_len=11.0, fus_z=(1.0, 6.0), canopy=(3.2, 5.0, 2.6),
        wing_le=17.0, wing_root=9.0, wing_tip=3.0, wing_sweep=25.0, wing_z=6.3,
        tail_le=38.0, tail_root=5.5, tail_tip=2.5, tail_half=8.7, tail_sweep=32.0, tail_z=14.6,
        fins=(Fin(34.0, 7.5, 0.0, 14.8),),
        nacelles=(Nacelle(0, 6.0, 2.2, 7.3, 5.4), Nacelle(0, 6.0, 2.2, 12.6, 5.2)),
        tail_w=1.0, glazed_nose=2.0),
    "An-26": Planform(
        fus_w=2.9, nose_len=3.5, tail_len=6.5, fus_z=(1.0, 3.9), canopy=(1.8, 3.2, 1.8),
        wing_le=9.0, wing_root=3.6, wing_tip=1.4, wing_sweep=6.0, wing_z=4.1,
        tail_le=19.8, tail_root=2.6, tail_tip=1.3, tail_half=4.9, tail_sweep=12.0, tail_z=3.8,
        fins=(Fin(16.5, 5.0, 0.0, 8.6),),
        nacelles=(Nacelle(6.6, 5.6, 1.4, 3.9, 4.3, prop_dia=3.9),), tail_w=0.5),
    "An-72": Planform(
        fus_w=3.1, nose_len=3.8, tail_len=7.5, fus_z=(0.8, 4.0), canopy=(2.0, 3.5, 2.0),
        wing_le=10.5, wing_root=4.2, wing_tip=1.6, wing_sweep=17.0, wing_z=4.2,
        tail_le=22.6, tail_root=3.0, tail_tip=1.5, tail_half=5.2, tail_sweep=30.0, tail_z=8.6,
        fins=(Fin(19.5, 5.2, 0.0, 8.65),),
        nacelles=(Nacelle(7.8, 6.8, 1.9, 2.7, 6.0),), tail_w=0.6),
    "Su-24M": Planform(
        fus_w=2.3, nose_len=5.0, tail_len=2.5, fus_z=(0.8, 3.2), canopy=(4.3, 7.0, 1.5),
        wing_le=0, wing_root=0, wing_tip=0, wing_sweep=0, wing_z=2.2,
        tail_le=17.4, tail_root=3.3, tail_tip=1.2, tail_half=3.7, tail_sweep=45.0, tail_z=1.9,
        fins=(Fin(15.6, 4.6, 0.0, 6.2),),
        swing=(12.6, 2.7, 3.4, 1.4, 16.0, 69.0),
        glove=((8.6, 1.3), (11.4, 2.9), (14.4, 2.9), (14.8, 1.3)), spread_half=17.6 / 2,
        intakes=(7.6, 21.0, 1.1, 1.8), nozzles=(21.6, 0.65, 1.1), tail_w=2.4),
    "Su-25": Planform(
        fus_w=1.5, nose_len=3.0, tail_len=3.6, fus_z=(0.8, 2.5), canopy=(2.6, 4.4, 0.9),
        wing_le=6.0, wing_root=3.4, wing_tip=1.4, wing_sweep=20.0, wing_z=1.7,
        tail_le=12.7, tail_root=1.8, tail_tip=0.9, tail_half=2.4, tail_sweep=25.0, tail_z=2.2,
        fins=(Fin(11.4, 2.8, 0.0, 4.8),),
        nacelles=(Nacelle(4.6, 7.8, 1.15, 1.25, 2.2),), tail_w=0.4),
    "Su-34": Planform(
        fus_w=1.5, nose_len=3.6, tail_len=4.0, fus_z=(0.9, 3.0), canopy=(3.6, 6.6, 1.6),
        wing_le=9.4, wing_root=5.8, wing_tip=1.6, wing_sweep=42.0, wing_z=1.9,
        tail_le=17.8, tail_root=2.9, tail_tip=1.0, tail_half=5.0, tail_sweep=42.0, tail_z=1.8,
        fins=(Fin(16.0, 3.3, 2.1, 6.1), Fin(16.0, 3.3, -2.1, 6.1)),
        engine_bodies=((9.0, 20.6, 1.55, 1.35),), lerx=(5.5, 10.0, 2.3),
        canard=(7.6, 1.6, 0.6, 3.2, 50.0), nose_w=0.5, tail_w=0.8, nozzles=(20.4, 1.55, 1.1)),
    "Su-35": Planform(
        fus_w=1.3, nose_len=3.8, tail_len=4.2, fus_z=(0.9, 2.9), canopy=(3.4, 5.6, 0.85),
        wing_le=9.0, wing_root=5.6, wing_tip=1.6, wing_sweep=42.0, wing_z=1.8,
        tail_le=17.0, tail_root=2.8, tail_tip=1.0, tail_half=4.95, tail_sweep=42.0, tail_z=1.7,
        fins=(Fin(15.2, 3.3, 2.05, 5.9), Fin(15.2, 3.3, -2.05, 5.9)),
        engine_bodies=((8.6, 19.6, 1.5, 1.3),), lerx=(4.6, 9.6, 2.2), tail_w=0.7,
        nozzles=(19.4, 1.5, 1.1)),
    "Tu-22M3": Planform(
        fus_w=2.9, nose_len=7.5, tail_len=6.0, fus_z=(1.5, 5.0), canopy=(5.2, 8.2, 2.0),
        wing_le=0, wing_root=0, wing_tip=0, wing_sweep=0, wing_z=3.9,
        tail_le=33.8, tail_root=5.2, tail_tip=2.0, tail_half=6.9, tail_sweep=42.0, tail_z=4.6,
        fins=(Fin(28.5, 9.0, 0.0, 11.05),),
        swing=(20.4, 6.5, 5.6, 2.2, 20.0, 65.0),
        glove=((12.5, 3.2), (18.6, 6.6), (24.6, 6.6), (27.0, 3.2)), spread_half=34.3 / 2,
        intakes=(10.5, 34.5, 1.4, 3.3), nozzles=(37.0, 0.8, 1.5), tail_w=1.6),
}


def aircraft_parts(type_name: str, length: float, width: float, state: str, wings_swept: bool) -> list[Part]:
    pf = PLANFORMS[type_name]
    parts: list[Part] = []
    z0, z1 = pf.fus_z
    L = length
    open_nose = state == "cargo_open" and type_name == "An-124"
    open_ramp = state == "cargo_open" and not open_nose
    nose_cut = 4.6 if open_nose else 0.0

    # Wings first (lowest), then fuselage; a high wing is drawn above the fuselage.
    high_wing = pf.wing_z >= z1 - 0.3
    wing_parts = _wings(pf, width, wings_swept)
    if not high_wing:
        parts += wing_parts
    if pf.canard:
        le, root, tip, half, sweep = pf.canard
        parts.append(Part(wing(-le, root, tip, half, sweep), pf.wing_z - 0.2, pf.wing_z, "paint"))
    if pf.intakes:
        s0, s1, vi, vo = pf.intakes
        for sgn in (1, -1):
            poly = np.array([(s0, vi), (s0 + 1.2, vo), (s1 - 2.0, vo), (s1, vi)])
            poly[:, 1] *= sgn
            parts.append(Part(_s(poly), z0, z1 - 0.5, "paint", rounded=True))
            parts.append(Part(_s(rect(s0, s0 + 0.5, sgn * vi, sgn * (vi + 0.8 * (vo - vi)))), z0, z1 - 0.45, "dark"))
    if pf.lerx:
        s0, s1, ve = pf.lerx
        lerx = np.array([(s0, pf.fus_w / 2), (s1, ve), (s1 + 3.0, ve), (s1 + 3.0, -ve), (s1, -ve), (s0, -pf.fus_w / 2)])
        parts.append(Part(_s(lerx), z0 + 0.6, z1 - 0.6, "paint"))
    for s_f, s_e, v, w in pf.engine_bodies:
        for sgn in (1, -1):
            parts.append(Part(body(-s_f, -s_e, w, 1.0, 1.2, tail_width=w * 0.8, nose_width=w * 0.9, vc=sgn * v),
                              z0, z1 - 0.4, "paint", rounded=True))
            parts.append(Part(_s(rect(s_f, s_f + 0.6, sgn * v - w * 0.4, sgn * v + w * 0.4)), z0, z1 - 0.35, "dark"))
    # Fuselage.
    tail_end = L
    # Ends are kept bluff enough (radome and tail cone at least 40% of the fuselage width)
    # that the outermost pixels are at least half covered even at 0.8 m.
    fus = body(-nose_cut, -tail_end, pf.fus_w, pf.nose_len - nose_cut * 0.8, pf.tail_len,
               tail_width=max(pf.tail_w, 0.45 * pf.fus_w),
               nose_width=max(pf.nose_w, 0.4 * pf.fus_w) if not open_nose else pf.fus_w * 0.85)
    parts.append(Part(fus, z0, z1, "paint", rounded=True))
    if pf.nozzles:
        s0, v, d = pf.nozzles
        for sgn in (1, -1):
            parts.append(Part(_s(rect(s0, min(s0 + 1.2, L), sgn * v - d / 2, sgn * v + d / 2)), z0, z1 - 0.9, "dark"))
    # Nacelles hang under (or sit on) the wing: drawn after the wing for over-wing engines.
    nac_parts = _nacelles(pf)
    if high_wing:
        under = [p for p in nac_parts if p.z1 < pf.wing_z]
        over = [p for p in nac_parts if p.z1 >= pf.wing_z]
        parts += under + wing_parts + over
    else:
        parts += nac_parts
    # Cockpit glazing.
    c0, c1, cw = pf.canopy
    if not open_nose:
        parts.append(Part(_s(ellipse((c0 + c1) / 2, 0.0, (c1 - c0) / 2, cw / 2, 16)), z1, z1 + 0.1, "glass",
                          casts_shadow=False))
        if pf.glazed_nose:
            parts.append(Part(_s(ellipse(pf.glazed_nose * 0.6, 0.0, pf.glazed_nose * 0.6, pf.fus_w * 0.2, 12)),
                              z1 - 0.5, z1 - 0.4, "glass", casts_shadow=False))
    # Tail: tailplane and fins.
    tp = wing(-pf.tail_le, pf.tail_root, pf.tail_tip, pf.tail_half, pf.tail_sweep)
    parts.append(Part(tp, pf.tail_z - 0.3, pf.tail_z, "paint"))
    for f in pf.fins:
        fin = body(-f.s_le, -(f.s_le + f.chord), 0.45, f.chord * 0.4, f.chord * 0.3, tail_width=0.1, nose_width=0.1,
                   vc=f.v)
        parts.append(Part(fin, z1 - 0.5, f.height, "paint"))
    if open_nose:
        parts += _an124_open_nose(pf, z1)
    if open_ramp:
        parts += _rear_ramp(type_name, pf, L, z0)
    return fit_to_box(parts, length, width)


def _wings(pf: Planform, width: float, swept: bool) -> list[Part]:
    z = pf.wing_z
    if pf.swing is None:
        w = wing(-pf.wing_le, pf.wing_root, pf.wing_tip, width / 2.0, pf.wing_sweep)
        return [Part(w, z - 0.35, z, "paint_under" if pf.wing_z > pf.fus_z[1] - 0.3 else "paint")]
    ps, pv, croot, ctip, sw_spread, sw_swept = pf.swing
    sweep = sw_swept if swept else sw_spread
    # The panel's length comes from the spread span; swept, the same panel turns about the pivot.
    length = (pf.spread_half - pv) / math.cos(math.radians(sw_spread))
    a = math.radians(sweep)
    tip_le = (ps + length * math.sin(a), pv + length * math.cos(a))
    # The panel: leading edge pivot->tip, chords parallel to the axis.
    poly = np.array([(ps - 0.4, pv - 0.3), tip_le, (tip_le[0] + ctip, tip_le[1]), (ps + croot, pv - 0.3)])
    parts = [Part(_s(poly), z - 0.35, z, "paint"), Part(_s(mirror(poly)), z - 0.35, z, "paint")]
    glove = np.array(pf.glove + tuple((s, -v) for s, v in reversed(pf.glove)))
    parts.append(Part(_s(glove), z - 0.3, z + 0.05, "paint"))
    return parts


def _nacelles(pf: Planform) -> list[Part]:
    parts = []
    for n in pf.nacelles:
        s_front = n.s_front or (pf.wing_le + n.v * math.tan(math.radians(pf.wing_sweep)) - n.length * 0.45)
        for sgn in (1, -1):
            nb = body(-s_front, -(s_front + n.length), n.dia, n.length * 0.25, n.length * 0.3,
                      tail_width=n.dia * 0.5, nose_width=n.dia * 0.8, vc=sgn * n.v)
            parts.append(Part(nb, n.z - n.dia, n.z, "paint", rounded=True))
            parts.append(Part(_s(ellipse(s_front + 0.25, sgn * n.v, 0.2, n.dia * 0.33, 10)), n.z - 0.2, n.z - 0.1,
                              "dark", casts_shadow=False))
            if n.prop_dia:
                for ang in (90.0, -90.0):
                    b = blade(-(s_front - 0.2), sgn * n.v, ang, n.prop_dia / 2, 0.22, root=0.2)
                    b[:, 0] = -b[:, 0]
                    parts.append(Part(_s(b), n.z - 0.5, n.z - 0.4, "rotor"))
    return parts


def _an124_open_nose(pf: Planform, z1: float) -> list[Part]:
    """Nose visor raised: the fuselage ends short in a dark open hold, the visor stands up
    above the front (seen from above as its hollow inside, and as a tall shadow), and the
    loading ramp lies on the ground ahead of the opening."""
    hw = pf.fus_w / 2
    ramp = np.array([(0.0, hw * 0.5), (4.8, hw * 0.6), (4.8, -hw * 0.6), (0.0, -hw * 0.5)])
    hold = rect(4.6, 6.2, -hw * 0.8, hw * 0.8)
    visor = body(-4.9, -10.0, pf.fus_w * 0.86, 1.2, 0.8, tail_width=pf.fus_w * 0.8, nose_width=pf.fus_w * 0.6)
    inside = ellipse(7.2, 0.0, 2.0, hw * 0.6, 16)
    return [Part(_s(ramp), 0.0, 0.6, "metal"), Part(_s(hold), z1 - 0.3, z1 - 0.2, "dark", casts_shadow=False),
            Part(visor, z1 + 0.5, z1 + 4.5, "paint"),
            Part(_s(inside), z1 + 4.5, z1 + 4.6, "dark", casts_shadow=False)]


def _rear_ramp(type_name: str, pf: Planform, L: float, z0: float) -> list[Part]:
    """Rear ramp lowered to the ground behind the cargo door; Il-76 side doors swing out."""
    hw = pf.fus_w / 2
    parts = [Part(_s(rect(pf.tail_le - 1.5, L - 1.0, -hw * 0.55, hw * 0.55)), 0.0, 0.5, "deck")]
    door0 = pf.tail_le - 7.0
    parts.append(Part(_s(rect(door0, door0 + 5.0, -hw * 0.45, hw * 0.45)), pf.fus_z[1] + 0.05, pf.fus_z[1] + 0.1,
                      "dark", casts_shadow=False))
    if type_name == "Il-76":
        for sgn in (1, -1):
            d = np.array([(door0 + 0.5, sgn * hw * 0.8), (door0 + 5.5, sgn * (hw + 0.9)), (door0 + 5.6, sgn * (hw + 0.4)),
                          (door0 + 0.8, sgn * hw * 0.6)])
            parts.append(Part(_s(d), z0 + 0.5, pf.fus_z[1] - 1.0, "paint"))
    return parts
