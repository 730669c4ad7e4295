"""An image's source and viewing geometry from its STAC item or its tags, never guessed."""

import pytest

from sitewatch.domain import Observation
from sitewatch.geo.observation import combined, from_stac, from_tags, observation_of, with_modality

WORLDVIEW = {
    "platform": "worldview-3", "constellation": "worldview", "instruments": ["wv110"], "gsd": 0.31,
    "view:off_nadir": 17.2, "view:azimuth": 211.0, "view:sun_azimuth": 163.4, "view:sun_elevation": 31.9,
    "providers": [{"name": "Maxar", "roles": ["producer", "licensor"]}, {"name": "A host", "roles": ["host"]}],
}


def test_a_stac_item_gives_source_angles_and_gsd():
    o = from_stac(WORLDVIEW)
    assert (o.provider, o.platform, o.constellation, o.instruments) == ("Maxar", "worldview-3", "worldview", ("wv110",))
    assert (o.gsd_m, o.off_nadir_deg, o.view_azimuth_deg) == (0.31, 17.2, 211.0)
    assert (o.sun_azimuth_deg, o.sun_elevation_deg, o.origin) == (163.4, 31.9, "stac")
    assert o.source_name == "Maxar / worldview-3"


def test_the_producer_is_the_provider_else_the_licensor_else_the_first():
    hosted = [{"name": "Host", "roles": ["host"]}, {"name": "Airbus", "roles": ["licensor"]}]
    assert from_stac({"providers": hosted}).provider == "Airbus"
    assert from_stac({"providers": [{"name": "Planet"}]}).provider == "Planet"
    assert from_stac({"providers": "Planet"}).provider is None


def test_impossible_values_are_unknown_with_a_note_and_nothing_is_invented():
    notes = []
    o = from_stac({"view:off_nadir": 120, "view:sun_elevation": "high", "gsd": -1, "view:azimuth": True}, notes)
    assert o == Observation()
    assert len(notes) == 4 and any("view:off_nadir" in n for n in notes)
    assert from_stac({}) == Observation() and from_tags({}) == Observation()
    assert observation_of(None, {}, bands=1) == Observation()  # one band, no metadata: modality unknown


def test_tags_give_what_the_file_says_by_generic_stac_or_imd_names():
    o = from_tags({"SUN_AZIMUTH": "150.5", "view:sun_elevation": "40.25", "IMAGE_1.meanOffNadirViewAngle": "12.0",
                   "IMAGE_1.meanSatAz": "95", "SATELLITEID": "PNEO4", "PROVIDER": "Airbus DS", "SENSOR": "PAN, MS"})
    assert (o.sun_azimuth_deg, o.sun_elevation_deg, o.off_nadir_deg, o.view_azimuth_deg) == (150.5, 40.25, 12.0, 95.0)
    assert (o.platform, o.provider, o.instruments, o.origin) == ("PNEO4", "Airbus DS", ("PAN", "MS"), "tags")


def test_stac_comes_first_and_tags_fill_what_it_lacks():
    stac = from_stac({"platform": "skysat-c12", "view:sun_azimuth": 140.0})
    tags = from_tags({"PLATFORM": "other", "SUN_ELEVATION": "35", "SUN_AZIMUTH": "10"})
    o = combined(stac, tags)
    assert (o.platform, o.sun_azimuth_deg, o.sun_elevation_deg, o.origin) == ("skysat-c12", 140.0, 35.0, "stac+tags")
    assert combined(stac, Observation()).origin == "stac"
    assert combined(Observation(), tags).origin == "tags"


@pytest.mark.parametrize("props,bands,modality", [
    ({"sar:instrument_mode": "SM", "platform": "x"}, 1, "sar"),
    ({"constellation": "ICEYE"}, 1, "sar"),
    ({"platform": "worldview-3"}, 1, "optical_pan"),
    ({"view:sun_elevation": 40}, 1, "optical_pan"),
    ({"platform": "worldview-3"}, 4, "optical_multispectral"),
    ({}, 3, "optical_multispectral"),
    ({"platform": "mystery-1"}, 1, None),
    ({}, 2, None),
])
def test_modality_from_metadata_and_band_count(props, bands, modality):
    assert observation_of(props, {}, bands).modality == modality


def test_modality_alone_is_no_origin():
    assert with_modality(Observation(), 3).origin is None
