"""Top-down planforms of ships and submarines, laid out from the bow (s = 0) aft.

Hulls have a pointed bow and a transom stern; superstructure, masts, guns, launcher
hatches and a helicopter deck sit on the deck at heights that give believable shadows.
The submarine is a cigar hull, mostly awash, with its sail forward of midships.
"""

from __future__ import annotations

import numpy as np

from sitewatch.simulate.render.parts import Part, body, ellipse, fit_to_box, rect


def _s(poly: np.ndarray) -> np.ndarray:
    out = poly.copy()
    out[:, 0] = -out[:, 0]
    return out


def _hull(L: float, W: float, bow: float, stern: float, transom: float) -> np.ndarray:
    return body(0.0, -L, W, bow * L, stern * L, tail_width=transom * W, nose_width=0.0, n=10)


def _block(s0: float, s1: float, w: float, z: float, mat: str = "super", zb: float = 5.0) -> list[Part]:
    """A superstructure block in two tiers, the upper one narrower and set back, with a
    row of dark bridge windows along its front."""
    lower = Part(body(-s0, -s1, w, min(1.5, (s1 - s0) * 0.2), 0.6, tail_width=w, nose_width=w * 0.7), zb, z - 2.5, mat)
    u0, u1 = s0 + (s1 - s0) * 0.15, s1 - (s1 - s0) * 0.2
    upper = Part(body(-u0, -u1, w * 0.7, min(1.2, (u1 - u0) * 0.2), 0.5, tail_width=w * 0.7, nose_width=w * 0.5),
                 z - 2.5, z, mat)
    windows = Part(_s(rect(u0 + 0.2, u0 + 0.7, -w * 0.25, w * 0.25)), z, z + 0.02, "dark", casts_shadow=False)
    return [lower, upper, windows]


def _gun(s: float, r: float, barrel: float, z: float) -> list[Part]:
    return [Part(_s(rect(s - r - barrel, s - r * 0.5, -0.18, 0.18)), z - 0.6, z - 0.4, "dark"),
            Part(_s(ellipse(s, 0.0, r, r * 0.95, 16)), z - 1.8, z, "super", rounded=True)]


def _vls(s0: float, s1: float, w: float, z: float) -> list[Part]:
    parts = [Part(_s(rect(s0, s1, -w / 2, w / 2)), z - 0.1, z, "dark", casts_shadow=False)]
    n = max(int((s1 - s0) / 1.4), 1)
    for i in range(n):  # hatch rows
        a = s0 + (i + 0.2) * (s1 - s0) / n
        parts.append(Part(_s(rect(a, a + 0.6 * (s1 - s0) / n, -w / 2 + 0.3, w / 2 - 0.3)), z, z + 0.05, "deck",
                          casts_shadow=False))
    return parts


def _helideck(s0: float, s1: float, w: float, z: float) -> list[Part]:
    c = (s0 + s1) / 2
    r = min(s1 - s0, w) * 0.32
    ring = [Part(_s(ellipse(c, 0.0, r, r, 32)), z, z + 0.02, "white", casts_shadow=False),
            Part(_s(ellipse(c, 0.0, r * 0.85, r * 0.85, 32)), z + 0.02, z + 0.04, "deck", casts_shadow=False),
            Part(_s(rect(s0 + 0.5, s1 - 0.5, -0.12, 0.12)), z + 0.04, z + 0.06, "white", casts_shadow=False)]
    return ring


def frigate_parts(L: float, W: float, gorshkov: bool) -> list[Part]:
    f = 6.0  # freeboard, metres above the water
    parts = [Part((_hull(L, W, 0.3, 0.1, 0.72)), 0.0, f, "paint", rounded=False)]
    deck = _hull(L, W * 0.9, 0.3, 0.1, 0.72)
    deck[:, 0] = deck[:, 0] * 0.98 - 0.01 * L
    parts.append(Part(deck, f, f + 0.05, "deck", casts_shadow=False))
    parts += _gun(0.17 * L, 1.8, 5.0, f + 2.6)
    parts += _vls(0.23 * L, 0.30 * L, W * 0.38, f + 0.3)
    parts += _block(0.31 * L, 0.47 * L, W * 0.72, f + 9.0)
    if gorshkov:  # integrated pyramid mast
        parts.append(Part(_s(ellipse(0.40 * L, 0.0, 3.4, W * 0.26, 4)), f + 9, f + 24, "super"))
    else:
        parts.append(Part(_s(rect(0.385 * L, 0.405 * L, -0.7, 0.7)), f + 9, f + 27, "metal"))
        parts.append(Part(_s(rect(0.392 * L, 0.398 * L, -W * 0.22, W * 0.22)), f + 22, f + 22.3, "metal"))
    parts += _block(0.49 * L, 0.66 * L, W * 0.62, f + 7.0)
    parts.append(Part(_s(ellipse(0.56 * L, 0.0, 2.6, 1.6, 14)), f + 7, f + 10.5, "dark", rounded=True))
    parts += _vls(0.665 * L, 0.70 * L, W * 0.30, f + 0.3)
    parts += _block(0.70 * L, 0.79 * L, W * 0.66, f + 5.5)
    parts += _helideck(0.80 * L, 0.97 * L, W * 0.7, f + 0.1)
    return parts


