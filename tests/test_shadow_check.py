"""The shadow check on simulated scenes with known answers: the sun azimuth measured from the
shadows beside the items matches the sun the scene was lit by; an image stamped with its
true time is not flagged, the same image stamped 3 h off is, and so is one whose stated sun
contradicts its time; the elevation the shadows' lengths show matches the scene's sun and
flags a stated time whose sun stands too low for them; the caveat reaches the assessment,
the report and the image's catalog record, once however often the site is run (issue 32)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from sitewatch.change.tracking import Look
from sitewatch.domain import Detection, Image, Observation, OrientedBox
from sitewatch.geo.shadows import (
    SHADOW_TOLERANCE_DEG,
    ShadowLengths,
    ShadowMeasure,
    check_shadows,
    image_shadow_caveat,
    measure_shadows,
    measure_sun_elevation,
)
from sitewatch.geo.sun import angle_between, stated_sun_caveat
from sitewatch.simulate.plan import plan_scenario
from sitewatch.simulate.render import render_scene
from sitewatch.workflow.pipeline import compare_and_report, shadow_checked

LAT, LON = 35.4, 35.9


def _scenario(when: str) -> dict:
    return {"seed": 3, "sites": [{
        "name": "tiny", "kind": "airbase", "lat": LAT, "lon": LON, "extent_m": [200, 160], "gsd_m": 0.5,
        "zones": [{"name": "apron", "kind": "apron", "rect": {"center": [-40, 30], "size": [110, 90]},
                   "inventory": [{"type": "Su-25", "count": 4}, {"type": "Mi-8/17", "count": 2}]},
                  {"name": "park", "kind": "parking", "rect": {"center": [50, -40], "size": [80, 60]},
                   "inventory": [{"type": "truck", "count": 8}]}],
        "dates": [{"date": when}]}]}


@pytest.fixture(scope="module")
def scene():
    """A 400 x 320 px scene lit by the sun of 2024-12-05 09:00 UTC at 35.4 N (azimuth 172.5,
    elevation 31.9), its pixels, and the items where the image shows them."""
    plan = plan_scenario(_scenario("2024-12-05T09:00:00Z"))[0]
    shot = plan.dates[0]
    return shot, render_scene(shot.spec), _seen(shot.spec)


def _seen(spec) -> list[Detection]:
    g, (dx, dy) = spec.site.grid, spec.conditions.shift_px
    return [Detection(OrientedBox(o.box.cx + dx * g.gsd_m, o.box.cy - dy * g.gsd_m, o.box.length, o.box.width,
                                  o.box.heading_deg), o.cls, o.type, o.state, 0.9, 0.9, 0.9, image_id="img")
            for o in spec.objects]


def _image(shot, hours: float = 0.0, observation: Observation = Observation()) -> Image:
    g = shot.spec.site.grid
    return Image("img", "tiny", "", shot.acquired + timedelta(hours=hours), g.gsd_m, g.crs, g.width_px, g.height_px,
                 observation=observation)


def test_measured_azimuth_is_the_scenes_sun(scene):
    shot, pixels, dets = scene
    m = measure_shadows(pixels, shot.spec.site.grid, [d.box for d in dets])
    assert m is not None and m.usable
    assert angle_between(m.sun_azimuth_deg, shot.spec.conditions.sun_azimuth_deg) < 10.0
    assert m.spread_deg < 5.0 and m.items >= 10


def test_true_time_is_not_flagged_and_a_3h_shift_is(scene):
    shot, pixels, dets = scene
    grid = shot.spec.site.grid
    assert image_shadow_caveat(_image(shot), grid, pixels, dets) is None
    for hours in (3.0, -3.0):
        caveat = image_shadow_caveat(_image(shot, hours), grid, pixels, dets)
        assert caveat is not None and caveat.startswith("shadow check:"), hours
        when = shot.acquired + timedelta(hours=hours)
        assert f"{when:%Y-%m-%d %H:%M} UTC" in caveat and "a wrong timestamp or a mislabelled image" in caveat


def test_metadata_sun_contradicting_the_time_is_flagged_and_sides_with_the_shadows(scene):
    """A 3 h shifted stamp with the true sun in its metadata (a mislabelled timestamp): the
    metadata check flags it, and the shadow check says the metadata agrees with the shadows."""
    shot, pixels, dets = scene
    c = shot.spec.conditions
    stated = shot.acquired + timedelta(hours=3)
    assert stated_sun_caveat(LAT, LON, stated, c.sun_azimuth_deg, c.sun_elevation_deg) is not None
    assert stated_sun_caveat(LAT, LON, shot.acquired, c.sun_azimuth_deg, c.sun_elevation_deg) is None
    obs = Observation(sun_azimuth_deg=c.sun_azimuth_deg, sun_elevation_deg=c.sun_elevation_deg)
    caveat = image_shadow_caveat(_image(shot, 3.0, obs), shot.spec.site.grid, pixels, dets)
    assert caveat is not None and "agrees with the shadows: the timestamp is likely wrong" in caveat
    # metadata naming a sun the shadows do not show either
    wrong = Observation(sun_azimuth_deg=(c.sun_azimuth_deg + 90.0) % 360.0, sun_elevation_deg=c.sun_elevation_deg)
    caveat = image_shadow_caveat(_image(shot, 3.0, wrong), shot.spec.site.grid, pixels, dets)
    assert caveat is not None and "does not agree with the shadows either" in caveat


def _lengths(scene) -> tuple[ShadowMeasure, ShadowLengths | None]:
    shot, pixels, dets = scene
    grid = shot.spec.site.grid
    kept = [d for d in dets if d.cls != "ship"]
    m = measure_shadows(pixels, grid, [d.box for d in kept])
    assert m is not None
    return m, measure_sun_elevation(pixels, grid, [(d.box, d.cls, d.type) for d in kept], m.shadow_azimuth_deg)


def test_the_shadows_lengths_show_the_scenes_elevation(scene):
    shot, _, _ = scene
    _, lengths = _lengths(scene)
    assert lengths is not None and lengths.items >= 5
    assert abs(lengths.elevation_deg - shot.spec.conditions.sun_elevation_deg) < 8.0  # 31.9 deg


def test_the_lengths_flag_a_stated_sun_too_low_for_them(scene):
    """The azimuth left out (a tolerance of 180 degrees): the lengths alone pass the true
    time, and flag -3 h (the sun at 13 degrees instead of 32: shadows 2.7 times longer than
    those measured)."""
    shot, _, _ = scene
    grid = shot.spec.site.grid
    m, lengths = _lengths(scene)
    true = check_shadows(m, grid, shot.acquired, tolerance_deg=180.0, lengths=lengths)
    assert true is not None and not true.too_short and not true.mismatch
    early = check_shadows(m, grid, shot.acquired - timedelta(hours=3), tolerance_deg=180.0, lengths=lengths)
    assert early is not None and 5.0 < early.computed_elevation_deg < 20.0
    assert early.too_short and early.mismatch
    assert check_shadows(m, grid, shot.acquired - timedelta(hours=3), tolerance_deg=180.0).mismatch is False
    # the caveat says so, with the elevation the lengths show
    dets = scene[2]
    caveat = image_shadow_caveat(_image(shot, -3.0), grid, scene[1], dets)
    assert caveat is not None and "the shadows' lengths beside" in caveat and "too short for the stated time" in caveat
    # shadows longer than the computed sun casts (clutter reads long) are no flag
    long = ShadowLengths(shot.spec.conditions.sun_elevation_deg / 3.0, 9)
    assert not check_shadows(m, grid, shot.acquired, lengths=long).mismatch


def test_no_check_without_enough_items_a_time_of_day_or_for_radar(scene):
    shot, pixels, dets = scene
    grid = shot.spec.site.grid
    assert image_shadow_caveat(_image(shot, 3.0), grid, pixels, dets[:3]) is None  # too few items
    assert image_shadow_caveat(_image(shot, 3.0), grid, pixels, [replace(d, score=0.2) for d in dets]) is None
    assert image_shadow_caveat(_image(shot, 3.0), grid, pixels, [replace(d, cls="ship") for d in dets]) is None
    midnight = replace(_image(shot), acquired=shot.acquired.replace(hour=0, minute=0, second=0))
    assert image_shadow_caveat(midnight, grid, pixels, dets) is None  # a date without a time of day
    radar = _image(shot, 3.0, Observation(modality="sar"))
    assert image_shadow_caveat(radar, grid, pixels, dets) is None


def test_a_stated_time_at_night_is_a_mismatch(scene):
    shot, _, _ = scene
    m = ShadowMeasure(172.0, 2.0, 12, 12)
    night = shot.acquired.replace(hour=20)  # 22:30 local solar time
    check = check_shadows(m, shot.spec.site.grid, night)
    assert check is not None and check.computed_elevation_deg < 0 and check.mismatch and check.error_deg is None
    assert check_shadows(replace(m, agreeing=5), shot.spec.site.grid, night) is None  # 5 of 12 agree: not measured
    assert SHADOW_TOLERANCE_DEG == 30.0


def test_the_caveat_reaches_the_assessment_and_the_report(scene, tmp_path):
    """Two dates of the scene through compare_and_report: the later one stamped 3 h off."""
    shot, pixels, dets = scene
    site = shot.spec.site
    first = Look(replace(_image(shot), id="a", acquired=shot.acquired - timedelta(days=5)),
                 tuple(replace(d, image_id="a") for d in dets))
    later = Look(replace(_image(shot, 3.0), id="b"), tuple(replace(d, image_id="b") for d in dets))
    both = {"a": pixels, "b": pixels}
    checked = shadow_checked(site, [first, later], both)
    assert not checked[0].image.caveats and len(checked[1].image.caveats) == 1
    assert later.image.acquired == checked[1].image.acquired  # the timestamp is left as stated
    outcome = compare_and_report(site, [first, later], tmp_path, both)
    caveats = [c for c in outcome.judgement.assessment.caveats if "shadow check" in c]
    assert len(caveats) == 1 and caveats[0].startswith("b: shadow check:")
    html = (tmp_path / f"{site.name}.html").read_text()
    assert "shadow check: the shadows beside" in html


def test_a_run_stores_the_caveat_and_a_reassessment_keeps_it(scene, tmp_path):
    """Through the catalog: two dates of the scene, the later stamped 3 h off; the assess run
    keeps the shadow check's caveat, and the web app's re-assessment after a rejection (which
    reads no pixels) states it again."""
    from sitewatch.simulate.writer import write_cog
    from sitewatch.store import (
        AlignmentResult,
        add_site,
        add_verdict,
        events_for_site,
        get_site,
        images_for_site,
        latest_assessment_run,
        open_catalog,
        save_alignment,
        save_detections,
        start_run,
    )
    from sitewatch.web.verdicts import latest_verdicts, reviewed_judgement
    from sitewatch.workflow.ingest import ingest
    from sitewatch.workflow.pipeline import SHADOW_CAVEATS, run_site

    shot, pixels, dets = scene
    site = shot.spec.site
    paths = []
    for name, when in (("early", shot.acquired - timedelta(days=5)), ("late", shot.acquired + timedelta(hours=3))):
        path = tmp_path / "img" / f"{name}.tif"
        path.parent.mkdir(exist_ok=True)
        write_cog(path, pixels, site.grid, when)
        paths.append(str(path))
    with open_catalog(str(tmp_path / "catalog.db")) as cat:
        add_site(cat, site)
        assert all(o.status == "added" for o in ingest(cat, paths))
        early, late = sorted(images_for_site(cat, site.name), key=lambda i: i.acquired)
        assert not late.caveats  # no sun in its metadata: the ingest check has nothing to compare
        save_alignment(cat, site.name, AlignmentResult(early.id, early.id, "reference", quality=1.0))
        save_alignment(cat, site.name, AlignmentResult(late.id, early.id, "ok", quality=1.0, residual_px=0.1))
        run = start_run(cat, "detect", site.name, {"model": "test"})
        found = [replace(d, image_id=early.id) for d in dets] + [replace(d, image_id=late.id) for d in dets[1:]]
        save_detections(cat, run, found, site=site.name, crs=site.grid.crs)
        outcome = run_site(cat, site.name, tmp_path / "report", align=False, detect=False)
        said = [c for c in outcome.judgement.assessment.caveats if "shadow check" in c]
        assert len(said) == 1 and said[0].startswith(f"{late.id}: shadow check:")
        stored = latest_assessment_run(cat, site.name)
        assert stored is not None and list(stored.params[SHADOW_CAVEATS]) == [late.id]
        events = events_for_site(cat, site.name)
        departed = [e for e in events if e.kind == "departed"]
        assert departed
        add_verdict(cat, departed[0].id, "rejected", "still there")
        restated = reviewed_judgement(cat, get_site(cat, site.name), events,
                                      latest_verdicts(cat, [e.id for e in events]))
        # the image's own record carries it (what `sitewatch images` and the API show), the
        # earlier image's none
        from sitewatch.cli.images_cmd import image_summary
        from sitewatch.store import get_image

        recorded = {i.id: [c for c in i.caveats if c.startswith("shadow check:")] for i in images_for_site(cat, site.name)}
        assert recorded == {early.id: [], late.id: [said[0].removeprefix(f"{late.id}: ")]}
        assert image_summary(get_image(cat, late.id), None)["caveats"] == recorded[late.id]
        # a re-run states it once: in the assessment, the run, the record, the re-assessment
        again = run_site(cat, site.name, tmp_path / "report", align=False, detect=False)
        assert [c for c in again.judgement.assessment.caveats if "shadow check" in c] == said
        assert [c for c in get_image(cat, late.id).caveats if c.startswith("shadow check:")] == recorded[late.id]
        assert latest_assessment_run(cat, site.name).params[SHADOW_CAVEATS] == {late.id: recorded[late.id]}
        events = events_for_site(cat, site.name)
        twice = reviewed_judgement(cat, get_site(cat, site.name), events, latest_verdicts(cat, [e.id for e in events]))
        assert twice is not None and [c for c in twice["caveats"] if "shadow check" in c] == said
        # once the stamp no longer disagrees (its detections gone, nothing to measure), the next
        # run takes the caveat off the record
        from sqlalchemy import delete

        from sitewatch.store.models import DetectionRow

        with cat.transaction() as s:
            s.execute(delete(DetectionRow).where(DetectionRow.image_id == late.id))
        run_site(cat, site.name, tmp_path / "report", align=False, detect=False)
        assert not [c for c in get_image(cat, late.id).caveats if c.startswith("shadow check:")]
    assert restated is not None
    assert [c for c in restated["caveats"] if "shadow check" in c] == said
