"""What the later stages store: processing runs, detections, tracks, events, change
regions, assessments and analyst verdicts. Every function takes and returns domain objects."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sitewatch.domain import (
    Assessment,
    ChangeRegion,
    Detection,
    Event,
    Evidence,
    OrientedBox,
    PixelWindow,
    SourceReport,
    Track,
)
from sitewatch.errors import CatalogError
from sitewatch.store import heartbeat
from sitewatch.store.catalog import Catalog
from sitewatch.store.models import AnalystVerdictRow, AssessmentRow, ChangeRegionRow, DetectionRow, EventRow, RunRow, TrackRow
from sitewatch.store.owner import Owner, is_gone, this_process
from sitewatch.store.records import Run
from sitewatch.store.verdict_carry import HeldVerdicts, anchor, assign

VERDICTS = ("confirmed", "rejected", "unsure")


@dataclass(frozen=True)
class CarriedVerdicts:
    """What became of the analyst's verdicts when a site's results were replaced."""

    kept: int  # old events whose verdicts now sit on the new event describing the same finding
    dropped: tuple[str, ...]  # old event ids whose finding the new run no longer reports


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _naive(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def _aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.replace(tzinfo=UTC)


def _run_id(run: Run | str | None) -> str | None:
    return run.id if isinstance(run, Run) else run


# --- runs -------------------------------------------------------------------------------

# The params key that names the process holding a run (store.owner.Owner.text()).
PROCESS_KEY = "process"


def _is_stale(params: Mapping) -> bool:
    owner = Owner.parse(params.get(PROCESS_KEY))
    if owner is None:
        return False
    if owner.host != this_process().host:
        age = heartbeat.beat_age_s(dict(params))
        return age is not None and age > heartbeat.STALE_AFTER_S
    return is_gone(owner)


def sweep_stale_runs(catalog: Catalog) -> list[str]:
    """Mark `abandoned` every run still `running` whose process is certainly gone (killed on
    this host: store.owner.is_gone), or, for a run of another host, whose heartbeat stopped
    (`store.heartbeat`); returns their ids. Runs that name no process (from before processes
    were recorded, and the web app's jobs, which its job board restates), and runs of other
    hosts that record no heartbeat, are left as they are."""
    with catalog.transaction() as s:
        rows = s.scalars(select(RunRow).where(RunRow.status == "running")).all()
        stale = [r for r in rows if _is_stale(r.params or {})]
        for r in stale:
            r.status, r.finished = "abandoned", _now()
        return [r.id for r in stale]


def _insert_run(catalog: Catalog, run_id: str, kind: str, site: str | None, params: Mapping | None) -> Run:
    run = Run(id=run_id, kind=kind, site=site, started=_now(),
              params={**(params or {}), PROCESS_KEY: this_process().text(), heartbeat.HEARTBEAT_KEY: heartbeat.now_text()})
    with catalog.transaction() as s:
        s.add(RunRow(id=run.id, kind=kind, site=site, started=run.started, status="running", params=run.params))
    heartbeat.keep_alive(catalog, run.id)
    return run


def start_run(catalog: Catalog, kind: str, site: str | None = None, params: Mapping | None = None) -> Run:
    """Record a new run, held by this process (params[PROCESS_KEY]); runs that killed
    processes left `running` are swept first."""
    sweep_stale_runs(catalog)
    return _insert_run(catalog, uuid.uuid4().hex, kind, site, params)


SITE_HOLD = "pipeline"  # the kind of the run that holds a site while `run_site` works on it


def _hold_id(site: str) -> str:
    """One run id per site: the primary key lets the database refuse a second hold at once."""
    return "hold-" + hashlib.sha256(site.encode()).hexdigest()[:40]


def hold_site(catalog: Catalog, site: str, params: Mapping | None = None) -> Run:
    """A run that holds the site for this process until release_site; a CatalogError naming
    the site and the process that holds it if another live process does. A hold left by a
    killed process is cleared and taken over."""
    sweep_stale_runs(catalog)
    for _ in range(2):  # the second try follows clearing a dead process's hold
        try:
            return _insert_run(catalog, _hold_id(site), SITE_HOLD, site, params)
        except IntegrityError:
            holder = _clear_dead_hold(catalog, site)
        if holder is not None:
            break
    owner = Owner.parse(holder.params.get(PROCESS_KEY)) if holder else None
    who = f"process {owner.pid} on {owner.host}" if owner else "another process"
    when = f" since {holder.started:%Y-%m-%d %H:%M:%S} UTC" if holder else ""
    raise CatalogError(f"site {site!r} is being processed by {who}{when}; wait for it to end and run again")


def _clear_dead_hold(catalog: Catalog, site: str) -> Run | None:
    """The live hold of the site, or None after deleting one that is no longer running (only
    that very row: a hold another process has just taken instead stays)."""
    with catalog.transaction() as s:
        row = s.get(RunRow, _hold_id(site))
        if row is None:
            return None
        if row.status == "running":
            return Run(row.id, row.kind, row.site, row.started, row.finished, row.status, dict(row.params))
        s.execute(delete(RunRow).where(RunRow.id == row.id, RunRow.started == row.started))
        return None


def release_site(catalog: Catalog, hold: Run) -> None:
    """Let the site go: its hold run is deleted (the stages' own runs are the record)."""
    heartbeat.let_go(hold.id)
    with catalog.transaction() as s:
        s.execute(delete(RunRow).where(RunRow.id == hold.id, RunRow.started == hold.started))


def finish_run(catalog: Catalog, run: Run | str, status: str = "done") -> None:
    heartbeat.let_go(str(_run_id(run)))
    with catalog.transaction() as s:
        row = s.get(RunRow, _run_id(run))
        if row is None:
            raise CatalogError(f"no run {_run_id(run)!r} in the catalog")
        row.status, row.finished = status, _now()


def record_run(catalog: Catalog, run_id: str, kind: str, site: str | None, status: str, params: Mapping,
               finished: bool = False) -> None:
    """Create or update a run under a caller's id (the web app's jobs): status, parameters,
    and the finish time once it ends."""
    with catalog.transaction() as s:
        row = s.get(RunRow, run_id)
        if row is None:
            row = RunRow(id=run_id, kind=kind, site=site, started=_now(), status=status, params=dict(params))
            s.add(row)
        row.status, row.params = status, dict(params)
        if finished and row.finished is None:
            row.finished = _now()


def runs_of_kind(catalog: Catalog, kind: str) -> list[Run]:
    """Every run of one kind, oldest first."""
    with catalog.reading() as s:
        rows = s.scalars(select(RunRow).where(RunRow.kind == kind).order_by(RunRow.started, RunRow.id)).all()
        return [Run(r.id, r.kind, r.site, _aware(r.started), _aware(r.finished), r.status,  # type: ignore[arg-type]
                    dict(r.params))  # (started is NOT NULL)
                for r in rows]


def get_run(catalog: Catalog, run_id: str) -> Run:
    with catalog.reading() as s:
        r = s.get(RunRow, run_id)
        if r is None:
            raise CatalogError(f"no run {run_id!r} in the catalog")
        return Run(r.id, r.kind, r.site, r.started, r.finished, r.status, dict(r.params))


# --- detections -------------------------------------------------------------------------

def detection_to_json(d: Detection) -> dict:
    w = d.window
    return {"box": [d.box.cx, d.box.cy, d.box.length, d.box.width, d.box.heading_deg], "class": d.cls,
            "type": d.type, "state": d.state, "score": d.score, "type_score": d.type_score,
            "state_score": d.state_score, "presence_score": d.presence_score, "image_id": d.image_id,
            "window": None if w is None else [w.col_off, w.row_off, w.width, w.height],
            "model_id": d.model_id, "model_version": d.model_version}


def detection_from_json(j: Mapping) -> Detection:
    w = j.get("window")
    return Detection(box=OrientedBox(*j["box"]), cls=j["class"], type=j["type"], state=j["state"], score=j["score"],
                     type_score=j["type_score"], state_score=j["state_score"],
                     presence_score=j.get("presence_score"), image_id=j.get("image_id", ""),
                     window=None if w is None else PixelWindow(*w), model_id=j.get("model_id", ""),
                     model_version=j.get("model_version", ""))


def save_detections(catalog: Catalog, run: Run | str, detections: Sequence[Detection], site: str | None = None,
                    crs: str | None = None) -> list[int]:
    """Store detections of one run (all or none); returns their row ids in input order."""
    rows = []
    for d in detections:
        if not d.image_id:
            raise CatalogError("a detection to store must name its image (image_id is empty)")
        w = d.window
        rows.append(DetectionRow(run_id=_run_id(run), image_id=d.image_id, site=site, cls=d.cls, type=d.type,
                                 state=d.state, score=d.score, type_score=d.type_score, state_score=d.state_score,
                                 presence_score=d.presence_score, cx=d.box.cx, cy=d.box.cy, length=d.box.length,
                                 width=d.box.width, heading_deg=d.box.heading_deg, crs=crs,
                                 win_col=w.col_off if w else None, win_row=w.row_off if w else None,
                                 win_width=w.width if w else None, win_height=w.height if w else None,
                                 model_id=d.model_id, model_version=d.model_version))
    with catalog.transaction() as s:
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def _to_detection(r: DetectionRow) -> Detection:
    window = (None if r.win_col is None  # the window's four columns are set together
              else PixelWindow(r.win_col, r.win_row, r.win_width, r.win_height))  # type: ignore[arg-type]
    return Detection(box=OrientedBox(r.cx, r.cy, r.length, r.width, r.heading_deg), cls=r.cls, type=r.type,
                     state=r.state, score=r.score, type_score=r.type_score, state_score=r.state_score,
                     presence_score=r.presence_score, image_id=r.image_id, window=window, model_id=r.model_id,
                     model_version=r.model_version)


def detections_for_image(catalog: Catalog, image_id: str, run: Run | str | None = None) -> list[Detection]:
    """Detections of an image: of the given run, else of the image's latest detect run."""
    with catalog.reading() as s:
        run_id = _run_id(run)
        if run_id is None:
            run_id = s.scalars(select(DetectionRow.run_id).join(RunRow, RunRow.id == DetectionRow.run_id)
                               .where(DetectionRow.image_id == image_id)
                               .order_by(RunRow.started.desc())).first()
            if run_id is None:
                return []
        rows = s.scalars(select(DetectionRow).where(DetectionRow.image_id == image_id, DetectionRow.run_id == run_id)
                         .order_by(DetectionRow.id)).all()
        return [_to_detection(r) for r in rows]


# --- tracks and events ------------------------------------------------------------------

def tracks_for_site(catalog: Catalog, site: str) -> list[Track]:
    with catalog.reading() as s:
        rows = s.scalars(select(TrackRow).where(TrackRow.site == site).order_by(TrackRow.id)).all()
        return [Track(id=r.id, site=r.site, cls=r.cls, type=r.type,
                      sightings={j["image_id"]: detection_from_json(j["detection"]) for j in r.sightings})
                for r in rows]


def _evidence_json(e: Evidence) -> dict:
    w = e.window
    return {"image_id": e.image_id, "window": None if w is None else [w.col_off, w.row_off, w.width, w.height],
            "event_id": e.event_id, "note": e.note}


def _evidence_from(j: Mapping) -> Evidence:
    w = j.get("window")
    return Evidence(image_id=j["image_id"], window=None if w is None else PixelWindow(*w),
                    event_id=j.get("event_id"), note=j.get("note", ""))


def corroboration_json(e: Event) -> dict | None:
    """An event's grade and its sources' words as stored; None for an event not graded."""
    if e.grade is None:
        return None
    return {"grade": e.grade, "sources": [
        {"image_id": r.image_id, "source": r.source, "modality": r.modality, "verdict": r.verdict, "note": r.note,
         "detection": None if r.detection is None else detection_to_json(r.detection)} for r in e.sources]}


def corroboration_from(j: Mapping | None) -> dict:
    """Event fields (grade, sources) from a stored corroboration; none for an ungraded event."""
    if not j:
        return {}
    return {"grade": j.get("grade"), "sources": tuple(
        SourceReport(r["image_id"], r.get("source", ""), r.get("modality"), r["verdict"], r.get("note", ""),
                     None if r.get("detection") is None else detection_from_json(r["detection"]))
        for r in j.get("sources", ()))}


def events_for_site(catalog: Catalog, site: str) -> list[Event]:
    with catalog.reading() as s:
        rows = s.scalars(select(EventRow).where(EventRow.site == site).order_by(EventRow.id)).all()
        return [Event(id=r.id, kind=r.kind, site=r.site, track_id=r.track_id, cls=r.cls, type=r.type,  # type: ignore[arg-type]
                      before=None if r.before is None else detection_from_json(r.before),
                      after=None if r.after is None else detection_from_json(r.after),
                      confidence=r.confidence, zone=r.zone, note=r.note, **corroboration_from(r.corroboration))
                for r in rows]


def event_evidence(catalog: Catalog, event_id: str) -> list[Evidence]:
    with catalog.reading() as s:
        row = s.get(EventRow, event_id)
        if row is None:
            raise CatalogError(f"no event {event_id!r} in the catalog")
        return [_evidence_from(j) for j in row.evidence]


# --- change regions, assessments, verdicts ----------------------------------------------

def change_regions_for_site(catalog: Catalog, site: str) -> list[ChangeRegion]:
    with catalog.reading() as s:
        rows = s.scalars(select(ChangeRegionRow).where(ChangeRegionRow.site == site).order_by(ChangeRegionRow.id)).all()
        return [ChangeRegion(id=r.id, site=r.site, polygon=tuple((float(x), float(y)) for x, y in r.polygon),
                             area_m2=r.area_m2, score=r.score, zone=r.zone, before_image=r.before_image,
                             after_image=r.after_image) for r in rows]


def save_assessment(catalog: Catalog, run: Run | str | None, assessment: Assessment) -> int:
    with catalog.transaction() as s:
        return _add_assessment(s, run, assessment)


def _add_assessment(s: Session, run: Run | str | None, assessment: Assessment) -> int:
    a = assessment
    row = AssessmentRow(site=a.site, run_id=_run_id(run), period_start=_naive(a.period_start),
                        period_end=_naive(a.period_end), posture=a.posture, likelihood=a.likelihood,
                        confidence=a.confidence, headline=a.headline, indicators=list(a.indicators),
                        evidence=[_evidence_json(e) for e in a.evidence], caveats=list(a.caveats), created=_now())
    s.add(row)
    s.flush()
    return row.id


def latest_assessment(catalog: Catalog, site: str) -> Assessment | None:
    with catalog.reading() as s:
        r = s.scalars(select(AssessmentRow).where(AssessmentRow.site == site)
                      .order_by(AssessmentRow.created.desc(), AssessmentRow.id.desc())).first()
        if r is None:
            return None
        return Assessment(site=r.site, period_start=_aware(r.period_start), period_end=_aware(r.period_end),
                          posture=r.posture, likelihood=r.likelihood, confidence=r.confidence, headline=r.headline,
                          indicators=tuple(r.indicators), evidence=tuple(_evidence_from(j) for j in r.evidence),
                          caveats=tuple(r.caveats))


def latest_assessment_run(catalog: Catalog, site: str) -> Run | None:
    """The run that stored the site's latest assessment (None: none stored, or stored
    without a run)."""
    with catalog.reading() as s:
        run_id = s.scalars(select(AssessmentRow.run_id).where(AssessmentRow.site == site)
                           .order_by(AssessmentRow.created.desc(), AssessmentRow.id.desc())).first()
    return None if run_id is None else get_run(catalog, run_id)


def add_verdict(catalog: Catalog, event_id: str, verdict: str, note: str = "") -> None:
    if verdict not in VERDICTS:
        raise CatalogError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    with catalog.transaction() as s:
        if s.get(EventRow, event_id) is None:
            raise CatalogError(f"no event {event_id!r} in the catalog")
        s.add(AnalystVerdictRow(event_id=event_id, verdict=verdict, note=note, created=_now()))


def verdicts_for_event(catalog: Catalog, event_id: str) -> list[tuple[str, str, datetime]]:
    with catalog.reading() as s:
        rows = s.scalars(select(AnalystVerdictRow).where(AnalystVerdictRow.event_id == event_id)
                         .order_by(AnalystVerdictRow.id)).all()
        return [(r.verdict, r.note, _aware(r.created)) for r in rows]  # type: ignore[misc]


# --- replacing a site's results -----------------------------------------------------------

def _held_verdicts(s, site: str) -> list[HeldVerdicts]:
    rows = s.execute(select(EventRow, AnalystVerdictRow)
                     .join(AnalystVerdictRow, AnalystVerdictRow.event_id == EventRow.id)
                     .where(EventRow.site == site).order_by(AnalystVerdictRow.created, AnalystVerdictRow.id)).all()
    grouped: dict[str, tuple[EventRow, list]] = {}
    for ev, v in rows:
        grouped.setdefault(ev.id, (ev, []))[1].append((v.verdict, v.note or "", v.created))
    held = []
    for eid, (ev, history) in grouped.items():
        before = detection_from_json(ev.before) if ev.before else None
        after = detection_from_json(ev.after) if ev.after else None
        if before is None and after is None:
            continue
        centre, length = anchor(before, after)
        held.append(HeldVerdicts(eid, ev.kind, ev.cls, before.image_id if before else None,
                                 after.image_id if after else None, centre, length, tuple(history)))
    return held


def save_site_results(catalog: Catalog, run: Run | str | None, site: str, tracks: Sequence[Track],
                      events: Sequence[Event], regions: Sequence[ChangeRegion],
                      evidence: Mapping[str, Sequence[Evidence]] | None = None, assessment: Assessment | None = None,
                      also: Callable[[Session], None] | None = None) -> CarriedVerdicts:
    """Replace the site's tracks, events (each with its evidence list) and change regions with
    a new run's, in one transaction, so a failure leaves the old results whole. The analyst's
    verdicts move to the new event that describes the same finding, with their original
    times; verdicts on findings the new run no longer reports are dropped and listed.

    The run's assessment, if given, is stored in the same transaction, and so is whatever
    `also` writes with the session it is handed (the watcher's alerts and its record of the
    file taken): all of it commits, or none."""
    evidence = evidence or {}
    results: list[Track | Event | ChangeRegion] = [*tracks, *events, *regions]
    for x in results:
        if x.site != site:
            raise CatalogError(f"result {x.id!r} is for site {x.site!r}, not {site!r}")
    with catalog.transaction() as s:
        held = _held_verdicts(s, site)
        old_events = select(EventRow.id).where(EventRow.site == site)
        s.execute(delete(AnalystVerdictRow).where(AnalystVerdictRow.event_id.in_(old_events)))
        for table in (EventRow, TrackRow, ChangeRegionRow):
            s.execute(delete(table).where(table.site == site))
        run_id = _run_id(run)
        for t in tracks:
            s.add(TrackRow(id=t.id, site=t.site, run_id=run_id, cls=t.cls, type=t.type,
                           sightings=[{"image_id": k, "detection": detection_to_json(d)}
                                      for k, d in t.sightings.items()]))
        for e in events:
            s.add(EventRow(id=e.id, site=e.site, run_id=run_id, kind=e.kind, track_id=e.track_id, cls=e.cls,
                           type=e.type, confidence=e.confidence, zone=e.zone, note=e.note,
                           before=None if e.before is None else detection_to_json(e.before),
                           after=None if e.after is None else detection_to_json(e.after),
                           evidence=[_evidence_json(x) for x in evidence.get(e.id, ())],
                           corroboration=corroboration_json(e)))
        for c in regions:
            s.add(ChangeRegionRow(id=c.id, site=c.site, run_id=run_id, polygon=[list(p) for p in c.polygon],
                                  area_m2=c.area_m2, score=c.score, zone=c.zone, before_image=c.before_image,
                                  after_image=c.after_image))
        s.flush()  # the events must exist before verdicts point at them
        taken, dropped = assign(held, events)
        for event_id, h in taken.items():
            for verdict, note, created in h.history:
                s.add(AnalystVerdictRow(event_id=event_id, verdict=verdict, note=note, created=created))
        if assessment is not None:
            _add_assessment(s, run, assessment)
        if also is not None:
            also(s)
    return CarriedVerdicts(kept=len(taken), dropped=tuple(h.event_id for h in dropped))
