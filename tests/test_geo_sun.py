"""The sun over an image: position for a place and time, turned into the map grid's frame,
and unknown where the time cannot be a real acquisition time."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from pyproj import Proj, Transformer

from sitewatch.geo.sun import (
    MIN_ELEVATION_DEG,
    angle_between,
    check_stated_sun,
    stated_sun_caveat,
    sun_on_grid,
    sun_position,
)


def test_sun_position_at_equinox_noon_on_the_equator_is_overhead():
    _, elevation = sun_position(0.0, 0.0, datetime(2024, 3, 20, 12, 7, tzinfo=UTC))
    assert elevation > 88.0


def test_morning_sun_at_latakia_is_in_the_east_and_afternoon_in_the_west():
    morning, m_el = sun_position(35.41, 35.95, datetime(2024, 6, 1, 6, 0, tzinfo=UTC))
    afternoon, a_el = sun_position(35.41, 35.95, datetime(2024, 6, 1, 13, 0, tzinfo=UTC))
    assert 60.0 < morning < 130.0 and 230.0 < afternoon < 300.0
    assert m_el > 20.0 and a_el > 20.0


@pytest.mark.parametrize("lon", [35.95, 39.0, 41.5])
def test_sun_on_grid_turns_true_north_azimuth_by_the_grid_convergence(lon):
    """West of the zone's central meridian (39 E) true north leans east on a UTM grid, so
    the sun's grid azimuth is larger than its true one; east of it, smaller. pyproj's
    meridian convergence (grid north from true north, the other sign) is the check."""
    lat, when = 35.41, datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32637", always_xy=True).transform(lon, lat)
    sun = sun_on_grid("EPSG:32637", x, y, when)
    true_azimuth, elevation = sun_position(lat, lon, when)
    convergence = Proj("EPSG:32637").get_factors(lon, lat).meridian_convergence
    assert sun.azimuth_deg == pytest.approx((true_azimuth - convergence) % 360.0, abs=0.05)
    assert sun.elevation_deg == pytest.approx(elevation)


def test_sun_is_unknown_without_a_real_time_or_below_the_horizon():
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32637", always_xy=True).transform(35.95, 35.41)
    assert sun_on_grid("EPSG:32637", x, y, None) is None
    # A date without a time reads as midnight UTC: not taken as an acquisition time.
    assert sun_on_grid("EPSG:32637", x, y, datetime(2024, 5, 1, tzinfo=UTC)) is None
    night = datetime(2024, 5, 1, 22, 30, tzinfo=UTC)
    assert sun_position(35.41, 35.95, night)[1] < MIN_ELEVATION_DEG
    assert sun_on_grid("EPSG:32637", x, y, night) is None


def noaa_spreadsheet_sun(lat: float, lon: float, when: datetime) -> tuple[float, float]:
    """An independent solar position, the NOAA solar calculator's (Meeus' low-precision
    formulas on Julian centuries since J2000): (azimuth from north, elevation), degrees."""
    t = (when.timestamp() / 86400.0 + 2440587.5 - 2451545.0) / 36525.0
    mean_long = (280.46646 + t * (36000.76983 + t * 0.0003032)) % 360.0
    anomaly = math.radians(357.52911 + t * (35999.05029 - 0.0001537 * t))
    ecc = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    centre = (math.sin(anomaly) * (1.914602 - t * (0.004817 + 0.000014 * t))
              + math.sin(2 * anomaly) * (0.019993 - 0.000101 * t) + math.sin(3 * anomaly) * 0.000289)
    omega = math.radians(125.04 - 1934.136 * t)
    apparent = math.radians(mean_long + centre - 0.00569 - 0.00478 * math.sin(omega))
    obliquity = 23 + (26 + (21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))) / 60) / 60
    eps = math.radians(obliquity + 0.00256 * math.cos(omega))
    decl = math.asin(math.sin(eps) * math.sin(apparent))
    y, l0 = math.tan(eps / 2) ** 2, math.radians(mean_long)
    eq_minutes = 4 * math.degrees(y * math.sin(2 * l0) - 2 * ecc * math.sin(anomaly)
                                  + 4 * ecc * y * math.sin(anomaly) * math.cos(2 * l0)
                                  - 0.5 * y * y * math.sin(4 * l0) - 1.25 * ecc * ecc * math.sin(2 * anomaly))
    solar_minutes = (when.hour * 60 + when.minute + when.second / 60 + eq_minutes + 4 * lon) % 1440
    hour_angle, phi = math.radians(solar_minutes / 4 - 180), math.radians(lat)
    cos_zenith = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour_angle)
    elevation = 90 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith))))
    azimuth = math.degrees(math.atan2(math.sin(hour_angle),
                                      math.cos(hour_angle) * math.sin(phi) - math.tan(decl) * math.cos(phi))) + 180
    return azimuth % 360, elevation


PLACES = [(35.401, 35.948), (44.617, 33.525), (-33.92, 18.42), (64.13, -21.9), (51.48, -0.0), (21.3, -157.8),
          (-45.0, 170.0)]
DAYS = [datetime(2019, 2, 1, tzinfo=UTC), datetime(2024, 3, 20, tzinfo=UTC), datetime(2024, 6, 21, tzinfo=UTC),
        datetime(2024, 12, 9, tzinfo=UTC), datetime(2031, 10, 15, tzinfo=UTC)]


@pytest.mark.parametrize("lat,lon", PLACES)
def test_sun_position_agrees_with_the_noaa_calculator_within_half_a_degree(lat, lon):
    """Elevation within 0.5 deg everywhere the sun is up; azimuth within 0.5 deg wherever it
    is compared (below 70 deg elevation; nearer the zenith a tiny error swings it)."""
    for day in DAYS:
        for minutes in range(0, 24 * 60, 37):
            when = day + timedelta(minutes=minutes)
            want_az, want_el = noaa_spreadsheet_sun(lat, lon, when)
            if want_el < 5:
                continue
            az, el = sun_position(lat, lon, when)
            assert el == pytest.approx(want_el, abs=0.5), when
            if want_el < 70:
                assert angle_between(az, want_az) < 0.75, when


@pytest.mark.parametrize("lat", [-40.0, 0.0, 23.44, 35.4, 51.5, 60.0])
@pytest.mark.parametrize("solstice,decl", [(datetime(2024, 6, 20, 12, tzinfo=UTC), 23.44),
                                           (datetime(2024, 12, 21, 12, tzinfo=UTC), -23.44)])
def test_solstice_noon_elevation_is_90_less_the_distance_from_the_tropic(lat, solstice, decl):
    """At local noon on a solstice the sun stands 90 - |lat - 23.44| high (the other tropic in
    December): the day's highest elevation at longitude 30 E, sampled each minute."""
    highest = max(sun_position(lat, 30.0, solstice - timedelta(minutes=m))[1] for m in range(0, 240))
    assert highest == pytest.approx(90.0 - abs(lat - decl), abs=0.3)


