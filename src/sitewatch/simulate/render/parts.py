"""Building blocks of planforms: a Part is one solid piece of an object.

Geometry is in the object's local frame, metres: u along the axis (positive towards the
nose or bow), v across it (positive to the object's left). Heights are metres above ground
(or above the waterline for ships).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Materials an object is painted with; paint.py maps them to colours per appearance seed.
MATERIALS = (
    "paint",  # main paint (camouflage applies)
    "paint_under",  # second tone: wings of two-tone schemes, ship hulls
    "dark",  # intakes, exhausts, gaps, open cargo bays
    "glass",  # canopies, windscreens
    "metal",  # bare metal: rotor heads, tubes' ends, engine nozzles
    "deck",  # ship decks, truck beds
    "super",  # ship superstructure, vehicle cabs
    "tarp",  # canvas covers
    "rotor",  # rotor blades
    "white",  # markings
    "black",  # submarine hull, tyres
)


@dataclass(frozen=True)
class Part:
    poly: np.ndarray  # (N, 2) local (u, v) metres, exterior ring, not closed
    z0: float  # bottom of the part, metres
    z1: float  # top of the part, metres
    material: str
    rounded: bool = False  # shaded as a body of revolution (dome across its width)
    alpha: float = 1.0  # opacity when composited (a rotor disc is faint)
    casts_shadow: bool = True


def rect(u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
    return np.array([(u1, v1), (u0, v1), (u0, v0), (u1, v0)], float)


def ellipse(uc: float, vc: float, a: float, b: float, n: int = 28) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    return np.stack([uc + a * np.cos(t), vc + b * np.sin(t)], axis=1)


def body(nose: float, tail: float, width: float, nose_len: float, tail_len: float,
         tail_width: float = 0.0, nose_width: float = 0.0, n: int = 8, vc: float = 0.0) -> np.ndarray:
    """A fuselage or hull outline: an ogive nose, a parallel middle and a taper to the tail.

    nose > tail are u positions; nose_width / tail_width are the widths at the very ends
    (0 for a point, the full width for a blunt end such as a transom)."""
    hw = width / 2.0
    left = []
    for i in range(n + 1):  # nose: from the tip (t = 0) to full width (t = 1)
        t = i / n
        w = nose_width / 2.0 + (hw - nose_width / 2.0) * math.sin(t * math.pi / 2.0) ** 0.6
        left.append((nose - nose_len * t, w))
    for i in range(n + 1):  # tail: from the end of the parallel part backwards
        t = i / n
        w = hw - (hw - tail_width / 2.0) * t ** 1.6
        left.append((tail + tail_len * (1.0 - t), w))
    left_arr = np.array(left)
    right_arr = left_arr[::-1].copy()
    right_arr[:, 1] *= -1.0
    pts = np.vstack([left_arr, right_arr])
    pts[:, 1] += vc
    return _dedupe(pts)


def wing(le_root: float, root_chord: float, tip_chord: float, half_span: float, sweep_le_deg: float,
         v_root: float = 0.0) -> np.ndarray:
    """A symmetric pair of straight-tapered wings joined at the root (u of the leading edge)."""
    dx = (half_span - v_root) * math.tan(math.radians(sweep_le_deg))
    tip_le = le_root - dx
    return np.array([
        (le_root, v_root), (tip_le, half_span), (tip_le - tip_chord, half_span), (le_root - root_chord, v_root),
        (le_root - root_chord, -v_root), (tip_le - tip_chord, -half_span), (tip_le, -half_span), (le_root, -v_root),
    ], float)


def wing_side(le_root: float, root_chord: float, tip_chord: float, v_root: float, v_tip: float,
              sweep_le_deg: float) -> np.ndarray:
    """One wing panel from v_root to v_tip (v_tip may be negative for the right side)."""
    s = 1.0 if v_tip >= v_root else -1.0
    dx = abs(v_tip - v_root) * math.tan(math.radians(sweep_le_deg))
    tip_le = le_root - dx
    return np.array([(le_root, v_root), (tip_le, v_tip), (tip_le - tip_chord, v_tip),
                     (le_root - root_chord, v_root)], float)[:: (1 if s > 0 else -1)]


def blade(hub_u: float, hub_v: float, angle_deg: float, radius: float, chord: float, root: float = 0.4) -> np.ndarray:
    """A rotor blade from the hub outwards; angle 0 points forward (+u), 90 to the left (+v)."""
    a = math.radians(angle_deg)
    du, dv = math.cos(a), math.sin(a)
    pu, pv = -dv, du
    c = chord / 2.0
    return np.array([
        (hub_u + du * root + pu * c, hub_v + dv * root + pv * c),
        (hub_u + du * radius + pu * c, hub_v + dv * radius + pv * c),
        (hub_u + du * radius - pu * c, hub_v + dv * radius - pv * c),
        (hub_u + du * root - pu * c, hub_v + dv * root - pv * c),
    ])


def mirror(poly: np.ndarray) -> np.ndarray:
    out = poly[::-1].copy()
    out[:, 1] *= -1.0
    return out


def fit_to_box(parts: list[Part], length: float, width: float,
               extent: tuple[float, float, float] | None = None) -> list[Part]:
    """Scale and shift parts so their joint extent is exactly length x width, centred.

    Builders lay parts out with catalogue dimensions, so the factors are close to 1; this
    removes the last rounding so the drawn outline fills the box. `extent` (umin, umax,
    vmax) overrides the parts' own extent where the outline is not drawn in full (the disc
    a parked rotor's blades describe)."""
    if extent is None:
        allp = np.vstack([p.poly for p in parts])
        umin, umax = allp[:, 0].min(), allp[:, 0].max()
        vmax = np.abs(allp[:, 1]).max()
    else:
        umin, umax, vmax = extent
    su = length / (umax - umin)
    sv = (width / 2.0) / vmax
    uc = (umax + umin) / 2.0
    out = []
    for p in parts:
        q = np.empty_like(p.poly)
        q[:, 0] = (p.poly[:, 0] - uc) * su
        q[:, 1] = p.poly[:, 1] * sv
        out.append(Part(q, p.z0, p.z1, p.material, p.rounded, p.alpha, p.casts_shadow))
    return out


def _dedupe(pts: np.ndarray) -> np.ndarray:
    keep = [0]
    for i in range(1, len(pts)):
        if np.hypot(*(pts[i] - pts[keep[-1]])) > 1e-6:
            keep.append(i)
    if len(keep) > 1 and np.hypot(*(pts[keep[-1]] - pts[0])) < 1e-6:
        keep.pop()
    return pts[keep]
