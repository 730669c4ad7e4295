import pytest

from sitewatch import equipment
from sitewatch.domain import CLASSES, OrientedBox, SiteGrid, normalise_heading


def test_heading_is_folded_into_0_360():
    assert normalise_heading(-90) == 270
    assert normalise_heading(720.5) == pytest.approx(0.5)
    assert OrientedBox(0, 0, 2, 1, 360).heading_deg == 0


def test_box_pointing_north_has_its_front_edge_north():
    # length 10 along north, width 4: the front corners lie 5 m north of the centre.
    box = OrientedBox(100, 200, 10, 4, 0)
    fl, rl, rr, fr = box.corners()
    assert fl == pytest.approx((98, 205)) and fr == pytest.approx((102, 205))
    assert rl == pytest.approx((98, 195)) and rr == pytest.approx((102, 195))


def test_box_pointing_east_is_rotated_clockwise():
    box = OrientedBox(0, 0, 10, 4, 90)
    front_mid = [(a + b) / 2 for a, b in zip(box.corners()[0], box.corners()[3])]
    assert front_mid == pytest.approx([5, 0], abs=1e-9)


def test_site_grid_round_trip():
    grid = SiteGrid("EPSG:32637", 500000.0, 3900000.0, 0.5, 2000, 1000)
    col, row = grid.to_pixel(500010.0, 3899995.0)
    assert (col, row) == (20.0, 10.0)
    assert grid.to_map(col, row) == (500010.0, 3899995.0)
    assert grid.bounds == (500000.0, 3899500.0, 501000.0, 3900000.0)


def test_catalogue_covers_every_class_and_has_design_figures():
    assert {t.cls for t in equipment.CATALOGUE.values()} == set(CLASSES)
    an124 = equipment.get("An-124")
    assert (an124.length_m, an124.width_m) == (69.1, 73.3)
    assert "cargo_open" in an124.states
    assert equipment.get("Mi-8/17").footprint("rotor_removed") == (18.2, 2.5)
    assert equipment.get("Su-24M").footprint(wings_swept=True) == (22.7, 10.4)


def test_unknown_type_error_lists_known_names():
    with pytest.raises(KeyError, match="An-124"):
        equipment.get("Su-75")
    with pytest.raises(ValueError, match="rotor_removed"):
        equipment.get("Su-35").footprint("rotor_removed")
