"""Co-registration on synthetic pairs with a known misregistration.

The scene is a textured ground (smooth noise, buildings, paved strips) sampled with a
known shift and rotation about the image centre (the simulator's convention), restyled
(gain, offset, gamma, haze, noise) and, for the target, with 10% of the area truly changed.
The residual is measured at an 11 x 11 grid of points across the site grid.
"""

import json
from datetime import UTC, datetime

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import calculate_default_transform, reproject
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.domain import Image, Site
from sitewatch.errors import AlignmentError
from sitewatch.geo.align import AlignParams, align_pair, read_aligned
from sitewatch.geo.coregister import apply, describe
from sitewatch.geo.grid import grid_transform, site_grid
from sitewatch.geo.synthetic import (
    Look,
    change_patch,
    compose,
    ground_texture,
    invert,
    misregistration_matrix,
    observe,
    restyle,
    to_dtype,
    write_geotiff,
)
from sitewatch.store import add_site, aligned_images, alignments_for_site
from sitewatch.workflow.align_site import align_site
from sitewatch.workflow.ingest import ingest

GSD = 0.5  # metres, very-high-resolution imagery
GRID = site_grid(35.401, 35.948, 512, gsd_m=GSD)  # 1024 x 1024 px
N = GRID.width_px
MARGIN = 64  # pixels of extra ground on each side, so the misregistered image still covers the grid
BIG = N + 2 * MARGIN
GROUND = ground_texture(BIG, BIG, seed=11)
RESIDUAL_RMSE_PX = 0.2  # acceptance: at most 0.2 site-grid pixels
SAME_GRID_PX = 0.5  # acceptance: EPSG:4326 and UTM copies agree within half a pixel
HAZY = Look(gain=0.75, offset=0.04, gamma=1.4, haze=0.3, noise=0.01)


def scene(path, dx, dy, rot, look=Look(), changed=0.0, ground=GROUND, seed=0) -> np.ndarray:
    """Write a misregistered, restyled scene; return its true misregistration matrix."""
    obs = observe(ground, dx, dy, rot)
    if changed:
        obs, _ = change_patch(obs, changed, seed=seed + 5)
    obs = restyle(obs, look, seed=seed)
    t = grid_transform(GRID) @ Affine.translation(-MARGIN, -MARGIN)
    write_geotiff(path, np.stack([to_dtype(obs, "uint8")] * 3), GRID.crs, t,
                  tags={"TIFFTAG_DATETIME": f"2024:12:{1 + seed:02d} 08:30:00"})
    return misregistration_matrix(dx, dy, rot, BIG, BIG)


def true_correction(p_ref: np.ndarray, p_tgt: np.ndarray) -> np.ndarray:
    """Reference grid pixel -> target's plain grid pixel showing the same ground."""
    to_raster = np.array([[1, 0, MARGIN], [0, 1, MARGIN]], float)
    return compose(invert(to_raster), compose(p_tgt, compose(invert(p_ref), to_raster)))


def residual_rmse(matrix, truth) -> float:
    ys, xs = np.mgrid[0:N:11j, 0:N:11j]
    pts = np.column_stack([xs.ravel(), ys.ravel()])
    err = np.linalg.norm(apply(np.asarray(matrix).reshape(2, 3), pts) - apply(truth, pts), axis=1)
    return float(np.sqrt(np.mean(err ** 2)))


def image(path, cloud=None) -> Image:
    return Image(str(path), "s", str(path), datetime(2024, 12, 1, tzinfo=UTC), GSD, GRID.crs, BIG, BIG,
                 cloud_cover=cloud)


@pytest.mark.parametrize("ref_mis,tgt_mis", [
    ((2.0, -1.0, 0.1), (-13.0, 9.5, -0.45)),  # large shift and rotation of opposite sign
    ((0.0, 0.0, 0.0), (15.0, 15.0, 0.5)),  # the largest misregistration the issue names
    ((-4.3, 7.7, -0.2), (6.6, -2.2, 0.3)),  # fractional shifts
])
def test_residual_after_align_is_a_fraction_of_a_pixel(tmp_path, ref_mis, tgt_mis):
    p_ref = scene(tmp_path / "ref.tif", *ref_mis)
    p_tgt = scene(tmp_path / "tgt.tif", *tgt_mis, look=HAZY, changed=0.10, seed=1)
    res = align_pair(image(tmp_path / "ref.tif"), image(tmp_path / "tgt.tif"), GRID)
    assert res.status == "ok", res.reason
    truth = true_correction(p_ref, p_tgt)
    assert residual_rmse(res.matrix, truth) <= RESIDUAL_RMSE_PX
    tdx, tdy, trot, _ = describe(truth, N, N)
    assert res.dx_px == pytest.approx(tdx, abs=RESIDUAL_RMSE_PX)
    assert res.dy_px == pytest.approx(tdy, abs=RESIDUAL_RMSE_PX)
    assert res.rotation_deg == pytest.approx(trot, abs=0.02)  # 0.02 deg is 0.18 px at the grid's edge
    # the windows over the changed tenth of the scene are left out, the rest agree
    assert res.quality >= 0.6 and res.windows_used < res.windows_total


