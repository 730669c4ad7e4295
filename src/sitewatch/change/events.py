"""Events between dates and their confidence.

An event's confidence is a number in [0, 1]: how sure we are that the thing happened on the
ground, not that the detector said so. It combines

- the detection scores behind the claim (the class score, and for a state change the two
  state and type scores, for a move the two type scores);
- the quality of the looks involved (alignment quality and cloud, `Look.quality`);
- for an absence (a departure), the chance that the detector simply missed the item, which
  falls when later dates confirm the absence.

`confidence_band` turns the number into the words used in reports: high, moderate, low.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sitewatch import equipment
from sitewatch.domain import UNKNOWN_TYPE, Detection, Event

# Bands of event confidence. "Moderate or higher" is what an analyst would act on.
HIGH = 0.75
MODERATE = 0.5

# The chance that the detector misses an item that is there, on one look. The shipped
# detector's recall on simulated scenes is above 0.9 (issue 4), so a single absence is
# weaker evidence of departure than a single presence is of arrival.
MISS_RATE = 0.1
# An absence seen on one look only (the last date) is worth at most this much until the
# pixels at the item's place corroborate it (see `corroborate`): below MODERATE on purpose.
UNCONFIRMED_ABSENCE = 0.5
# A presence seen on the last look only, not yet confirmed by a later one.
UNCONFIRMED_PRESENCE = 0.8
# An item seen on one look and gone on the next: most likely a false alarm.
TRANSIENT = 0.5
# A type score from which the type reading is taken as sure (as `matching` takes it).
SURE_TYPE = 0.7
# Imagery coarser than this (native GSD, m) shows "vehicles" that are mostly not there: on
# the empty real aprons of `bench/eval_real.py` the shipped detector finds 4 per km² at
# 0.56 m, 110 at 0.75 m and 238 at 0.98 m (brush and clutter). No real labels are measured
# beyond it either.
COARSE_FOR_VEHICLES_M = 0.6


def confidence_band(confidence: float) -> str:
    if confidence >= HIGH:
        return "high"
    if confidence >= MODERATE:
        return "moderate"
    return "low"


@dataclass(frozen=True)
class EventContext:
    """Where an event sits: the images on either side and the looks' quality."""

    site: str
    before_image: str
    after_image: str
    quality: float  # min of the two looks' quality, in [0, 1]


def arrived(eid: str, ctx: EventContext, track_id: str, after: Detection, zone: str | None) -> Event:
    conf = after.score * ctx.quality
    return Event(eid, "arrived", ctx.site, track_id, after.cls, after.type, None, after, _clip(conf), zone,
                 note=f"{_label(after)} appears")


def departed(eid: str, ctx: EventContext, track_id: str, before: Detection, zone: str | None,
             confirmed_looks: int, seen_score: float | None = None) -> Event:
    """confirmed_looks: how many looks in a row lack the item (at least 1). One look alone
    cannot tell a departure from a miss, so its confidence stays below MODERATE.
    seen_score: how surely the item was there at all, the best score of its sightings
    (default: the last one's). An item seen at 0.9 on a clear date and at 0.6 on a blurred
    one was there: the blur makes its last sighting no less real."""
    missed_by_detector = MISS_RATE ** max(confirmed_looks, 1)
    conf = _seen(before, seen_score) * ctx.quality * (1.0 - missed_by_detector) ** 2
    if confirmed_looks <= 1:
        conf *= UNCONFIRMED_ABSENCE
    return Event(eid, "departed", ctx.site, track_id, before.cls, before.type, before, None, _clip(conf), zone,
                 note=f"{_label(before)} no longer seen")


def moved(eid: str, ctx: EventContext, track_id: str, before: Detection, after: Detection,
          distance_m: float, zone_from: str | None, zone_to: str | None) -> Event:
    conf = min(before.score, after.score) * min(before.type_score, after.type_score) ** 0.5 * ctx.quality
    where = f" from {zone_from} to {zone_to}" if zone_from != zone_to else ""
    return Event(eid, "moved", ctx.site, track_id, after.cls, after.type, before, after, _clip(conf), zone_to,
                 note=f"{_label(after)} moved {distance_m:.0f} m{where}")


def state_changed(eid: str, ctx: EventContext, track_id: str, before: Detection, after: Detection,
                  zone: str | None) -> Event:
    # A state belongs to a type (a 92N6's mast stowed, an An-124's nose raised): where the
    # type reading is unsure (below SURE_TYPE), so is the state reading, in proportion.
    type_doubt = min(1.0, min(before.type_score, after.type_score) / SURE_TYPE)
    conf = min(before.score, after.score) * min(before.state_score, after.state_score) * type_doubt * ctx.quality
    return Event(eid, "state_changed", ctx.site, track_id, after.cls, after.type, before, after, _clip(conf),
                 zone, note=f"{_label(after)}: {before.state} -> {after.state}")


