"""From events, counts and pixel change to a posture with likelihood, confidence, evidence
and caveats. The rules live in `rules.yaml`; this module only applies them.

Discipline: a posture other than largely_unchanged needs indicators that fired on events of
at least moderate confidence; fewer than two usable looks is insufficient_evidence, always.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sitewatch import equipment
from sitewatch.assess.rules import Indicator, Rules, Where, load_rules
from sitewatch.change.events import COARSE_FOR_VEHICLES_M
from sitewatch.change.tracking import Look
from sitewatch.change.zones import plural, type_label
from sitewatch.domain import (
    CONFIDENCE_LEVELS,
    Assessment,
    ChangeRegion,
    Detection,
    Event,
    Evidence,
    PixelWindow,
    Site,
    SiteGrid,
)
from sitewatch.geo.sharpness import BLURRED_FOR_VEHICLES_M


@dataclass(frozen=True)
class Finding:
    """One indicator that fired, with what made it fire."""

    name: str
    text: str
    supports: str
    weight: float
    summary: str  # analyst wording of what was seen
    evidence: tuple[Evidence, ...] = ()


@dataclass
class Judgement:
    assessment: Assessment
    findings: list[Finding] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)


def _role(d: Detection) -> str | None:
    return equipment.role_of(d.type)


def _matches(d: Detection | None, w: Where, from_state: str | None = None) -> bool:
    if d is None:
        return False
    if w.classes and d.cls not in w.classes:
        return False
    if w.roles and _role(d) not in w.roles:
        return False
    if w.types and d.type not in w.types:
        return False
    if w.states and d.state not in w.states:
        return False
    if w.from_states and from_state not in w.from_states:
        return False
    return True


def pixel_window(grid: SiteGrid, d: Detection, margin_px: int = 16) -> PixelWindow:
    """The site-grid pixel window around a detection's box."""
    if d.window is not None:
        return d.window
    pts = [grid.to_pixel(x, y) for x, y in d.box.corners()]
    c0 = max(int(math.floor(min(p[0] for p in pts))) - margin_px, 0)
    r0 = max(int(math.floor(min(p[1] for p in pts))) - margin_px, 0)
    c1 = min(int(math.ceil(max(p[0] for p in pts))) + margin_px, grid.width_px)
    r1 = min(int(math.ceil(max(p[1] for p in pts))) + margin_px, grid.height_px)
    return PixelWindow(c0, r0, max(c1 - c0, 1), max(r1 - r0, 1))


def _shown(e: Event) -> Detection:
    """The detection an event is told by: after it, or before it for a departure."""
    d = e.after if e.after is not None else e.before
    assert d is not None  # every event has a detection on at least one side
    return d