def landing_ship_parts(L: float, W: float) -> list[Part]:
    f = 5.0
    parts = [Part((_hull(L, W, 0.2, 0.06, 0.8)), 0.0, f, "paint")]
    parts.append(Part(_s(rect(0.12 * L, 0.44 * L, -W * 0.4, W * 0.4)), f, f + 0.05, "deck", casts_shadow=False))
    parts.append(Part(_s(rect(0.18 * L, 0.40 * L, -W * 0.16, W * 0.16)), f + 0.05, f + 0.5, "dark"))  # hatch
    parts += _gun(0.10 * L, 1.4, 3.0, f + 2.2)
    parts += _block(0.45 * L, 0.74 * L, W * 0.8, f + 9.0)
    parts.append(Part(_s(rect(0.52 * L, 0.535 * L, -0.6, 0.6)), f + 9, f + 24, "metal"))
    parts.append(Part(_s(ellipse(0.64 * L, 0.0, 2.5, 1.8, 14)), f + 9, f + 13, "dark", rounded=True))
    parts += _gun(0.80 * L, 1.4, 3.0, f + 2.2)
    parts.append(Part(_s(rect(0.84 * L, 0.98 * L, -W * 0.38, W * 0.38)), f, f + 0.05, "deck", casts_shadow=False))
    return parts


def tanker_parts(L: float, W: float) -> list[Part]:
    f = 7.0
    parts = [Part((_hull(L, W, 0.16, 0.08, 0.78)), 0.0, f, "paint")]
    parts.append(Part(_s(rect(0.1 * L, 0.76 * L, -W * 0.42, W * 0.42)), f, f + 0.05, "deck", casts_shadow=False))
    for v in (-0.12, 0.0, 0.12):  # cargo pipes along the deck
        parts.append(Part(_s(rect(0.12 * L, 0.74 * L, W * v - 0.25, W * v + 0.25)), f, f + 0.6, "metal",
                          rounded=True))
    for s in (0.3, 0.5):  # replenishment masts
        parts.append(Part(_s(rect(s * L, s * L + 1.5, -W * 0.3, W * 0.3)), f, f + 12, "super"))
    parts.append(Part(_s(ellipse(0.07 * L, 0.0, 4.0, W * 0.3, 12)), f, f + 2.5, "super"))  # forecastle
    parts += _block(0.78 * L, 0.93 * L, W * 0.86, f + 12.0)
    parts.append(Part(_s(ellipse(0.88 * L, 0.0, 2.4, 2.0, 14)), f + 12, f + 16, "dark", rounded=True))
    return parts


def submarine_parts(L: float, W: float) -> list[Part]:
    hull = np.array([(s, w) for s, w in _cigar(L, W * 0.92)])
    parts = [Part(_s(hull), 0.0, 1.6, "black", rounded=True)]
    planes = np.array([(0.93 * L, 0.0), (0.955 * L, W / 2), (0.985 * L, W / 2), (0.99 * L, 0.0),
                       (0.985 * L, -W / 2), (0.955 * L, -W / 2)])
    parts.append(Part(_s(planes), 0.6, 0.9, "black"))
    parts.append(Part(_s(rect(0.36 * L, 0.72 * L, -0.5, 0.5)), 1.6, 1.65, "dark", casts_shadow=False))  # casing
    parts.append(Part(body(-0.27 * L, -0.39 * L, 2.0, 1.5, 3.0, tail_width=0.6, nose_width=1.2), 1.6, 7.5,
                      "black", rounded=True))
    return parts


def _cigar(L: float, W: float, n: int = 18) -> list[tuple[float, float]]:
    pts = []
    for i in range(n + 1):  # bow: half an ellipse over the first 18%
        t = i / n
        s = 0.18 * L * (1 - np.cos(t * np.pi / 2))
        pts.append((s, W / 2 * np.sin(t * np.pi / 2)))
    for i in range(1, n + 1):  # stern: a long taper to a point
        t = i / n
        pts.append((0.55 * L + 0.45 * L * t, W / 2 * (1 - t ** 1.8)))
    left = np.array(pts)
    right = left[::-1].copy()
    right[:, 1] *= -1
    return [tuple(p) for p in np.vstack([left, right[1:-1]])]


def ship_parts(type_name: str, length: float, width: float) -> list[Part]:
    L, W = length, width
    if "submarine" in type_name.lower() or type_name.startswith("Kilo"):
        parts = submarine_parts(L, W)
    elif "Ropucha" in type_name or "landing" in type_name.lower():
        parts = landing_ship_parts(L, W)
    elif "tanker" in type_name.lower() or "Dubna" in type_name:
        parts = tanker_parts(L, W)
    else:
        parts = frigate_parts(L, W, gorshkov="Gorshkov" in type_name)
    return fit_to_box(parts, length, width)