# box_change at or above SUPPORTS backs an arrival or departure; below CONTRADICTS it
# says the ground under the item did not change.
SUPPORTS = 0.5
CONTRADICTS = 0.25
# Change this strong under a fresh detection leaves little room for a false alarm: the
# detector saw an item and the ground there was not that item before. Not for vehicles:
# a car-sized box changes with anything that passes over it, and in the diagnosis sets
# false cars and trucks came with change of 0.87-1.00 as often as real ones did.
STRONG_SUPPORT = 0.9
PIXEL_SHY_CLASSES = ("vehicle",)
# What a pixel check returns when it cannot look (no data on one date): inside the
# inconclusive band, so it neither backs nor sinks a claim.
NO_EVIDENCE = (SUPPORTS + CONTRADICTS) / 2


def corroborate(event: Event, pixel_change: float, seen_score: float | None = None) -> Event:
    """Weigh an arrival or departure against the pixels at the item's place.

    pixel_change in [0, 1] is how likely the pixels under the item's box make it that an
    item came or went there, illumination aside (see `sitewatch.change.footprint.box_change`).
    An item that came or went changes its footprint; a detector miss or a false alarm does
    not. Strong change (>= SUPPORTS) lifts an unconfirmed absence towards what a confirmed one
    is worth, as far as the pixels are sure (an absence rests on the pixels alone); an
    unconfirmed presence is lifted more readily, since the detector saw the item and the
    pixels need only show that it was not there before; with strong change
    (>= STRONG_SUPPORT) it is worth its detection score, as if a later date had confirmed
    it, except for vehicles (see PIXEL_SHY_CLASSES). No change (< CONTRADICTS) sinks the
    claim to low confidence; in between, the pixels neither help nor hurt. Moves and state
    changes are left as they are (the tracker checks their places before it pairs them).
    seen_score: for a departure, how surely the item was there (see `departed`).
    """
    if event.kind not in ("arrived", "departed"):
        return event
    det = event.after if event.kind == "arrived" else event.before
    assert det is not None
    conf = event.confidence
    if CONTRADICTS <= pixel_change < SUPPORTS:
        return replace(event, note=f"{event.note}; pixels inconclusive ({pixel_change:.2f})")
    if pixel_change >= SUPPORTS:
        if event.kind == "departed":
            conf = max(conf, _seen(det, seen_score) * (1.0 - MISS_RATE**2) ** 2 * pixel_change)
        elif pixel_change >= STRONG_SUPPORT and det.cls not in PIXEL_SHY_CLASSES:
            conf = max(conf, det.score * pixel_change ** 0.25)
        else:
            conf = max(conf, det.score * UNCONFIRMED_PRESENCE * pixel_change ** 0.25)
        note = f"{event.note}; pixels at its place changed ({pixel_change:.2f})"
    else:
        conf = min(conf, MODERATE * 0.8) * (0.5 + pixel_change)
        note = f"{event.note}; pixels at its place barely changed ({pixel_change:.2f})"
    return replace(event, confidence=_clip(conf), note=note)


def obscured(event: Event, veil: float) -> Event:
    """An arrival whose place was under cloud on the date before, or a departure whose
    place is under cloud on the date after: the item may have stood there unseen, so the
    claim drops to low confidence whatever the detections said. veil: how thick the cloud
    there is (`sitewatch.change.footprint.veil_over`)."""
    when = "before" if event.kind == "arrived" else "after"
    may = "have been there all along" if event.kind == "arrived" else "still be there"
    return replace(event, confidence=_clip(min(event.confidence, MODERATE * 0.8) * 0.75),
                   note=f"{event.note}; its place was under cloud on the date {when} (veil {veil:.2f}): "
                        f"it may {may}, unseen")


def too_coarse(event: Event, gsd_m: float) -> Event:
    """A vehicle event measured against an image coarser than COARSE_FOR_VEHICLES_M: most
    vehicles found on such an image are false, so the claim drops to low confidence
    whatever the detections and the pixels said."""
    return replace(event, confidence=_clip(min(event.confidence, MODERATE * 0.8) * 0.75),
                   note=f"{event.note}; measured against a {gsd_m:.2f} m image, on which most vehicles "
                        f"found are false")


def _seen(last: Detection, seen_score: float | None) -> float:
    """How surely a departed item was there: its best sighting's score, at least its last's."""
    return last.score if seen_score is None else max(seen_score, last.score)


# The most types an event's note names for an item of unknown type that its size fits.
SIZE_MATCHES_IN_NOTE = 3


def _label(d: Detection) -> str:
    """The item as a note names it: its type, or for `unknown` its class, size and the
    types of the catalogue's two tables its footprint fits best."""
    if d.type and d.type != UNKNOWN_TYPE:
        return d.type
    fits = equipment.size_matches(d.cls, d.box.length, d.box.width)
    size = f"{d.box.length:.0f} x {d.box.width:.0f} m"
    if not fits:
        return f"{d.cls} of unknown type ({size})"
    shown = ", ".join(fits[:SIZE_MATCHES_IN_NOTE]) + (f" or {len(fits) - SIZE_MATCHES_IN_NOTE} more"
                                                      if len(fits) > SIZE_MATCHES_IN_NOTE else "")
    return f"{d.cls} of unknown type ({size}: the size of {shown})"


def _clip(x: float) -> float:
    return float(min(max(x, 0.0), 1.0))
