"""The demo: render the bundled scenario, then run every stage on each of its sites.

Kept apart from `sitewatch.workflow.pipeline` because it needs the simulator, which the stages and
the web app (through the pipeline) never import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sitewatch.errors import InputError
from sitewatch.simulate import simulate_scenario
from sitewatch.simulate.loading import load_scenario
from sitewatch.simulate.scenario import build_site
from sitewatch.store import add_site, open_catalog
from sitewatch.workflow.ingest import ingest
from sitewatch.workflow.pipeline import Progress, SiteOutcome, align_stage, default_model, run_site

BUNDLED_SCENARIO = "khmeimim-tartus-2024-12.yaml"


def bundled_scenario() -> Path:
    return Path(str(resources.files("sitewatch") / "scenarios" / BUNDLED_SCENARIO))


def simulate_bundled(out_dir: str | Path, progress: Progress | None = None):
    """Render the bundled scenario into out_dir (stage 1 of the demo)."""
    path = bundled_scenario()
    if not path.exists():
        raise InputError(str(path), "the bundled scenario is missing from this installation")
    cb = (lambda done, total, what: progress("render", done, total)) if progress else None
    return simulate_scenario(path, out_dir, progress=cb)


@dataclass
class DemoResult:
    out_dir: Path
    images: list[Path]
    outcomes: list[SiteOutcome] = field(default_factory=list)
    note: str = ""


def run_demo(out_dir: str | Path, progress: Progress | None = None) -> DemoResult:
    """Render the bundled scenario, then ingest, align, detect, compare, assess and report
    each of its sites, into out_dir: the catalog at out_dir/catalog.db and each site's report in
    out_dir/reports/SITE/, the layout of the web app's data folder (`sitewatch serve --data out_dir`)."""
    out = Path(out_dir)
    sim = simulate_bundled(out / "imagery", progress)
    scenario, _ = load_scenario(bundled_scenario())
    result = DemoResult(out, list(sim.images))
    db = out / "catalog.db"
    if db.exists():
        db.unlink()  # the demo starts from a clean catalog each time
    with open_catalog(str(db)) as catalog:
        for sm in scenario.sites:
            add_site(catalog, build_site(sm))
        cb = (lambda done, total, what: progress("ingest", done, total)) if progress else None
        outcomes = ingest(catalog, [str(p) for p in sim.images], progress=cb)
        failed = [o for o in outcomes if o.status == "failed"]
        if failed:
            raise InputError(failed[0].path, f"ingest failed: {failed[0].message}")
        model = default_model()
        if model is None:
            result.note = "no detection model is installed yet: aligned the images, skipped detect/compare/assess/report"
            for sm in scenario.sites:
                align_stage(catalog, build_site(sm), progress)
            return result
        for sm in scenario.sites:
            result.outcomes.append(run_site(catalog, build_site(sm).name, out / "reports" / sm.name, model=model,
                                            progress=progress))
    return result
