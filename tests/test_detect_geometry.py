import math

import numpy as np
import pytest
from affine import Affine

from sitewatch.detect import geometry as g
from sitewatch.domain import OrientedBox


def test_corners_match_domain_box():
    box = OrientedBox(10.0, 20.0, 8.0, 2.5, 37.0)
    ours = g.corners(g.box_array([box]))[0]
    assert np.allclose(ours, np.array(box.corners()))


def test_corners_heading_east_points_nose_east():
    # Heading 90 = east: the two front corners have x = cx + length / 2.
    c = g.corners(np.array([[0.0, 0.0, 10.0, 4.0, 90.0]]))[0]
    assert np.allclose(c[[0, 3], 0], 5.0)
    assert np.allclose(sorted(c[:, 1]), [-2, -2, 2, 2])


def test_rotated_iou_known_values():
    a = np.array([[0.0, 0.0, 4.0, 2.0, 0.0]])
    # Same box turned by 90 degrees: intersection is a 2 x 2 square, union 8 + 8 - 4.
    b = np.array([[0.0, 0.0, 4.0, 2.0, 90.0]])
    assert g.rotated_iou(a, b)[0, 0] == pytest.approx(4.0 / 12.0)
    # Nose-to-tail flip is the same footprint.
    assert g.rotated_iou(a, np.array([[0.0, 0.0, 4.0, 2.0, 180.0]]))[0, 0] == pytest.approx(1.0)
    # Shifted by half the length along the axis: overlap 2 x 2 of 8 + 8 - 4.
    assert g.rotated_iou(a, np.array([[0.0, 2.0, 4.0, 2.0, 0.0]]))[0, 0] == pytest.approx(4.0 / 12.0)
    # Far apart: zero, without geometry.
    assert g.rotated_iou(a, np.array([[100.0, 0.0, 4.0, 2.0, 0.0]]))[0, 0] == 0.0


def test_rotated_iou_square_turned_45():
    # A unit square and the same square turned 45 degrees: the overlap is a regular
    # octagon of area 2 (sqrt 2 - 1) for side 1, so IoU = oct / (2 - oct).
    a = np.array([[0.0, 0.0, 1.0, 1.0, 0.0]])
    b = np.array([[0.0, 0.0, 1.0, 1.0, 45.0]])
    octagon = 2 * (math.sqrt(2) - 1)
    assert g.rotated_iou(a, b)[0, 0] == pytest.approx(octagon / (2 - octagon))


def test_nms_keeps_rotated_neighbours_that_axis_aligned_nms_would_merge():
    # Two long diagonal boxes side by side (parked aircraft, ships at a pier): their
    # axis-aligned hulls overlap heavily but the boxes themselves do not touch.
    boxes = np.array([[0.0, 0.0, 40.0, 4.0, 45.0], [6.0, -6.0, 40.0, 4.0, 45.0]])
    assert g.rotated_iou(boxes, boxes)[0, 1] == 0.0
    keep = g.rotated_nms(boxes, np.array([0.9, 0.8]), iou_threshold=0.3)
    assert sorted(keep.tolist()) == [0, 1]


def test_nms_suppresses_duplicates_and_is_class_aware():
    boxes = np.array([[0, 0, 10, 3, 30], [0.3, 0.2, 10, 3, 32], [0, 0, 10, 3, 30], [50, 50, 10, 3, 0]], float)
    scores = np.array([0.6, 0.9, 0.7, 0.5])
    keep = g.rotated_nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [1, 3]
    # Box 2 is of another class, so box 1 does not suppress it.
    keep = g.rotated_nms(boxes, scores, iou_threshold=0.5, classes=np.array([0, 0, 1, 0]))
    assert keep.tolist() == [1, 2, 3]
    # A priority overrides the score order (the seam merge uses this).
    keep = g.rotated_nms(boxes, scores, 0.5, priority=np.array([3.0, 1.0, 2.0, 0.0]))
    assert keep.tolist() == [0, 3]


@pytest.mark.parametrize("heading", [0.0, 30.0, 90.0, 200.0, 359.0])
def test_pixel_map_round_trip_north_up(heading):
    # 0.5 m pixels, north-up: a 20 x 8 px box is 10 x 4 m, heading unchanged.
    t = Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0)
    px = np.array([[100.0, 60.0, 20.0, 8.0, heading]])
    m = g.boxes_pixel_to_map(px, t)
    assert m[0, 0] == pytest.approx(500050.0)
    assert m[0, 1] == pytest.approx(4000000.0 - 30.0)
    assert m[0, 2:4] == pytest.approx([10.0, 4.0])
    assert g.heading_error(m[0, 4], heading) == pytest.approx(0.0, abs=1e-9)
    assert np.allclose(g.boxes_map_to_pixel(m, t), px)
    # Pixel corners through the transform land on the map corners.
    cpx = g.corners(px, y_down=True)[0]
    cm = np.array([t @ tuple(p) for p in cpx])
    assert np.allclose(cm, g.corners(m)[0])


