"""Acceptance on the simulator's imagery: two dates a week apart (so a different sun and
shadows), the second misregistered by a known shift and rotation, hazed, re-balanced,
noisier and blurrier, with equipment arriving and leaving. After ingest and align the
residual misalignment, measured at an 11 x 11 lattice across the grid, is at most 0.2 px."""

import numpy as np
import pytest

from sitewatch.geo.coregister import apply
from sitewatch.geo.synthetic import compose, invert, misregistration_matrix
from sitewatch.store import add_site, get_site, open_catalog
from sitewatch.workflow.align_site import align_site
from sitewatch.workflow.ingest import ingest

RESIDUAL_RMSE_PX = 0.2  # acceptance: at most 0.2 site-grid pixels


def scenario(shift, rotation):
    return {"seed": 4242, "sites": [{
        "name": "testbase", "kind": "airbase", "lat": 35.401, "lon": 35.948, "extent_m": [600, 600], "gsd_m": 0.5,
        "zones": [
            {"name": "runway", "kind": "runway", "rect": {"center": [-200, 0], "size": [45, 580], "rotation_deg": -5}},
            {"name": "taxiway", "kind": "taxiway", "rect": {"center": [-130, 0], "size": [23, 560], "rotation_deg": -5}},
            {"name": "apron", "kind": "apron", "rect": {"center": [0, 120], "size": [120, 300], "rotation_deg": -5},
             "inventory": [{"type": "Su-34", "count": 6}, {"type": "Su-25", "count": 4}]},
            {"name": "transport_apron", "kind": "apron", "spacing_m": 10,
             "rect": {"center": [170, -120], "size": [170, 300], "rotation_deg": -5},
             "inventory": [{"type": "An-26", "count": 1}]},
            {"name": "motor_pool", "kind": "parking", "rect": {"center": [200, 200], "size": [100, 120]},
             "inventory": [{"type": "truck", "count": 8}]},
            {"name": "buildings", "kind": "building_area", "rect": {"center": [-20, -200], "size": [160, 140]}},
        ],
        "dates": [
            {"date": "2024-12-05", "conditions": {"haze": 0.05, "noise_sigma": 2.0, "blur_sigma_px": 0.5}},
            {"date": "2024-12-12", "conditions": {
                "haze": 0.3, "colour_balance": [1.08, 1.0, 0.9], "noise_sigma": 4.0, "blur_sigma_px": 0.8,
                "shift_px": list(shift), "rotation_deg": rotation},
             "arrivals": [{"type": "Il-76", "count": 2, "zone": "transport_apron"}],
             "departures": [{"type": "Su-34", "count": 3, "zone": "apron"}, {"type": "truck", "count": 5, "zone": "motor_pool"}]},
        ]}]}


@pytest.mark.slow
@pytest.mark.parametrize("shift,rotation", [((12.5, -9.0), 0.45), ((-15.0, 4.0), -0.5)])
def test_simulated_pair_aligns_within_a_fifth_of_a_pixel(tmp_path, shift, rotation):
    from sitewatch.simulate import simulate_scenario
    from sitewatch.simulate.loading import load_scenario
    from sitewatch.simulate.scenario import build_site

    sc, _ = load_scenario(scenario(shift, rotation))
    simulate_scenario(sc, tmp_path / "sim")
    with open_catalog(tmp_path / "catalog.db") as cat:
        add_site(cat, build_site(sc.sites[0]))
        assert all(o.status == "added" for o in ingest(cat, [str(tmp_path / "sim" / "catalog.json")]))
        site = get_site(cat, "testbase")
        ref, tgt = align_site(cat, site)
    assert (ref.status, tgt.status) == ("reference", "ok"), tgt.reason
    n = site.grid.width_px
    truth = compose(misregistration_matrix(*shift, rotation, n, n), invert(misregistration_matrix(0, 0, 0, n, n)))
    ys, xs = np.mgrid[0:n:11j, 0:n:11j]
    pts = np.column_stack([xs.ravel(), ys.ravel()])
    err = np.linalg.norm(apply(np.asarray(tgt.matrix).reshape(2, 3), pts) - apply(truth, pts), axis=1)
    assert float(np.sqrt(np.mean(err ** 2))) <= RESIDUAL_RMSE_PX
