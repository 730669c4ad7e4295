"""Analyst verdicts on events: the latest per event, what they do to an assessment, and
carrying them across reprocessing.

The catalog keeps every verdict (append-only, in analyst_verdicts); the latest one counts.
Reprocessing a site stores its events again, which drops the verdicts attached to them, so
`snapshot` is taken before a run and `restore` re-attaches each verdict to the new event
that describes the same thing: same kind and class, same pair of images, and a box centre
within half the item's length (at least MATCH_FLOOR_M) of the old one."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select

from sitewatch.domain import Assessment, Detection, Event, Site
from sitewatch.store import Catalog, add_verdict
from sitewatch.store.models import AnalystVerdictRow, EventRow

# Two boxes of one item on two runs of the same images differ by detector jitter, well under
# a metre at 0.5 m GSD; 3 m still tells apart two cars parked side by side (1.8 m wide + gap).
MATCH_FLOOR_M = 3.0


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


@dataclass(frozen=True)
class HeldVerdict:
    """A verdict as it was before reprocessing, with what identifies its event."""

    event_id: str
    kind: str
    cls: str
    before_image: str | None
    after_image: str | None
    centre: tuple[float, float]
    length: float
    history: tuple[tuple[str, str, datetime], ...]


def _anchor(before: Detection | None, after: Detection | None) -> tuple[tuple[float, float], float]:
    d = after if after is not None else before
    return (d.box.cx, d.box.cy), d.box.length


def snapshot(catalog: Catalog, site: str) -> list[HeldVerdict]:
    """Every verdict on the site's events, with the facts that identify each event."""
    from sitewatch.store.results import detection_from_json

    held = []
    with catalog.reading() as s:
        rows = s.execute(select(EventRow, AnalystVerdictRow).join(AnalystVerdictRow,
                                                                   AnalystVerdictRow.event_id == EventRow.id)
                         .where(EventRow.site == site).order_by(AnalystVerdictRow.id)).all()
        grouped: dict[str, tuple[EventRow, list]] = {}
        for ev, v in rows:
            grouped.setdefault(ev.id, (ev, []))[1].append((v.verdict, v.note or "", v.created))
    for eid, (ev, hist) in grouped.items():
        before = detection_from_json(ev.before) if ev.before else None
        after = detection_from_json(ev.after) if ev.after else None
        if before is None and after is None:
            continue
        centre, length = _anchor(before, after)
        held.append(HeldVerdict(eid, ev.kind, ev.cls, before.image_id if before else None,
                                after.image_id if after else None, centre, length, tuple(hist)))
    return held


def _same(h: HeldVerdict, e: Event) -> bool:
    if e.kind != h.kind or e.cls != h.cls:
        return False
    if (e.before.image_id if e.before else None) != h.before_image:
        return False
    if (e.after.image_id if e.after else None) != h.after_image:
        return False
    (x, y), length = _anchor(e.before, e.after)
    return math.hypot(x - h.centre[0], y - h.centre[1]) <= max(MATCH_FLOOR_M, 0.5 * max(length, h.length))


def restore(catalog: Catalog, held: Sequence[HeldVerdict], events: Sequence[Event]) -> int:
    """Re-attach held verdicts to the matching new events that have none; returns how many
    events got their verdicts back. Each held verdict goes to at most one event."""
    current = latest_verdicts(catalog, [e.id for e in events])
    taken: set[str] = set()
    restored = 0
    for h in held:
        for e in events:
            if e.id in taken or e.id in current or not _same(h, e):
                continue
            for verdict, note, _when in h.history:  # replayed in order, so the latest stays latest
                add_verdict(catalog, e.id, verdict, note)
            taken.add(e.id)
            restored += 1
            break
    return restored


def reviewed_judgement(catalog: Catalog, site: Site, evs: Sequence[Event],
                       verdicts: Mapping[str, Verdict]) -> dict | None:
    """The assessment again, as sitewatch.assess states it once the analyst's rejections are
    applied: a rejected event is dropped; a rejected arrival also drops the detection it
    rests on (the analyst says nothing arrived), and a rejected state change puts the
    item's earlier state back on its later detection (it is there, unchanged). Rejected
    departures and moves drop only the event. None when nothing is rejected (the stored
    assessment stands)."""
    from sitewatch.assess.posture import assess
    from sitewatch.change.looks import site_looks
    from sitewatch.store import change_regions_for_site

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
    j = assess(site, looks, [e for e in evs if e.id not in ids], change_regions_for_site(catalog, site.name),
               excluded=found.excluded).assessment
    return {"posture": j.posture, "likelihood": j.likelihood, "confidence": j.confidence, "headline": j.headline,
            "indicators": list(j.indicators), "without_events": sorted(ids)}
