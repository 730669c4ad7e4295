"""compare -> assess -> report on the bundled scenario, rendered by the simulator, with
detections from the truth through the detector noise model (the detector stage is wired
in separately). The pixels are the rendered images as they are, misregistration included."""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.change.tracking import Look
from sitewatch.domain import Image
from sitewatch.evaluation.detector_noise import DetectorNoise, noisy_detections
from sitewatch.workflow.demo import bundled_scenario
from sitewatch.workflow.pipeline import compare_and_report

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    from sitewatch.simulate import plan_scenario, render_date

    out = tmp_path_factory.mktemp("report")
    # Detector-like noise: 0.7 m jitter, 3% missed, one spurious truck per image.
    noise = DetectorNoise(position_sigma_m=0.7, heading_sigma_deg=5, miss_rate=0.03, spurious_per_image=1.0)
    rng = np.random.default_rng(0)
    result = {}
    for plan in plan_scenario(bundled_scenario()):
        looks, pixels = [], {}
        g = plan.site.grid
        for d in plan.dates:
            iid = f"{plan.site.name}-{d.label}"
            pixels[iid] = render_date(d)
            img = Image(iid, plan.site.name, "", d.acquired, g.gsd_m, g.crs, g.width_px, g.height_px)
            looks.append(Look(img, tuple(noisy_detections(d.spec.objects, iid, plan.site, noise, rng))))
        result[plan.site.name] = compare_and_report(plan.site, looks, out, pixels)
    return result


def test_khmeimim_withdrawal_is_likely_with_the_key_evidence(outcomes):
    j = outcomes["khmeimim"].judgement
    a = j.assessment
    assert a.posture == "withdrawal" and a.likelihood in ("likely", "almost certainly")
    fired = {f.name for f in j.findings}
    assert {"heavy_transports_loading", "helicopters_dismantled", "air_defence_relocated"} <= fired
    assert "An-124" in a.headline


def test_tartus_is_largely_unchanged(outcomes):
    a = outcomes["tartus"].judgement.assessment
    assert a.posture == "largely_unchanged"
