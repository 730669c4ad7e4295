"""Acceptance: two dates with no change, a different sun and haze and a 10 px
misregistration, through the real ingest and align stages. Nothing may come out as change."""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.change.events import MODERATE
from sitewatch.evaluation.detector_noise import DetectorNoise
from sitewatch.evaluation.simulated_site import simulated_site
from sitewatch.simulate.loading import load_scenario
from sitewatch.simulate.random_scenario import random_scenario
from sitewatch.workflow.pipeline import compare_and_report

pytestmark = pytest.mark.slow

# Detector-like noise: 0.7 m jitter (1.4 px at 0.5 m), 5 deg heading, 3% missed items and
# one false truck per image at low score.
NOISE = DetectorNoise(position_sigma_m=0.7, heading_sigma_deg=5, miss_rate=0.03, spurious_per_image=1.0)


def _no_change_scenario(seed: int, kind: str):
    d = random_scenario(seed, kind=kind, n_dates=2, change_rate=0.0, size_px=1024).model_dump(mode="json",
                                                                                               exclude_none=True)
    first, second = d["sites"][0]["dates"]
    first["conditions"].update(sun_azimuth_deg=120.0, sun_elevation_deg=55.0, haze=0.0, shift_px=[0.0, 0.0],
                               rotation_deg=0.0, cloud_cover=0.0)
    # 10 px of misregistration (6, -8), a low evening sun from the west and thick haze.
    second["conditions"].update(sun_azimuth_deg=250.0, sun_elevation_deg=28.0, haze=0.35, shift_px=[6.0, -8.0],
                                rotation_deg=0.2, colour_balance=[1.08, 1.0, 0.92], cloud_cover=0.0)
    for k in ("arrivals", "departures", "moves", "state_changes"):
        assert not second.get(k)
    scenario, _ = load_scenario(d)
    return scenario


@pytest.mark.parametrize("seed,kind", [(901, "airbase"), (902, "naval_base")])
def test_no_change_gives_no_confident_event_no_big_region_and_largely_unchanged(tmp_path, seed, kind):
    sim = simulated_site(_no_change_scenario(seed, kind), tmp_path, NOISE, rng=np.random.default_rng(seed))
    assert sim.truth == [] and len(sim.looks) == 2, sim.excluded
    out = compare_and_report(sim.site, sim.looks, tmp_path / "report", sim.pixels)
    confident = [e for e in out.comparison.tracking.events if e.confidence >= MODERATE]
    assert confident == [], [(e.kind, e.type, round(e.confidence, 2), e.note) for e in confident]
    big = [r for r in out.comparison.regions if r.area_m2 > 200.0]
    assert big == [], [(round(r.area_m2), r.zone) for r in big]
    assert out.judgement.assessment.posture == "largely_unchanged"
