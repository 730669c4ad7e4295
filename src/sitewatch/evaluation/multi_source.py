"""Corroboration across sources, measured on simulated moments with known answers.

`multi_source_scenario` takes a random two-date scenario and has its later date seen by
several providers: the primary optical source (the frame the others are measured against),
a second optical provider 20 min to 4 h later with a georeference offset of 0-10 m in a
random direction, its own nuisance seed and at times cloud, and (most scenes) a radar
source, offset likewise, which shows no decoy. Some scenes stamp the second optical image
3 h off its true time, and some add a decoy aircraft on the later date.

`measure_scene` then makes each image's detections from its truth through the detector
noise model, its offset added (what a detector on an image with that georeference would
report), tracks the primary looks, grades every event against the moment's other sources
(`change.corroboration`), and scores:

- association: the pairs `associate` makes between the primary and each other source, right
  when both sightings are of one true item;
- grades: each event's grade against the grade the sources' true content gives (the same
  rule, fed with what truly stands at the place in each source's image, cloud and frame
  alike; for a departure of a true item, whether that very item still stands there);
- the sun check (`geo.sun.stated_sun_caveat`) on every named source's stated time and sun;
- decoy flags against the decoys placed.

Cloud is taken from the truth's cloud field (the pipeline measures it from pixels); radar
sees through it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sitewatch import equipment
from sitewatch.change.association import associate, gate_m
from sitewatch.change.corroboration import MIN_SCORE, SAR, decoys, grade, grade_events, primary_looks
from sitewatch.change.tracking import Look, track
from sitewatch.domain import Detection, Event, Image, Observation, OrientedBox, Site, SourceReport
from sitewatch.errors import ScenarioError
from sitewatch.evaluation.detector_noise import DetectorNoise, noisy_detections
from sitewatch.geo.sun import stated_sun_caveat
from sitewatch.simulate.plan import DatePlan, SitePlan, plan_scenario
from sitewatch.simulate.random_scenario import random_scenario
from sitewatch.simulate.truth import HIDDEN_BY_CLOUD, cloud_over_boxes

MAX_OFFSET_M = 10.0
# A place under cloud this thick is no evidence (the pipeline's veil test, `OBSCURED_AT`).
CLOUDED_AT = 0.5
NOISE = DetectorNoise(position_sigma_m=0.5, miss_rate=0.02, spurious_per_image=1.0, type_error_rate=0.02)


def multi_source_scenario(seed: int, kind: str = "airbase", size_px: int = 640) -> dict[str, Any]:
    """A random two-date scenario whose later date has two or three sources (see the module doc)."""
    rng = np.random.default_rng(seed + 1_000_003)
    base = random_scenario(seed, kind=kind, size_px=size_px, n_dates=2, change_rate=0.45)
    doc = base.model_dump(mode="json", exclude_defaults=True)
    later = doc["sites"][0]["dates"][-1]

    def offset() -> list[float]:
        r, a = float(rng.uniform(0, MAX_OFFSET_M)), float(rng.uniform(0, 2 * math.pi))
        return [round(r * math.sin(a), 3), round(r * math.cos(a), 3)]

    second: dict[str, Any] = {"provider": "Airbus", "platform": "pneo-3", "minutes_after": float(rng.uniform(20, 240)),
                              "offset_m": offset(), "seed": int(rng.integers(1 << 30))}
    if rng.random() < 0.3:
        second["conditions"] = {**later.get("conditions", {}), "cloud_cover": 0.35}
    if rng.random() < 0.5:
        second["stated_time_shift_h"] = 3.0
    sources: list[dict[str, Any]] = [{"provider": "Maxar", "platform": "worldview-3"}, second]
    if rng.random() < 0.8:
        sources.append({"provider": "Capella", "platform": "capella-14", "modality": "sar",
                        "minutes_after": float(rng.uniform(-120, 120)), "offset_m": offset(),
                        "seed": int(rng.integers(1 << 30))})
    later["sources"] = sources
    aprons = [z["name"] for z in doc["sites"][0]["zones"] if z["kind"] == "apron"]
    if aprons and any(s["modality"] == "sar" for s in sources if "modality" in s) and rng.random() < 0.6:
        for t in ("Su-25", "Su-34", "Su-35"):
            trial = {**doc}
            later.setdefault("arrivals", []).append({"type": t, "count": 1, "zone": aprons[0], "decoy": True})
            try:
                plan_scenario(trial)
                return doc
            except ScenarioError:
                later["arrivals"].pop()
    return doc


def _observation(shot: DatePlan) -> Observation:
    s = shot.source
    if s is None:
        return Observation()
    c = shot.spec.conditions
    optical = s.modality != SAR
    return Observation(provider=s.provider, platform=s.platform, modality=s.modality,
                       sun_azimuth_deg=c.sun_azimuth_deg if optical else None,
                       sun_elevation_deg=c.sun_elevation_deg if optical else None, origin="stac")


def offset_of(shot: DatePlan, site: Site) -> tuple[float, float]:
    """The georeference offset (east, north metres) a shot was rendered with, beyond its
    date's own misregistration (which alignment takes out)."""
    if shot.source is None:
        return 0.0, 0.0
    return _shift_m(shot, site)


