"""Top-down planforms of wheeled vehicles and air-defence systems, from the front (s = 0).

Cabs are a little narrower than the body behind them with rounded front corners and a
dark windscreen strip, so the front reads as the front. The S-400 launcher and the 92N6
radar keep their chassis footprint in every state; raising the tubes or the antenna
shortens what is seen from above and lengthens the shadow.
"""

from __future__ import annotations

import numpy as np

from sitewatch.simulate.render.parts import Part, body, ellipse, fit_to_box, rect


def _s(poly: np.ndarray) -> np.ndarray:
    out = poly.copy()
    out[:, 0] = -out[:, 0]
    return out


def _cab(s0: float, s1: float, w: float, z: float, mat: str = "paint") -> list[Part]:
    cab = body(-s0, -s1, w, min(0.8, (s1 - s0) * 0.35), 0.1, tail_width=w, nose_width=w * 0.75)
    return [Part(cab, 0.5, z, mat),
            Part(_s(rect(s0 + 0.12, s0 + 0.45, -w * 0.4, w * 0.4)), z, z + 0.02, "glass", casts_shadow=False)]


def _maz_front(W: float, z: float) -> list[Part]:
    """MAZ-543 front: two small cabs either side of the engine."""
    parts = []
    for sgn in (1, -1):
        parts += [Part(_s(rect(0.0, 2.6, sgn * W * 0.18, sgn * W * 0.46)), 0.5, z, "paint"),
                  Part(_s(rect(0.1, 0.5, sgn * W * 0.2, sgn * W * 0.44)), z, z + 0.02, "glass", casts_shadow=False)]
    parts.append(Part(_s(rect(0.3, 2.6, -W * 0.17, W * 0.17)), 0.5, z - 0.4, "deck"))
    return parts


def truck_parts(L: float, W: float) -> list[Part]:
    parts = _cab(0.0, 0.26 * L, W * 0.9, 2.9)
    parts.append(Part(_s(rect(0.29 * L, L, -W / 2, W / 2)), 0.9, 3.1, "tarp", rounded=True))
    return parts


def car_parts(L: float, W: float) -> list[Part]:
    car = body(0.0, -L, W, 1.0, 0.3, tail_width=W * 0.9, nose_width=W * 0.55)  # rounded bonnet, squarer boot
    return [Part(car, 0.2, 1.0, "paint"),
            Part(_s(rect(0.26 * L, 0.40 * L, -W * 0.42, W * 0.42)), 1.0, 1.3, "glass", casts_shadow=False),
            Part(_s(rect(0.40 * L, 0.74 * L, -W * 0.42, W * 0.42)), 1.2, 1.45, "paint", rounded=True),
            Part(_s(rect(0.74 * L, 0.84 * L, -W * 0.4, W * 0.4)), 1.0, 1.3, "glass", casts_shadow=False)]


def launcher_parts(L: float, W: float, state: str) -> list[Part]:
    parts = [Part(_s(rect(2.7, L, -W / 2, W / 2)), 0.6, 1.9, "deck")]
    parts += _maz_front(W, 3.0)
    tube_d = W * 0.27
    if state == "erect":
        # Tubes stand on the rear: top-down only their ends, a 2 x 2 cluster; the frame rises beside them.
        for i in (0, 1):
            for sgn in (1, -1):
                parts.append(Part(_s(ellipse(L - 0.55 - i * (tube_d + 0.05), sgn * tube_d * 0.55, tube_d / 2,
                                             tube_d / 2, 12)), 1.9, 11.8, "paint", rounded=True))
        parts.append(Part(_s(rect(L - 2.4, L - 0.2, -W * 0.48, -W * 0.40)), 1.9, 9.5, "metal"))
        parts.append(Part(_s(rect(L - 2.4, L - 0.2, W * 0.40, W * 0.48)), 1.9, 9.5, "metal"))
        parts.append(Part(_s(rect(3.2, L - 2.6, -W * 0.3, W * 0.3)), 1.9, 2.0, "dark", casts_shadow=False))
    else:
        # Four canisters in a 2 x 2 stack: the lower pair shows either side of the upper pair.
        for v_c, z0, z1 in ((0.74, 1.9, 3.0), (0.27, 2.9, 4.0)):
            for sgn in (1, -1):
                tube = body(-3.0, -(L - 0.1), W * 0.25, 0.3, 0.1, tail_width=W * 0.24, nose_width=W * 0.24,
                            vc=sgn * W / 2 * v_c)
                parts.append(Part(tube, z0, z1, "paint", rounded=True))
    return parts


