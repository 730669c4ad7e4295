"""Simulated sites with known change, taken through the real ingest and align stages, for
tests and benchmarks of the change logic.

`simulated_site` renders a planned site into a folder, ingests and aligns it in a fresh
catalog, and returns its Looks (detections from the chosen source), aligned pixels and the
true events with their positions. The detections come either from the truth through the
detector noise model (`noise`) or from a detection model (`model`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sitewatch.change.footprint import radiometric_match
from sitewatch.change.tracking import Look
from sitewatch.detect.inference import detect_scene
from sitewatch.domain import OrientedBox, Site, SiteGrid
from sitewatch.evaluation.detector_noise import DetectorNoise, noisy_detections
from sitewatch.evaluation.event_scoring import TruthEvent
from sitewatch.simulate import plan_scenario, simulate_scenario
from sitewatch.simulate.random_scenario import random_scenario
from sitewatch.simulate.truth import HIDDEN_BY_CLOUD, apparent_pixels, cloud_over_boxes
from sitewatch.store import add_site, images_for_site, open_catalog, save_detections, start_run
from sitewatch.workflow.align_site import align_site
from sitewatch.workflow.ingest import ingest
from sitewatch.workflow.looks import site_looks


@dataclass
class SimulatedSite:
    site: Site
    looks: list[Look]
    pixels: dict[str, np.ndarray]
    truth: list[TruthEvent]
    excluded: list[str] = field(default_factory=list)
    alignments: dict = field(default_factory=dict)


def truth_events(plan, image_ids: dict[str, str], reference_conditions=None) -> list[TruthEvent]:
    """True events of a SitePlan with positions; image_ids maps date label -> image id.

    The site grid's frame is the reference image's, which carries that image's own
    misregistration; reference_conditions (its Conditions) moves true positions into it."""
    out = []
    for k, changes in enumerate(plan.changes):
        before, after = plan.dates[k], plan.dates[k + 1]
        pos_b = {o.track_id: o for o in before.spec.objects}
        pos_a = {o.track_id: o for o in after.spec.objects}
        # track ids cloud hides, by (date, place): "b" where they stood before, "a" after
        hidden = {(when, side): _hidden_by_cloud(date, pos) for when, date in (("before", before), ("after", after))
                  for side, pos in (("b", pos_b), ("a", pos_a))}
        for c in changes:
            o = pos_b[c.track_id] if c.kind == "departed" else pos_a[c.track_id]
            x, y, heading = _where(plan.site, reference_conditions, o)
            origin: tuple[float | None, ...] = (None, None, None)
            if c.kind == "moved":
                origin = _where(plan.site, reference_conditions, pos_b[c.track_id])
            out.append(TruthEvent(c.kind, image_ids[before.label], image_ids[after.label], x, y, c.type, c.track_id,
                                  o.box.length, o.box.width, heading, *origin,
                                  hidden=any(c.track_id in hidden[n] for n in _MUST_BE_SEEN.get(c.kind, _BOTH))))
    return out


# Where an item must be seen for its change to show: an arrival's new place on the date
# before, a departure's old place on the date after; both places for a move or a change of
# state.
_MUST_BE_SEEN = {"arrived": (("before", "a"),), "departed": (("after", "b"),)}
_BOTH = (("before", "b"), ("after", "a"))


def _hidden_by_cloud(date, pos: dict) -> set[str]:
    """Track ids of the items `pos` places whose place cloud hides on `date` (truth opacity
    from HIDDEN_BY_CLOUD up, as the image truth marks items difficult)."""
    ids = list(pos)
    opacity = cloud_over_boxes(date.spec, [pos[t].box for t in ids])
    return {t for t, v in zip(ids, opacity) if v >= HIDDEN_BY_CLOUD}


def simulated_site(scenario, workdir: str | Path, noise: DetectorNoise | None = None, model=None,
                   rng: np.random.Generator | None = None) -> SimulatedSite:
    """Render, ingest and align the (single-site) scenario; detect with noise or model."""
    work = Path(workdir)
    plans = plan_scenario(scenario)
    if len(plans) != 1:
        raise ValueError(f"expected a one-site scenario, got {len(plans)} sites")
    plan = plans[0]
    sim = simulate_scenario(scenario, work / "imagery")
    rng = rng or np.random.default_rng(0)
    with open_catalog(str(work / "catalog.db")) as catalog:
        add_site(catalog, plan.site)
        ingest(catalog, [str(p) for p in sim.images])
        align_site(catalog, plan.site)
        images = images_for_site(catalog, plan.site.name)
        ids = {Path(i.path).stem: i.id for i in images}
        run = start_run(catalog, "detect", plan.site.name, {"source": "noise" if model is None else "model"})
        for d in plan.dates:
            iid = ids[d.label]
            if model is None:
                # Truth is in the reference frame; store it in the image's own frame, as a
                # detector would see it, by applying the simulated misregistration.
                dets = _as_seen(noisy_detections(d.spec.objects, iid, plan.site, noise or DetectorNoise(), rng),
                                plan.site, d.spec.conditions)
            else:
                dets, _, _ = detect_scene(next(i.path for i in images if i.id == iid), model, image_id=iid)
            save_detections(catalog, run, dets, site=plan.site.name, crs=plan.site.grid.crs)
        found, pixels = site_looks(catalog, plan.site)
    ref_id = next(a.reference_id for a in found.alignments.values())
    ref_date = next(d for d in plan.dates if ids[d.label] == ref_id)
    return SimulatedSite(plan.site, found.looks, pixels, truth_events(plan, ids, ref_date.spec.conditions),
                         found.excluded, found.alignments)


def _where(site: Site, reference_conditions, obj) -> tuple[float, float, float]:
    """A true object's centre and heading as the site grid shows them: in the reference
    image's frame, which carries that image's own misregistration."""
    x, y, heading = obj.box.cx, obj.box.cy, obj.box.heading_deg
    if reference_conditions is None:
        return x, y, heading
    x, y = _apparent(site, reference_conditions, x, y)
    return x, y, heading + reference_conditions.rotation_deg


def _apparent(site: Site, conditions, x: float, y: float) -> tuple[float, float]:
    """Where a true map point appears in an image taken under these conditions."""
    col, row = site.grid.to_pixel(x, y)
    c, r = apparent_pixels(site.grid, conditions, np.array([col]), np.array([row]))
    return site.grid.to_map(float(c[0]), float(r[0]))


def _as_seen(dets, site: Site, conditions):
    """Move true-frame detections to where the misregistered image shows them."""
    out = []
    for d in dets:
        x, y = _apparent(site, conditions, d.box.cx, d.box.cy)
        b = d.box
        out.append(replace(d, box=OrientedBox(x, y, b.length, b.width, b.heading_deg + conditions.rotation_deg)))
    return out


@dataclass(frozen=True)
class BoxCase:
    """One true item's box between two consecutive dates, and whether it came or went."""

    cls: str
    type: str
    came_or_went: bool
    before: np.ndarray  # aligned pixels of the earlier date
    after: np.ndarray
    box: OrientedBox  # site CRS, in the site grid's frame
    grid: SiteGrid
    radiometry: tuple[np.ndarray, np.ndarray]  # `footprint.radiometric_match` of the pair

    @property
    def is_aircraft(self) -> bool:
        return self.cls == "aircraft"


