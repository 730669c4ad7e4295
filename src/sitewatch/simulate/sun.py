"""Where the sun stands: azimuth and elevation for a place and a UTC time.

The NOAA low-precision solar position (about 0.1 degree from 1950 to 2050), enough for
shadows at 0.3 m GSD. No refraction correction below 1 degree of elevation.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone


def sun_position(lat: float, lon: float, when: datetime) -> tuple[float, float]:
    """(azimuth clockwise from true north, elevation above the horizon), in degrees."""
    when = when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)
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
