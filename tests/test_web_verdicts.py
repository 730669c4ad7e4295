"""Carrying analyst verdicts across reprocessing (sitewatch.web.verdicts): a verdict
follows its event when the new run stores the same finding under a new id, and does not
jump to a different finding."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sitewatch.store import add_verdict, open_catalog, save_events
from sitewatch.web import verdicts
from sitewatch.web.sample import SITE, sample_copy
from sitewatch.web.views import site_events


@pytest.fixture
def catalog(tmp_path_factory, tmp_path):
    db = sample_copy(tmp_path_factory.getbasetemp() / "web-sample-cache", tmp_path / "data")
    cat = open_catalog(db)
    yield cat
    cat.close()


def test_verdict_follows_the_same_finding_under_a_new_id(catalog):
    evs = site_events(catalog, SITE)
    dep = next(e for e in evs if e.kind == "departed")
    add_verdict(catalog, dep.id, "rejected", "launcher is under a net")
    add_verdict(catalog, dep.id, "confirmed", "seen on the next pass")
    held = verdicts.snapshot(catalog, SITE)
    assert [h.event_id for h in held] == [dep.id]
    # a new run names its events differently; one of them is the same departure
    renamed = [replace(e, id=e.id + "-r2") for e in evs]
    save_events(catalog, None, renamed)
    assert verdicts.restore(catalog, held, renamed) == 1
    got = verdicts.latest_verdicts(catalog, [e.id for e in renamed])
    assert list(got) == [dep.id + "-r2"]
    assert got[dep.id + "-r2"].verdict == "confirmed"  # replayed in order: the latest stays latest
    # restoring again adds nothing: the event already has its verdicts
    assert verdicts.restore(catalog, held, renamed) == 0


def test_verdict_does_not_jump_to_another_finding(catalog):
    evs = site_events(catalog, SITE)
    dep = next(e for e in evs if e.kind == "departed")
    add_verdict(catalog, dep.id, "rejected")
    held = verdicts.snapshot(catalog, SITE)
    box = dep.before.box
    # same place and images, but a different kind of event; and the same kind 20 m away
    # (farther than MATCH_FLOOR_M and half a 13.5 m launcher)
    other_kind = replace(dep, id="x-1", kind="moved")
    far = replace(dep, id="x-2", before=replace(dep.before, box=replace(box, cx=box.cx + 20.0)))
    save_events(catalog, None, [other_kind, far])
    assert verdicts.restore(catalog, held, [other_kind, far]) == 0
    assert verdicts.latest_verdicts(catalog, ["x-1", "x-2"]) == {}
