"""Where the sun stands: azimuth and elevation for a place and a UTC time, and as seen on a
map grid.

The NOAA low-precision solar position (about 0.1 degree from 1950 to 2050), enough for
shadows at 0.3 m GSD. No refraction correction below 1 degree of elevation.

The simulator lights its scenes with it; the detector's box refiner uses it to tell an
item from its shadow (`sun_on_grid`); the shadow check (`geo.shadows`) compares it with the
shadows measured in an image (`sun_over_grid_point`).
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
    found = sun_over_grid_point(crs, x, y, when)
    if found is None or found[2].elevation_deg < MIN_ELEVATION_DEG:
        return None
    return found[2]


def sun_over_grid_point(crs, x: float, y: float, when: datetime) -> tuple[float, float, SunPosition] | None:
    """(lat, lon, the sun on the grid) over map point (x, y) of a projected CRS at `when`,
    whatever the sun's elevation (below the horizon too); None where the point has no
    latitude and longitude."""
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(x, y)
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    azimuth, elevation = sun_position(lat, lon, when)
    # True north on the grid: a step north, carried back onto the grid.
    nx, ny = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, min(lat + 0.01, 89.99))
    convergence = math.degrees(math.atan2(nx - x, ny - y))
    return lat, lon, SunPosition((azimuth + convergence) % 360.0, elevation)


# --- does the sun the metadata states match the stated time and place? ---------------------

# Differences beyond these (degrees) flag the image. The position above is good to a few
# tenths of a degree and providers state the sun at the scene centre, so a consistent image
# is well inside them, while a timestamp three hours off moves the sun by 20-50 degrees.
SUN_ELEVATION_TOLERANCE_DEG = 3.0
SUN_AZIMUTH_TOLERANCE_DEG = 5.0
# With the sun this high its azimuth turns fast near noon and a small time error swings it
# widely: only the elevation is compared.
AZIMUTH_CHECK_MAX_ELEVATION_DEG = 80.0


@dataclass(frozen=True)
class SunCheck:
    """The sun an image's metadata states against the one computed for its time and place.
    An error is None where that angle was not stated (or, for the azimuth, not compared)."""

    computed_azimuth_deg: float
    computed_elevation_deg: float
    azimuth_error_deg: float | None
    elevation_error_deg: float | None
    azimuth_tolerance_deg: float = SUN_AZIMUTH_TOLERANCE_DEG
    elevation_tolerance_deg: float = SUN_ELEVATION_TOLERANCE_DEG

    @property
    def mismatch(self) -> bool:
        return ((self.azimuth_error_deg or 0.0) > self.azimuth_tolerance_deg
                or (self.elevation_error_deg or 0.0) > self.elevation_tolerance_deg)


def angle_between(a_deg: float, b_deg: float) -> float:
    """The smaller angle between two directions, 0 to 180 degrees."""
    d = (a_deg - b_deg) % 360.0
    return min(d, 360.0 - d)


def check_stated_sun(lat: float, lon: float, when: datetime, azimuth_deg: float | None, elevation_deg: float | None,
                     azimuth_tolerance_deg: float = SUN_AZIMUTH_TOLERANCE_DEG,
                     elevation_tolerance_deg: float = SUN_ELEVATION_TOLERANCE_DEG) -> SunCheck | None:
    """Compare a stated sun (azimuth from true north, elevation; None where not stated) with
    the sun at (lat, lon) at `when`. None (no check) when neither angle is stated or the time
    is exactly midnight UTC (a date without a time of day)."""
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    if azimuth_deg is None and elevation_deg is None:
        return None
    if (when.hour, when.minute, when.second, when.microsecond) == (0, 0, 0, 0):
        return None
    azimuth, elevation = sun_position(lat, lon, when)
    az_error = None
    if azimuth_deg is not None and elevation <= AZIMUTH_CHECK_MAX_ELEVATION_DEG:
        az_error = angle_between(azimuth_deg, azimuth)
    el_error = None if elevation_deg is None else abs(elevation_deg - elevation)
    return SunCheck(azimuth, elevation, az_error, el_error, azimuth_tolerance_deg, elevation_tolerance_deg)


def sun_caveat(check: SunCheck, lat: float, lon: float, when: datetime, azimuth_deg: float | None,
               elevation_deg: float | None) -> str | None:
    """One sentence for an image whose stated sun does not match its time and place; None
    when it matches."""
    if not check.mismatch:
        return None
    stated = ", ".join(f"{name} {value:.1f}" for name, value in (("azimuth", azimuth_deg), ("elevation", elevation_deg))
                       if value is not None)
    errors = ", ".join(f"{value:.1f} deg in {name} (tolerance {tol:g})" for name, value, tol in
                       (("azimuth", check.azimuth_error_deg, check.azimuth_tolerance_deg),
                        ("elevation", check.elevation_error_deg, check.elevation_tolerance_deg)) if value is not None)
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    place = f"{abs(lat):.3f} {'N' if lat >= 0 else 'S'}, {abs(lon):.3f} {'E' if lon >= 0 else 'W'}"
    return (f"sun check: the metadata puts the sun at {stated} deg, but at the stated time ({when:%Y-%m-%d %H:%M} UTC) "
            f"over {place} it stood at azimuth {check.computed_azimuth_deg:.1f}, elevation "
            f"{check.computed_elevation_deg:.1f} deg, off by {errors}: a wrong timestamp or a mislabelled image")


def stated_sun_caveat(lat: float, lon: float, when: datetime, azimuth_deg: float | None,
                      elevation_deg: float | None) -> str | None:
    """The caveat for an image whose stated sun does not match its time and place (default
    tolerances), or None: it matches, or there was nothing to compare."""
    check = check_stated_sun(lat, lon, when, azimuth_deg, elevation_deg)
    return None if check is None else sun_caveat(check, lat, lon, when, azimuth_deg, elevation_deg)
