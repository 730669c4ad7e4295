"""Findings weighed across sources: confirmed, single source, or disputed.

An event is found between two looks. Other images of the same moment as its later look
(`moments`: within the class's window, 6 h for aircraft, 48 h for ships) are other sources
on the same situation. Each says what it shows at the item's place, its own shift taken out
(`association`):

- an arrival, a move (at the new place) or a change of state: it supports the finding where
  it sees an item of that class there (for a state, in the new state; the old state
  contradicts; a radar image does not show states, so it cannot tell); it contradicts where
  the place is empty;
- a departure: it supports where the old place is empty and contradicts where an item of
  that class still stands there (other than one the event's own image shows there too: a
  berth another hull took).

A source that cannot see the place says nothing: out of its frame, under cloud (the
caller's `sees`), too coarse for the class, or too poor a look (`Look.quality`); a look
under cloud is no evidence, never absence.

The grade: disputed where any source of adequate quality contradicts (both sides are kept
in `Event.sources`); confirmed where sources independent of each other (another provider or
another modality) support it, two or more; single source otherwise. A confirmed finding
gains confidence (`1 - (1 - c)(1 - c')`, with c' the best other source's support); a
disputed one keeps DISPUTED of it.

Possible decoys: an item an optical image shows where a radar image of the same moment,
seeing the place, shows nothing (an inflatable or a painted aircraft has no metal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from sitewatch.change.association import MAX_OFFSET_M, Association, associate, gate_m, nearest_at
from sitewatch.change.moments import moments, same_moment_window
from sitewatch.change.tracking import Look
from sitewatch.domain import CLASSES, Detection, Event, Image, OrientedBox, SourceReport

# A sighting below this score is no evidence of an item (the report's and counts' threshold).
MIN_SCORE = 0.5
# A look below this quality (alignment and cloud folded, `Look.quality`) contradicts nothing.
MIN_QUALITY = 0.3
# The coarsest GSD (m) at which a class can be seen at all: a car needs under a metre,
# an aircraft a few, a ship in port ten (Sentinel-2).
MAX_GSD_M = {"vehicle": 1.0, "air_defence": 1.5, "helicopter": 2.0, "aircraft": 3.0, "ship": 10.0}
DISPUTED = 0.5
# A possible decoy rests on a sure optical sighting: a faint one is likelier a false alarm.
DECOY_MIN_SCORE = 0.7
SAR = "sar"

# (look, the item's box in that look's frame) -> why it cannot see the place, or None.
Sees = Callable[[Look, OrientedBox], str | None]


def source_key(image: Image) -> tuple[str, str]:
    """(provider, modality): images alike in both are one source; unknown counts as one value."""
    o = image.observation
    return (o.provider or "unknown provider").lower(), o.modality or "unknown modality"


def independent(a: Image, b: Image) -> bool:
    """Two images are independent sources when both name their provider and the names
    differ, or both name their modality and these differ."""
    oa, ob = a.observation, b.observation
    return bool((oa.provider and ob.provider and oa.provider.lower() != ob.provider.lower())
                or (oa.modality and ob.modality and oa.modality != ob.modality))


def source_label(image: Image) -> str:
    o = image.observation
    name = o.source_name or "unknown source"
    return f"{name} ({o.modality.replace('_', ' ')})" if o.modality else name


def _a(word: str) -> str:
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word.replace('_', ' ')}"


def _sightings(look: Look) -> list[Detection]:
    return [d for d in look.detections if d.score >= MIN_SCORE]


def _blind(look: Look, cls: str, box: OrientedBox, sees: Sees | None) -> str | None:
    """Why the look cannot speak of an item of `cls` at `box` (its own frame), or None."""
    g = look.image.gsd_m
    if g > MAX_GSD_M[cls]:
        return f"too coarse ({g:.2f} m) to show a {cls.replace('_', ' ')}"
    if look.quality < MIN_QUALITY:
        return f"too poor a look (quality {look.quality:.2f})"
    return None if sees is None else sees(look, box)


def _shifted(box: OrientedBox, shift: tuple[float, float]) -> OrientedBox:
    return OrientedBox(box.cx + shift[0], box.cy + shift[1], box.length, box.width, box.heading_deg)


def _gate(d: Detection, a: Association) -> float:
    """Where no shift between the two sources could be estimated (too few items), the
    item may lie anywhere within the largest offset looked for."""
    return gate_m(d) if a.votes else max(gate_m(d), MAX_OFFSET_M)


def source_report(event: Event, own: Look, other: Look, sees: Sees | None = None,
                  association: Association | None = None) -> SourceReport:
    """What `other`, an image of the same moment as the event's later look `own`, says of it.
    association: of own's sightings with other's, where the caller has it."""
    label, modality = source_label(other.image), other.image.observation.modality
    here = _sightings(other)
    a = association if association is not None else associate(_sightings(own), here)
    d = event.after if event.kind != "departed" else event.before
    assert d is not None
    place = _shifted(d.box, a.shift)

    def report(verdict: str, note: str, det: Detection | None = None) -> SourceReport:
        return SourceReport(other.image.id, label, modality, verdict, note, det)

    blind = _blind(other, d.cls, place, sees)
    if blind:
        return report("no_evidence", blind)
    if event.kind == "departed":
        # a sighting that pairs with one of own's is an item own shows: another one, come in
        # the departed item's place (a berth taken by another hull), not the departed item
        theirs = {j for _, j, _ in a.pairs}
        free = [x for j, x in enumerate(here) if j not in theirs]
        k = nearest_at(free, d.cls, place.cx, place.cy, _gate(d, a))
        seen = free[k] if k is not None else None
        if seen is None:
            return report("supports", "the place is empty, or holds an item the finding's own image shows")
        return report("contradicts", f"{_a(seen.type if seen.type != 'unknown' else seen.cls)} still stands there", seen)
    j = nearest_at(here, d.cls, place.cx, place.cy, _gate(d, a))
    seen = here[j] if j is not None else None
    if seen is None:
        return report("contradicts", "nothing stands at the place")
    if event.kind == "state_changed":
        assert event.before is not None and event.after is not None
        if modality == SAR:
            return report("no_evidence", "a radar image does not show the state", seen)
        if seen.state == event.after.state:
            return report("supports", f"seen {seen.state}", seen)
        if seen.state == event.before.state:
            return report("contradicts", f"seen still {seen.state}", seen)
        return report("no_evidence", f"seen {seen.state}, neither state of the finding", seen)
    return report("supports", f"{_a(seen.cls.replace('_', ' '))} stands there", seen)


def grade(own: Look, reports: Sequence[SourceReport], images: Mapping[str, Image]) -> str:
    """disputed, confirmed or single_source (see the module doc)."""
    if any(r.verdict == "contradicts" for r in reports):
        return "disputed"
    backers = [own.image] + [images[r.image_id] for r in reports if r.verdict == "supports"]
    if any(independent(x, y) for k, x in enumerate(backers) for y in backers[k + 1:]):
        return "confirmed"
    return "single_source"


def _own_report(own: Look) -> SourceReport:
    return SourceReport(own.image.id, source_label(own.image), own.image.observation.modality, "supports",
                        "the finding's own image")


def _support(r: SourceReport, look: Look) -> float:
    """How much one supporting source adds: its sighting's score (a departure: none to
    show, so the look's quality alone) times its look's quality."""
    return (r.detection.score if r.detection is not None else 1.0) * look.quality


def grade_event(event: Event, own: Look, others: Sequence[Look], sees: Sees | None = None,
                associations: Mapping[tuple[str, str], Association] | None = None) -> Event:
    """The event graded against the other looks of its later look's moment. associations:
    by (own image id, other image id), where the caller has them."""
    associations = associations or {}
    reports = [source_report(event, own, lk, sees, associations.get((own.image.id, lk.image.id))) for lk in others]
    images = {lk.image.id: lk.image for lk in (own, *others)}
    g = grade(own, reports, images)
    sources = (_own_report(own), *reports)
    conf, note = event.confidence, event.note
    looks = {lk.image.id: lk for lk in others}
    if g == "confirmed":
        best = max(_support(r, looks[r.image_id]) for r in reports if r.verdict == "supports")
        conf = 1.0 - (1.0 - conf) * (1.0 - best)
        names = ", ".join(r.source for r in reports if r.verdict == "supports")
        note = f"{note}; confirmed by {names}"
    elif g == "disputed":
        conf *= DISPUTED
        names = ", ".join(f"{r.source} ({r.note})" for r in reports if r.verdict == "contradicts")
        note = f"{note}; disputed by {names}"
    return replace(event, confidence=float(min(max(conf, 0.0), 1.0)), note=note, grade=g, sources=sources)


def _window_moments(looks: Sequence[Look], cls: str, windows: Mapping[str, timedelta] | None):
    return moments([lk.image for lk in looks], cls, windows)


def grade_events(events: Sequence[Event], pairs: Mapping[str, tuple[str, str]], looks: Sequence[Look],
                 sees: Sees | None = None, windows: Mapping[str, timedelta] | None = None) -> list[Event]:
    """Every event graded against the looks of its later look's moment (for its class),
    less the two looks it was found between and any look not later than its earlier one."""
    by_id = {lk.image.id: lk for lk in looks}
    grouped = {cls: _window_moments(looks, cls, windows) for cls in CLASSES}
    associations: dict[tuple[str, str], Association] = {}
    out = []
    for e in events:
        before_id, after_id = pairs[e.id]
        moment = next((m for m in grouped[e.cls] if any(i.id == after_id for i in m.images)), None)
        # a moment (48 h for ships) may reach back past the event's earlier look: only
        # images after it show the situation the event leads to
        since = by_id[before_id].image.acquired
        others = [by_id[i.id] for i in (moment.images if moment else ())
                  if i.id not in (before_id, after_id) and i.acquired > since]
        for lk in others:
            if (after_id, lk.image.id) not in associations:
                associations[(after_id, lk.image.id)] = associate(_sightings(by_id[after_id]), _sightings(lk))
        out.append(grade_event(e, by_id[after_id], others, sees, associations))
    return out


def primary_looks(looks: Sequence[Look], windows: Mapping[str, timedelta] | None = None) -> tuple[list[Look], list[Look]]:
    """One look per moment to compare dates with, and the others of each moment (sources to
    corroborate with). Moments by the shortest class window (items that move within hours);
    the primary of a moment is its best look: optical before radar, then quality, then the
    earliest."""
    shortest = min(CLASSES, key=lambda c: same_moment_window(c, windows))
    by_id = {lk.image.id: lk for lk in looks}
    primary, others = [], []
    for m in _window_moments(looks, shortest, windows):
        ranked = sorted((by_id[i.id] for i in m.images),
                        key=lambda lk: (lk.image.observation.modality == SAR, -lk.quality, lk.image.acquired, lk.image.id))
        primary.append(ranked[0])
        others += ranked[1:]
    return primary, others


@dataclass(frozen=True)
class DecoyFlag:
    """An item an optical image shows and a radar image of the same moment, seeing its place,
    does not."""

    detection: Detection
    optical_image: str
    radar_image: str
    note: str


def _optical_agree(eye: Look, d: Detection, others: Sequence[Look], sees: Sees | None) -> bool:
    """Whether every other optical look that can see d's place shows an item of its class
    there: a decoy fools every camera; a sighting that another camera does not bear out is
    a false alarm, not a decoy."""
    for lk in others:
        there = _sightings(lk)
        a = associate(_sightings(eye), there)
        place = _shifted(d.box, a.shift)
        if _blind(lk, d.cls, place, sees) is None and nearest_at(there, d.cls, place.cx, place.cy, _gate(d, a)) is None:
            return False
    return True


def decoys(looks: Sequence[Look], sees: Sees | None = None,
           windows: Mapping[str, timedelta] | None = None) -> list[DecoyFlag]:
    """Possible decoys in every moment that has both an optical and a radar look: the sure
    sightings (DECOY_MIN_SCORE) of the moment's best optical look, borne out by its other
    optical looks that see the place, with no radar counterpart where the radar look can
    see the place."""
    primary, _ = primary_looks(looks, windows)
    by_id = {lk.image.id: lk for lk in looks}
    out: list[DecoyFlag] = []
    for cls in CLASSES:
        for m in _window_moments(looks, cls, windows):
            members = [by_id[i.id] for i in m.images]
            optical = [lk for lk in members if lk.image.observation.modality not in (SAR, None)]
            radar = [lk for lk in members if lk.image.observation.modality == SAR]
            if not optical or not radar:
                continue
            eye = next((lk for lk in primary if lk in optical), max(optical, key=lambda lk: lk.quality))
            seen = [d for d in _sightings(eye) if d.cls == cls and d.score >= DECOY_MIN_SCORE
                    and _optical_agree(eye, d, [lk for lk in optical if lk is not eye], sees)]
            for r in radar:
                there = _sightings(r)
                a = associate(_sightings(eye), there)
                for d in seen:
                    place = _shifted(d.box, a.shift)
                    if _blind(r, cls, place, sees) is None and nearest_at(there, cls, place.cx, place.cy, _gate(d, a)) is None:
                        what = d.type if d.type != "unknown" else d.cls
                        out.append(DecoyFlag(d, eye.image.id, r.image.id,
                                             f"Possible decoy: {_a(what)} seen in {eye.image.id} "
                                             f"({source_label(eye.image)}) at {d.box.cx:.0f} E, {d.box.cy:.0f} N "
                                             f"shows nothing in the radar image {r.image.id} "
                                             f"({source_label(r.image)}) of the same moment"))
    return out
