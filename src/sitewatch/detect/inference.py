"""Tiled inference over a georeferenced scene of any size.

The scene is read tile by tile on a grid at the model's GSD: through a rasterio WarpedVRT
(resampling with `average` when shrinking, `bilinear` when enlarging, reprojecting to the
local UTM zone when the image is not in a projected metric CRS), or by plain windowed reads
when the image already is on such a grid. The whole raster is never loaded. Tiles that are
all nodata, or featureless (a flat sea or cloud: no object can be in them), are skipped.
The next batch is read on a worker thread while the model runs.

The sun over the scene (from the image's acquisition time and place) goes to the model for
a box refiner that takes it; the sun is unknown, and the refiner works without it, when the
image carries no acquisition time.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS as ProjCRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform as warp_points
from rasterio.warp import transform_bounds

from sitewatch.detect import geometry, tiling
from sitewatch.detect.model import DetectionModel, RawDetections
from sitewatch.domain import Detection, PixelWindow
from sitewatch.errors import InputError
from sitewatch.geo.grid import utm_crs
from sitewatch.geo.imagefile import open_checked
from sitewatch.geo.raster import gsd_metres, tag_datetime
from sitewatch.geo.sharpness import BLURRED_FOR_VEHICLES_M, edge_blur_px
from sitewatch.geo.sun import sun_on_grid

# The coarsest imagery a model is used on: twice its GSD (0.5 m model: 1 m imagery).
# Coarser images are refused: objects are then too few pixels for the model's training.
MAX_GSD_RATIO = 2.0
# The coarsest imagery the detector is measured on with real labels (docs/model-card.md,
# working range); coarser, up to MAX_GSD_RATIO, is read with a warning.
COARSEST_MEASURED_GSD_M = 0.6
# A tile whose grey-level standard deviation is below this (8-bit numbers) holds nothing.
FEATURELESS_STD = 2.0
FILL = 114.0  # grey for nodata pixels inside a partly valid tile
# GDAL's block cache defaults to 5% of RAM. Neighbouring tiles overlap and share blocks, so
# the cache must hold a row of tiles' blocks (28 MB on a 6144 px wide RGB scene with 512 px
# blocks) to decode each block once; 256 MB does up to about 50k px wide and keeps memory
# bounded on scenes of any size.
GDAL_CACHE_MB = 256
# The reading thread's niceness (see `_yield_to_the_model`).
READER_NICE = 10
# Image sharpness: measured on the middle of about this many tiles a scene (about 10 ms each),
# and a warning from this edge blur up, where simulated vehicle recall falls
# (bench/eval_blur.py; docs/model-card.md, working range).
BLUR_SAMPLE_TILES = 4
BLUR_CROP_PX = 512  # the middle of each such tile


@dataclass
class RunStats:
    tiles: int = 0
    tiles_run: int = 0
    skipped_nodata: int = 0
    skipped_featureless: int = 0
    seconds_total: float = 0.0
    seconds_model: float = 0.0
    scene_px: tuple[int, int] = (0, 0)
    native_gsd_m: float = 0.0
    # Blur of the image's sharpest edges as the model reads it (metres on the ground; the
    # median over a few tiles, `geo.sharpness`); None when not measured.
    edge_blur_m: float | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SceneGrid:
    """The model-GSD grid the scene is read on."""

    crs: str
    transform: Affine
    width: int
    height: int
    native_gsd_m: float

    def sun_at_centre(self, when: datetime | None):
        """The sun over the grid's centre at `when` (a SunPosition, or None: unknown), as
        seen on the grid."""
        x, y = self.transform * (self.width / 2.0, self.height / 2.0)
        return sun_on_grid(self.crs, x, y, when)


def _projected_metric(crs) -> bool:
    if crs is None or not crs.is_projected:
        return False
    unit = (crs.linear_units or "").lower()
    # Web Mercator is in metres but its scale is 1/cos(lat) off: treat it as not metric.
    return unit in ("metre", "meter", "m") and crs.to_epsg() != 3857


def scene_grid(src, model_gsd: float, path: str) -> SceneGrid:
    if src.crs is None:
        raise InputError(path, "image has no CRS; sitewatch detect needs georeferenced imagery")
    native = gsd_metres(ProjCRS.from_wkt(src.crs.to_wkt()), src.transform, src.width, src.height)
    if native > model_gsd * MAX_GSD_RATIO:
        raise InputError(path, f"image GSD is {native:.2f} m, too coarse for this model, which works at "
                               f"{model_gsd:g} m (at most {model_gsd * MAX_GSD_RATIO:g} m imagery); equipment "
                               "would be a few pixels, so detections would be noise")
    if _projected_metric(src.crs):
        crs = src.crs
    else:
        lon0, lat0, lon1, lat1 = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        crs = rasterio.crs.CRS.from_string(utm_crs((lat0 + lat1) / 2, (lon0 + lon1) / 2))
    left, bottom, right, top = transform_bounds(src.crs, crs, *src.bounds, densify_pts=21)
    width = max(1, int(math.ceil((right - left) / model_gsd - 1e-6)))
    height = max(1, int(math.ceil((top - bottom) / model_gsd - 1e-6)))
    name = crs.to_string() if crs.to_epsg() is None else f"EPSG:{crs.to_epsg()}"
    return SceneGrid(name, Affine(model_gsd, 0, left, 0, -model_gsd, top), width, height, native)


def _is_on_grid(src, grid: SceneGrid) -> bool:
    t = src.transform
    g = grid.transform
    return (src.crs == rasterio.crs.CRS.from_user_input(grid.crs) and t.b == 0 and t.d == 0
            and abs(t.a - g.a) < 1e-6 * g.a and abs(t.e - g.e) < 1e-6 * g.a
            and abs(t.c - g.c) < 1e-3 * g.a and abs(t.f - g.f) < 1e-3 * g.a)


def _value_scale(src, bands: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Offset and gain per band that map the image to 0..255: identity for 8-bit data,
    the 2nd-98th percentiles of a decimated read otherwise."""
    if src.dtypes[0] == "uint8":
        return np.zeros(len(bands), np.float32), np.ones(len(bands), np.float32)
    f = max(1, int(max(src.width, src.height) / 1024))
    small = src.read(bands, out_shape=(len(bands), max(1, src.height // f), max(1, src.width // f)), masked=True)
    lo, hi = [], []
    for b in small:
        v = b.compressed() if np.ma.is_masked(b) else np.asarray(b).ravel()
        v = v[np.isfinite(v)] if v.size else v
        p2, p98 = (np.percentile(v, [2, 98]) if v.size else (0.0, 1.0))
        lo.append(p2)
        hi.append(max(p98, p2 + 1e-6))
    low, high = np.array(lo, np.float32), np.array(hi, np.float32)
    return low, 255.0 / (high - low)


class SceneReader:
    """Reads model-GSD tiles of one image as float32 (3, h, w) arrays in 0..255."""

    def __init__(self, path: str, model_gsd: float):
        self.path = str(path)
        self.src = open_checked(self.path)  # real raster formats only, no sibling files read
        self.grid = scene_grid(self.src, model_gsd, self.path)
        self.sun = self.grid.sun_at_centre(tag_datetime(self.src)[0])
        n = self.src.count
        self.bands = [1, 2, 3] if n >= 3 else [1]
        self.offset, self.gain = _value_scale(self.src, self.bands)
        self.has_mask = self.src.nodata is not None or any(
            rasterio.enums.MaskFlags.all_valid not in flags for flags in self.src.mask_flag_enums)
        if _is_on_grid(self.src, self.grid):
            self.view = self.src
        else:
            shrink = self.grid.native_gsd_m < self.grid.transform.a
            self.view = WarpedVRT(self.src, crs=self.grid.crs, transform=self.grid.transform, width=self.grid.width,
                                  height=self.grid.height,
                                  resampling=Resampling.average if shrink else Resampling.bilinear)
        # What this reader has to say of its file, issued with the scene's result
        # (`finish_scene`), so a reader opened on a Dask worker is heard on the client too.
        self.notes: list[str] = []
        if max(self.src.width, self.src.height) > 4096 and not self.src.profile.get("tiled", False):
            self.notes.append(f"{self.path}: the raster is not tiled; windowed reads will be slow")

    def close(self) -> None:
        if self.view is not self.src:
            self.view.close()
        self.src.close()

    def read(self, tile: tiling.Tile) -> tuple[np.ndarray | None, str]:
        """(array or None, why skipped)."""
        win = rasterio.windows.Window(tile.col, tile.row, tile.width, tile.height)
        valid = None
        if self.has_mask:
            valid = self.view.read_masks(1, window=win) > 0
            if not valid.any():
                return None, "nodata"
        data = self.view.read(self.bands, window=win).astype(np.float32)
        if len(self.bands) == 1:
            data = np.repeat(data, 3, axis=0)
            off, gain = np.repeat(self.offset, 3), np.repeat(self.gain, 3)
        else:
            off, gain = self.offset, self.gain
        if self.src.dtypes[0] != "uint8":
            data = np.clip((data - off[:, None, None]) * gain[:, None, None], 0, 255)
        if valid is not None and not valid.all():
            data[:, ~valid] = FILL
        sample = data[:, ::8, ::8]
        if float(sample.std(axis=(1, 2)).max()) < FEATURELESS_STD:
            return None, "featureless"
        return data, ""


def reading_env() -> rasterio.Env:
    """GDAL's settings for reading a scene's tiles. (rasterio sets an integer GDAL_CACHEMAX
    as bytes, not as GDAL's megabytes.)"""
    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20)


def _yield_to_the_model() -> None:
    """Lower the reading thread's priority (Linux: per-thread nice), so that it fills the
    gaps the model's threads leave rather than preempting them mid-step."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), READER_NICE)
    except (AttributeError, OSError):  # not Linux, or not permitted: run at normal priority
        pass


def detect_scene(path: str | Path, model: DetectionModel, image_id: str = "", batch: int = 2,
                 score_threshold: float | None = None, overlap: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> tuple[list[Detection], SceneGrid, RunStats]:
    """Detections (boxes in the grid's CRS, metres) of one image, with run statistics."""
    with reading_env():
        reader = SceneReader(str(path), model.gsd_m)
        try:
            return detect_tiles(reader, model, image_id or Path(str(path)).stem, batch, score_threshold, overlap,
                                progress)
        finally:
            reader.close()


def detect_tiles(reader, model: DetectionModel, image_id: str, batch: int = 2, score_threshold: float | None = None,
                 overlap: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> tuple[list[Detection], SceneGrid, RunStats]:
    """Tiled detection over any reader with `grid`, `src` (the source dataset, for pixel
    windows), `path`, `sun` (as seen on the grid, or None) and `read(tile) -> (array or None, why)`."""
    t_start = time.perf_counter()
    tiles, ov = scene_tiles(reader.grid, model, overlap)
    every = blur_every(len(tiles))
    found = TileResults()

    groups = [list(enumerate(tiles[i:i + batch], start=i)) for i in range(0, len(tiles), batch)]

    def read_group(group):
        return prepare_tiles(model, reader.grid, group, [reader.read(t) for _, t in group], every)

    with ThreadPoolExecutor(max_workers=1, initializer=_yield_to_the_model) as pool:
        pending = pool.submit(read_group, groups[0]) if groups else None
        done = 0
        for gi, group in enumerate(groups):
            assert pending is not None  # submitted for every group before it is read
            prepared = pending.result()
            if gi + 1 < len(groups):
                pending = pool.submit(read_group, groups[gi + 1])
            found.extend(run_prepared(model, reader.grid, prepared, score_threshold, reader.sun))
            done += len(group)
            if progress:
                progress(done, len(tiles))
    detections, stats = finish_scene(reader, model, image_id, len(tiles), ov, found)
    stats.seconds_total = time.perf_counter() - t_start
    return detections, reader.grid, stats


def scene_tiles(grid: SceneGrid, model, overlap: int | None = None) -> tuple[list[tiling.Tile], int]:
    """The tiles a scene is read in, in order, and the overlap they were planned with."""
    ov = model.info.tile_overlap_px if overlap is None else overlap
    # Models that ask for it (YOLO exports) get tiles on their stride and a seam-only merge.
    align = getattr(model.info, "tile_align", 1)
    return tiling.plan_tiles(grid.width, grid.height, model.tile_size, ov, align), ov


def blur_every(n_tiles: int) -> int:
    """Edge blur is measured on every this-many-th tile (by its index in the scene)."""
    return max(1, n_tiles // BLUR_SAMPLE_TILES)


@dataclass
class TileResults:
    """The model's detections on some tiles of one scene (scene pixels, before the seam
    merge), in tile order, with what the seam merge and the run statistics need."""

    parts: list[RawDetections] = field(default_factory=list)
    margins: list[np.ndarray] = field(default_factory=list)
    tile_ids: list[np.ndarray] = field(default_factory=list)
    blurs: list[float | None] = field(default_factory=list)  # edge blur (px) of the sampled tiles
    tiles_run: int = 0
    skipped_nodata: int = 0
    skipped_featureless: int = 0
    seconds_model: float = 0.0
    notes: list[str] = field(default_factory=list)  # the reader's notes, where it ran elsewhere

    def extend(self, other: TileResults) -> None:
        """Append the results of the tiles that come next."""
        self.parts += other.parts
        self.margins += other.margins
        self.tile_ids += other.tile_ids
        self.blurs += other.blurs
        self.tiles_run += other.tiles_run
        self.skipped_nodata += other.skipped_nodata
        self.skipped_featureless += other.skipped_featureless
        self.seconds_model += other.seconds_model
        self.notes += other.notes


@dataclass
class PreparedTiles:
    """One batch of tiles made ready for the model: the tiles it runs on, stacked by shape
    (a scene's last row and column may be cut short), with their shrunk copies where the
    model has a coarse pass, and what was skipped and the sampled edge blurs. Built on the
    reading thread in-process, so that the model's thread runs little but the network."""

    stacks: list[tuple[list[tuple[int, tiling.Tile]], np.ndarray, np.ndarray | None]] = field(default_factory=list)
    skipped: TileResults = field(default_factory=TileResults)


def prepare_tiles(model: DetectionModel, grid: SceneGrid, group: list[tuple[int, tiling.Tile]],
                  reads: list[tuple[np.ndarray | None, str]], every: int) -> PreparedTiles:
    """A batch of tiles (k: the tile's index in the scene) and their reads, ready to run."""
    out = PreparedTiles()
    run = []
    for (k, tile), (arr, why) in zip(group, reads):
        if arr is None:
            out.skipped.skipped_nodata += why == "nodata"
            out.skipped.skipped_featureless += why == "featureless"
        else:
            run.append((k, tile, _fill_to_tile(arr, model.tile_size, grid)))
            if k % every == 0:
                out.skipped.blurs.append(edge_blur_px(_middle(arr).mean(axis=0)))
    for shape in dict.fromkeys(a.shape for _, _, a in run):  # in tile order
        same = [(k, t, a) for k, t, a in run if a.shape == shape]
        batch = np.stack([a for _, _, a in same])
        shrunk = getattr(model, "shrunk", None)
        out.stacks.append(([(k, t) for k, t, _ in same], batch, shrunk(batch) if shrunk else None))
    return out


def run_prepared(model: DetectionModel, grid: SceneGrid, prepared: PreparedTiles, score_threshold: float | None,
                 sun) -> TileResults:
    """The model on a prepared batch of tiles."""
    out = TileResults()
    out.extend(prepared.skipped)
    for tiles, batch, small in prepared.stacks:
        t0 = time.perf_counter()
        ahead = {"shrunk": small} if small is not None else {}  # only models with a coarse pass take it
        outs = model.run(batch, score_threshold, sun, **ahead)
        out.seconds_model += time.perf_counter() - t0
        out.tiles_run += len(tiles)
        for (k, tile), det in zip(tiles, outs):
            if len(det) == 0:
                continue
            boxes = det.boxes.copy()
            boxes[:, 0] += tile.col
            boxes[:, 1] += tile.row
            out.parts.append(replace(det, boxes=boxes))
            out.margins.append(tiling.edge_margin(boxes, tile, grid.width, grid.height))
            out.tile_ids.append(np.full(len(det), k))
    return out


def run_tiles(model: DetectionModel, grid: SceneGrid, group: list[tuple[int, tiling.Tile]],
              reads: list[tuple[np.ndarray | None, str]], score_threshold: float | None, sun,
              every: int) -> TileResults:
    """The model on one batch of tiles (k: the tile's index in the scene) and their reads."""
    return run_prepared(model, grid, prepare_tiles(model, grid, group, reads, every), score_threshold, sun)


def finish_scene(reader, model: DetectionModel, image_id: str, n_tiles: int, overlap: int,
                 found: TileResults) -> tuple[list[Detection], RunStats]:
    """The seam merge of all of a scene's tile results (in tile order), its warnings and
    statistics; `reader` needs `grid`, `src` and `path` only."""
    grid = reader.grid
    stats = RunStats(tiles=n_tiles, tiles_run=found.tiles_run, skipped_nodata=found.skipped_nodata,
                     skipped_featureless=found.skipped_featureless, seconds_model=found.seconds_model,
                     scene_px=(grid.width, grid.height), native_gsd_m=grid.native_gsd_m)
    for msg in dict.fromkeys([*getattr(reader, "notes", ()), *found.notes]):  # each once, in order
        stats.warnings.append(msg)
        warnings.warn(msg, stacklevel=3)
    if grid.native_gsd_m > COARSEST_MEASURED_GSD_M * 1.01:
        msg = (f"{reader.path}: {grid.native_gsd_m:.2f} m imagery is coarser than the {COARSEST_MEASURED_GSD_M:g} m "
               f"the detector is measured at on real images; expect small aircraft to be missed, and most vehicles "
               f"found to be false (brush and clutter: 110-240 per km² on empty real aprons at 0.75-0.98 m; "
               f"docs/model-card.md, working range)")
        stats.warnings.append(msg)
        warnings.warn(msg, stacklevel=3)
    dets = RawDetections.concat(found.parts)
    margin = np.concatenate(found.margins) if found.margins else np.zeros(0)
    if getattr(model.info, "seam_merge", "") == "seams":
        tile_ids = np.concatenate(found.tile_ids) if found.tile_ids else np.zeros(0, int)
        merged = tiling.merge_seams(dets, margin, tile_ids, model.info.nms_iou)
    else:
        merged = tiling.merge(dets, margin, model.info.nms_iou, overlap)
    if stats.skipped_nodata == stats.tiles:
        msg = f"{reader.path}: the image is all nodata; no detections"
        stats.warnings.append(msg)
        warnings.warn(msg, stacklevel=3)
    measured = [b for b in found.blurs if b is not None]
    if measured:
        stats.edge_blur_m = float(np.median(measured)) * model.gsd_m
        if stats.edge_blur_m >= BLURRED_FOR_VEHICLES_M:
            msg = (f"{reader.path}: edges blurred over about {stats.edge_blur_m:.1f} m on the ground; vehicles are "
                   f"under-counted on images this blurred (docs/model-card.md, working range)")
            stats.warnings.append(msg)
            warnings.warn(msg, stacklevel=3)
    return _to_detections(merged, grid, reader.src, image_id, model), stats


def _fill_to_tile(arr: np.ndarray, size: int, grid: SceneGrid) -> np.ndarray:
    """A tile cut short by the scene's end, in a scene larger than a tile, filled out to the
    full tile past that end, so that its pixels keep their place on the model's grid. (A
    scene smaller than a tile stays as it is: the model pads it as it pads.)"""
    h, w = arr.shape[1:]
    ph = size - h if h < size < grid.height else 0
    pw = size - w if w < size < grid.width else 0
    if not (ph or pw):
        return arr
    return np.pad(arr, ((0, 0), (0, ph), (0, pw)), constant_values=FILL)


def _middle(arr: np.ndarray, side: int = BLUR_CROP_PX) -> np.ndarray:
    """The central side x side pixels of a (C, H, W) tile (all of a smaller one)."""
    r0, c0 = max(0, (arr.shape[1] - side) // 2), max(0, (arr.shape[2] - side) // 2)
    return arr[:, r0:r0 + side, c0:c0 + side]


def _to_detections(dets: RawDetections, grid: SceneGrid, src, image_id: str, model: DetectionModel) -> list[Detection]:
    if len(dets) == 0:
        return []
    presence = dets.presence
    assert presence is not None  # RawDetections fills it (NaN: no presence check)
    boxes = geometry.boxes_pixel_to_map(dets.boxes, grid.transform)
    corners = geometry.corners(boxes)  # (N, 4, 2) in the grid CRS
    xs, ys = corners[..., 0].ravel(), corners[..., 1].ravel()
    if src.crs != rasterio.crs.CRS.from_user_input(grid.crs):
        xs, ys = (np.asarray(v) for v in warp_points(grid.crs, src.crs, xs, ys))
    inv = ~src.transform
    cols = inv.a * xs + inv.b * ys + inv.c
    rows = inv.d * xs + inv.e * ys + inv.f
    cols, rows = cols.reshape(-1, 4), rows.reshape(-1, 4)
    out = []
    for i in range(len(dets)):
        c0, r0 = int(np.floor(cols[i].min())), int(np.floor(rows[i].min()))
        c1, r1 = int(np.ceil(cols[i].max())), int(np.ceil(rows[i].max()))
        c0, r0 = max(c0, 0), max(r0, 0)
        c1, r1 = min(c1, src.width), min(r1, src.height)
        out.append(Detection(
            box=geometry.to_oriented_box(boxes[i]), cls=str(dets.cls[i]), type=str(dets.type[i]),
            state=str(dets.state[i]), score=float(dets.score[i]), type_score=float(dets.type_score[i]),
            state_score=float(dets.state_score[i]),
            presence_score=None if np.isnan(presence[i]) else float(presence[i]), image_id=image_id,
            window=PixelWindow(c0, r0, max(0, c1 - c0), max(0, r1 - r0)),
            model_id=model.info.model_id, model_version=model.info.version,
        ))
    out.sort(key=lambda d: -d.score)
    return out
