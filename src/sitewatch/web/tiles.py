"""XYZ map tiles (Web Mercator, 256 px) cut straight from an image's GeoTIFF/COG.

A tile never reads the whole image: the overview whose resolution is nearest to (and no
coarser than) the tile's is opened, and a WarpedVRT with the tile's own transform asks
GDAL for just the source window under the tile. Pixels outside the image are transparent.
Non-uint8 imagery (12-bit in uint16, say) is stretched between its 2nd and 98th
percentiles, measured once per file on its smallest overview."""

from __future__ import annotations

import math
import os
from functools import lru_cache

import cv2
import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

from sitewatch.errors import InputError
from sitewatch.geo.imagefile import open_image

TILE_PX = 256
WEB_MERCATOR = "EPSG:3857"
HALF_WORLD_M = 20037508.342789244  # pi * 6378137, the Web Mercator half-extent
MAX_ZOOM = 24
FORMATS = {"png": "image/png", "jpg": "image/jpeg"}


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) of XYZ tile z/x/y in EPSG:3857 metres (y = 0 at the top)."""
    size = 2 * HALF_WORLD_M / (1 << z)
    left = -HALF_WORLD_M + x * size
    top = HALF_WORLD_M - y * size
    return left, top - size, left + size, top


def tile_in_range(z: int, x: int, y: int) -> bool:
    return 0 <= z <= MAX_ZOOM and 0 <= x < (1 << z) and 0 <= y < (1 << z)


@lru_cache(maxsize=4)
def _blank(fmt: str) -> bytes:
    return _encode(np.zeros((TILE_PX, TILE_PX, 4), np.uint8), fmt)


def _encode(rgba: np.ndarray, fmt: str) -> bytes:
    if fmt == "png":
        ok, buf = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    else:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgba[..., :3], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError("tile encoding failed")
    return buf.tobytes()


@lru_cache(maxsize=256)
def _facts(path: str, mtime: float) -> dict:
    """What a tile needs to know about a file, read once: bounds in Web Mercator, ground
    resolution, overview factors, bands to show, and the display stretch."""
    with open_image(path) as ds:
        if ds.crs is None:
            raise InputError(path, "the raster has no CRS; it cannot be shown on the map")
        merc = transform_bounds(ds.crs, WEB_MERCATOR, *ds.bounds, densify_pts=21)
        lonlat = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
        centre_lat = (lonlat[1] + lonlat[3]) / 2
        # Ground metres per source pixel, measured along the image's diagonal on the ellipsoid
        # through Web Mercator's scale factor, so that any projected CRS works.
        merc_px = (merc[2] - merc[0]) / ds.width
        ground_px = merc_px * math.cos(math.radians(centre_lat))
        bands = [1, 2, 3] if ds.count >= 3 else [1, 1, 1]
        overviews = ds.overviews(1)
        stretch = None
        if ds.dtypes[0] != "uint8":
            level = len(overviews) - 1
            with open_image(path, overview_level=level) if level >= 0 else open_image(path) as small:
                data = small.read(sorted(set(bands)), masked=True)
            vals = data.compressed() if np.ma.isMaskedArray(data) else data.ravel()
            lo, hi = (np.percentile(vals, [2, 98]) if vals.size else (0.0, 1.0))
            stretch = (float(lo), float(max(hi, lo + 1)))
    return {"merc": merc, "ground_px": ground_px, "centre_lat": centre_lat, "bands": bands,
            "overviews": overviews, "stretch": stretch}


def _overview_level(overviews: list[int], ratio: float) -> int:
    """Index of the coarsest overview whose decimation does not exceed ratio (-1: full res)."""
    level = -1
    for i, f in enumerate(overviews):
        if f <= ratio:
            level = i
    return level


def render_tile(path: str, z: int, x: int, y: int, fmt: str = "png", correction: Affine | None = None) -> bytes:
    """The tile z/x/y of the image at path, encoded as PNG (with transparency) or JPEG.

    correction, an affine in the image's CRS, is applied on top of the image's own
    georeferencing (see `reference_correction`), so that the tile shows the image where the
    alignment puts it: in the reference frame of its site."""
    if not os.path.exists(path):
        raise InputError(path, "the image file recorded in the catalog is missing")
    f = _facts(path, os.path.getmtime(path))
    left, bottom, right, top = tile_bounds(z, x, y)
    m = f["merc"]
    if right <= m[0] or left >= m[2] or top <= m[1] or bottom >= m[3]:
        return _blank(fmt)
    tile_ground_px = (right - left) / TILE_PX * math.cos(math.radians(f["centre_lat"]))
    level = _overview_level(f["overviews"], tile_ground_px / f["ground_px"])
    opener = open_image(path, overview_level=level) if level >= 0 else open_image(path)
    with opener as src:
        extra = {} if correction is None else {"src_transform": correction @ src.transform, "src_crs": src.crs}
        with WarpedVRT(src, crs=WEB_MERCATOR, transform=Affine((right - left) / TILE_PX, 0.0, left, 0.0,
                                                               -(top - bottom) / TILE_PX, top),
                       width=TILE_PX, height=TILE_PX, resampling=Resampling.bilinear,
                       add_alpha=src.nodata is None, **extra) as vrt:
            rgb = vrt.read(f["bands"])
            alpha = vrt.dataset_mask()
    if f["stretch"] is not None:
        lo, hi = f["stretch"]
        rgb = np.clip((rgb.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255)
    rgba = np.dstack([rgb[0], rgb[1], rgb[2], alpha]).astype(np.uint8)
    return _encode(rgba, fmt)


def reference_correction(grid_transform: Affine, matrix: tuple[float, ...]) -> Affine:
    """The affine, in the site CRS, that moves an image's content into the reference frame.

    The alignment matrix M takes a grid pixel q of the reference frame to the pixel M q of
    the image's plain reprojection that shows the same ground. With G the grid's pixel-to-CRS
    affine and A the image's own georeferencing, the image pixel u then belongs at
    G M^-1 G^-1 A u; this returns C = G M^-1 G^-1, so that C @ A is the corrected transform.
    Valid for images in the site CRS (an affine stays affine)."""
    m = Affine(*matrix[:6])
    return grid_transform @ ~m @ ~grid_transform
