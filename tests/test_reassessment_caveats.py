"""The web app's re-assessment after an analyst's rejection keeps the stored run's refusal
of a pair whose images differ throughout: it is a caveat of the run, not of the events."""

from __future__ import annotations

from datetime import UTC, datetime

import cv2
import numpy as np
from test_change_pixel import AIRCRAFT, GRID, SITE, N, _scene

from sitewatch.domain import Detection
from sitewatch.simulate.writer import write_cog
from sitewatch.store import (
    AlignmentResult,
    add_site,
    add_verdict,
    events_for_site,
    get_site,
    images_for_site,
    latest_assessment_run,
    open_catalog,
    save_alignment,
    save_detections,
    start_run,
)
from sitewatch.web.verdicts import latest_verdicts, reviewed_judgement
from sitewatch.workflow.ingest import ingest
from sitewatch.workflow.pipeline import INCOMPARABLE_PAIRS, run_site


def _wholly_other_ground() -> np.ndarray:
    rng = np.random.default_rng(5)
    other = cv2.GaussianBlur(rng.normal(0, 1, (N, N, 3)).astype(np.float32), (0, 0), 8) * 600 + 120
    return np.clip(other, 1, 255).astype(np.uint8)


def test_a_rejection_reassesses_with_the_incomparable_pair_caveat(tmp_path):
    paths = []
    for day, pixels in ((5, _scene(135, 50, 0.0, (1, 1, 1), (0, 0), seed=1)), (10, _wholly_other_ground())):
        p = tmp_path / "img" / f"2024-12-{day:02d}.tif"
        p.parent.mkdir(exist_ok=True)
        write_cog(p, pixels, GRID, datetime(2024, 12, day, 8, 30, tzinfo=UTC))
        paths.append(str(p))
    with open_catalog(str(tmp_path / "catalog.db")) as cat:
        add_site(cat, SITE)
        assert all(o.status == "added" for o in ingest(cat, paths))
        first, second = sorted(images_for_site(cat, SITE.name), key=lambda i: i.acquired)
        # Co-registration cannot work on ground that changed throughout; state it as done.
        save_alignment(cat, SITE.name, AlignmentResult(first.id, first.id, "reference", quality=1.0))
        save_alignment(cat, SITE.name, AlignmentResult(second.id, first.id, "ok", quality=1.0, residual_px=0.1))
        run = start_run(cat, "detect", SITE.name, {"model": "test"})
        save_detections(cat, run, [Detection(AIRCRAFT, "aircraft", "Su-24M", "normal", 0.95, 0.9, 0.9,
                                             image_id=first.id)], site=SITE.name, crs=GRID.crs)
        outcome = run_site(cat, SITE.name, tmp_path / "report", align=False, detect=False)
        assert outcome.comparison.incomparable == [(first.id, second.id)]
        stored = latest_assessment_run(cat, SITE.name)
        assert stored is not None and stored.params[INCOMPARABLE_PAIRS] == [[first.id, second.id]]
        said = "differ throughout"
        assert any(said in c for c in outcome.judgement.assessment.caveats)

        events = events_for_site(cat, SITE.name)
        departed = [e for e in events if e.kind == "departed"]
        assert len(departed) == 1
        add_verdict(cat, departed[0].id, "rejected", "still there under the new surface")
        restated = reviewed_judgement(cat, get_site(cat, SITE.name), events,
                                      latest_verdicts(cat, [e.id for e in events]))
    assert restated is not None and restated["without_events"] == [departed[0].id]
    assert any(said in c and "05 Dec 2024" in c and "10 Dec 2024" in c for c in restated["caveats"])
