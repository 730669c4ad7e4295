"""Tiles of a 16-bit image without overviews read a bounded amount (issue 29, part 1): the
stretch comes from a grid of sample windows and a zoomed-out tile from a coarse grid of
sample means, and both agree with what reading the whole image gave."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import rasterio
from affine import Affine

pytest.importorskip("fastapi")

from sitewatch.web import tiles  # noqa: E402

SIDE, BLOCK, GSD = 2048, 64, 2.0  # 4 km of 2 m pixels near 36.1 N, 33 E, in 64 px blocks


@pytest.fixture(autouse=True)
def _fresh_facts():
    tiles._facts.cache_clear()
    yield
    tiles._facts.cache_clear()


@pytest.fixture()
def image(tmp_path):
    """A smooth 12-bit single-band image (two slow waves plus noise), no overviews."""
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    rng = np.random.default_rng(1)
    data = 1900 + 900 * np.sin(x / 300.0) * np.cos(y / 410.0) + 500 * (x / SIDE) + rng.normal(0, 30, (SIDE, SIDE))
    path = tmp_path / "pan.tif"
    with rasterio.open(path, "w", driver="GTiff", width=SIDE, height=SIDE, count=1, dtype="uint16",
                       crs="EPSG:32636", transform=Affine(GSD, 0, 500000, 0, -GSD, 4000000), tiled=True,
                       blockxsize=BLOCK, blockysize=BLOCK, compress="deflate") as dst:
        dst.write(np.clip(data, 1, 4095).astype(np.uint16)[None])
    return str(path), data


def _tile_of(path: str, z: int) -> tuple[int, int]:
    """The tile at zoom z holding the image's centre."""
    from rasterio.warp import transform

    with rasterio.open(path) as ds:
        (lon,), (lat,) = transform(ds.crs, "EPSG:4326", [(ds.bounds.left + ds.bounds.right) / 2],
                                   [(ds.bounds.bottom + ds.bounds.top) / 2])
    n = 2 ** z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _rgba(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED).astype(np.int32)


def test_sampled_stretch_matches_the_whole_image_percentiles(image, monkeypatch):
    path, data = image
    monkeypatch.setattr(tiles, "STRETCH_SAMPLE_PX", 100_000)  # 4.2 Mpx image: sampled, 16 x 16 x 64 px
    lo, hi = tiles._facts(path, 0.0)["stretch"]
    with rasterio.open(path) as ds:
        want_lo, want_hi = np.percentile(ds.read(1), [2, 98])
    span = want_hi - want_lo
    assert abs(lo - want_lo) < 0.03 * span and abs(hi - want_hi) < 0.03 * span


def test_zoomed_out_tile_matches_the_full_read(image, monkeypatch):
    """Zoom 12 (about 30 m per tile pixel here): the whole image in about 130 px. The tile
    drawn from a 16 x 16 grid of sample means matches the tile warped from every pixel."""
    path, _ = image
    z = 12
    x, y = _tile_of(path, z)
    full = _rgba(tiles.render_tile(path, z, x, y))  # budget far above this image: the old full read
    monkeypatch.setattr(tiles, "READ_BUDGET_BYTES", 256 * BLOCK * BLOCK * 2)  # 256 blocks: a 16 x 16 grid
    coarse = _rgba(tiles.render_tile(path, z, x, y))
    both = (full[..., 3] == 255) & (coarse[..., 3] == 255)
    either = (full[..., 3] > 0) | (coarse[..., 3] > 0)
    assert both.sum() > 0.9 * either.sum() > 5000  # the same footprint, bar its edge
    diff = np.abs(full[..., :3] - coarse[..., :3])[both]
    assert diff.mean() < 4 and np.percentile(diff, 95) < 10  # the worst within half a cell of the edge


class _Recorder:
    """A dataset that records the size of every read it serves."""

    def __init__(self, ds, reads):
        self._ds, self._reads = ds, reads

    def __getattr__(self, name):
        return getattr(self._ds, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._ds.close()

    def read(self, indexes=None, window=None, **kw):
        h, w = (self._ds.height, self._ds.width) if window is None else (window.height, window.width)
        self._reads.append((window, h * w))
        return self._ds.read(indexes, window=window, **kw)


def test_reads_stay_within_their_budgets(image, monkeypatch):
    path, _ = image
    reads: list = []
    real_open = tiles.open_image
    monkeypatch.setattr(tiles, "open_image", lambda p, **kw: _Recorder(real_open(p, **kw), reads))
    monkeypatch.setattr(tiles, "STRETCH_SAMPLE_PX", 100_000)
    budget = 256 * BLOCK * BLOCK * 2
    monkeypatch.setattr(tiles, "READ_BUDGET_BYTES", budget)
    x, y = _tile_of(path, 12)
    tiles.render_tile(path, 12, x, y)
    assert reads and all(win is not None for win, _ in reads)  # never the whole image
    stretch, tile = reads[:256], reads[256:]
    assert sum(px for _, px in stretch) <= 256 * 64 * 64
    # every sample window lies in one block, and the tile's blocks fit the budget
    blocks = {(int(w.row_off) // BLOCK, int(w.col_off) // BLOCK) for w, _ in tile}
    assert all((int(w.row_off) + int(w.height) - 1) // BLOCK == int(w.row_off) // BLOCK for w, _ in tile)
    assert len(blocks) * BLOCK * BLOCK * 2 <= budget