def random_box_cases(first_seed: int, scenes: int, progress: Callable[[Iterable[int]], Iterable[int]] = iter):
    """Box cases (see `box_cases`) on random three-date sites of seeds first_seed onwards,
    airbases and naval bases in turn, rendered, ingested and aligned for real: the sites of
    the change benchmarks. progress wraps the loop over sites (a rich `track`, say)."""
    for k in progress(range(scenes)):
        seed = first_seed + k
        scenario = random_scenario(seed, kind="airbase" if k % 2 == 0 else "naval_base", n_dates=3, size_px=1024,
                                   change_rate=0.35)
        with tempfile.TemporaryDirectory() as tmp:
            sim = simulated_site(scenario, tmp, DetectorNoise(), rng=np.random.default_rng(seed))
        yield from box_cases(scenario, sim)


def box_cases(scenario, sim: SimulatedSite) -> list[BoxCase]:
    """The true boxes of a rendered one-site scenario, for measuring the box check.

    Each item counts once per pair of consecutive dates: an item that left (or moved away)
    at its earlier place, one that arrived (or moved in) at its new place, one that stayed
    at its place. Items that changed state are left out: their pixels change by design."""
    plan = plan_scenario(scenario)[0]
    ids = {Path(lk.image.path).stem: lk.image.id for lk in sim.looks}
    ref_id = next(a.reference_id for a in sim.alignments.values())
    ref = next(d for d in plan.dates if ids.get(d.label) == ref_id).spec.conditions
    out = []
    for i, (before, after) in enumerate(zip(plan.dates, plan.dates[1:])):
        b_id, a_id = ids.get(before.label), ids.get(after.label)
        if b_id not in sim.pixels or a_id not in sim.pixels:
            continue
        radiometry = radiometric_match(sim.pixels[b_id], sim.pixels[a_id])
        kinds: dict[str, set[str]] = {}
        for c in plan.changes[i]:
            kinds.setdefault(c.track_id, set()).add(c.kind)
        for side, objects in (("before", before.spec.objects), ("after", after.spec.objects)):
            for o in objects:
                ks = kinds.get(o.track_id, set())
                if "state_changed" in ks:
                    continue
                came_or_went = bool(ks & {"moved", "departed" if side == "before" else "arrived"})
                if side == "before" and not came_or_went:
                    continue  # it stayed: counted once, on the after side
                x, y = _apparent(plan.site, ref, o.box.cx, o.box.cy)
                box = OrientedBox(x, y, o.box.length, o.box.width, o.box.heading_deg + ref.rotation_deg)
                out.append(BoxCase(o.cls, o.type, came_or_went, sim.pixels[b_id], sim.pixels[a_id], box,
                                   plan.site.grid, radiometry))
    return out
