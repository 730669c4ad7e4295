"""Pixels on the site grid: windowed reads of any georeferenced raster, reprojected onto a
site grid, with an alignment correction applied.

`read_aligned` is what later stages call. `warp_window` is the general path (GDAL warp of
just the source pixels a window needs). `read_plain` adds a fast path for rasters that
already sit on the grid's pixel lattice (same CRS and pixel size, whole-pixel offset), as
simulated and many provider images do: a plain windowed read, no resampling.

The correction is a 2x3 matrix from reference-frame grid pixels to the image's plain
reprojection onto the grid, so the aligned image's geotransform is grid_transform @ matrix.
"""

from __future__ import annotations

import math

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rasterio.windows import Window

from sitewatch.domain import AlignmentResult, Image, PixelWindow, SiteGrid
from sitewatch.errors import AlignmentError, InputError
from sitewatch.geo.grid import grid_transform
from sitewatch.geo.imagefile import open_image
from sitewatch.geo.raster import gsd_metres

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def as_window(window: PixelWindow | Window | tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(col, row, width, height) from a PixelWindow, a rasterio Window or a tuple."""
    if isinstance(window, PixelWindow):
        return window.col_off, window.row_off, window.width, window.height
    if isinstance(window, Window):
        return int(window.col_off), int(window.row_off), int(window.width), int(window.height)
    c, r, w, h = window
    return int(c), int(r), int(w), int(h)


def alignment_matrix(alignment: AlignmentResult | np.ndarray | None) -> np.ndarray:
    """The 2x3 correction of an alignment; AlignmentError for one that failed."""
    if alignment is None:
        return IDENTITY
    if isinstance(alignment, np.ndarray):
        return alignment
    if not alignment.usable:
        raise AlignmentError(f"image {alignment.image_id} could not be aligned ({alignment.reason}); "
                             "it is excluded from comparison")
    return np.asarray(alignment.matrix, float).reshape(2, 3)


def warp_window(ds, grid: SiteGrid, matrix: np.ndarray, window, bands: list[int] | None = None,
                resampling: Resampling = Resampling.cubic, dtype: str = "float32",
                nodata: float | None = None) -> np.ndarray:
    """(bands, h, w) pixels of an open dataset on a grid window, matrix applied. Pixels with
    no source data get `nodata` (NaN for float output when None)."""
    col, row, w, h = as_window(window)
    bands = bands or list(range(1, ds.count + 1))
    m = Affine(*np.asarray(matrix, float).reshape(-1)[:6])
    dst_transform = grid_transform(grid) @ m @ Affine.translation(col, row)
    fill = nodata if nodata is not None else (np.nan if np.dtype(dtype).kind == "f" else 0)
    out = np.full((len(bands), h, w), fill, dtype=dtype)
    reproject(source=rasterio.band(ds, bands), destination=out, src_transform=ds.transform, src_crs=ds.crs,
              src_nodata=ds.nodata, dst_transform=dst_transform, dst_crs=grid.crs, dst_nodata=fill,
              resampling=resampling, init_dest_nodata=True)
    return out


def read_aligned(image: Image | str, alignment: AlignmentResult | None, grid: SiteGrid,
                 window: PixelWindow | Window | tuple[int, int, int, int], bands: list[int] | None = None,
                 resampling: Resampling = Resampling.cubic) -> np.ndarray:
    """The image's pixels on a window of the site grid, its alignment correction applied:
    (bands, height, width) in the image's dtype, 0 (or its nodata value) where it has no
    data. alignment None reads the plain reprojection (the reference image's case).
    Raises AlignmentError for an image whose alignment failed."""
    m = alignment_matrix(alignment)
    path = image if isinstance(image, str) else image.path
    try:
        with open_image(path) as ds:
            fill = ds.nodata if ds.nodata is not None else 0
            return warp_window(ds, grid, m, window, bands, resampling, dtype=ds.dtypes[0], nodata=fill)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(path, f"cannot read the image ({str(exc).splitlines()[0]})") from exc


def lattice_offset(ds, grid: SiteGrid) -> tuple[int, int] | None:
    """(col, row) of the grid's origin in the raster when the raster lies on the grid's
    pixel lattice (same CRS, same north-up pixel size, whole-pixel offset); else None."""
    t = ds.transform
    g = grid.gsd_m
    if ds.crs is None or t.b != 0 or t.d != 0 or abs(t.a - g) > 1e-9 * g or abs(t.e + g) > 1e-9 * g:
        return None
    col = (grid.origin_x - t.c) / g
    row = (t.f - grid.origin_y) / g
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    if ds.crs != rasterio.crs.CRS.from_user_input(grid.crs):
        return None
    return int(round(col)), int(round(row))


def lum_bands(ds) -> list[int]:
    """The bands whose mean serves as luminance: R, G, B or the single band."""
    return [1] if ds.count < 3 else [1, 2, 3]


def luminance(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the bands and the valid mask (finite, and not all bands zero)."""
    valid = np.all(np.isfinite(stack), axis=0) & np.any(np.nan_to_num(stack) != 0, axis=0)
    lum = np.nan_to_num(stack).mean(axis=0)
    return lum.astype(np.float32), valid


def read_plain(ds, grid: SiteGrid, window, bands: list[int] | None = None,
               offset: tuple[int, int] | None | bool = False) -> np.ndarray:
    """float32 (bands, h, w) of the plain reprojection on a grid window, NaN where there is
    no data. offset: lattice_offset(ds, grid), computed when not given."""
    if offset is False or offset is True:
        offset = lattice_offset(ds, grid)
    bands = bands or list(range(1, ds.count + 1))
    if offset is None:
        return warp_window(ds, grid, IDENTITY, window, bands)
    col, row, w, h = as_window(window)
    win = Window(col + offset[0], row + offset[1], w, h)
    inside = win.col_off >= 0 and win.row_off >= 0 and win.col_off + w <= ds.width and win.row_off + h <= ds.height
    data = ds.read(bands, window=win, masked=True, boundless=not inside,
                   fill_value=ds.nodata if ds.nodata is not None else 0)
    return data.astype(np.float32).filled(np.nan)


def coarse_on_grid(ds, grid: SiteGrid, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Luminance and valid mask on a grid `factor` times coarser, from a decimated read of
    the source (GDAL serves it from overviews when the file has them)."""
    w = math.ceil(grid.width_px / factor)
    h = math.ceil(grid.height_px / factor)
    bands = lum_bands(ds)
    offset = lattice_offset(ds, grid)
    if offset is not None:
        win = Window(offset[0], offset[1], w * factor, h * factor)
        inside = win.col_off >= 0 and win.row_off >= 0 and win.col_off + win.width <= ds.width \
            and win.row_off + win.height <= ds.height
        if inside:
            data = ds.read(bands, window=win, out_shape=(len(bands), h, w), resampling=Resampling.average, masked=True)
            return luminance(data.astype(np.float32).filled(np.nan))
    coarse_gsd = grid.gsd_m * factor
    src_gsd_m = _approx_gsd_m(ds)
    # source decimation to about half the coarse pixel, in the source's own pixels
    dec = max(1.0, (coarse_gsd / 2) / src_gsd_m) if src_gsd_m > 0 else 1.0
    sw, sh = max(1, int(ds.width / dec)), max(1, int(ds.height / dec))
    src = ds.read(bands, out_shape=(len(bands), sh, sw), resampling=Resampling.average, masked=True)
    data = src.astype(np.float32).filled(np.nan)
    src_transform = ds.transform @ Affine.scale(ds.width / sw, ds.height / sh)
    out = np.full((len(bands), h, w), np.nan, np.float32)
    reproject(source=data, destination=out, src_transform=src_transform, src_crs=ds.crs, src_nodata=np.nan,
              dst_transform=grid_transform(grid) @ Affine.scale(factor), dst_crs=grid.crs, dst_nodata=np.nan,
              resampling=Resampling.bilinear)
    return luminance(out)


def _approx_gsd_m(ds) -> float:
    return gsd_metres(CRS.from_wkt(ds.crs.to_wkt()), ds.transform, ds.width, ds.height)


def write_aligned(image: Image, alignment: AlignmentResult | None, grid: SiteGrid, path, block: int = 1024,
                  progress=None) -> str:
    """Write the image as it lies on the site grid, its correction applied: a tiled,
    compressed GeoTIFF in the site CRS with overviews, filled block by block (memory stays
    at a few blocks whatever the grid's size). Returns the path."""
    m = alignment_matrix(alignment)
    try:
        src = open_image(image.path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(image.path, f"cannot read the image ({str(exc).splitlines()[0]})") from exc
    with src:
        fill = src.nodata if src.nodata is not None else 0
        profile = {"driver": "GTiff", "width": grid.width_px, "height": grid.height_px, "count": src.count,
                   "dtype": src.dtypes[0], "crs": grid.crs, "transform": grid_transform(grid), "nodata": fill,
                   "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate", "BIGTIFF": "IF_SAFER"}
        blocks = [(c, r, min(block, grid.width_px - c), min(block, grid.height_px - r))
                  for r in range(0, grid.height_px, block) for c in range(0, grid.width_px, block)]
        with rasterio.open(path, "w", **profile) as dst:
            for k, (c, r, w, h) in enumerate(blocks):
                data = warp_window(src, grid, m, (c, r, w, h), dtype=src.dtypes[0], nodata=fill)
                dst.write(data, window=Window(c, r, w, h))
                if progress is not None:
                    progress(k + 1, len(blocks))
            dst.update_tags(SITEWATCH_IMAGE=image.id, ACQUISITION_DATETIME=image.acquired.isoformat())
            levels = [f for f in (2, 4, 8, 16, 32) if max(grid.width_px, grid.height_px) // f >= 256]
            if levels:
                dst.build_overviews(levels, Resampling.average)
    return str(path)
