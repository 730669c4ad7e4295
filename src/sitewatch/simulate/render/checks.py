"""Refuse scene specs the renderer cannot draw truthfully, naming the field."""

from __future__ import annotations

import math

from sitewatch.errors import InputError
from sitewatch.simulate.scene import SceneSpec

_SOURCE = "scene spec"


def check_spec(spec: SceneSpec) -> None:
    g = spec.site.grid
    if not (g.gsd_m > 0 and math.isfinite(g.gsd_m)):
        raise InputError(_SOURCE, f"site.grid.gsd_m must be a positive number of metres, got {g.gsd_m}")
    if g.width_px < 1 or g.height_px < 1:
        raise InputError(_SOURCE, f"site.grid must be at least 1 x 1 pixels, got {g.width_px} x {g.height_px}")
    if spec.site.kind not in ("airbase", "naval_base"):
        raise InputError(_SOURCE, f"site.kind must be airbase or naval_base, got {spec.site.kind!r}")
    c = spec.conditions
    ranges = {
        "sun_elevation_deg": (c.sun_elevation_deg, 0.0, 90.0, False),
        "haze": (c.haze, 0.0, 1.0, True),
        "cloud_cover": (c.cloud_cover, 0.0, 1.0, True),
        "noise_sigma": (c.noise_sigma, 0.0, 255.0, True),
        "blur_sigma_px": (c.blur_sigma_px, 0.0, 50.0, True),
    }
    for name, (v, lo, hi, lo_ok) in ranges.items():
        if not math.isfinite(v) or v > hi or v < lo or (v == lo and not lo_ok):
            raise InputError(_SOURCE, f"conditions.{name} must be within {'[' if lo_ok else '('}{lo}, {hi}], got {v}")
    if len(c.colour_balance) != 3 or not all(math.isfinite(x) and 0 < x < 4 for x in c.colour_balance):
        raise InputError(_SOURCE, f"conditions.colour_balance must be three gains in (0, 4), got {c.colour_balance}")
    if not all(math.isfinite(x) for x in (*c.shift_px, c.rotation_deg, c.sun_azimuth_deg)):
        raise InputError(_SOURCE, "conditions.shift_px, rotation_deg and sun_azimuth_deg must be finite numbers")
    for o in spec.objects:
        b = o.box
        if not all(math.isfinite(x) for x in (b.cx, b.cy, b.length, b.width, b.heading_deg)):
            raise InputError(_SOURCE, f"object {o.track_id}: box has a non-finite value: {b}")
