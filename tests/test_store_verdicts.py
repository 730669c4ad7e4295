"""Analyst verdicts across reprocessing (sitewatch.store.save_site_results): a re-run replaces
the site's results whole, and each verdict moves to the new event that describes the same
finding, whatever its id, or is reported as dropped. Nothing is half-replaced on failure."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.exc import IntegrityError

from sitewatch.domain import ChangeRegion
from sitewatch.errors import CatalogError
from sitewatch.store import (
    add_verdict,
    change_regions_for_site,
    events_for_site,
    open_catalog,
    save_site_results,
    tracks_for_site,
    verdicts_for_event,
)
from sitewatch.web.sample import SITE, sample_copy


@pytest.fixture
def catalog(tmp_path_factory, tmp_path):
    db = sample_copy(tmp_path_factory.getbasetemp() / "web-sample-cache", tmp_path / "data")
    cat = open_catalog(db)
    yield cat
    cat.close()


def _departure(catalog):
    evs = events_for_site(catalog, SITE)
    return evs, next(e for e in evs if e.kind == "departed")


def test_verdicts_follow_the_same_finding_under_a_new_id(catalog):
    evs, dep = _departure(catalog)
    add_verdict(catalog, dep.id, "rejected", "launcher is under a net")
    add_verdict(catalog, dep.id, "confirmed", "seen on the next pass")
    before = verdicts_for_event(catalog, dep.id)
    renamed = [replace(e, id=e.id + "-r2") for e in evs]
    carried = save_site_results(catalog, None, SITE, [], renamed, [])
    assert carried.kept == 1 and carried.dropped == ()
    assert verdicts_for_event(catalog, dep.id) == []
    # the whole history moves, with its original times, so the latest stays latest
    assert verdicts_for_event(catalog, dep.id + "-r2") == before
    assert before[-1][0] == "confirmed"


def test_a_reused_id_does_not_keep_a_verdict_for_another_finding(catalog):
    evs, dep = _departure(catalog)
    add_verdict(catalog, dep.id, "rejected")
    box = dep.before.box
    # the new run reuses the id for the same kind of event 20 m away (farther than 3 m and
    # half a 13.5 m launcher), and reports a move where the departure was
    elsewhere = replace(dep, before=replace(dep.before, box=replace(box, cx=box.cx + 20.0)))
    moved = replace(dep, id="x-1", kind="moved")
    carried = save_site_results(catalog, None, SITE, [], [elsewhere, moved], [])
    assert carried.kept == 0 and carried.dropped == (dep.id,)
    assert verdicts_for_event(catalog, dep.id) == [] and verdicts_for_event(catalog, "x-1") == []


def test_neighbours_do_not_swap_verdicts(catalog):
    evs, dep = _departure(catalog)
    add_verdict(catalog, dep.id, "rejected")
    box = dep.before.box
    # two candidates within matching distance: the nearer one takes the verdict
    near = replace(dep, id="n-1", before=replace(dep.before, box=replace(box, cx=box.cx + 0.4)))
    farther = replace(dep, id="n-2", before=replace(dep.before, box=replace(box, cx=box.cx - 2.5)))
    carried = save_site_results(catalog, None, SITE, [], [farther, near], [])
    assert carried.kept == 1
    assert [v[0] for v in verdicts_for_event(catalog, "n-1")] == ["rejected"]
    assert verdicts_for_event(catalog, "n-2") == []


def test_a_rerun_replaces_the_site_results_whole(catalog):
    evs, _ = _departure(catalog)
    tracks = tracks_for_site(catalog, SITE)
    region = ChangeRegion("c1", SITE, ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0)), 50.0, 0.7, None,
                          evs[0].after.image_id, evs[0].after.image_id)
    save_site_results(catalog, None, SITE, tracks, evs, [region])
    assert len(evs) > 1 and len(tracks) > 1 and change_regions_for_site(catalog, SITE) == [region]
    save_site_results(catalog, None, SITE, tracks[:1], evs[:1], [])
    # stale events, tracks and regions of the earlier run are gone, not left beside the new ones
    assert events_for_site(catalog, SITE) == evs[:1]
    assert tracks_for_site(catalog, SITE) == tracks[:1]
    assert change_regions_for_site(catalog, SITE) == []


def test_a_failed_replacement_leaves_the_old_results_and_verdicts(catalog):
    evs, dep = _departure(catalog)
    add_verdict(catalog, dep.id, "confirmed")
    with pytest.raises(IntegrityError):  # two events under one id: the insert fails mid-way
        save_site_results(catalog, None, SITE, [], [evs[0], evs[0]], [])
    with pytest.raises(CatalogError, match="not 'elsewhere'"):
        save_site_results(catalog, None, "elsewhere", [], evs, [])
    assert events_for_site(catalog, SITE) == evs
    assert [v[0] for v in verdicts_for_event(catalog, dep.id)] == ["confirmed"]