LATAKIA = (35.401, 35.948)
TAKEN = datetime(2024, 12, 9, 8, 31, tzinfo=UTC)


def test_a_stated_sun_matching_the_time_is_not_flagged():
    az, el = noaa_spreadsheet_sun(*LATAKIA, TAKEN)  # what a provider's metadata would state
    check = check_stated_sun(*LATAKIA, TAKEN, round(az, 1), round(el, 1))
    assert not check.mismatch and check.azimuth_error_deg < 1 and check.elevation_error_deg < 0.5
    assert stated_sun_caveat(*LATAKIA, TAKEN, round(az, 1), round(el, 1)) is None


def test_a_timestamp_three_hours_off_its_sun_is_flagged():
    az, el = noaa_spreadsheet_sun(*LATAKIA, TAKEN)
    shifted = TAKEN + timedelta(hours=3)
    check = check_stated_sun(*LATAKIA, shifted, az, el)
    assert check.mismatch and check.azimuth_error_deg > 20
    caveat = stated_sun_caveat(*LATAKIA, shifted, az, el)
    assert "wrong timestamp" in caveat and "2024-12-09 11:31 UTC" in caveat and "35.401 N, 35.948 E" in caveat


def test_only_the_stated_angles_are_compared_and_a_date_alone_is_not_checked():
    az, el = noaa_spreadsheet_sun(*LATAKIA, TAKEN)
    assert check_stated_sun(*LATAKIA, TAKEN, None, None) is None
    elevation_only = check_stated_sun(*LATAKIA, TAKEN, None, el + 4.0)
    assert elevation_only.azimuth_error_deg is None and elevation_only.mismatch
    assert not check_stated_sun(*LATAKIA, TAKEN, (az + 4.0) % 360, None).mismatch
    assert check_stated_sun(*LATAKIA, datetime(2024, 12, 9, tzinfo=UTC), az, el) is None


def test_near_the_zenith_only_the_elevation_is_compared():
    when = datetime(2024, 6, 21, 8, 55, tzinfo=UTC)  # about noon at Riyadh, latitude 24.7
    az, el = sun_position(24.7, 46.7, when)
    assert el > 80
    check = check_stated_sun(24.7, 46.7, when, (az + 40) % 360, el)
    assert check.azimuth_error_deg is None and not check.mismatch


def test_angle_between_wraps_at_north():
    assert angle_between(359.0, 2.0) == pytest.approx(3.0)
    assert angle_between(10.0, 190.0) == pytest.approx(180.0)
