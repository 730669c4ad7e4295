"""The sun over an image: position for a place and time, turned into the map grid's frame,
and unknown where the time cannot be a real acquisition time."""

from datetime import UTC, datetime

import pytest
from pyproj import Proj, Transformer

from sitewatch.geo.sun import MIN_ELEVATION_DEG, sun_on_grid, sun_position


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
