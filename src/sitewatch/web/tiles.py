"""XYZ map tiles (Web Mercator, 256 px) cut straight from an image's GeoTIFF/COG.

A tile never reads the whole image: the overview whose resolution is nearest to (and no
coarser than) the tile's is opened, and a WarpedVRT with the tile's own transform asks
GDAL for just the source window under the tile. Where that window would decode more than
READ_BUDGET_BYTES (a zoomed-out tile of a large image without overviews), the tile is
drawn instead from a coarse grid of small sample windows, one value per cell, so that one
request's memory and time stay bounded whatever the image. Pixels outside the image are
transparent. Non-uint8 imagery (12-bit in uint16, say) is stretched between its 2nd and
98th percentiles, measured once per file on its smallest overview, or on a grid of sample
windows where that is larger than STRETCH_SAMPLE_PX."""

from __future__ import annotations

import math
import os
from functools import lru_cache

import cv2
import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from sitewatch.errors import InputError
from sitewatch.geo.imagefile import open_image

TILE_PX = 256
WEB_MERCATOR = "EPSG:3857"
HALF_WORLD_M = 20037508.342789244  # pi * 6378137, the Web Mercator half-extent
MAX_ZOOM = 24
FORMATS = {"png": "image/png", "jpg": "image/jpeg"}
STRETCH_SAMPLE_PX = 4 * 1024 * 1024  # an image (or overview) up to this size is measured whole
STRETCH_GRID, STRETCH_WINDOW = 16, 64  # else 16 x 16 windows of up to 64 x 64 px
READ_BUDGET_BYTES = 192 * 1024 * 1024  # most decoded source data (whole blocks, all bands) one tile costs


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
                if small.width * small.height <= STRETCH_SAMPLE_PX:
                    vals = small.read(sorted(set(bands)), masked=True).compressed()
                else:
                    vals = np.concatenate([small.read(sorted(set(bands)), window=w, masked=True).compressed()
                                           for w in _sample_windows(small, Window(0, 0, small.width, small.height),
                                                                    STRETCH_GRID, STRETCH_GRID, STRETCH_WINDOW)])
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