def test_pixel_to_map_rotated_grid():
    # A grid rotated 30 degrees clockwise: image up points to heading 30 on the map.
    t = Affine.rotation(-30) @ Affine.scale(0.5, -0.5)
    m = g.boxes_pixel_to_map(np.array([[0.0, 0.0, 20.0, 8.0, 0.0]]), t)
    assert m[0, 2:4] == pytest.approx([10.0, 4.0])
    assert g.heading_error(m[0, 4], 30.0) == pytest.approx(0.0, abs=1e-9)


def test_box_from_corners_recovers_axis_up_to_180():
    box = np.array([[5.0, 7.0, 12.0, 3.0, 250.0]])
    back = g.box_from_corners(g.corners(box))
    assert back[0, :4] == pytest.approx(box[0, :4])
    assert back[0, 4] == pytest.approx(70.0)  # 250 folded into [0, 180)
    # Starting at another corner and winding the other way gives the same box.
    c = g.corners(box)[0][[2, 1, 0, 3]]
    assert g.box_from_corners(c[None])[0] == pytest.approx(back[0])


def test_heading_error_wraps():
    assert g.heading_error(359.0, 1.0) == pytest.approx(2.0)
    assert g.heading_error(10.0, 190.0, directed=False) == pytest.approx(0.0)
    assert g.heading_error(10.0, 190.0) == pytest.approx(180.0)


def test_nms_merges_two_views_of_one_long_item_but_not_neighbours():
    from sitewatch.detect.geometry import rotated_nms

    # One launcher (15 x 3.2 m) boxed twice, 2 m apart across its axis and 7 deg apart: IoU
    # about 0.3, below the threshold, yet no two launchers stand that close.
    twice = np.array([[0.0, 0.0, 15.0, 3.2, 103.0], [0.4, 2.0, 15.2, 3.2, 110.0]])
    scores = np.array([0.62, 0.59])
    assert len(rotated_nms(twice, scores, 0.3)) == 2
    assert list(rotated_nms(twice, scores, 0.3, shared_centres=True)) == [0]
    # Two cars side by side (2.5 m apart, 1.8 m wide) and two helicopters whose 21 m rotor
    # boxes hold each other's centres stay two items each.
    cars = np.array([[0.0, 0.0, 4.5, 1.8, 0.0], [2.5, 0.0, 4.5, 1.8, 0.0]])
    helis = np.array([[0.0, 0.0, 21.0, 21.0, 0.0], [9.0, 0.0, 21.0, 21.0, 0.0]])
    assert len(rotated_nms(cars, scores, 0.3, shared_centres=True)) == 2
    assert len(rotated_nms(helis, scores, 0.5, shared_centres=True)) == 2


def test_nms_merges_one_hull_boxed_twice_along_its_axis_but_not_berthed_neighbours():
    from sitewatch.detect.geometry import rotated_iou, rotated_nms

    # One 74 m submarine (heading 200) boxed twice, the centres 28 m apart along the hull and
    # the axes 11 deg apart (seen in a simulated port): IoU under 0.3.
    h = np.radians(200.0)
    twice = np.array([[0.0, 0.0, 65.0, 9.0, 200.0], [28 * np.sin(h), 28 * np.cos(h), 84.0, 9.0, 211.0]])
    scores = np.array([0.69, 0.61])
    assert rotated_iou(twice[:1], twice[1:])[0, 0] < 0.3
    assert list(rotated_nms(twice, scores, 0.3, shared_centres=True)) == [0]
    # Two submarines moored bow to stern (80 m apart on one axis), two rafted side by side
    # (11 m apart across), and two trucks parked nose to tail stay two items each.
    bow_to_stern = np.array([[0.0, 0.0, 74.0, 10.0, 0.0], [0.0, 80.0, 74.0, 10.0, 180.0]])
    rafted = np.array([[0.0, 0.0, 74.0, 10.0, 0.0], [11.0, 0.0, 74.0, 10.0, 0.0]])
    trucks = np.array([[0.0, 0.0, 7.0, 2.5, 90.0], [7.5, 0.0, 7.0, 2.5, 90.0]])
    for pair in (bow_to_stern, rafted, trucks):
        assert len(rotated_nms(pair, scores, 0.3, shared_centres=True)) == 2