def _counted(items: Sequence[str]) -> str:
    c = Counter(items)
    return ", ".join(f"{n} {plural(t, n)}" for t, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


_EVENT_WORDS = {"arrived": "arrived", "departed": "no longer seen", "moved": "moved",
                "state_changed": "changed state"}
_STATE_WORDS = {"cargo_open": "with cargo doors open", "rotor_removed": "with rotors removed",
                "erect": "with launchers erect", "deployed": "deployed", "stowed": "stowed", "normal": ""}


def _event_finding(name: str, ind: Indicator, site: Site, events: Sequence[Event]) -> Finding | None:
    hits = [e for e in events if e.kind in ind.events
            and _matches(e.after if e.kind != "departed" else e.before, ind.where,
                         e.before.state if e.before else None)]
    if len(hits) < ind.min_count:
        return None
    parts = []
    for kind in ind.events:
        ks = [e for e in hits if e.kind == kind]
        if ks:
            label = _counted([type_label(_shown(e)) for e in ks])
            word = _EVENT_WORDS[kind]
            if kind == "state_changed":
                word = _STATE_WORDS.get(_shown(ks[0]).state, word) or word
            parts.append(f"{label} {word}")
    ev = []
    for e in hits:
        for d in (e.before, e.after):
            if d is not None:
                ev.append(Evidence(d.image_id, pixel_window(site.grid, d), e.id, e.note))
    return Finding(name, ind.text, ind.supports, ind.weight, "; ".join(parts), tuple(ev))


def _present_finding(name: str, ind: Indicator, site: Site, last: Look) -> Finding | None:
    hits = [d for d in last.detections if d.score >= 0.5 and _matches(d, ind.where)]
    if len(hits) < ind.min_count:
        return None
    states = {d.state for d in hits}
    state = " " + _STATE_WORDS.get(next(iter(states)), "") if len(states) == 1 else ""
    summary = f"{_counted([type_label(d) for d in hits])} on the ground{state}".rstrip()
    ev = tuple(Evidence(d.image_id or last.image.id, pixel_window(site.grid, d), None, type_label(d)) for d in hits)
    return Finding(name, ind.text, ind.supports, ind.weight, summary, ev)


def _reduced_finding(name: str, ind: Indicator, site: Site, first: Look, events: Sequence[Event]) -> Finding | None:
    """Net departures of matching items, from the (confident) events: a reduction rests on
    items the tracker saw leave, each checked against the pixels at its place, never on a
    difference of counts, which a detector's misses on one date would fake."""
    gone = [e for e in events if e.kind == "departed" and _matches(e.before, ind.where)]
    came = [e for e in events if e.kind == "arrived" and _matches(e.after, ind.where)]
    n0 = sum(1 for d in first.detections if d.score >= 0.5 and _matches(d, ind.where))
    drop = len(gone) - len(came)
    if drop < ind.min_count or (n0 and drop / n0 < ind.min_fraction):
        return None
    summary = f"{ind.text}: {_counted([type_label(_shown(e)) for e in gone])} no longer seen"
    if came:
        summary += f", {len(came)} arrived"
    summary += f" ({drop} fewer; {n0} counted on {first.image.acquired:%d %b})"
    ev = tuple(Evidence(d.image_id, pixel_window(site.grid, d), e.id, e.note)
               for e in (*gone, *came) for d in (e.before, e.after) if d is not None)
    return Finding(name, ind.text, ind.supports, ind.weight, summary, ev)


def _region_finding(name: str, ind: Indicator, site: Site, regions: Sequence[ChangeRegion]) -> Finding | None:
    kinds = {z.name: z.kind for z in site.zones}
    hits = [r for r in regions if r.area_m2 >= ind.min_area_m2
            and (not ind.zone_kinds or kinds.get(r.zone or "") in ind.zone_kinds)]
    if len(hits) < ind.min_count:
        return None
    total = sum(r.area_m2 for r in hits)
    ev = tuple(Evidence(r.after_image, None, None, f"change region {r.id}, {r.area_m2:.0f} m2") for r in hits)
    return Finding(name, ind.text, ind.supports, ind.weight, f"{len(hits)} region(s), {total:.0f} m2 in all", ev)


def _mean_detection_score(findings: Sequence[Finding], events: Sequence[Event], looks: Sequence[Look]) -> float:
    scores = [d.score for e in events for d in (e.before, e.after) if d is not None]
    if not scores:
        scores = [d.score for lk in looks for d in lk.detections]
    return sum(scores) / len(scores) if scores else 0.0


def graded_confidence(level: str, used: Sequence[Finding], events: Sequence[Event], rules: Rules) -> tuple[str, list[str]]:
    """The confidence level as the corroboration grades move it, and the caveats that say
    why: any disputed finding lowers it one step; findings behind the judgement that are
    all confirmed (by two or more independent sources) raise it one step."""
    order = list(CONFIDENCE_LEVELS)  # high, moderate, low
    disputed = [e for e in events if e.grade == "disputed"]
    if disputed:
        shown = ", ".join(e.id for e in disputed[:5]) + (f" and {len(disputed) - 5} more" if len(disputed) > 5 else "")
        return order[min(order.index(level) + 1, len(order) - 1)], [
            rules.caveats.disputed.format(count=len(disputed), events=shown)]
    by_id = {e.id: e for e in events}
    behind = {x.event_id for f in used for x in f.evidence if x.event_id}
    if behind and all(by_id[i].grade == "confirmed" for i in behind if i in by_id):
        return order[max(order.index(level) - 1, 0)], [rules.caveats.confirmed]
    return level, []


def assess(site: Site, looks: Sequence[Look], events: Sequence[Event], regions: Sequence[ChangeRegion] = (),
           rules: Rules | None = None, excluded: Sequence[str] = (),
           incomparable: Sequence[tuple[str, str]] = (), flags: Sequence[str] = ()) -> Judgement:
    """The posture of a site over its usable looks (in any order).

    excluded: reasons, one per image left out upstream (unaligned, cloudy); they become caveats.
    incomparable: (before, after) image ids whose pixels could not be compared (the images
    differ throughout); each becomes a caveat with its dates. flags: what the integrity
    checks doubt (a possible decoy), one sentence each; they become caveats, as do the
    looks' own caveats (a stated sun that does not match its time). The events' corroboration
    grades move the confidence (`graded_confidence`).
    """
    rules = rules or load_rules()
    looks = sorted(looks, key=lambda lk: lk.image.acquired)
    caveats = list(rules.caveats.always) + [f"Left out: {x}" for x in excluded]
    caveats += [f"{lk.image.id}: {c}" for lk in looks for c in lk.image.caveats]
    caveats += [f for f in flags if f]
    dates = {lk.image.id: f"{lk.image.acquired:%d %b %Y}" for lk in looks}
    for before_id, after_id in incomparable:
        caveats.append(rules.caveats.changed_throughout.format(before=dates.get(before_id, before_id),
                                                               after=dates.get(after_id, after_id)))
    for lk in looks:
        if lk.edge_blur_m is not None and lk.edge_blur_m >= BLURRED_FOR_VEHICLES_M:
            caveats.append(rules.caveats.blurred.format(date=dates[lk.image.id], blur_m=lk.edge_blur_m))
        if lk.image.gsd_m > COARSE_FOR_VEHICLES_M * 1.01:
            caveats.append(rules.caveats.coarse.format(date=dates[lk.image.id], gsd_m=lk.image.gsd_m))
    if len(looks) < 2:
        when = looks[0].image.acquired if looks else None
        reason = (f"only one usable image of {site.name} ({looks[0].image.id}); a change needs two dates"
                  if looks else f"no usable image of {site.name}")
        a = Assessment(site.name, when, when, "insufficient_evidence", "unlikely", "low",
                       f"{site.name}: insufficient evidence to judge its posture: {reason}.",
                       (), (), tuple(caveats + [reason]))
        return Judgement(a)
    if not any(lk.detections for lk in looks):
        reason = (f"no equipment was detected on any of the {len(looks)} dates of {site.name}; "
                  "either detection has not run (`sitewatch detect --site`) or nothing is visible")
        a = Assessment(site.name, looks[0].image.acquired, looks[-1].image.acquired, "insufficient_evidence",
                       "unlikely", "low", f"{site.name}: insufficient evidence to judge its posture: {reason}.",
                       (), (), tuple(caveats + [reason]))
        return Judgement(a)
    first, last = looks[0], looks[-1]
    strong = [e for e in events if e.confidence >= rules.min_event_confidence]
    findings: list[Finding] = []
    for name, ind in rules.indicators.items():
        if ind.kind == "events":
            f = _event_finding(name, ind, site, strong)
        elif ind.kind == "present":
            f = _present_finding(name, ind, site, last)
        elif ind.kind == "reduced":
            f = _reduced_finding(name, ind, site, first, strong)
        else:
            f = _region_finding(name, ind, site, regions)
        if f is not None:
            findings.append(f)
    scores = {p: sum(f.weight for f in findings if f.supports == p) for p in ("withdrawal", "buildup", "activity")}
    n_ind = {p: sum(1 for f in findings if f.supports == p) for p in scores}

    posture = "largely_unchanged"
    for p, rule in rules.postures.items():
        other = scores["buildup" if p == "withdrawal" else "withdrawal"]
        if scores[p] >= rule.min_score and scores[p] >= rule.margin * other:
            posture = p
    quality = min(lk.quality for lk in looks)
    det = _mean_detection_score(findings, strong, looks)
    confidence = next(r.level for r in rules.confidence
                      if len(looks) >= r.min_looks and quality >= r.min_quality and det >= r.min_detection)
    if posture in ("withdrawal", "buildup"):
        likelihood = next((r.word for r in rules.likelihood if scores[posture] >= r.min_score
                           and n_ind[posture] >= r.min_indicators and len(looks) >= r.min_looks),
                          "roughly even chance")
        used = [f for f in findings if f.supports == posture]
    else:
        # Nothing points either way: unchanged is the likely reading, unless strong events
        # that no indicator explains suggest otherwise.
        items = sum(len(lk.detections) for lk in looks) / len(looks)
        quiet = changes_on_the_ground(strong, looks) <= max(rules.unchanged_max_events,
                                                             rules.unchanged_max_share * items)
        likelihood = "likely" if quiet else "roughly even chance"
        used = findings
    level, graded = graded_confidence(confidence, used, events, rules)
    caveats += graded
    if len(looks) == 2 and rules.caveats.two_looks:
        caveats.append(rules.caveats.two_looks)
    posture_caveat = getattr(rules.caveats, posture, "")
    if posture_caveat:
        caveats.append(posture_caveat)
    if quality < 0.8 and rules.caveats.low_quality:
        caveats.append(rules.caveats.low_quality)
    headline = _headline(site, first, last, posture, likelihood, level, rules, used,
                         changes_on_the_ground(strong, looks))
    evidence = tuple(e for f in used for e in f.evidence)
    a = Assessment(site.name, first.image.acquired, last.image.acquired, posture, likelihood, level, headline,
                   tuple(f"{f.text}: {f.summary}" for f in used), evidence, tuple(caveats))
    return Judgement(a, findings, scores)


def changes_on_the_ground(events: Sequence[Event], looks: Sequence[Look]) -> int:
    """How many changes the events stand for: each, except that a departure and an arrival
    of the same type between the same two looks count once. That is churn (a ship that
    changed berth, which the tracker reports as a departure and an arrival, never as a
    move; or one car gone and another come), and it leaves the count on the ground as it
    was."""
    order = {lk.image.id: i for i, lk in enumerate(looks)}
    gone: dict[tuple[str, int], int] = {}
    came: dict[tuple[str, int], int] = {}
    others = 0
    for e in events:
        if e.kind == "departed" and e.before is not None and e.before.image_id in order:
            key = (e.type, order[e.before.image_id])  # last seen on this look: gone by the next
            gone[key] = gone.get(key, 0) + 1
        elif e.kind == "arrived" and e.after is not None and e.after.image_id in order:
            key = (e.type, order[e.after.image_id] - 1)  # first seen on the next look
            came[key] = came.get(key, 0) + 1
        else:
            others += 1
    return others + sum(max(gone.get(k, 0), came.get(k, 0)) for k in set(gone) | set(came))


def _headline(site: Site, first: Look, last: Look, posture: str, likelihood: str, confidence: str, rules: Rules,
              used: Sequence[Finding], changes: int) -> str:
    span = f"{first.image.acquired:%d %b} to {last.image.acquired:%d %b %Y}"
    name = site.name.replace("_", " ").replace("-", " ").title()
    if posture in rules.postures:
        phrase = rules.postures[posture].phrase.format(likelihood=likelihood)
        detail = "; ".join(f.summary for f in used)
        return f"{name}, {span}: {phrase} ({confidence} confidence). Seen: {detail}."
    tail = "no confident change in equipment" if changes == 0 else f"{changes} confident change(s) that point to no posture"
    return f"{name}, {span}: {likelihood} largely unchanged ({confidence} confidence); {tail}."