def _shift_m(shot: DatePlan, site: Site) -> tuple[float, float]:
    g = site.grid.gsd_m
    return shot.spec.conditions.shift_px[0] * g, -shot.spec.conditions.shift_px[1] * g


@dataclass
class Shot:
    plan: DatePlan
    look: Look
    offset_m: tuple[float, float]
    track_ids: list[str | None]  # per detection of the look: the true item, None for a false one
    clouded: bool  # optical with cloud

    @property
    def sar(self) -> bool:
        return self.look.image.observation.modality == SAR


def _cloud(shot: DatePlan, box: OrientedBox) -> float:
    if shot.source is not None and shot.source.modality == SAR:
        return 0.0
    return float(cloud_over_boxes(shot.spec, [box])[0])


def make_shots(plan: SitePlan, rng: np.random.Generator, noise: DetectorNoise = NOISE) -> list[Shot]:
    site = plan.site
    base = {k: _shift_m(d, site) for k, d in enumerate(plan.dates)}
    shots = []
    for k, date in enumerate(plan.dates):
        for shot in date.images:
            dx, dy = _shift_m(shot, site)
            off = (dx - base[k][0], dy - base[k][1]) if shot.source is not None else (0.0, 0.0)
            if shot is date:
                off = (0.0, 0.0)  # the primary source is the frame of the moment
            sar = shot.source is not None and shot.source.modality == SAR
            clouds = cloud_over_boxes(shot.spec, [o.box for o in shot.spec.objects]) if not sar else \
                np.zeros(len(shot.spec.objects))
            dets: list[Detection] = []
            ids: list[str | None] = []
            for o, cloud in zip(shot.spec.objects, clouds):
                if cloud >= HIDDEN_BY_CLOUD:
                    continue
                for d in noisy_detections([o], shot.label, site, replace(noise, spurious_per_image=0.0), rng):
                    b = d.box
                    box = OrientedBox(b.cx + off[0], b.cy + off[1], b.length, b.width, b.heading_deg)
                    if sar:  # radar tells the class, not the type or the state
                        d = replace(d, type="unknown", state=equipment.get(o.type).default_state)
                    dets.append(replace(d, box=box))
                    ids.append(o.track_id)
            for d in noisy_detections([], shot.label, site, noise, rng):
                dets.append(d)
                ids.append(None)
            image = Image(shot.label, site.name, "", shot.acquired, site.grid.gsd_m, site.grid.crs, site.grid.width_px,
                          site.grid.height_px, observation=_observation(shot))
            shots.append(Shot(shot, Look(image, tuple(dets)), off, ids,
                              bool(shot.spec.conditions.cloud_cover > 0 and not sar)))
    return shots


def _in_frame(site: Site, box: OrientedBox) -> bool:
    left, bottom, right, top = site.grid.bounds
    return left <= box.cx <= right and bottom <= box.cy <= top


@dataclass
class SceneFigures:
    pairs: int = 0
    pairs_right: int = 0
    shift_errors_m: list[float] = field(default_factory=list)
    findings: int = 0
    grades_right: int = 0
    grade_counts: dict[str, int] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)
    shifted: int = 0
    shifted_flagged: int = 0
    true_times: int = 0
    true_times_flagged: int = 0
    decoys: int = 0
    decoys_flagged: int = 0
    false_decoy_flags: int = 0


def _truth_report(event: Event, own: Shot, other: Shot, site: Site, track_of: dict[int, str | None]) -> SourceReport:
    """What the other source's image truly shows at the event's place: for a departure of a
    true item, whether that very item still stands there (another in its place is no
    contradiction); otherwise whether an item of the class stands there."""
    d = event.after if event.kind != "departed" else event.before
    assert d is not None
    place = d.box  # the primary's frame is the true one
    label, modality = other.look.image.id, other.look.image.observation.modality

    def report(verdict: str) -> SourceReport:
        return SourceReport(label, label, modality, verdict)

    if not _in_frame(site, place) or _cloud(other.plan, place) >= CLOUDED_AT:
        return report("no_evidence")
    near = [o for o in other.plan.spec.objects if o.cls == d.cls
            and math.hypot(o.box.cx - place.cx, o.box.cy - place.cy) <= gate_m(d)]
    if event.kind == "departed":
        gone = track_of.get(id(d))
        if gone is not None:
            near = [o for o in near if o.track_id == gone]
        return report("contradicts" if near else "supports")
    if not near:
        return report("contradicts")
    if event.kind == "state_changed":
        assert event.before is not None and event.after is not None
        if other.sar:
            return report("no_evidence")
        states = {o.state for o in near}
        if event.after.state in states:
            return report("supports")
        return report("contradicts" if event.before.state in states else "no_evidence")
    return report("supports")


