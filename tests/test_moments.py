"""Looks at the same moment: a site's images grouped by a window per class."""

from datetime import UTC, datetime, timedelta

import pytest

from sitewatch.change.moments import SAME_MOMENT_WINDOWS, moment_of, moments, same_moment_window
from sitewatch.domain import Image

T0 = datetime(2024, 12, 9, 8, 0, tzinfo=UTC)


def image(name: str, hours: float) -> Image:
    return Image(name, "khmeimim", f"/{name}.tif", T0 + timedelta(hours=hours), 0.5, "EPSG:32636", 100, 100)


SHOTS = [image("maxar", 0), image("airbus", 2.5), image("planet", 5.9), image("blacksky", 7), image("next-day", 26)]


def ids(grouped):
    return [[i.id for i in m.images] for m in grouped]


def test_defaults_six_hours_for_what_moves_fast_and_two_days_for_ships():
    assert same_moment_window("aircraft") == timedelta(hours=6) == SAME_MOMENT_WINDOWS["air_defence"]
    assert same_moment_window("helicopter") == same_moment_window("vehicle") == timedelta(hours=6)
    assert same_moment_window("ship") == timedelta(hours=48)


def test_aircraft_moments_hold_images_within_six_hours_of_the_first():
    got = moments(reversed(SHOTS), "aircraft")
    assert ids(got) == [["maxar", "airbus", "planet"], ["blacksky"], ["next-day"]]
    assert got[0].start == T0 and got[0].end == T0 + timedelta(hours=5.9)


def test_ships_in_port_see_a_day_and_more_as_one_moment():
    assert ids(moments(SHOTS, "ship")) == [["maxar", "airbus", "planet", "blacksky", "next-day"]]


def test_a_chain_of_images_a_window_apart_each_does_not_run_together():
    chain = [image(f"i{k}", 5 * k) for k in range(5)]  # 0, 5, 10, 15, 20 h
    assert ids(moments(chain, "vehicle")) == [["i0", "i1"], ["i2", "i3"], ["i4"]]


def test_the_window_is_configurable_per_class_and_checked():
    assert ids(moments(SHOTS, "aircraft", {"aircraft": timedelta(hours=1)})) == [["maxar"], ["airbus"], ["planet"],
                                                                                ["blacksky"], ["next-day"]]
    assert ids(moments(SHOTS, "ship", {"aircraft": timedelta(0)}))[0][-1] == "next-day"  # ships keep their default
    with pytest.raises(ValueError, match="unknown class"):
        moments(SHOTS, "tank")
    with pytest.raises(ValueError, match="negative"):
        moments(SHOTS, "ship", {"ship": timedelta(hours=-1)})


def test_same_time_images_keep_a_stable_order_and_each_is_found():
    twins = [image("b", 0), image("a", 0)]
    grouped = moments(twins, "aircraft")
    assert ids(grouped) == [["a", "b"]]
    assert moment_of("b", grouped) is grouped[0] and moment_of("zzz", grouped) is None
    assert moments([], "ship") == []
