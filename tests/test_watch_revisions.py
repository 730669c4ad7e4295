"""watch.revisions on hand-made events (no images): which earlier alerts a rerun retracts, which
new alert revises each, and that a retraction is written once whatever reruns follow."""

from __future__ import annotations

from datetime import UTC, datetime

from sitewatch.change.tracking import TrackingResult
from sitewatch.domain import Detection, Event, OrientedBox
from sitewatch.watch.revisions import RETRACTION, revise
from sitewatch.watch.rules import AlertRules, triggered_alerts

SUB, SITE, CRS = "sub1", "base", "EPSG:32636"
WHEN = datetime(2024, 12, 11, 9, 0, tzinfo=UTC)
RULES = AlertRules(posture_change=False)
LAUNCHER, AN124 = ("air_defence", "S-400 launcher", 13.5), ("aircraft", "An-124", 69.1)


def _det(what, x: float, y: float, image: str) -> Detection:
    cls, type_, length = what
    return Detection(OrientedBox(x, y, length, 3.0, 0.0), cls, type_, "normal", 0.9, 0.9, 0.9, image)


def _event(eid: str, kind: str, what, x: float, y: float, pair: tuple[str, str]) -> Event:
    before = _det(what, x, y, pair[0]) if kind == "departed" else None
    after = _det(what, x, y, pair[1]) if kind == "arrived" else None
    return Event(eid, kind, SITE, f"T-{eid}", what[0], what[1], before, after, 0.8)  # type: ignore[arg-type]


def _run(image_ids: list[str], *events: tuple[str, str, tuple, float, float, tuple[str, str]]) -> TrackingResult:
    made = [_event(*e) for e in events]
    return TrackingResult(events=made, pairs={e.id: e_[5] for e, e_ in zip(made, events)}, image_ids=image_ids)


def _alerts(run: TrackingResult, image: str):
    return triggered_alerts(RULES, SUB, SITE, image, run.events, run.pairs, None, None, WHEN,  # type: ignore[arg-type]
                            deliver=False, crs=CRS)


def test_a_late_image_between_two_dates_retracts_their_alerts_and_its_own_say_which_they_revise():
    first = _run(["a", "c"], ("E1", "departed", LAUNCHER, 10.0, 10.0, ("a", "c")),
                 ("E2", "arrived", AN124, 100.0, 0.0, ("a", "c")))
    earlier = _alerts(first, "c")
    # b, dated between a and c: the launcher left between a and b, the An-124 came between b
    # and c, and a second launcher 30 m away left too (a new finding, revising nothing).
    late = _run(["a", "b", "c"], ("E1", "departed", LAUNCHER, 10.4, 10.0, ("a", "b")),
                ("E2", "departed", LAUNCHER, 40.0, 10.0, ("a", "b")),
                ("E3", "arrived", AN124, 100.0, 1.5, ("b", "c")))
    out = revise(_alerts(late, "b"), earlier, late, CRS, "b", WHEN, "none")
    retractions = {a.payload["data"]["retracted"]["alert_id"]: a for a in out if a.kind == RETRACTION}
    assert sorted(retractions) == sorted(a.id for a in earlier)
    revising = {a.payload["data"]["event"]["id"]: a.payload["data"].get("revises") for a in out if a.kind == "event"}
    by_event = {a.event_id: a.id for a in earlier}
    assert revising == {"E1": [by_event["E1"]], "E2": None, "E3": [by_event["E2"]]}
    for old_id, r in retractions.items():
        data = r.payload["data"]
        assert r.payload["type"] == "sitewatch.event.retracted" and data["reason"] == "split"
        (by,) = data["revised_by"]
        assert next(a for a in out if a.id == by).payload["data"]["revises"] == [old_id]
        assert r.title.startswith(f"{SITE}: retracted: ") and r.event_id is None

    # A rerun after that (the same file again, or another image) retracts nothing more.
    assert [a.kind for a in revise(_alerts(late, "b"), [*earlier, *out], late, CRS, "b", WHEN, "none")] == [
        "event"] * 3


def test_an_event_the_rerun_still_holds_is_not_retracted_and_one_it_lost_is_retracted_unrevised():
    first = _run(["a", "b"], ("E1", "departed", LAUNCHER, 10.0, 10.0, ("a", "b")),
                 ("E2", "arrived", AN124, 100.0, 0.0, ("a", "b")))
    earlier = _alerts(first, "b")
    # c: the An-124 still stands (its arrival holds, boxes jitter); the launcher is seen again,
    # so it never left: its departure is gone and nothing of c reports it.
    rerun = _run(["a", "b", "c"], ("E1", "arrived", AN124, 100.5, 0.3, ("a", "b")))
    out = revise(_alerts(rerun, "c"), earlier, rerun, CRS, "c", WHEN, "pending")
    (r,) = out
    assert r.kind == RETRACTION and r.delivery == "pending"
    data = r.payload["data"]
    assert data["retracted"]["event_id"] == "E1" and data["reason"] == "not_found" and data["revised_by"] == []
    assert "(revised" not in r.title


def test_an_alert_from_before_places_were_carried_is_found_again_by_kind_class_and_images():
    first = _run(["a", "b"], ("E1", "arrived", AN124, 100.0, 0.0, ("a", "b")))
    (old,) = _alerts(first, "b")
    del old.payload["data"]["event"]["place"]
    rerun = _run(["a", "b"], ("E7", "arrived", AN124, 300.0, 0.0, ("a", "b")))
    assert revise([], [old], rerun, CRS, "b", WHEN, "none") == []


def test_a_retraction_reads_as_one_in_the_feed_and_the_email():
    import xml.etree.ElementTree as ET

    from sitewatch.store import QueuedEmail
    from sitewatch.watch.email import compose
    from sitewatch.watch.feed import atom_feed

    first = _run(["a", "c"], ("E1", "arrived", AN124, 100.0, 0.0, ("a", "c")))
    late = _run(["a", "b", "c"], ("E1", "arrived", AN124, 100.0, 0.0, ("b", "c")))
    new, r = revise(_alerts(late, "b"), _alerts(first, "c"), late, CRS, "b", WHEN, "none")
    entries = ET.fromstring(atom_feed(SITE, [new, r])).findall("{http://www.w3.org/2005/Atom}entry")
    text = {e.find("{http://www.w3.org/2005/Atom}category").get("term"):
            e.find("{http://www.w3.org/2005/Atom}content").text for e in entries}
    old_id = r.payload["data"]["retracted"]["alert_id"]
    assert text["retraction"].startswith(f"retracts alert {old_id} (event E1): an image that arrived later (b)")
    assert text["retraction"].endswith(f"revised by alert {new.id}")
    assert text["event"].endswith(f"(revises alert {old_id})")
    msg = compose(QueuedEmail(r, "analyst@example.org", "pending", 0, ""), "sitewatch@example.org")
    assert msg["Subject"] == f"[sitewatch] {r.title}" and f"retracts alert {old_id}" in msg.get_body().get_content()
