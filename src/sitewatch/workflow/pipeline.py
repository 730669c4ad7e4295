"""The one place that knows the order of the stages.

    compare(site, looks, pixels)  -> tracks, events, change regions  (change/)
    assess(site, looks, events)   -> posture, likelihood, confidence (assess/)
    report(...)                   -> HTML and exports                (report/)

`compare_and_report` runs compare, assess and report on domain objects (no database), so it
can be tested on its own; `sitewatch.workflow.demo` runs them on the bundled scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sitewatch.assess.posture import Judgement, assess, pixel_window
from sitewatch.change.corroboration import DecoyFlag, Sees, decoys, grade_events, primary_looks
from sitewatch.change.events import NO_EVIDENCE
from sitewatch.change.footprint import DOUBTFUL_AT, OBSCURED_AT, box_change, radiometric_match, scene_veil, veil_over
from sitewatch.change.matching import MatchParams, replacement_evidence
from sitewatch.change.tracking import Look, TrackingResult, corroborate_all, track, weigh_coarse_looks
from sitewatch.detect.model import DEFAULT_MODEL, DetectionModel
from sitewatch.domain import ChangeRegion, Evidence, OrientedBox, Site
from sitewatch.errors import ModelError
from sitewatch.geo.shadows import SHADOW_CAVEAT_PREFIX, image_shadow_caveat
from sitewatch.report.html import ReportFiles, ReportInput, check_report_name, write_report
from sitewatch.store import (
    finish_run,
    get_site,
    hold_site,
    release_site,
    save_check_caveats,
    save_site_results,
    start_run,
)
from sitewatch.workflow.align_site import align_site
from sitewatch.workflow.detect_site import detect_site
from sitewatch.workflow.looks import site_looks
from sitewatch.workflow.on_cluster import PairRegions, regions_in_process, regions_on_cluster

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sitewatch.store import CarriedVerdicts

Progress = Callable[[str, int, int], None]  # (stage, done, total)

INCOMPARABLE_PAIRS = "incomparable_pairs"  # key in an assess run's parameters
SHADOW_CAVEATS = "shadow_caveats"  # key in an assess run's parameters: image id -> the shadow check's caveats


@dataclass
class Comparison:
    tracking: TrackingResult
    regions: list[ChangeRegion] = field(default_factory=list)
    # Consecutive image pairs (before id, after id) that differ throughout: no pixel-change
    # regions were sought between them (`pixel.ChangedThroughout`).
    incomparable: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class SiteOutcome:
    site: Site
    comparison: Comparison
    judgement: Judgement
    files: ReportFiles
    verdicts: CarriedVerdicts | None = None  # the analyst's verdicts across this run, once stored
    looks: list[Look] = field(default_factory=list)  # as assessed: the shadow check's caveats on their images


def compare(site: Site, looks: Sequence[Look], pixels: dict[str, np.ndarray] | None = None,
            pair_regions: PairRegions | None = None) -> Comparison:
    """Track items across the looks; with pixels, check arrivals and departures against them
    and find unexplained change between each consecutive pair."""
    looks = sorted(looks, key=lambda lk: lk.image.acquired)
    radiometry: dict[tuple[str, str], tuple] = {}
    scene_veils: dict[tuple[str, str], float] = {}

    by_image = {lk.image.id: lk.detections for lk in looks}
    params = MatchParams()

    def veiled(det, hidden_id: str, other_id: str) -> float:
        assert pixels is not None  # called only with pixels (see track and corroborate_all below)
        if hidden_id not in pixels or other_id not in pixels:
            return 0.0
        # the detections that can fall in its ring (a large aircraft reaches 40 m from its centre)
        near = [d.box for d in (*by_image.get(hidden_id, ()), *by_image.get(other_id, ()))
                if abs(d.box.cx - det.box.cx) < 150 and abs(d.box.cy - det.box.cy) < 150]
        key = (other_id, hidden_id)
        if key not in scene_veils:
            scene_veils[key] = scene_veil(pixels[other_id], pixels[hidden_id])
        return veil_over(pixels[other_id], pixels[hidden_id], site.grid, det.box, near, scene_veils[key])

    def changed(det, before_id: str, after_id: str) -> float:
        assert pixels is not None  # called only with pixels (see track and corroborate_all below)
        if before_id not in pixels or after_id not in pixels:
            return NO_EVIDENCE  # no pixels: neither support nor contradiction
        key = (before_id, after_id)
        if key not in radiometry:
            radiometry[key] = radiometric_match(pixels[before_id], pixels[after_id])
        # The date the detection is not from is the one that should show the place empty
        # (or the item gone): under cloud there, its pixels tell nothing.
        empty_id, seen_id = (before_id, after_id) if det.image_id == after_id else (after_id, before_id)
        if veiled(det, empty_id, seen_id) >= OBSCURED_AT:
            return NO_EVIDENCE
        seen = box_change(pixels[before_id], pixels[after_id], site.grid, det.box, radiometry[key],
                          cross=det.cls == "aircraft")
        # A similar item in the same spot changes few pixels; a sure, different name on the
        # other date says the spot changed hands all the same.
        other = by_image.get(before_id if det.image_id == after_id else after_id, ())
        return max(seen, replacement_evidence(det, other, params))

    def pair_changed(earlier, later, before_id: str, after_id: str) -> float:
        # Both dates show an item here, so a veil over either date spoils the comparison
        # under a box; the boxes seen clearly on both dates decide.
        clear = [det for det in (earlier, later)
                 if all(veiled(det, hidden_id, other_id) < DOUBTFUL_AT
                        for hidden_id, other_id in ((before_id, after_id), (after_id, before_id)))]
        return max((changed(det, before_id, after_id) for det in clear), default=NO_EVIDENCE)

    result = track(site, looks, pixel_change=changed if pixels else None,
                   pair_change=pair_changed if pixels else None)
    regions: list[ChangeRegion] = []
    incomparable: list[tuple[str, str]] = []
    if pixels:
        def change_at(event, before_id, after_id):
            return changed(event.after if event.kind == "arrived" else event.before, before_id, after_id)

        def veil_at(event, hidden_id, other_id):
            return veiled(event.after if event.kind == "arrived" else event.before, hidden_id, other_id)

        corroborate_all(result, change_at, veil_at)
        pairs = [(a, b) for a, b in zip(looks, looks[1:]) if a.image.id in pixels and b.image.id in pixels]
        for (a, b), found in zip(pairs, (pair_regions or regions_in_process(site, pixels))(pairs)):
            if found is None:
                incomparable.append((a.image.id, b.image.id))
            else:
                regions += found
    weigh_coarse_looks(result, looks)
    return Comparison(result, regions, incomparable)


def pixel_sees(site: Site, primary: Sequence[Look], pixels: dict[str, np.ndarray]) -> Sees:
    """Whether a look can see a place, from its aligned pixels: no data under the box is out
    of its frame; a veil there (`footprint.veil_over`) against the nearest primary look is
    cloud. A radar look sees through cloud."""
    veils: dict[tuple[str, str], float] = {}

    def sees(look: Look, box: OrientedBox) -> str | None:
        own = pixels.get(look.image.id)
        if own is None:
            return None
        col, row = site.grid.to_pixel(box.cx, box.cy)
        c, r = int(col), int(row)
        half = max(int(box.length / site.grid.gsd_m / 2), 2)
        patch = own[max(r - half, 0):max(r + half, 0), max(c - half, 0):max(c + half, 0)]
        if patch.size == 0 or not patch.any():
            return "out of its frame"
        if look.image.observation.modality == "sar":
            return None
        clear = min((p for p in primary if p.image.id in pixels and p.image.id != look.image.id),
                    key=lambda p: abs((p.image.acquired - look.image.acquired).total_seconds()), default=None)
        if clear is None:
            return None
        key = (clear.image.id, look.image.id)
        if key not in veils:
            veils[key] = scene_veil(pixels[clear.image.id], own)
        if veil_over(pixels[clear.image.id], own, site.grid, box, (), veils[key]) >= OBSCURED_AT:
            return "its place is under cloud"
        return None

    return sees


def corroborate(site: Site, looks: Sequence[Look], comp: Comparison,
                pixels: dict[str, np.ndarray] | None) -> list[DecoyFlag]:
    """Grade the comparison's events against the other sources of each moment (in place)
    and return the possible decoys."""
    primary, _ = primary_looks(looks)
    sees = pixel_sees(site, primary, pixels) if pixels else None
    comp.tracking.events[:] = grade_events(comp.tracking.events, comp.tracking.pairs, looks, sees)
    return decoys(looks, sees)


def compare_sources(site: Site, looks: Sequence[Look], pixels: dict[str, np.ndarray] | None = None,
                    pair_regions: PairRegions | None = None) -> tuple[list[Look], Comparison, list[str]]:
    """compare on one look per moment (`corroboration.primary_looks`), the events graded
    against each moment's other looks (`corroborate`): the primary looks, the comparison, and
    the integrity flags for the assessment (possible decoys, and the other looks' own
    caveats: assess states the primary looks' itself)."""
    looks = sorted(looks, key=lambda lk: lk.image.acquired)
    primary, others = primary_looks(looks)
    comp = compare(site, primary, pixels, pair_regions)
    flags = [f.note for f in corroborate(site, looks, comp, pixels)]
    flags += [f"{lk.image.id}: {c}" for lk in others for c in lk.image.caveats]
    return primary, comp, flags


def shadow_checked(site: Site, looks: Sequence[Look], pixels: dict[str, np.ndarray] | None) -> list[Look]:
    """The looks, each optical one whose shadows do not match its stated time and place
    (`geo.shadows`) with the shadow check's caveat added to its image's caveats, so that the
    assessment, the report and the stored results state it. The timestamp is left as stated.
    A look with pixels is checked afresh: a shadow caveat its image carries from an earlier
    run (its catalog record) is dropped first, so a re-run states it once, or not at all
    where it no longer holds."""
    out = []
    for lk in looks:
        own = None if pixels is None else pixels.get(lk.image.id)
        if own is None:
            out.append(lk)
            continue
        kept = tuple(c for c in lk.image.caveats if not c.startswith(SHADOW_CAVEAT_PREFIX))
        caveat = image_shadow_caveat(lk.image, site.grid, own, lk.detections)
        caveats = kept if caveat is None else (*kept, caveat)
        out.append(lk if caveats == lk.image.caveats else replace(lk, image=replace(lk.image, caveats=caveats)))
    return out


def compare_and_report(site: Site, looks: Sequence[Look], out_dir: str | Path,
                       pixels: dict[str, np.ndarray] | None = None, excluded: Sequence[str] = (),
                       pair_regions: PairRegions | None = None) -> SiteOutcome:
    """compare, assess and report one site from its looks; returns what it found and wrote.
    Dates are compared on one look per moment (`corroboration.primary_looks`); the other
    looks of a moment grade the events found (`corroborate`). `pair_regions`: where the
    pixel change between dates is computed (default: here, from `pixels`). Each look's
    shadows are checked against its stated time first (`shadow_checked`)."""
    looks = shadow_checked(site, sorted(looks, key=lambda lk: lk.image.acquired), pixels)
    primary, comp, flags = compare_sources(site, looks, pixels, pair_regions)
    judgement = assess(site, primary, comp.tracking.events, comp.regions, excluded=excluded,
                       incomparable=comp.incomparable, flags=flags)
    inp = ReportInput(site, list(looks), comp.tracking.events, comp.tracking.pairs, comp.regions, judgement,
                      dict(pixels or {}))
    files = write_report(inp, out_dir)
    return SiteOutcome(site, comp, judgement, files, looks=list(looks))


def default_model():
    """The shipped detection model, or None when this installation has none."""
    return DetectionModel() if DEFAULT_MODEL.exists() else None


def align_stage(catalog, site: Site, progress: Progress | None = None, client=None):
    cb = (lambda done, total, img: progress(f"align {site.name}", done, total)) if progress else None
    return align_site(catalog, site, progress=cb, client=client)


def detect_stage(catalog, site: Site, model, progress: Progress | None = None, client=None) -> int:
    """Detect on every usable image of the site and store the detections (one run), each
    image reprojected onto the site grid so boxes are always in the site CRS; with a Dask
    `client` (`detect.cluster.connect`) on its workers."""
    done = detect_site(catalog, site.name, model, client=client)
    if progress:
        progress(f"detect {site.name}", len(done), len(done))
    return sum(n for _, n, _ in done)


def event_pair_evidence(site: Site, tracking: TrackingResult) -> dict[str, list[Evidence]]:
    """Each event's two images, "before" and "after", with the pixel window of the item's
    place on each (an arrival's "before" window is where it came to stand)."""
    out = {}
    for e in tracking.events:
        b, a = tracking.pairs[e.id]
        before, after = e.before or e.after, e.after or e.before
        assert before is not None and after is not None  # every event has a before or an after detection
        out[e.id] = [Evidence(b, pixel_window(site.grid, before), e.id, "before"),
                     Evidence(a, pixel_window(site.grid, after), e.id, "after")]
    return out


def run_site(catalog, site_name: str, out_dir: str | Path, model=None, align: bool = True, detect: bool = True,
             progress: Progress | None = None, also: Callable[[Session, SiteOutcome], None] | None = None,
             client=None) -> SiteOutcome:
    """align, detect, compare, assess, report one site of the catalog, and store the results.

    Unknown site: CatalogError. Images not aligned (align=False): CatalogError. One usable
    date: an insufficient_evidence report that says why. Nothing is written on failure.
    Another process running the same site: CatalogError naming it, before any work.
    `also(session, outcome)` writes more in the transaction that stores the events and the
    assessment (the watcher's alerts: `sitewatch.watch`). With a Dask `client`, alignment,
    detection and the pixel change between dates run on its workers (the same results)."""
    site = get_site(catalog, site_name)
    check_report_name(out_dir, site.name)  # a name from before names were checked: refuse before any work
    hold = hold_site(catalog, site.name, {"out": str(out_dir)})
    try:
        return _run_stages(catalog, site, out_dir, model, align, detect, progress, also, client)
    finally:
        release_site(catalog, hold)


def _run_stages(catalog, site: Site, out_dir: str | Path, model, align: bool, detect: bool,
                progress: Progress | None, also: Callable[[Session, SiteOutcome], None] | None,
                client=None) -> SiteOutcome:
    if align:
        align_stage(catalog, site, progress, client)
    if detect:
        if model is None:
            raise ModelError("sitewatch/models", "no detection model is installed; give one with --model")
        detect_stage(catalog, site, model, progress, client)
    found, pixels = site_looks(catalog, site)
    if progress:
        progress(f"report {site.name}", 0, 1)
    pair_regions = None if client is None else regions_on_cluster(client, site, found.alignments)
    outcome = compare_and_report(site, found.looks, out_dir, pixels, found.excluded, pair_regions)
    if progress:
        progress(f"report {site.name}", 1, 1)
    # The pairs refused as incomparable go with the run, so a later re-assessment (the web
    # app's, after an analyst's verdict) states the same caveat.
    # So do the shadow check's caveats, which need the pixels a re-assessment does not read.
    shadows = {lk.image.id: [c for c in lk.image.caveats if c.startswith(SHADOW_CAVEAT_PREFIX)] for lk in outcome.looks}
    run = start_run(catalog, "assess", site.name, {"out": str(out_dir), INCOMPARABLE_PAIRS:
                                                   [list(pair) for pair in outcome.comparison.incomparable],
                                                   SHADOW_CAVEATS: {k: v for k, v in shadows.items() if v}})
    tracking = outcome.comparison.tracking
    outcome.verdicts = save_site_results(catalog, run, site.name, tracking.tracks, tracking.events,
                                         outcome.comparison.regions, event_pair_evidence(site, tracking),
                                         assessment=outcome.judgement.assessment,
                                         also=None if also is None else (lambda session: also(session, outcome)))
    # and on the images' own records (replacing an earlier run's), so that `images` shows them
    save_check_caveats(catalog, {lk.image.id: shadows[lk.image.id] for lk in outcome.looks if lk.image.id in pixels})
    finish_run(catalog, run)
    return outcome
