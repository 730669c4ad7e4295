"""Where the sun stands: azimuth and elevation for a place and a UTC time, and as seen on a
map grid.

The NOAA low-precision solar position (about 0.1 degree from 1950 to 2050), enough for
shadows at 0.3 m GSD. No refraction correction below 1 degree of elevation.

The simulator lights its scenes with it; the detector's box refiner uses it to tell an
item from its shadow (`sun_on_grid`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from pyproj import Transformer

# Below this elevation shadows are long and faint, and the time was most likely not a real
# acquisition time (a date without one): the sun is taken as unknown.
MIN_ELEVATION_DEG = 10.0


@dataclass(frozen=True)
class SunPosition:
    """The sun as seen on an image: azimuth clockwise from the image's up (grid north for a
    north-up grid), and elevation above the horizon, in degrees."""

    azimuth_deg: float
    elevation_deg: float


def sun_position(lat: float, lon: float, when: datetime) -> tuple[float, float]:
    """(azimuth clockwise from true north, elevation above the horizon), in degrees."""
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    doy = when.timetuple().tm_yday
    hours = when.hour + when.minute / 60.0 + when.second / 3600.0
    g = 2.0 * math.pi / 365.0 * (doy - 1 + (hours - 12.0) / 24.0)  # fractional year, radians
    eqtime = 229.18 * (0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
                       - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g))  # minutes
    decl = (0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g) - 0.006758 * math.cos(2 * g)
            + 0.000907 * math.sin(2 * g) - 0.002697 * math.cos(3 * g) + 0.00148 * math.sin(3 * g))
    true_solar_min = hours * 60.0 + eqtime + 4.0 * lon
    hour_angle = math.radians(true_solar_min / 4.0 - 180.0)
    phi = math.radians(lat)
    cos_zen = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour_angle)
    zen = math.acos(max(-1.0, min(1.0, cos_zen)))
    # azimuth from north, clockwise
    az = math.atan2(math.sin(hour_angle),
                    math.cos(hour_angle) * math.sin(phi) - math.tan(decl) * math.cos(phi))
    azimuth = (math.degrees(az) + 180.0) % 360.0
    return azimuth, 90.0 - math.degrees(zen)


def sun_on_grid(crs, x: float, y: float, when: datetime | None) -> SunPosition | None:
    """The sun over map point (x, y) of a projected CRS at `when`, its azimuth turned from
    true north into the grid's frame (by the grid's convergence at the point, a degree or
    two in UTM).

    None (unknown) without a time, for a time of exactly midnight UTC (what a date without a
    time reads as; a real acquisition at that second is rare), and for a sun below
    MIN_ELEVATION_DEG."""
    if when is None:
        return None
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    if (when.hour, when.minute, when.second, when.microsecond) == (0, 0, 0, 0):
        return None
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(x, y)
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    azimuth, elevation = sun_position(lat, lon, when)
    if elevation < MIN_ELEVATION_DEG:
        return None
    # True north on the grid: a step north, carried back onto the grid.
    nx, ny = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, min(lat + 0.01, 89.99))
    convergence = math.degrees(math.atan2(nx - x, ny - y))
    return SunPosition((azimuth + convergence) % 360.0, elevation)