def test_epsg4326_and_utm_copies_land_on_the_same_grid(tmp_path):
    scene(tmp_path / "utm.tif", 0, 0, 0)
    with rasterio.open(tmp_path / "utm.tif") as src:
        t, w, h = calculate_default_transform(src.crs, "EPSG:4326", src.width, src.height, *src.bounds)
        data = np.zeros((src.count, h, w), np.uint8)
        reproject(rasterio.band(src, [1, 2, 3]), data, dst_transform=t, dst_crs="EPSG:4326",
                  resampling=rasterio.enums.Resampling.cubic)
    write_geotiff(tmp_path / "geo.tif", data, "EPSG:4326", t, nodata=0)
    res = align_pair(image(tmp_path / "utm.tif"), image(tmp_path / "geo.tif"), GRID)
    assert res.status == "ok", res.reason
    # the correction needed is what separates the two plain reprojections: under half a pixel
    assert residual_rmse(res.matrix, np.array([[1, 0, 0], [0, 1, 0]], float)) <= SAME_GRID_PX
    assert np.hypot(res.dx_px, res.dy_px) <= SAME_GRID_PX


def test_unalignable_images_are_kept_on_their_georeference_or_failed_with_the_reason(tmp_path):
    scene(tmp_path / "ref.tif", 0, 0, 0)
    unrelated = ground_texture(BIG, BIG, seed=99)
    scene(tmp_path / "other.tif", 3, 3, 0.1, ground=unrelated, seed=2)
    res = align_pair(image(tmp_path / "ref.tif"), image(tmp_path / "other.tif"), GRID)
    # no fit, but it covers the site: kept as it is georeferenced, with an uncertainty and a caveat
    assert res.status == "georef" and res.usable and "too different" in res.reason
    assert res.ce90_m == AlignParams().georef_ce90_m and "CE90" in res.reason
    assert res.quality == AlignParams().georef_quality  # its events count, at half weight
    assert res.matrix == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert res.changed_fraction is not None and res.changed_fraction > 0.5  # unrelated ground throughout
    res = align_pair(image(tmp_path / "ref.tif"), image(tmp_path / "ref.tif", cloud=0.8), GRID)
    assert res.status == "failed" and "too cloudy" in res.reason
    # a raster covering only a corner (an eighth of each side) of the grid
    corner = to_dtype(GROUND[:N // 8, :N // 8], "uint8")
    write_geotiff(tmp_path / "corner.tif", corner, GRID.crs, grid_transform(GRID))
    res = align_pair(image(tmp_path / "ref.tif"), image(tmp_path / "corner.tif"), GRID)
    assert res.status == "failed" and "too little overlap" in res.reason


def test_read_aligned_windows_match_the_reference_and_tile_seamlessly(tmp_path):
    p_ref = scene(tmp_path / "ref.tif", 0, 0, 0)
    p_tgt = scene(tmp_path / "tgt.tif", 9.0, -6.0, 0.3, seed=1)  # same look, no change
    res = align_pair(image(tmp_path / "ref.tif"), image(tmp_path / "tgt.tif"), GRID)
    assert residual_rmse(res.matrix, true_correction(p_ref, p_tgt)) <= RESIDUAL_RMSE_PX
    win = (300, 400, 128, 96)  # col, row, width, height: any window, not tile-aligned
    ref = read_aligned(str(tmp_path / "ref.tif"), None, GRID, win)[0].astype(float)
    aligned = read_aligned(str(tmp_path / "tgt.tif"), res, GRID, win)[0].astype(float)
    plain = read_aligned(str(tmp_path / "tgt.tif"), None, GRID, win)[0].astype(float)
    assert aligned.shape == (96, 128)
    err_aligned = np.abs(aligned - ref).mean()
    err_plain = np.abs(plain - ref).mean()
    assert err_aligned < 0.2 * err_plain  # 9 px of misregistration removed
    # two half windows read separately equal the whole window
    left = read_aligned(str(tmp_path / "tgt.tif"), res, GRID, (300, 400, 64, 96))[0]
    right = read_aligned(str(tmp_path / "tgt.tif"), res, GRID, (364, 400, 64, 96))[0]
    assert np.array_equal(np.hstack([left, right]), aligned.astype(np.uint8))


def test_align_site_stores_results_and_excludes_failures(catalog, tmp_path):
    """An image that cannot be fitted is kept on its georeference; one that does not cover
    the site is left out."""
    site = Site("khmeimim", "airbase", 35.401, 35.948, GRID)
    add_site(catalog, site)
    p_ref = scene(tmp_path / "a_ref.tif", 1.0, 1.0, 0.0, seed=0)
    p_tgt = scene(tmp_path / "b_tgt.tif", -7.5, 4.25, 0.25, look=HAZY, changed=0.1, seed=1)
    scene(tmp_path / "c_other.tif", 0, 0, 0, ground=ground_texture(BIG, BIG, seed=77), seed=2)
    # a raster covering only a corner (an eighth of each side) of the grid, dated last
    write_geotiff(tmp_path / "d_corner.tif", to_dtype(GROUND[:N // 8, :N // 8], "uint8"), GRID.crs,
                  grid_transform(GRID), tags={"TIFFTAG_DATETIME": "2024:12:09 08:30:00"})
    assert all(o.status == "added" for o in ingest(catalog, [str(tmp_path)]))
    results = align_site(catalog, site)
    assert [r.status for r in results] == ["reference", "ok", "georef", "failed"]
    assert residual_rmse(results[1].matrix, true_correction(p_ref, p_tgt)) <= RESIDUAL_RMSE_PX
    stored = alignments_for_site(catalog, "khmeimim")
    # later stages get the reference, the one aligned ok and the one on its own georeference
    assert [img.id for img, _ in aligned_images(catalog, "khmeimim")] == [r.image_id for r in results[:3]]
    kept = stored[results[2].image_id]
    assert kept.ce90_m == results[2].ce90_m > 0 and "too different" in kept.reason
    assert kept.changed_fraction == pytest.approx(results[2].changed_fraction)
    assert stored[results[1].image_id].ce90_m is not None and stored[results[1].image_id].ce90_m < 0.5
    assert stored[results[3].image_id].status == "failed" and "too little overlap" in stored[results[3].image_id].reason
    with pytest.raises(AlignmentError, match="excluded from comparison"):
        read_aligned(str(tmp_path / "d_corner.tif"), stored[results[3].image_id], GRID, (0, 0, 64, 64))


def test_align_cli_json_lists_each_image(catalog_url, tmp_path):
    from sitewatch.store import open_catalog

    with open_catalog(catalog_url) as cat:
        add_site(cat, Site("khmeimim", "airbase", 35.401, 35.948, GRID))
    scene(tmp_path / "a.tif", 0, 0, 0, seed=0)
    p_ref = misregistration_matrix(0, 0, 0, BIG, BIG)
    p_tgt = scene(tmp_path / "b.tif", 5.5, -3.0, 0.0, look=HAZY, seed=1)
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(tmp_path), "--db", catalog_url]).exit_code == 0
    r = runner.invoke(app, ["align", "--site", "khmeimim", "--json", "--write", str(tmp_path / "aligned"),
                            "--db", catalog_url])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    a, b = out["images"]
    # the written aligned image is on the site grid and holds what read_aligned gives
    with rasterio.open(b["aligned_path"]) as ds:
        assert ds.crs.to_string() == GRID.crs and (ds.width, ds.height) == (N, N)
        assert ds.transform.almost_equals(grid_transform(GRID))
        written = ds.read(window=rasterio.windows.Window(200, 300, 64, 48))
    from sitewatch.store import alignment_for
    with open_catalog(catalog_url) as cat:
        res_b = alignment_for(cat, "khmeimim", b["id"])
    assert np.array_equal(written, read_aligned(b["path"], res_b, GRID, (200, 300, 64, 48)))
    assert set(a) >= {"id", "path", "dx", "dy", "rotation_deg", "quality", "status", "matrix"}
    assert a["status"] == "reference" and b["status"] == "ok"
    tdx, tdy, _, _ = describe(true_correction(p_ref, p_tgt), N, N)
    assert (b["dx"], b["dy"]) == (pytest.approx(tdx, abs=RESIDUAL_RMSE_PX), pytest.approx(tdy, abs=RESIDUAL_RMSE_PX))
    r = runner.invoke(app, ["align", "--site", "khmeimim", "--db", catalog_url], env={"COLUMNS": "160"})
    assert r.exit_code == 0 and "reference" in r.stdout and a["id"][:12] in r.stdout


def test_an_image_kept_on_its_georeference_widens_the_stay_gate():
    from sitewatch.change.matching import MatchParams
    from sitewatch.change.tracking import Look, widened_for

    looks = [Look(image(f"{k}.tif"), (), registration_ce90_m=ce90) for k, ce90 in enumerate((None, 0.2, 25.0))]
    p = MatchParams()
    assert widened_for(p, looks, 1) is p  # a sub-pixel fit changes nothing
    wide = widened_for(p, looks, 2)
    assert wide.align_sigma_m == pytest.approx(np.hypot(25.0, 0.2) / 2.146)  # about 11.6 m per axis
