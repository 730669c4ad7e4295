"""The one place that knows the order of the stages.

    compare(site, looks, pixels)  -> tracks, events, change regions  (change/)
    assess(site, looks, events)   -> posture, likelihood, confidence (assess/)
    report(...)                   -> HTML and exports                (report/)

`compare_and_report` runs compare, assess and report on domain objects (no database), so it
can be tested on its own. `run_demo` renders the bundled scenario first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from sitewatch.assess.posture import Judgement, assess
from sitewatch.change.pixel import box_change, change_regions
from sitewatch.change.tracking import Look, TrackingResult, corroborate_all, track
from sitewatch.domain import ChangeRegion, Site
from sitewatch.report.html import ReportFiles, ReportInput, write_report

Progress = Callable[[str, int, int], None]  # (stage, done, total)

BUNDLED_SCENARIO = "khmeimim-tartus-2024-12.yaml"


def bundled_scenario() -> Path:
    return Path(str(resources.files("sitewatch") / "scenarios" / BUNDLED_SCENARIO))


@dataclass
class Comparison:
    tracking: TrackingResult
    regions: list[ChangeRegion] = field(default_factory=list)


@dataclass
class SiteOutcome:
    site: Site
    comparison: Comparison
    judgement: Judgement
    files: ReportFiles | None = None


def compare(site: Site, looks: Sequence[Look], pixels: dict[str, np.ndarray] | None = None) -> Comparison:
    """Track items across the looks; with pixels, check arrivals and departures against them
    and find unexplained change between each consecutive pair."""
    looks = sorted(looks, key=lambda lk: lk.image.acquired)
    result = track(site, looks)
    regions: list[ChangeRegion] = []
    if pixels:
        def change_at(event, before_id, after_id):
            if before_id not in pixels or after_id not in pixels:
                return 0.5  # no pixels: neither support nor contradiction
            d = event.after if event.kind == "arrived" else event.before
            return box_change(pixels[before_id], pixels[after_id], site.grid, d.box)

        corroborate_all(result, change_at)
        for a, b in zip(looks, looks[1:]):
            if a.image.id in pixels and b.image.id in pixels:
                objects = list(a.detections) + list(b.detections)
                regions += change_regions(site, pixels[a.image.id], pixels[b.image.id], a.image.id, b.image.id, objects)
    return Comparison(result, regions)


def compare_and_report(site: Site, looks: Sequence[Look], out_dir: str | Path,
                       pixels: dict[str, np.ndarray] | None = None, excluded: Sequence[str] = ()) -> SiteOutcome:
    """compare, assess and report one site from its looks; returns what it found and wrote."""
    looks = sorted(looks, key=lambda lk: lk.image.acquired)
    comp = compare(site, looks, pixels)
    judgement = assess(site, looks, comp.tracking.events, comp.regions, excluded=excluded)
    inp = ReportInput(site, list(looks), comp.tracking.events, comp.tracking.pairs, comp.regions, judgement,
                      dict(pixels or {}))
    files = write_report(inp, out_dir)
    return SiteOutcome(site, comp, judgement, files)


def simulate_bundled(out_dir: str | Path, progress: Progress | None = None):
    """Render the bundled scenario into out_dir (stage 1 of the demo)."""
    from sitewatch.errors import InputError
    from sitewatch.simulate import simulate_scenario

    path = bundled_scenario()
    if not path.exists():
        raise InputError(str(path), "the bundled scenario is missing from this installation")
    cb = (lambda done, total, what: progress("render", done, total)) if progress else None
    return simulate_scenario(path, out_dir, progress=cb)


def run_demo(out_dir: str | Path, progress: Progress | None = None):
    """Render the bundled scenario. The later stages (ingest, align, detect, compare, assess,
    report) join here as they land; see the report of issue 5."""
    return simulate_bundled(out_dir, progress)
