"""Ingestion and alignment on real georeferenced files from ../shared/realdata (skipped
when absent: they are not ours to ship)."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio

from sitewatch.domain import Image, Site
from sitewatch.geo.align import align_pair
from sitewatch.geo.coregister import apply
from sitewatch.geo.grid import site_grid
from sitewatch.geo.synthetic import Look, misregistration_matrix, observe, restyle, write_geotiff
from sitewatch.store import add_site, image_details
from sitewatch.workflow.ingest import ingest

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata" / "geotiff"
pytestmark = [pytest.mark.realdata,
              pytest.mark.skipif(not REAL.is_dir(), reason="../shared/realdata is absent (not shipped, licences)")]

# file: (site lat, lon, GSD in metres that must be recorded, CRS name, bands, dtype)
EXPECTED = {
    "RGB.byte.tif": (24.56, -77.76, 300.04, "EPSG:32618", 3, "uint8"),  # Landsat subset, README
    "rgb1.tif": (24.97, -78.24, 300.04, "custom", 3, "uint8"),  # same scene, custom WKT
    # Web Mercator stretches the ground by 1/cos(lat): 200.13 nominal "metres" at 24.97 N are 181.4 m
    "rgb1_fake_nir_epsg3857.tif": (24.97, -78.24, 200.13 * np.cos(np.radians(24.97)), "EPSG:3857", 1, "uint8"),
    "spacenet_sample_pan.tif": (33.6384, -84.4789, 0.5, "EPSG:32616", 1, "uint16"),
    "neon_osbs_029.tif": (29.6925, -81.9899, 0.1, "EPSG:32617", 3, "uint8"),
    # 0.125 degree pixels measured at the image centre (the equator): 13.9 km by 13.8 km. The
    # site is on land (Chad): the zero-valued sea connected to the border is masked
    "world.byte.tif": (15.0, 20.0, 0.125 * (111_320 + 110_574) / 2, "EPSG:4326", 1, "uint8"),
}


def test_real_rasters_ingest_with_metric_gsd(catalog, tmp_path):
    for name, (lat, lon, gsd, *_rest) in EXPECTED.items():
        size = max(20 * gsd, 10.0)  # a site a few pixels wide around the scene's middle
        add_site(catalog, Site(name.split(".")[0].lower(), "airbase", lat, lon, site_grid(lat, lon, size, gsd_m=gsd)))
    when = datetime(2024, 12, 5, tzinfo=UTC)
    outcomes = ingest(catalog, [str(REAL / n) for n in EXPECTED], when=when)
    for o in outcomes:
        name = Path(o.path).name
        assert o.status == "added", o.message
        _lat, _lon, gsd, crs, bands, dtype = EXPECTED[name]
        assert o.image.gsd_m == pytest.approx(gsd, rel=0.01), name
        assert (o.image.crs, o.image.bands, o.image.dtype) == (crs, bands, dtype), name
        assert name.split(".")[0].lower() in [s for s, _ in image_details(catalog, o.image.id)["sites"]]
        assert any("not tiled" in w for w in o.warnings) or name == "world.byte.tif"  # only world is tiled
    rgb = next(o for o in outcomes if o.path.endswith("RGB.byte.tif"))
    # the Landsat scene is a tilted rectangle on a zero (nodata) collar: about a third is collar
    assert image_details(catalog, rgb.image.id)["valid_fraction"] == pytest.approx(0.675, abs=0.02)


def test_real_panchromatic_pixels_align_to_a_fraction_of_a_pixel(tmp_path):
    """WorldView-class 0.5 m pixels, misregistered by a known 7.3 px and 0.35 degrees and
    hazed, co-register back to within 0.2 px RMSE."""
    with rasterio.open(REAL / "spacenet_sample_pan.tif") as src:
        pan = src.read(1).astype(np.float32)
        transform, crs = src.transform, src.crs
    scale = float(np.percentile(pan, 99.5))
    ground = np.clip(pan / scale, 0, 1)
    h, w = ground.shape
    ref_p = misregistration_matrix(0, 0, 0, w, h)
    tgt_p = misregistration_matrix(7.3, -4.1, 0.35, w, h)
    write_geotiff(tmp_path / "ref.tif", (ground * 4000).astype(np.uint16), crs, transform)
    hazy = restyle(observe(ground, 7.3, -4.1, 0.35), Look(gain=0.8, gamma=1.3, haze=0.2, noise=0.005))
    write_geotiff(tmp_path / "tgt.tif", (hazy * 4000).astype(np.uint16), crs, transform)
    lon_lat = (-84.47893, 33.63839)
    grid = site_grid(lon_lat[1], lon_lat[0], 400, gsd_m=0.5)  # 800 px, inside the 900 px scene
    def img(p):
        return Image(str(p), "s", str(p), datetime(2024, 1, 1, tzinfo=UTC), 0.5, crs.to_string(), w, h)

    res = align_pair(img(tmp_path / "ref.tif"), img(tmp_path / "tgt.tif"), grid)
    assert res.status == "ok", res.reason
    # truth on the grid: grid and raster share pixel size and orientation, offset by (ox, oy)
    ox = (grid.origin_x - transform.c) / 0.5
    oy = (transform.f - grid.origin_y) / 0.5
    to_raster = np.array([[1, 0, ox], [0, 1, oy]])
    pts = np.column_stack([c.ravel() for c in np.mgrid[0:grid.width_px:9j, 0:grid.height_px:9j]])
    truth_pts = apply(tgt_p, apply(to_raster, pts)) - [ox, oy]
    assert np.allclose(ref_p[:, :2], np.eye(2))
    est_pts = apply(np.asarray(res.matrix).reshape(2, 3), pts)
    rmse = float(np.sqrt(np.mean(np.sum((est_pts - truth_pts) ** 2, axis=1))))
    assert rmse <= 0.2  # acceptance: 0.2 site-grid pixels
