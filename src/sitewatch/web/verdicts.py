"""Analyst verdicts on events: the latest per event, and what they do to an assessment.

The catalog keeps every verdict (append-only, in analyst_verdicts); the latest one counts.
Reprocessing carries them to the new events (sitewatch.store.save_site_results)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select

from sitewatch.assess.posture import assess
from sitewatch.change.corroboration import primary_looks
from sitewatch.domain import Assessment, Detection, Event, Site
from sitewatch.store import Catalog, change_regions_for_site, latest_assessment_run
from sitewatch.store.models import AnalystVerdictRow
from sitewatch.workflow.looks import site_looks
from sitewatch.workflow.pipeline import INCOMPARABLE_PAIRS, SHADOW_CAVEATS


@dataclass(frozen=True)
class Verdict:
    event_id: str
    verdict: str
    note: str
    created: datetime


def latest_verdicts(catalog: Catalog, event_ids: Sequence[str]) -> dict[str, Verdict]:
    """event id -> its latest verdict, for the events that have one."""
    if not event_ids:
        return {}
    out: dict[str, Verdict] = {}
    with catalog.reading() as s:
        rows = s.scalars(select(AnalystVerdictRow).where(AnalystVerdictRow.event_id.in_(list(event_ids)))
                         .order_by(AnalystVerdictRow.created, AnalystVerdictRow.id)).all()
        for r in rows:  # later rows overwrite earlier ones
            out[r.event_id] = Verdict(r.event_id, r.verdict, r.note or "", r.created)
    return out


def review(assessment: Assessment | None, events: Sequence[Event], verdicts: Mapping[str, Verdict]) -> dict:
    """How the analyst's verdicts bear on the events and on the assessment's evidence."""
    counts = {"confirmed": 0, "rejected": 0, "unsure": 0, "unreviewed": 0}
    for e in events:
        v = verdicts.get(e.id)
        counts[v.verdict if v else "unreviewed"] += 1
    cited = [] if assessment is None else sorted({ev.event_id for ev in assessment.evidence if ev.event_id})
    cited_rejected = [eid for eid in cited if eid in verdicts and verdicts[eid].verdict == "rejected"]
    cited_confirmed = [eid for eid in cited if eid in verdicts and verdicts[eid].verdict == "confirmed"]
    caveats = []
    if cited_rejected:
        caveats.append(f"The analyst rejected {len(cited_rejected)} of the {len(cited)} events this assessment "
                       f"cites ({', '.join(cited_rejected)}); the judgement rests on less evidence than stated.")
    if cited and not cited_rejected and len(cited_confirmed) == len(cited):
        caveats.append(f"The analyst confirmed all {len(cited)} events this assessment cites.")
    elif cited and len(cited_confirmed) + len(cited_rejected) < len(cited):
        open_n = len(cited) - len(cited_confirmed) - len(cited_rejected)
        caveats.append(f"{open_n} of the {len(cited)} cited events are not yet reviewed by an analyst.")
    return {"counts": counts, "cited": cited, "cited_confirmed": cited_confirmed,
            "cited_rejected": cited_rejected, "caveats": caveats}


def reviewed_judgement(catalog: Catalog, site: Site, evs: Sequence[Event],
                       verdicts: Mapping[str, Verdict]) -> dict | None:
    """The assessment again, as sitewatch.assess states it once the analyst's rejections are
    applied: a rejected event is dropped; a rejected arrival also drops the detection it
    rests on (the analyst says nothing arrived), and a rejected state change puts the
    item's earlier state back on its later detection (it is there, unchanged). Rejected
    departures and moves drop only the event. None when nothing is rejected (the stored
    assessment stands)."""
    rejected = [e for e in evs if e.id in verdicts and verdicts[e.id].verdict == "rejected"]
    if not rejected:
        return None

    def key(image_id: str, d: Detection) -> tuple:
        return image_id, round(d.box.cx, 1), round(d.box.cy, 1)

    drop = {key(e.after.image_id, e.after) for e in rejected if e.kind == "arrived" and e.after}
    restate = {key(e.after.image_id, e.after): e.before.state for e in rejected
               if e.kind == "state_changed" and e.after and e.before}
    found, _ = site_looks(catalog, site, with_pixels=False)
    looks = []
    for lk in found.looks:
        kept = []
        for d in lk.detections:
            k = key(lk.image.id, d)
            if k in drop:
                continue
            kept.append(replace(d, state=restate[k]) if k in restate else d)
        looks.append(replace(lk, detections=tuple(kept)))
    ids = {e.id for e in rejected}
    run = latest_assessment_run(catalog, site.name)
    incomparable = [tuple(pair) for pair in (run.params.get(INCOMPARABLE_PAIRS, []) if run else [])]
    # The run's shadow check (it read the pixels, which this does not) goes back on its images,
    # once: an image's catalog record may carry it already.
    shadows = run.params.get(SHADOW_CAVEATS, {}) if run else {}
    looks = [replace(lk, image=replace(lk.image, caveats=(*lk.image.caveats, *(
        c for c in shadows[lk.image.id] if c not in lk.image.caveats))))
             if shadows.get(lk.image.id) else lk for lk in looks]
    primary, others = primary_looks(looks)
    flags = [f"{lk.image.id}: {c}" for lk in others for c in shadows.get(lk.image.id, [])]
    j = assess(site, primary, [e for e in evs if e.id not in ids], change_regions_for_site(catalog, site.name),
               excluded=found.excluded, incomparable=incomparable, flags=flags).assessment
    return {"posture": j.posture, "likelihood": j.likelihood, "confidence": j.confidence, "headline": j.headline,
            "indicators": list(j.indicators), "caveats": list(j.caveats), "without_events": sorted(ids)}
