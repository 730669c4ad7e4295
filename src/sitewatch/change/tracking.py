"""Follow items across all dates of a site and turn the differences into events.

Dates are processed in order. Every track keeps its last sighting; a track that is not
matched on a date *coasts*: it stays a candidate for one more date (`max_missed`), so an
item the detector missed once and found again is one track with no event, not a departure
followed by an arrival. With pixels, a track coasts only where the ground under its box did
not clearly change; where it did, the item left, and the track ends there. A track missing on
more than `max_missed` dates in a row, or on the last date, is reported as departed at the
first date it went missing; the more later dates confirm the absence, the higher the
departure's confidence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from sitewatch.change import events as ev
from sitewatch.change.footprint import OBSCURED_AT
from sitewatch.change.matching import MatchParams, match, same_or_unnamed_type, state_change_of_one_item, stay_distance
from sitewatch.change.zones import zone_of
from sitewatch.domain import Detection, Event, Image, Site, Track


@dataclass(frozen=True)
class Look:
    """One image of a site, aligned on the site grid, and what the detector found in it.

    quality in [0, 1] folds alignment quality and cloud into one figure; 1 is a clean,
    well-aligned image. edge_blur_m: how blurred the image is on the ground (the blur of
    its sharpest edges, `geo.sharpness`), None where not measured. registration_ce90_m:
    how far (CE90, metres) its ground may lie from the reference's (`AlignmentResult.ce90_m`);
    the stay gate widens by it (`widened_for`).
    """

    image: Image
    detections: tuple[Detection, ...]
    quality: float = 1.0
    edge_blur_m: float | None = None
    registration_ce90_m: float | None = None


CE90_PER_SIGMA = 2.146  # CE90 of a circular normal error, in units of its per-axis sigma


def widened_for(params: MatchParams, looks: Sequence[Look], k: int) -> MatchParams:
    """The matching gates for look k against the looks before it: the alignment sigma is
    at least the combined registration uncertainty of look k and the least certain earlier
    look (each is registered to the reference, so their errors add)."""
    def sigma(lk: Look) -> float:
        return (lk.registration_ce90_m or 0.0) / CE90_PER_SIGMA

    combined = math.hypot(sigma(looks[k]), max((sigma(lk) for lk in looks[:k]), default=0.0))
    if combined <= params.align_sigma_m:
        return params
    return replace(params, align_sigma_m=combined)


@dataclass
class TrackingResult:
    tracks: list[Track] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # Items seen in place and in the same state on both sides, per (before, after) image ids.
    unchanged: dict[tuple[str, str], int] = field(default_factory=dict)
    # The (before, after) image ids each event was reported between, by event id.
    pairs: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The looks' image ids in date order.
    image_ids: list[str] = field(default_factory=list)
    # The lower of the two looks' quality, per consecutive (before, after) image ids.
    quality: dict[tuple[str, str], float] = field(default_factory=dict)

    def pair_of(self, event: Event) -> tuple[str, str]:
        return self.pairs[event.id]


@dataclass
class _Live:
    track: Track
    last: Detection
    last_look: int
    missed: int = 0


def _site_extent(site: Site) -> float:
    g = site.grid
    return math.hypot(g.width_px * g.gsd_m, g.height_px * g.gsd_m)


PixelChange = Callable[[Detection, str, str], float]
# (earlier sighting, later sighting, before image id, after image id) -> [0, 1]
PairChange = Callable[[Detection, Detection, str, str], float]


def track(site: Site, looks: Sequence[Look], params: MatchParams | None = None, max_missed: int = 1,
          pixel_change: PixelChange | None = None, pair_change: PairChange | None = None) -> TrackingResult:
    """Track items across looks (in date order) and emit arrived/departed/moved/state_changed.

    pixel_change(detection, before_image_id, after_image_id) -> [0, 1], when given, says how
    much the ground under a detection's box changed between two images; a move is only
    claimed between a place that emptied and a place that filled (`events.CONTRADICTS`).
    pair_change(earlier, later, before_image_id, after_image_id), when given, answers the
    same for two sightings in one place whose named types differ (`matching.stay_cost`);
    without it, the larger of pixel_change under either box."""
    looks = sorted(looks, key=lambda lk: lk.image.acquired)
    params = params or MatchParams()
    result = TrackingResult(image_ids=[lk.image.id for lk in looks])
    live: list[_Live] = []
    ended: list[_Live] = []
    counters = {"track": 0}
    seq: dict[int, int] = {}

    def new_track(det: Detection, k: int) -> _Live:
        counters["track"] += 1
        t = Track(f"{site.name}-T{counters['track']:04d}", site.name, det.cls, det.type, {looks[k].image.id: det})
        result.tracks.append(t)
        return _Live(t, det, k)

    def event_id(k: int) -> str:
        seq[k] = seq.get(k, 0) + 1
        return f"{site.name}-E{k:02d}-{seq[k]:03d}"

    def ctx(k: int) -> ev.EventContext:
        return ev.EventContext(site.name, looks[k - 1].image.id, looks[k].image.id,
                               result.quality[(looks[k - 1].image.id, looks[k].image.id)])

    for a, b in zip(looks, looks[1:]):
        result.quality[(a.image.id, b.image.id)] = min(a.quality, b.quality)

    for k, look in enumerate(looks):
        if k == 0:
            live = [new_track(d, 0) for d in look.detections]
            continue
        candidates = [t for t in live if t.missed <= max_missed]
        can_leave: Callable[[int], bool] | None = None
        can_arrive: Callable[[int], bool] | None = None
        pair_ij: Callable[[int, int], float] | None = None
        if pixel_change is not None:
            pc, prev_id, cur_id, dets = pixel_change, looks[k - 1].image.id, look.image.id, look.detections
            olds = [t.last for t in candidates]
            can_leave = lambda i: pc(olds[i], prev_id, cur_id) >= ev.CONTRADICTS  # noqa: E731
            can_arrive = lambda j: pc(dets[j], prev_id, cur_id) >= ev.CONTRADICTS  # noqa: E731
            if pair_change is not None:
                pair_ij = lambda i, j: pair_change(olds[i], dets[j], prev_id, cur_id)  # noqa: E731
            else:
                pair_ij = lambda i, j: max(pc(olds[i], prev_id, cur_id), pc(dets[j], prev_id, cur_id))  # noqa: E731
        gates = widened_for(params, looks, k)
        m = match([t.last for t in candidates], list(look.detections), gates, _site_extent(site),
                  can_leave, can_arrive, pair_ij)
        unchanged = 0
        for p in m.pairs:
            t = candidates[p.before]
            det = look.detections[p.after]
            prev = t.last
            if p.moved:
                result.events.append(ev.moved(event_id(k), ctx(k), t.track.id, prev, det, p.distance_m,
                                              zone_of(site, prev), zone_of(site, det)))
            # A pair whose states no one type has is not reported as a change of state: the
            # pixels did not say the item was replaced (the pair stayed), so it stands unchanged.
            if state_change_of_one_item(prev, det):
                result.events.append(ev.state_changed(event_id(k), ctx(k), t.track.id, prev, det, zone_of(site, det)))
            elif not p.moved and t.missed == 0:
                unchanged += 1
            if t.track.type in ("", "unknown") and det.type not in ("", "unknown"):
                t.track.type = det.type
            t.track.sightings[look.image.id] = det
            t.last, t.last_look, t.missed = det, k, 0
        for i in m.unmatched_before:
            t = candidates[i]
            t.missed += 1
            # Coast over a miss only where the item may still stand: if the ground under
            # its box changed clearly since it was last seen, it left (whatever stands
            # there on the next date is another item), so the track ends now.
            if pixel_change is not None and t.missed == 1 and \
                    pixel_change(t.last, looks[t.last_look].image.id, look.image.id) >= ev.SUPPORTS:
                t.missed = max_missed + 1
        for j in m.unmatched_after:
            det = look.detections[j]
            t = new_track(det, k)
            live.append(t)
            result.events.append(ev.arrived(event_id(k), ctx(k), t.track.id, det, zone_of(site, det)))
        result.unchanged[(looks[k - 1].image.id, look.image.id)] = unchanged
        still: list = []
        for t in live:
            (still if t.missed <= max_missed else ended).append(t)
        live = still

    last = len(looks) - 1
    for t in ended + [t for t in live if t.missed > 0]:
        gone = t.last_look + 1  # the first look the item was missing from
        confirmed = min(t.missed, last - t.last_look)
        result.events.append(ev.departed(event_id(gone), ctx(gone), t.track.id, t.last, zone_of(site, t.last),
                                         confirmed, _best_score(t.track)))
    result.events.sort(key=lambda e: e.id)
    by_id = {t.id: t for t in result.tracks}
    for n, e in enumerate(result.events):
        k = int(e.id.rsplit("-E", 1)[1].split("-")[0])
        result.pairs[e.id] = (looks[k - 1].image.id, looks[k].image.id)
        if e.kind == "arrived":
            # Seen once and gone on the next look: a transient, most likely a false alarm.
            # Seen on the last look only: nothing yet confirms it.
            if k < last and looks[k + 1].image.id not in by_id[e.track_id].sightings:
                result.events[n] = replace(e, confidence=e.confidence * ev.TRANSIENT, note=e.note + "; gone on the next look")
            elif k == last:
                result.events[n] = replace(e, confidence=e.confidence * ev.UNCONFIRMED_PRESENCE)
        elif e.kind == "departed" and len(by_id[e.track_id].sightings) == 1 and k > 1:
            result.events[n] = replace(e, confidence=e.confidence * ev.TRANSIENT, note=e.note + "; seen on one look only")
    _discount_unsure_reversals(result)
    return result


def weigh_coarse_looks(result: TrackingResult, looks: Sequence[Look]) -> None:
    """Vehicle events measured against a look coarser than `events.COARSE_FOR_VEHICLES_M`
    drop to low confidence (`events.too_coarse`). Run it after `corroborate_all`, whose
    pixels would otherwise lift them again."""
    gsd = {lk.image.id: lk.image.gsd_m for lk in looks}
    for n, e in enumerate(result.events):
        if e.cls != "vehicle":
            continue
        coarsest = max(gsd.get(i, 0.0) for i in result.pairs[e.id])
        if coarsest > ev.COARSE_FOR_VEHICLES_M * 1.01:
            result.events[n] = ev.too_coarse(e, coarsest)


def _discount_unsure_reversals(result: TrackingResult) -> None:
    """A state that came and went back on the next look (deployed, stowed, deployed), where
    the middle reading is the least sure of the three: most likely one misreading, not two
    changes, so both changes are weighed as transients. A reversal read surely at every
    look (a nose raised to load, then closed) keeps its confidence."""
    changes: dict[str, list[int]] = {}
    for n, e in enumerate(result.events):
        if e.kind == "state_changed":
            changes.setdefault(e.track_id, []).append(n)
    unsure: set[int] = set()
    for indices in changes.values():
        for i, j in zip(indices, indices[1:]):
            first, second = result.events[i], result.events[j]
            assert first.before is not None and first.after is not None and second.after is not None
            middle = first.after
            if second.before is middle and first.before.state == second.after.state \
                    and middle.state_score < min(first.before.state_score, second.after.state_score):
                unsure |= {i, j}
    for n in unsure:  # once each, also where two reversals share a change
        e = result.events[n]
        result.events[n] = replace(e, confidence=e.confidence * ev.TRANSIENT,
                                   note=e.note + "; reverted on the next look, read least surely between")


def _best_score(track: Track) -> float:
    """How surely an item was there at all: the best score among its sightings."""
    return max(d.score for d in track.sightings.values())


def corroborate_all(result: TrackingResult, pixel_change: Callable[[Event, str, str], float],
                    veil: Callable[[Event, str, str], float] | None = None) -> None:
    """Weigh every arrival and departure against the pixels (see `events.corroborate`).

    pixel_change(event, before_image_id, after_image_id) -> change in [0, 1] under the item's
    box (the new one for an arrival, the old one for a departure).

    veil(event, hidden_image_id, other_image_id) -> how thickly cloud veils the item's place
    on the first image compared with the second. An arrival whose place was veiled on the
    date before, or a departure whose place is veiled on the date after, rests on the pixels
    of the next clear date beyond the cloudy one (it keeps its interval: which side of the
    cloudy date it happened, no image shows); with none, it says nothing: the item may have
    stood there unseen (`events.obscured`, low confidence).

    An arrival whose place did not change since the date before was already there: when its
    place changed one interval earlier, it arrived then and the detector missed it once, so
    the arrival is moved to that interval. Likewise a departure whose place did not change
    over its interval was still there at its end: when its place changed over the next
    interval (and it was not seen again), it left then, and the departure is moved there.
    """
    order = {iid: n for n, iid in enumerate(result.image_ids)}
    tracks = {t.id: t for t in result.tracks}
    redated: list[str] = []
    for n, e in enumerate(result.events):
        if e.kind not in ("arrived", "departed"):
            continue
        b, a = result.pairs[e.id]
        seen = _best_score(tracks[e.track_id]) if e.kind == "departed" else None
        # The date that should show the place empty (the earlier for an arrival, the later
        # for a departure), and the date that shows the item.
        empty, shown = (b, a) if e.kind == "arrived" else (a, b)
        thickness = veil(e, empty, shown) if veil is not None else 0.0
        if veil is not None and thickness >= OBSCURED_AT:
            # Cloud there. The nearest clear date beyond the cloudy one stands in for it.
            k = order[empty] + (-1 if e.kind == "arrived" else 1)
            beyond = result.image_ids[k] if 0 <= k < len(order) else None
            if beyond is None or veil(e, beyond, shown) >= OBSCURED_AT:
                result.events[n] = ev.obscured(e, thickness)
                continue
            e = replace(e, note=f"{e.note}; its place was under cloud on the date "
                                f"{'before' if e.kind == 'arrived' else 'after'}, so the clear date "
                                f"{'before that' if e.kind == 'arrived' else 'after that'} was compared")
            pair = (beyond, a) if e.kind == "arrived" else (b, beyond)
            result.events[n] = ev.corroborate(e, pixel_change(e, *pair), seen)
            continue
        change = pixel_change(e, b, a)
        if e.kind == "arrived" and change < ev.CONTRADICTS and order.get(b, 0) >= 1:
            earlier = result.image_ids[order[b] - 1]
            change_before = pixel_change(e, earlier, b)
            if change_before >= ev.SUPPORTS:
                result.pairs[e.id] = (earlier, b)
                e = replace(e, note=f"{e.note}; already there, missed on the date before")
                change = change_before
                redated.append(e.id)
        elif e.kind == "departed" and change < ev.CONTRADICTS and order.get(a, len(order)) + 1 < len(order):
            later = result.image_ids[order[a] + 1]
            change_after = pixel_change(e, a, later)
            if change_after >= ev.SUPPORTS:
                result.pairs[e.id] = (a, later)
                e = replace(e, note=f"{e.note}; still there, missed on the date after")
                change = change_after
        result.events[n] = ev.corroborate(e, change, seen)
    _rejoin_items_missed_after_a_change(result, redated)


def _rejoin_items_missed_after_a_change(result: TrackingResult, redated: Sequence[str],
                                        params: MatchParams | None = None) -> None:
    """A departure and an arrival dated to the same interval, on the same spot, of one class
    and type, where the arrival was seen only later (`redated`): the item never left. Its
    look changed (rotors taken off, a nose raised), the detector missed it on the date after
    and found it again later; the pixels changed with its look. It is one item: a state
    change where the two sightings' states differ, no event where they do not."""
    params = params or MatchParams()
    by_id = {e.id: e for e in result.events}
    tracks = {t.id: t for t in result.tracks}
    gone: set[str] = set()  # ids of the departures and arrivals that were one item
    added: list[Event] = []
    for aid in redated:
        came = by_id[aid]
        assert came.after is not None
        for went in result.events:
            if went.kind != "departed" or went.id in gone or result.pairs[went.id] != result.pairs[aid]:
                continue
            assert went.before is not None
            if went.cls != came.cls or not same_or_unnamed_type(went.before, came.after) \
                    or stay_distance(went.before, came.after, params) > 1.0:
                continue
            gone |= {aid, went.id}
            kept, joined = tracks[went.track_id], tracks[came.track_id]
            kept.sightings.update(joined.sightings)
            result.tracks.remove(joined)
            if went.before.state != came.after.state:
                b, a = result.pairs[went.id]
                ctx = ev.EventContext(went.site, b, a, result.quality.get((b, a), 1.0))
                change = ev.state_changed(went.id, ctx, kept.id, went.before, came.after, came.zone)
                added.append(replace(change, note=f"{change.note}; not seen on the date after, found again later"))
            break
    result.events[:] = [e for e in result.events if e.id not in gone] + added
    for eid in gone - {e.id for e in added}:
        del result.pairs[eid]
    result.events.sort(key=lambda e: e.id)

