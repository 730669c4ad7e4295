"""Opening imagery that comes from users: only real raster formats, nothing they point at.

A GDAL VRT (and GDAL's other virtual formats) is a text file whose "pixels" are read from
other files or URLs, so a VRT named `.tif` would turn ingest and the tiles into a reader of
any local file. Every image from outside is therefore opened with GDAL limited to the
formats below, decided by the file's content (GDAL's driver), never by its name, and with
sibling files (.ovr, .msk, .aux.xml beside the image) and HTTP access from inside a local
file switched off.
"""

from __future__ import annotations

import rasterio
from rasterio.errors import RasterioIOError

from sitewatch.errors import InputError

# GDAL drivers of the formats sitewatch reads: GeoTIFF and COG (the GTiff driver reads
# both), JPEG 2000 and NITF. Each holds its pixels itself.
IMAGE_DRIVERS = ("GTiff", "JP2OpenJPEG", "NITF")
FORMATS_TEXT = "GeoTIFF/COG, JPEG 2000 or NITF"

# Sibling files are never looked for: GDAL sees the image's folder as empty.
_LOCAL_OPTIONS = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
                  # no /vsicurl/ file "exists", so nothing inside a local file reaches the network
                  "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".sitewatch-no-network"}
# An image the user named by URL is read over HTTP, but still without sibling probes.
_REMOTE_OPTIONS = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
_REMOTE_PREFIXES = ("http://", "https://", "/vsicurl/", "/vsis3/", "/vsigs/", "/vsiaz/", "/vsiadls/", "/vsioss/",
                    "/vsiswift/", "/vsiwebhdfs/")


def read_options(path: str) -> dict[str, str]:
    """The GDAL configuration for reading the image at path (a file name or a URL)."""
    return dict(_REMOTE_OPTIONS if str(path).lower().startswith(_REMOTE_PREFIXES) else _LOCAL_OPTIONS)


def _not_recognized(exc: RasterioIOError) -> bool:
    return "not recognized as" in str(exc) or "not a supported file format" in str(exc)


def open_image(path, **kwargs) -> rasterio.DatasetReader:
    """rasterio.open for reading a user's image, limited to IMAGE_DRIVERS and read_options.
    Raises RasterioIOError as rasterio.open does: "not recognized" for any other format."""
    path = str(path)
    last: RasterioIOError | None = None
    with rasterio.Env(**read_options(path)):
        for driver in IMAGE_DRIVERS:  # rasterio takes one driver name at a time
            try:
                return rasterio.open(path, driver=driver, **kwargs)
            except RasterioIOError as exc:
                if not _not_recognized(exc):
                    raise
                last = exc
    assert last is not None
    raise last


def refusal(path: str) -> str:
    """Why a file no allowed driver recognises is refused, naming a VRT when it is one."""
    try:
        with open(path, "rb") as f:
            head = f.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        head = b""
    if head.startswith(b"<VRTDataset") or b"<VRTDataset" in head:
        return f"a GDAL VRT (a virtual raster that reads other files) is refused; sitewatch reads {FORMATS_TEXT}"
    return f"not a raster format sitewatch reads ({FORMATS_TEXT})"


def open_checked(path) -> rasterio.DatasetReader:
    """open_image, its failures as InputErrors naming the file and the problem."""
    path = str(path)
    try:
        return open_image(path)
    except RasterioIOError as exc:
        msg = str(exc)
        if _not_recognized(exc):
            raise InputError(path, refusal(path)) from exc
        if "No such file" in msg or "does not exist" in msg:
            raise InputError(path, "no such file") from exc
        raise InputError(path, f"unreadable raster ({msg.splitlines()[0]})") from exc


def check_image(path) -> None:
    """InputError naming the file unless it opens as one of the allowed raster formats."""
    with open_checked(path):
        pass