def radar_parts(L: float, W: float, state: str) -> list[Part]:
    parts = [Part(_s(rect(2.7, L, -W / 2, W / 2)), 0.6, 1.9, "deck")]
    parts += _maz_front(W, 3.0)
    parts.append(Part(_s(rect(2.9, 6.2, -W * 0.48, W * 0.48)), 1.9, 4.0, "super"))  # equipment cabin
    if state == "deployed":
        # The phased array stands up at the rear, seen edge-on: a thin slab across the chassis.
        parts.append(Part(_s(ellipse(L - 2.6, 0.0, 0.6, 0.6, 10)), 1.9, 4.5, "metal", rounded=True))
        parts.append(Part(_s(rect(L - 3.2, L - 2.6, -W * 0.49, W * 0.49)), 3.0, 9.5, "paint"))
        parts.append(Part(_s(rect(6.5, L - 3.4, -W * 0.25, W * 0.25)), 1.9, 2.0, "dark", casts_shadow=False))
    else:
        parts.append(Part(_s(rect(6.4, L - 0.2, -W * 0.47, W * 0.47)), 1.9, 3.6, "paint"))
        parts.append(Part(_s(rect(6.8, L - 0.6, -W * 0.38, W * 0.38)), 3.6, 3.65, "metal", casts_shadow=False))
    return parts


def pantsir_parts(L: float, W: float) -> list[Part]:
    parts = _cab(0.0, 2.4, W * 0.94, 2.9)
    parts.append(Part(_s(rect(2.6, L, -W / 2, W / 2)), 0.6, 1.8, "deck"))
    parts.append(Part(_s(rect(2.7, 5.2, -W * 0.47, W * 0.47)), 1.8, 3.2, "super"))
    tc = 0.68 * L
    parts.append(Part(_s(ellipse(tc, 0.0, 1.3, 1.3, 18)), 1.8, 3.6, "paint", rounded=True))
    for sgn in (1, -1):  # missile banks either side of the turret
        parts.append(Part(_s(rect(tc - 1.7, tc + 1.2, sgn * W * 0.30, sgn * W * 0.5)), 3.0, 4.0, "paint",
                          rounded=True))
        parts.append(Part(_s(rect(tc - 1.7, tc - 1.5, sgn * W * 0.31, sgn * W * 0.49)), 4.0, 4.02, "dark",
                          casts_shadow=False))
        parts.append(Part(_s(rect(tc - 3.0, tc - 1.0, sgn * 0.35 - 0.06, sgn * 0.35 + 0.06)), 3.3, 3.4, "dark"))
    parts.append(Part(_s(ellipse(tc + 0.3, 0.0, 0.5, 0.9, 14)), 3.6, 4.6, "metal", rounded=True))  # radar
    return parts


def vehicle_parts(type_name: str, length: float, width: float, state: str) -> list[Part]:
    L, W = length, width
    t = type_name.lower()
    if t.startswith("s-400") or "launcher" in t:
        parts = launcher_parts(L, W, state)
    elif t.startswith("92n6") or "radar" in t:
        parts = radar_parts(L, W, state)
    elif t.startswith("pantsir"):
        parts = pantsir_parts(L, W)
    elif t == "car":
        parts = car_parts(L, W)
    else:
        parts = truck_parts(L, W)
    return fit_to_box(parts, length, width)
