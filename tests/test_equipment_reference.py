"""The catalogue's reference table and what a measured footprint says against both tables."""

import pytest

from sitewatch import equipment
from sitewatch.domain import CLASSES, UNKNOWN_TYPE


def test_no_type_is_in_both_tables_and_every_reference_type_is_well_formed():
    assert not set(equipment.REFERENCE) & set(equipment.CATALOGUE)
    for t in equipment.REFERENCE.values():
        assert t.cls in CLASSES and t.role in equipment.ROLES
        assert t.length_m > 0 and t.width_m > 0


def test_reference_types_are_looked_up_but_not_named_by_the_networks():
    assert equipment.get("F-16").role == "fighter"
    assert equipment.role_of("C-17") == "heavy_transport"
    assert equipment.role_of(UNKNOWN_TYPE) is None
    assert "F-16" not in equipment.TYPE_NAMES and not equipment.is_known_type("F-16")
    assert all(t.name in equipment.CATALOGUE for t in equipment.types_of_class("aircraft"))
    with pytest.raises(KeyError, match="by size only: .*F-16"):
        equipment.get("Su-75")


@pytest.mark.parametrize("name", ["F-16", "C-130", "Su-35", "B-52", "CH-47", "Arleigh Burke destroyer"])
def test_a_types_own_footprint_fits_it_best_either_way_round(name):
    t = equipment.get(name)
    assert equipment.size_matches(t.cls, t.length_m, t.width_m)[0] == name
    assert name in equipment.size_matches(t.cls, t.width_m, t.length_m)


def test_swept_wings_fit_a_swing_wing_type():
    # Tu-160 swept: 54.1 x 35.6 m; no fixed-wing type of the catalogue is that slender and long.
    assert equipment.size_matches("aircraft", 54.1, 35.6)[0] == "Tu-160"


def test_a_footprint_far_from_every_type_fits_none():
    assert equipment.size_matches("aircraft", 4.5, 1.8) == []
    assert equipment.size_matches("ship", 400.0, 60.0) == []
    assert equipment.describe_size("aircraft", UNKNOWN_TYPE, 4.5, 1.8) == {
        "role": None, "size_matches": [], "size_roles": []}


def test_an_unknown_item_gets_a_role_only_where_every_fitting_type_shares_it():
    # A truck-sized vehicle fits the truck only; a 38 x 36 m aircraft fits airliners,
    # maritime patrol aircraft and bombers alike, so no role is claimed.
    truck = equipment.describe_size("vehicle", UNKNOWN_TYPE, 8.0, 2.5)
    assert truck["role"] == "truck" and truck["size_matches"] == ["truck"]
    jet = equipment.describe_size("aircraft", UNKNOWN_TYPE, 38.0, 36.0)
    assert jet["role"] is None
    assert {"Airbus A320", "Boeing 737", "P-8"} <= set(jet["size_matches"])
    assert {"airliner", "maritime_patrol"} <= set(jet["size_roles"])
    assert jet["size_roles"][0] == "airliner"  # the role most of the fitting types have


def test_a_named_type_keeps_its_catalogue_role_whatever_its_box():
    assert equipment.describe_size("aircraft", "Il-76", 10.0, 10.0)["role"] == "heavy_transport"