def measure_scene(seed: int, kind: str = "airbase") -> SceneFigures:
    doc = multi_source_scenario(seed, kind)
    plan = plan_scenario(doc)[0]
    site = plan.site
    rng = np.random.default_rng(seed + 17)
    shots = make_shots(plan, rng)
    by_id = {s.look.image.id: s for s in shots}
    looks = [s.look for s in shots]
    fig = SceneFigures()

    def sees(look: Look, box: OrientedBox) -> str | None:
        if not _in_frame(site, box):
            return "out of frame"
        return "under cloud" if _cloud(by_id[look.image.id].plan, box) >= CLOUDED_AT else None

    primary, others = primary_looks(looks)
    for p in primary:
        for o in others:
            if abs((o.image.acquired - p.image.acquired).total_seconds()) > 6 * 3600:
                continue
            sp, so = by_id[p.image.id], by_id[o.image.id]
            keep_p = [i for i, d in enumerate(p.detections) if d.score >= MIN_SCORE]
            keep_o = [i for i, d in enumerate(o.detections) if d.score >= MIN_SCORE]
            a = associate([p.detections[i] for i in keep_p], [o.detections[i] for i in keep_o])
            for i, j, _ in a.pairs:
                fig.pairs += 1
                ti, tj = sp.track_ids[keep_p[i]], so.track_ids[keep_o[j]]
                fig.pairs_right += int(ti is not None and ti == tj)
            if a.votes:
                fig.shift_errors_m.append(math.hypot(a.shift[0] - so.offset_m[0], a.shift[1] - so.offset_m[1]))
    track_of = {id(d): t for s in shots for d, t in zip(s.look.detections, s.track_ids)}
    result = track(site, primary)
    graded = grade_events(result.events, result.pairs, looks, sees)
    for e in graded:
        _, after_id = result.pairs[e.id]
        own = by_id[after_id]
        truth = [_truth_report(e, own, by_id[r.image_id], site, track_of) for r in e.sources[1:]]
        expected = grade(own.look, truth, {s.look.image.id: s.look.image for s in shots})
        fig.findings += 1
        fig.grade_counts[expected] = fig.grade_counts.get(expected, 0) + 1
        if e.grade == expected:
            fig.grades_right += 1
        else:
            fig.wrong.append(f"seed {seed} {e.id} {e.kind} {e.type}: graded {e.grade}, truly {expected}; "
                             + "; ".join(f"{r.image_id} {r.verdict} ({r.note}) truly {t.verdict}"
                                         for r, t in zip(e.sources[1:], truth)))
    for s in shots:
        src = s.plan.source
        if src is None or src.modality == SAR:
            continue
        c = s.plan.spec.conditions
        caveat = stated_sun_caveat(site.lat, site.lon, src.stated_acquired, c.sun_azimuth_deg, c.sun_elevation_deg)
        if src.stated_acquired != s.plan.acquired:
            fig.shifted += 1
            fig.shifted_flagged += int(caveat is not None)
        else:
            fig.true_times += 1
            fig.true_times_flagged += int(caveat is not None)
    placed = [o for s in shots if not s.sar and s.plan is plan.dates[-1] for o in s.plan.spec.objects if o.decoy]
    fig.decoys = len(placed)
    flags = decoys(looks, sees)
    found = set()
    for f in flags:
        hit = next((o.track_id for o in placed
                    if math.hypot(o.box.cx - f.detection.box.cx, o.box.cy - f.detection.box.cy) <= 5.0), None)
        if hit is None:
            fig.false_decoy_flags += 1
        else:
            found.add(hit)
    fig.decoys_flagged = len(found)
    return fig


def summarise(figures: Sequence[SceneFigures]) -> dict[str, Any]:
    def total(name: str) -> int:
        return sum(getattr(f, name) for f in figures)

    counts: dict[str, int] = {}
    for f in figures:
        for k, v in f.grade_counts.items():
            counts[k] = counts.get(k, 0) + v
    shifts = [x for f in figures for x in f.shift_errors_m]
    return {
        "scenes": len(figures),
        "association_pairs": total("pairs"),
        "association_precision": round(total("pairs_right") / max(total("pairs"), 1), 4),
        "shift_error_m_median": round(float(np.median(shifts)), 3) if shifts else None,
        "findings": total("findings"),
        "grades_right": round(total("grades_right") / max(total("findings"), 1), 4),
        "true_grades": counts,
        "shifted_timestamps": total("shifted"),
        "shifted_flagged": total("shifted_flagged"),
        "true_timestamps": total("true_times"),
        "true_timestamps_flagged": total("true_times_flagged"),
        "decoys": total("decoys"),
        "decoys_flagged": total("decoys_flagged"),
        "false_decoy_flags": total("false_decoy_flags"),
    }
