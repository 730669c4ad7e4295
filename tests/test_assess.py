"""Posture assessment on hand-made evidence whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from test_track import SITE, _image, baseline, withdrawal

from sitewatch.assess.posture import assess
from sitewatch.assess.rules import load_rules
from sitewatch.change.tracking import Look, corroborate_all, track
from sitewatch.errors import InputError
from sitewatch.evaluation.detector_noise import DetectorNoise, noisy_detections

NOISE = DetectorNoise(position_sigma_m=0.7, heading_sigma_deg=5)


def _looks(*inventories, quality=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return [Look(_image(i), tuple(noisy_detections(objs, f"testbase-d{i}", SITE, NOISE, rng)), quality)
            for i, objs in enumerate(inventories)]


def _judge(looks):
    res = track(SITE, looks)
    return assess(SITE, looks, res.events)


def test_shipped_rules_load_and_name_the_six_indicators_of_the_issue():
    rules = load_rules()
    texts = {i.text for i in rules.indicators.values()}
    for t in ("heavy transports present and loading", "combat aircraft or helicopters reduced",
              "helicopters dismantled", "air defence relocated", "berths emptied", "new arrivals of combat types"):
        assert t in texts


def test_withdrawal_over_three_looks_is_likely_with_the_evidence_cited():
    base = baseline()
    later, _ = withdrawal(base)
    j = _judge(_looks(base, later, later))
    a = j.assessment
    assert a.posture == "withdrawal"
    assert a.likelihood in ("likely", "almost certainly")
    fired = {f.name for f in j.findings}
    assert {"heavy_transports_loading", "helicopters_dismantled", "air_defence_relocated"} <= fired
    assert "withdrawal is" in a.headline and "An-124" in a.headline
    # Every event-backed claim points to pixels: an image id and a window on the site grid.
    ev_ids = {e.event_id for e in a.evidence if e.event_id}
    assert len(ev_ids) >= 2 + 4  # 2 Ka-52 dismantled + 4 S-400 launchers gone
    assert all(e.image_id for e in a.evidence)
    assert all(e.window is not None for e in a.evidence if e.event_id)


def test_one_image_pair_caps_confidence_at_moderate_and_says_why():
    base = baseline()
    later, _ = withdrawal(base)
    a = _judge(_looks(base, later)).assessment
    assert a.posture == "withdrawal" and a.confidence in ("moderate", "low")
    assert any("full exit from a partial one" in c for c in a.caveats)


def test_no_change_is_largely_unchanged_and_claims_nothing():
    base = baseline()
    a = _judge(_looks(base, base, base)).assessment
    assert a.posture == "largely_unchanged"
    assert a.indicators == ()


def test_poor_images_lower_confidence():
    base = baseline()
    later, _ = withdrawal(base)
    good = _judge(_looks(base, later, later)).assessment
    poor = _judge(_looks(base, later, later, quality=0.55)).assessment
    order = ["low", "moderate", "high"]
    assert order.index(poor.confidence) < order.index(good.confidence)


def test_one_date_only_is_insufficient_evidence_with_the_reason():
    looks = _looks(baseline())
    a = assess(SITE, looks, []).assessment
    assert a.posture == "insufficient_evidence"
    assert "only one usable image" in a.headline and looks[0].image.id in a.headline


def test_bad_rules_file_names_the_file_and_field(tmp_path):
    p = tmp_path / "rules.yaml"
    p.write_text((load_rules.__globals__["resources"].files("sitewatch.assess") / "rules.yaml")
                 .read_text().replace("roles: [heavy_transport]", "roles: [tanker_plane]"))
    with pytest.raises(InputError, match=r"rules.yaml: indicators.heavy_transports_loading.roles: unknown 'tanker_plane'"):
        load_rules(p)


def test_a_reduction_says_what_was_reduced_and_by_how_many():
    base = baseline()
    # Date 2: three of the six Su-24M are gone (6 Su-24M + 4 Ka-52 = 10 combat items).
    later = [o for o in base if o.track_id not in ("su0", "su1", "su2")]
    j = _judge(_looks(base, later, later))
    reduced = [f for f in j.findings if f.name == "combat_types_reduced"]
    assert len(reduced) == 1, [f.name for f in j.findings]
    assert reduced[0].summary == ("combat aircraft or helicopters reduced: 3 Su-24M no longer seen "
                                  "(3 fewer; 10 counted on 01 Dec)")
    # each departure is cited with its image and pixel window
    assert len({e.event_id for e in reduced[0].evidence}) == 3
    assert all(e.window is not None for e in reduced[0].evidence)


def test_detector_misses_on_the_last_date_are_not_a_reduction():
    """Three Su-24M not detected on the last date: a difference of counts says 'reduced', but
    the pixels where they stood did not change, so the departures stay weak and nothing fires.
    The same absences with the ground changed under them are a reduction."""
    base = baseline()
    missed = [o for o in base if o.track_id not in ("su0", "su1", "su2")]
    looks = _looks(base, base, missed)

    def fired(pixel_change: float) -> bool:
        res = track(SITE, looks)
        corroborate_all(res, lambda e, b, a: pixel_change)
        j = assess(SITE, looks, res.events)
        return any(f.name == "combat_types_reduced" for f in j.findings)

    assert not fired(0.0)
    assert fired(1.0)


def test_types_named_only_with_confidence_and_class_words_pluralised():
    from dataclasses import replace

    from sitewatch.change.zones import plural, type_label

    [det] = noisy_detections([o for o in baseline() if o.type == "S-400 launcher"][:1], "testbase-d0", SITE, NOISE,
                             np.random.default_rng(0))
    assert type_label(replace(det, type_score=0.95)) == "S-400 launcher"
    unsure = type_label(replace(det, type_score=0.45))
    assert unsure == "air-defence item (type uncertain)"
    assert plural(unsure, 3) == "air-defence items (type uncertain)" and plural(unsure, 1) == unsure
    assert plural("aircraft", 2) == "aircraft" and plural("S-400 launcher", 2) == "S-400 launcher"


def test_a_few_changes_at_a_busy_site_leave_it_likely_unchanged():
    """Three confident comings and goings with no posture: at a site of 14 items that is
    more than the two a small site may have, and it reads "roughly even chance"; with
    unchanged_max_share 0.25 (3.5 items) the same evidence reads "likely"."""
    base = baseline()
    later = [o for o in base if o.track_id not in ("ka3", "su0", "su1")]
    looks = _looks(base, later, later)
    res = track(SITE, looks)
    strict = assess(SITE, looks, res.events)
    relaxed = assess(SITE, looks, res.events, rules=load_rules().model_copy(update={"unchanged_max_share": 0.25}))
    assert strict.assessment.posture == relaxed.assessment.posture == "largely_unchanged"
    assert strict.assessment.likelihood == "roughly even chance"
    assert relaxed.assessment.likelihood == "likely"


def test_a_pair_that_differs_throughout_becomes_a_caveat_with_its_dates():
    base = baseline()
    looks = _looks(base, base)
    res = track(SITE, looks)
    a = assess(SITE, looks, res.events, incomparable=[(looks[0].image.id, looks[1].image.id)]).assessment
    assert any("differ throughout" in c and "01 Dec 2024" in c and "04 Dec 2024" in c for c in a.caveats), a.caveats


def test_a_rules_file_with_a_bad_placeholder_in_a_caveat_names_the_field(tmp_path):
    from importlib import resources

    import yaml

    raw = yaml.safe_load((resources.files("sitewatch.assess") / "rules.yaml").read_text(encoding="utf-8"))
    raw["caveats"]["changed_throughout"] = "between {start} and {end}"
    bad = tmp_path / "rules.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(InputError, match="changed_throughout"):
        load_rules(bad)


def test_a_departure_and_an_arrival_of_one_type_between_two_looks_count_as_one_change():
    """A ship that changed berth is reported as a departure and an arrival, never as a move
    (ships of one class look alike); to the assessment that is one change on the ground,
    and the count of that type is unchanged. Different types, or different intervals, stay
    separate changes."""
    from sitewatch.assess.posture import changes_on_the_ground
    from sitewatch.domain import Event

    looks = _looks(baseline(), baseline(), baseline())

    def first(look, typ):
        return next(d for d in looks[look].detections if d.type == typ)

    def ev(kind, det):
        return Event(f"{kind}-{det.image_id}", kind, SITE.name, "t", det.cls, det.type,
                     det if kind == "departed" else None, det if kind == "arrived" else None, 0.8)

    su_gone, su_came = ev("departed", first(0, "Su-24M")), ev("arrived", first(1, "Su-24M"))
    ka_gone = ev("departed", first(0, "Ka-52"))
    assert changes_on_the_ground([su_gone, su_came], looks) == 1
    assert changes_on_the_ground([su_gone, su_came, ka_gone], looks) == 2
    assert changes_on_the_ground([su_gone, ev("arrived", first(1, "Ka-52"))], looks) == 2
    assert changes_on_the_ground([su_gone, ev("arrived", first(2, "Su-24M"))], looks) == 2  # a later interval


def test_a_blurred_image_becomes_a_caveat_with_its_date():
    from dataclasses import replace

    from sitewatch.geo.sharpness import BLURRED_FOR_VEHICLES_M

    base = baseline()
    looks = _looks(base, base, base)
    looks[1] = replace(looks[1], edge_blur_m=BLURRED_FOR_VEHICLES_M + 0.2)
    looks[2] = replace(looks[2], edge_blur_m=BLURRED_FOR_VEHICLES_M - 0.2)
    a = _judge(looks).assessment
    blurred = [c for c in a.caveats if "blurred" in c]
    assert len(blurred) == 1 and "04 Dec 2024" in blurred[0] and "0.9 m" in blurred[0], a.caveats


def test_a_coarse_image_becomes_a_caveat_with_its_date_and_gsd():
    from dataclasses import replace

    base = baseline()
    looks = _looks(base, base, base)
    looks[2] = replace(looks[2], image=replace(looks[2].image, gsd_m=0.75))
    a = _judge(looks).assessment
    coarse = [c for c in a.caveats if "coarser than" in c]
    assert len(coarse) == 1 and "0.75 m" in coarse[0] and "vehicles" in coarse[0], a.caveats
    assert not [c for c in _judge(_looks(base, base, base)).assessment.caveats if "coarser than" in c]
