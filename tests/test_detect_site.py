"""detect --site: catalogued images read on the site grid, detections stored in the catalog
in the site CRS and in each image's own georeferencing; the stored alignment brings them
into the reference frame."""

import numpy as np
from affine import Affine
from test_detect_inference import GSD, RectFinder

from sitewatch.domain import Site
from sitewatch.geo.grid import grid_transform, site_grid
from sitewatch.geo.synthetic import ground_texture, observe, to_dtype, write_geotiff
from sitewatch.store import add_site, alignment_for, detections_for_image, images_for_site
from sitewatch.workflow.align_site import align_site
from sitewatch.workflow.detect_site import detect_site
from sitewatch.workflow.ingest import ingest
from sitewatch.workflow.looks import to_reference_frame

GRID = site_grid(35.401, 35.948, 256, gsd_m=GSD)  # 512 x 512 px
MARGIN = 32
BIG = GRID.width_px + 2 * MARGIN
SHIFT_PX = (6.0, -4.0)  # misregistration of the second date, pixels (right, down)
# Objects: (col, row) of the centre on the site grid, length and width in pixels.
OBJECTS = [(100, 120, 30, 10), (300, 330, 24, 8), (420, 90, 16, 6)]
SAME_PLACE_M = 2 * GSD  # both dates' detections of an object agree within two pixels


def _write(path, dx, dy, day):
    ground = ground_texture(BIG, BIG, seed=5) * 0.6  # darker than the white objects the stand-in finds
    for c, r, ln, wd in OBJECTS:
        ground[MARGIN + r - wd // 2:MARGIN + r + wd // 2, MARGIN + c - ln // 2:MARGIN + c + ln // 2] = 1.0
    obs = observe(ground, dx, dy, 0.0)
    img = to_dtype(obs, "uint8")
    t = grid_transform(GRID) @ Affine.translation(-MARGIN, -MARGIN)
    write_geotiff(path, np.stack([img] * 3), GRID.crs, t, tags={"TIFFTAG_DATETIME": f"2024:12:{day:02d} 08:30:00"})


def test_detect_site_stores_detections_as_seen_and_alignment_moves_them(catalog, tmp_path):
    site = Site("testsite", "airbase", 35.401, 35.948, GRID)
    add_site(catalog, site)
    _write(tmp_path / "a.tif", 0.0, 0.0, 1)
    _write(tmp_path / "b.tif", *SHIFT_PX, 2)
    assert all(o.status == "added" for o in ingest(catalog, [str(tmp_path)]))
    assert [r.status for r in align_site(catalog, site)] == ["reference", "ok"]
    done = detect_site(catalog, "testsite", RectFinder())
    assert [n for _, n, _ in done] == [len(OBJECTS), len(OBJECTS)]
    stored, in_reference = {}, {}
    for img in sorted(images_for_site(catalog, "testsite"), key=lambda i: i.acquired):
        dets = detections_for_image(catalog, img.id)
        assert {d.model_id for d in dets} == {"rect-finder"}
        moved = to_reference_frame(dets, alignment_for(catalog, "testsite", img.id), GRID)
        stored[img.id] = np.array(sorted((d.box.cx, d.box.cy) for d in dets))
        in_reference[img.id] = np.array(sorted((d.box.cx, d.box.cy) for d in moved))
    (a, b), (ra, rb) = stored.values(), in_reference.values()
    # Stored as the sensor saw them: the second date's boxes sit where its misregistered
    # pixels put them, SHIFT_PX right/down, i.e. +dx east and -dy north in metres.
    expected_offset = np.array([SHIFT_PX[0] * GSD, -SHIFT_PX[1] * GSD])
    assert np.abs((b - a) - expected_offset).max() < SAME_PLACE_M
    # In the reference frame both dates agree, where the objects really are.
    expected = np.array(sorted(GRID.to_map(c, r) for c, r, _, _ in OBJECTS))
    assert np.abs(ra - expected).max() < SAME_PLACE_M
    assert np.abs(rb - expected).max() < SAME_PLACE_M
