"""Rasters that point elsewhere (issue 29): a GDAL VRT named .tif reads any local file or URL
as its pixels, so every place an image enters refuses it by its content, and no sibling file
beside an image is looked at."""

import shutil

import numpy as np
import pytest
from test_ingest import GRID, GSD, SITE, SIZE, dump, utm_raster
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.errors import InputError
from sitewatch.geo.imagefile import check_image, open_image
from sitewatch.geo.synthetic import ground_texture, to_dtype
from sitewatch.store import add_site
from sitewatch.workflow.ingest import ingest


def vrt_over(path, target, raw: bool = False) -> str:
    """A VRT at path whose pixels are read from target: a raw byte dump of any file, or
    (raw False) a GeoTIFF as a simple source. Georeferenced on the test site either way."""
    left = GRID.origin_x - (SIZE - GRID.width_px) / 2 * GSD
    top = GRID.origin_y + (SIZE - GRID.height_px) / 2 * GSD
    if raw:
        band = (f'<VRTRasterBand dataType="Byte" band="1" subClass="VRTRawRasterBand">'
                f'<SourceFilename relativetoVRT="0">{target}</SourceFilename><ImageOffset>0</ImageOffset>'
                f'<PixelOffset>1</PixelOffset><LineOffset>{SIZE}</LineOffset></VRTRasterBand>')
    else:
        band = (f'<VRTRasterBand dataType="Byte" band="1"><SimpleSource><SourceFilename relativetoVRT="0">'
                f'{target}</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand>')
    path.write_text(f'<VRTDataset rasterXSize="{SIZE}" rasterYSize="{SIZE}"><SRS>{GRID.crs}</SRS>'
                    f'<GeoTransform>{left},{GSD},0,{top},0,{-GSD}</GeoTransform>{band}</VRTDataset>')
    return str(path)


@pytest.fixture
def site_catalog(catalog):
    add_site(catalog, SITE)
    return catalog


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_bytes(bytes(range(1, 256)) * SIZE)  # no zero bytes: every "pixel" would be valid
    return path


def test_a_vrt_named_tif_that_reads_a_local_file_is_refused_and_nothing_stored(site_catalog, tmp_path, secret):
    evil = vrt_over(tmp_path / "khmeimim 2024-12-09.tif", secret, raw=True)
    before = dump(site_catalog)
    [o] = ingest(site_catalog, [evil])
    assert o.status == "failed" and o.message.startswith(evil) and "GDAL VRT" in o.message, o.message
    assert dump(site_catalog) == before


def test_a_vrt_over_a_real_geotiff_is_refused_in_a_folder_beside_good_images(site_catalog, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    good = utm_raster(folder / "a.tif")
    evil = vrt_over(folder / "b.tif", good)
    out = ingest(site_catalog, [str(folder)])
    assert [o.status for o in out] == ["added", "failed"]
    assert out[1].message.startswith(evil) and "VRT" in out[1].message


def test_cli_ingest_of_a_vrt_exits_1_naming_the_file(catalog_url, tmp_path, secret):
    evil = vrt_over(tmp_path / "evil.tif", secret, raw=True)
    r = CliRunner().invoke(app, ["ingest", evil, "--db", catalog_url])
    assert r.exit_code == 1
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and evil in errors[0] and "VRT" in errors[0]
    assert "0 added" in str(r.exception)


def test_cli_detect_on_a_vrt_refuses_it_and_writes_nothing(tmp_path, secret):
    evil = vrt_over(tmp_path / "evil.tif", secret, raw=True)
    out = tmp_path / "dets.geojson"
    r = CliRunner().invoke(app, ["detect", evil, "--out", str(out)])
    assert r.exit_code != 0 and isinstance(r.exception, InputError)
    assert evil in str(r.exception) and "VRT" in str(r.exception)
    assert not out.exists()


def test_other_formats_are_refused_by_content_whatever_their_name(tmp_path):
    png = tmp_path / "scene.tif"  # a PNG under a GeoTIFF's name
    import cv2

    cv2.imwrite(str(tmp_path / "scene.png"), to_dtype(ground_texture(32, 32), "uint8"))
    shutil.copy(tmp_path / "scene.png", png)
    with pytest.raises(InputError, match="not a raster format sitewatch reads"):
        check_image(png)
    # while a real GeoTIFF under any name opens
    check_image(utm_raster(tmp_path / "scene.jpeg"))


def test_upload_check_refuses_a_vrt_with_415(tmp_path, secret):
    pytest.importorskip("fastapi")
    from sitewatch.web.problems import Problem
    from sitewatch.web.uploads import check_geotiff

    evil = vrt_over(tmp_path / ".partial-x", secret, raw=True)
    with pytest.raises(Problem) as caught:
        check_geotiff(evil)
    assert caught.value.status == 415


def test_sibling_overviews_beside_an_image_are_not_read(tmp_path):
    import rasterio

    path = utm_raster(tmp_path / "a.tif", data=np.stack([to_dtype(ground_texture(SIZE, SIZE, 3), "uint8")] * 3))
    with rasterio.Env(TIFF_USE_OVR=True), rasterio.open(path, "r+") as ds:
        ds.build_overviews([2, 4])  # written beside the image as a.tif.ovr
    assert (tmp_path / "a.tif.ovr").exists()
    with open_image(path) as ds:
        assert ds.overviews(1) == []



def test_jpeg2000_is_admitted_by_content_in_a_folder(site_catalog, tmp_path):
    import rasterio
    from affine import Affine

    folder = tmp_path / "imgs"
    folder.mkdir()
    left = GRID.origin_x - (SIZE - GRID.width_px) / 2 * GSD
    top = GRID.origin_y + (SIZE - GRID.height_px) / 2 * GSD
    data = np.stack([to_dtype(ground_texture(SIZE, SIZE, 5), "uint8")] * 3)
    with rasterio.open(folder / "pleiades 2024-12-09.jp2", "w", driver="JP2OpenJPEG", width=SIZE, height=SIZE, count=3,
                       dtype="uint8", crs=GRID.crs, transform=Affine(GSD, 0, left, 0, -GSD, top)) as ds:
        ds.write(data)
    [o] = ingest(site_catalog, [str(folder)])
    assert o.status == "added", o.message
    assert o.image.gsd_m == pytest.approx(GSD) and o.image.site == "khmeimim"


def test_the_detector_itself_refuses_a_vrt_naming_the_file(tmp_path, secret):
    """The Python API's and the workflows' path into detection, not only the CLI's check."""
    from sitewatch.detect.inference import detect_scene
    from sitewatch.detect.model import DetectionModel

    evil = vrt_over(tmp_path / "base 2024-12-09.tif", secret, raw=True)
    with pytest.raises(InputError, match="VRT") as caught:
        detect_scene(evil, DetectionModel())
    assert evil in str(caught.value)
