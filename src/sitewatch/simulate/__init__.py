"""The scenario simulator: true-to-scale images of sites over time, with ground truth.

    simulate_scenario("scenario.yaml", "out/")   # validate, plan, render, write

writes, for each site and date (and each of a date's `sources`, `<date>-<provider>-<modality>`),
`out/<site>/<date>.tif` (a COG on the site grid),
`<date>.truth.geojson` and `<date>.stac.json`; per site `changes.truth.json` and
`site.json`; and `out/catalog.json` (STAC) over everything. The whole scenario is
validated and planned before the first byte is written, and files are staged in a hidden
folder and moved into place only when every image has been rendered, so a bad scenario or
a failure part-way leaves `out/` as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitewatch.simulate.loading import load_scenario
from sitewatch.simulate.plan import Change, DatePlan, SitePlan, plan_scenario
from sitewatch.simulate.render import render_scene
from sitewatch.simulate.scenario import Scenario
from sitewatch.simulate.truth import change_truth, dumps, image_truth
from sitewatch.simulate.writer import site_definition, stated_time, write_catalog, write_cog, write_json

Progress = Callable[[int, int, str], None]  # (done, total, what is being done)


@dataclass(frozen=True)
class SimulationResult:
    out_dir: Path
    catalog: Path
    images: tuple[Path, ...]
    truths: tuple[Path, ...]
    change_truths: tuple[Path, ...]
    plans: tuple[SitePlan, ...]


def render_date(date: DatePlan) -> Any:
    """The image of one date: (H, W, 3) uint8 on the site grid."""
    return render_scene(date.spec)


def simulate_scenario(source: str | Path | dict[str, Any] | Scenario, out_dir: str | Path, seed: int | None = None,
                      progress: Progress | None = None) -> SimulationResult:
    """Validate, plan, render and write a scenario. Raises ScenarioError (writing nothing)
    for a bad scenario; `seed` overrides the scenario's own."""
    plans = plan_scenario(source, seed=seed)
    out = Path(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".simulate-", dir=out))
    total = sum(len(d.images) for p in plans for d in p.dates)
    done = 0
    images, truths, changes = [], [], []
    try:
        for plan in plans:
            site_dir = stage / plan.site.name
            site_dir.mkdir()
            for d in (shot for date in plan.dates for shot in date.images):
                if progress:
                    progress(done, total, f"{plan.site.name} {d.label}")
                rgb = render_date(d)
                name = f"{d.label}.tif"
                write_cog(site_dir / name, rgb, plan.site.grid, stated_time(d),
                          tags={"SITEWATCH_SITE": plan.site.name, "SITEWATCH_SEED": str(plan.seed)})
                (site_dir / f"{d.label}.truth.geojson").write_text(dumps(image_truth(plan, d, name)), encoding="utf-8")
                images.append(out / plan.site.name / name)
                truths.append(out / plan.site.name / f"{d.label}.truth.geojson")
                done += 1
            write_json(site_dir / "changes.truth.json", change_truth(plan))
            write_json(site_dir / "site.json", site_definition(plan))
            changes.append(out / plan.site.name / "changes.truth.json")
        if progress:
            progress(done, total, "catalog")
        write_catalog(stage, plans)
        _move_into_place(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    shutil.rmtree(stage, ignore_errors=True)
    if progress:
        progress(total, total, "done")
    return SimulationResult(out, out / "catalog.json", tuple(images), tuple(truths), tuple(changes), tuple(plans))


def _move_into_place(stage: Path, out: Path) -> None:
    """Move each staged file to the same place under `out`, replacing what was there."""
    for root, _dirs, files in os.walk(stage):
        rel = Path(root).relative_to(stage)
        (out / rel).mkdir(parents=True, exist_ok=True)
        for f in sorted(files):
            os.replace(Path(root) / f, out / rel / f)


__all__ = ["Change", "DatePlan", "SimulationResult", "SitePlan", "load_scenario", "plan_scenario",
           "simulate_scenario"]
