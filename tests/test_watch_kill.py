"""SIGKILL of `sitewatch watch --once` at random moments while images land: no alert lost,
none duplicated, and the catalog the same as an uninterrupted run's (tests/watch_kill.py).
A few runs here; bench/bench_watch_kill.py runs 50 and more and prints the counts."""

from __future__ import annotations

import os

import pytest

from tests.watch_kill import arrivals, killed_runs, reference

pytestmark = pytest.mark.slow

RUNS = int(os.environ.get("SITEWATCH_KILL_RUNS", "8"))


def test_random_sigkills_lose_and_duplicate_no_alert_and_leave_the_uninterrupted_catalog(tmp_path):
    images = arrivals(tmp_path / "images", count=3)
    expected = reference(images, tmp_path / "reference")
    assert len(expected["alerts"]) >= 6 and len(expected["images"]) == 3
    result = killed_runs(images, tmp_path / "killed", runs=RUNS, seed=30, max_kill_s=8.0, expected=expected)
    assert result.killed >= 1
    assert result.lost == [] and result.duplicated == [] and result.extra == []
    assert result.same_catalog, result.differences