def _sample_windows(ds, win: Window, rows: int, cols: int, side: int) -> list[Window]:
    """rows x cols windows of up to side px, one centred on each cell of win (row by row),
    each moved to lie inside the single block under its cell's centre so that it decodes
    one block only."""
    bh, bw = ds.block_shapes[0]
    h, w = min(side, bh), min(side, bw)
    out = []
    for i in range(rows):
        cy = int(win.row_off + (i + 0.5) * win.height / rows)
        by = cy // bh * bh
        r0 = max(by, min(cy - h // 2, by + bh - h, ds.height - h))
        for j in range(cols):
            cx = int(win.col_off + (j + 0.5) * win.width / cols)
            bx = cx // bw * bw
            c0 = max(bx, min(cx - w // 2, bx + bw - w, ds.width - w))
            out.append(Window(c0, r0, min(w, ds.width - c0), min(h, ds.height - r0)))
    return out


def _pixel_bytes(ds) -> int:
    return ds.count * np.dtype(ds.dtypes[0]).itemsize


def _decoded_bytes(ds, win: Window) -> int:
    """Bytes GDAL decodes (an upper bound) to read win: the whole blocks it touches, all bands."""
    bh, bw = ds.block_shapes[0]
    r0, c0 = int(win.row_off) // bh, int(win.col_off) // bw
    r1, c1 = math.ceil((win.row_off + win.height) / bh), math.ceil((win.col_off + win.width) / bw)
    return (r1 - r0) * bh * (c1 - c0) * bw * _pixel_bytes(ds)


def _coarse_tile(src, bands: list[int], win: Window, src_transform: Affine, dst_transform: Affine) -> np.ndarray:
    """(4, 256, 256) float32 RGBA of the tile, drawn from a grid of sample windows over win
    (one mean per cell, as many cells as READ_BUDGET_BYTES allows), reprojected bilinearly."""
    bh, bw = src.block_shapes[0]
    cells = max(1, READ_BUDGET_BYTES // (bh * bw * _pixel_bytes(src)))  # each sample window decodes one block
    aspect = win.width / win.height
    cols = max(1, min(TILE_PX, cells, round(math.sqrt(cells * aspect)), math.ceil(win.width)))
    rows = max(1, min(TILE_PX, cells // cols, math.ceil(win.height)))
    grid = np.zeros((4, rows, cols), np.float32)
    for k, w in enumerate(_sample_windows(src, win, rows, cols, 16)):
        data = src.read(sorted(set(bands)), window=w, masked=True)
        if data.count():
            means = dict(zip(sorted(set(bands)), data.reshape(data.shape[0], -1).mean(axis=1), strict=True))
            grid[:3, k // cols, k % cols] = [means[b] for b in bands]
            grid[3, k // cols, k % cols] = 255.0
    out = np.zeros((4, TILE_PX, TILE_PX), np.float32)
    cell = Affine.scale(win.width / cols, win.height / rows)
    reproject(grid, out, src_transform=window_transform(win, src_transform) * cell, src_crs=src.crs,
              dst_transform=dst_transform, dst_crs=WEB_MERCATOR, resampling=Resampling.bilinear)
    return out


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
    dst_transform = Affine((right - left) / TILE_PX, 0.0, left, 0.0, -(top - bottom) / TILE_PX, top)
    with opener as src:
        src_transform = src.transform if correction is None else correction @ src.transform
        # the tile clipped to the image first: a world-sized tile does not project into a UTM zone
        win = _tile_window(src, src_transform, (max(left, m[0]), max(bottom, m[1]), min(right, m[2]), min(top, m[3])))
        if win is not None and _decoded_bytes(src, win) > READ_BUDGET_BYTES:
            coarse = _coarse_tile(src, f["bands"], win, src_transform, dst_transform)
            rgb, alpha = coarse[:3], coarse[3]
        else:
            extra = {} if correction is None else {"src_transform": src_transform, "src_crs": src.crs}
            with WarpedVRT(src, crs=WEB_MERCATOR, transform=dst_transform, width=TILE_PX, height=TILE_PX,
                           resampling=Resampling.bilinear, add_alpha=src.nodata is None, **extra) as vrt:
                rgb = vrt.read(f["bands"])
                alpha = vrt.dataset_mask()
    if f["stretch"] is not None:
        lo, hi = f["stretch"]
        rgb = np.clip((rgb.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255)
    rgba = np.dstack([rgb[0], rgb[1], rgb[2], alpha]).astype(np.uint8)
    return _encode(rgba, fmt)


def _tile_window(src, src_transform: Affine, merc_bounds: tuple[float, float, float, float]) -> Window | None:
    """The source window (whole pixels, clipped to the image) under a tile; None if empty."""
    left, bottom, right, top = transform_bounds(WEB_MERCATOR, src.crs, *merc_bounds, densify_pts=21)
    inv = ~src_transform
    cols, rows = zip(*(inv * xy for xy in ((left, top), (right, top), (left, bottom), (right, bottom))), strict=True)
    if not np.isfinite(cols + rows).all():
        return Window(0, 0, src.width, src.height)
    c0, r0 = max(0, math.floor(min(cols))), max(0, math.floor(min(rows)))
    c1, r1 = min(src.width, math.ceil(max(cols))), min(src.height, math.ceil(max(rows)))
    return Window(c0, r0, c1 - c0, r1 - r0) if c1 > c0 and r1 > r0 else None


def reference_correction(grid_transform: Affine, matrix: tuple[float, ...]) -> Affine:
    """The affine, in the site CRS, that moves an image's content into the reference frame.

    The alignment matrix M takes a grid pixel q of the reference frame to the pixel M q of
    the image's plain reprojection that shows the same ground. With G the grid's pixel-to-CRS
    affine and A the image's own georeferencing, the image pixel u then belongs at
    G M^-1 G^-1 A u; this returns C = G M^-1 G^-1, so that C @ A is the corrected transform.
    Valid for images in the site CRS (an affine stays affine)."""
    m = Affine(*matrix[:6])
    return grid_transform @ ~m @ ~grid_transform
