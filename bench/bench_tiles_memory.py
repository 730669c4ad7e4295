"""Tile memory and time on a large 16-bit image without overviews (issue 29, part 1).

Writes (once, kept in --workdir) a 20000 x 20000 uint16 3-band GeoTIFF, tiled 256 x 256,
deflate, with no overviews, block row by block row so that writing stays small. Then, each
in a fresh child process (so that no cache or peak of one case counts against another),
times one anonymous first request through `render_tile`: the stretch is computed in it too.

- low zoom: the tile holding the whole image;
- full resolution: a tile at the zoom nearest the image's 0.5 m pixels, at its centre;
- old (with --old): what the stretch used to read, the whole full-resolution image.

Peak extra memory is the child's peak resident set (VmHWM, reset through
/proc/self/clear_refs just before the request) minus its resident set before it; Linux only.
Targets (issue 29): under 300 MB and within 2 s.

    .venv/bin/python bench/bench_tiles_memory.py [--side 20000] [--workdir /tmp/sitewatch-bench-tiles] [--old]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TARGET_MB, TARGET_S = 300.0, 2.0
CRS, GSD, ORIGIN = "EPSG:32636", 0.5, (500000.0, 4000000.0)  # near 36.1 N, 33 E


def write_image(path: Path, side: int) -> None:
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    profile = {"driver": "GTiff", "width": side, "height": side, "count": 3, "dtype": "uint16", "crs": CRS,
               "transform": Affine(GSD, 0, ORIGIN[0], 0, -GSD, ORIGIN[1]), "tiled": True,
               "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".part")
    with rasterio.open(tmp, "w", **profile) as dst:
        for r in range(0, side, 256):
            h = min(256, side - r)
            y, x = np.arange(r, r + h)[:, None], np.arange(side)[None, :]
            base = (300 + 3000 * ((x + y) % 4096) / 4096).astype(np.uint16)  # 12-bit diagonal ramps
            noise = rng.integers(0, 64, (h, side), dtype=np.uint16)
            dst.write(np.stack([base + noise, base // 2 + noise, 4095 - base + noise]), window=Window(0, r, side, h))
    tmp.rename(path)


def _rss_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(key)


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def child(path: str, case: str) -> dict:
    """One request in this process: seconds and peak extra MB."""
    import rasterio
    from rasterio.warp import transform_bounds

    from sitewatch.web import tiles

    with rasterio.open(path) as ds:
        w, s, e, n = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    if case == "low":  # the deepest zoom at which one tile still holds the whole image
        z = max(z for z in range(20) if _tile_of(w, n, z) == _tile_of(e, s, z))
    else:
        z = 18  # about 0.48 m per tile pixel here, the image's own 0.5 m
    x, y = _tile_of((w + e) / 2, (s + n) / 2, z)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident set
    before = _rss_mb("VmRSS")
    t0 = time.perf_counter()
    if case == "old":
        from sitewatch.geo.imagefile import open_image

        with open_image(path) as ds:
            data = ds.read([1, 2, 3], masked=True)
            np.percentile(data.compressed(), [2, 98])
        size = 0
    else:
        size = len(tiles.render_tile(path, z, x, y))
    seconds = time.perf_counter() - t0
    return {"case": case, "z": z, "tile": [x, y], "seconds": round(seconds, 3),
            "peak_extra_mb": round(_rss_mb("VmHWM") - before, 1), "png_bytes": size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=20000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/sitewatch-bench-tiles"))
    ap.add_argument("--old", action="store_true", help="also time the old whole-image stretch read")
    ap.add_argument("--child", nargs=2, metavar=("PATH", "CASE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"no_overviews_{args.side}.tif"
    if not path.exists():
        t0 = time.perf_counter()
        print(f"writing {path} ({args.side} x {args.side} x 3 uint16, deflate, no overviews) ...", flush=True)
        write_image(path, args.side)
        print(f"  written in {time.perf_counter() - t0:.0f} s", flush=True)
    records = []
    for case in ["low", "full"] + (["old"] if args.old else []):
        out = subprocess.run([sys.executable, __file__, "--child", str(path), case], capture_output=True,
                             text=True, check=True)
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        records.append(rec)
        ok = rec["seconds"] <= TARGET_S and rec["peak_extra_mb"] <= TARGET_MB
        label = {"low": "low zoom, whole image in one tile", "full": "full resolution",
                 "old": "old stretch (whole-image read)"}[case]
        print(f"{label:36s} z={rec['z']:2d}  {rec['seconds']:7.3f} s  peak extra RSS {rec['peak_extra_mb']:8.1f} MB"
              f"  {'within' if ok else 'OVER'} targets ({TARGET_S:.0f} s, {TARGET_MB:.0f} MB)")
    print(json.dumps({"side": args.side, "path": str(path), "records": records}))


if __name__ == "__main__":
    main()
