"""Ingestion benchmark: images per second into a fresh SQLite catalog.

Writes (once, cached in --workdir) N distinct 3-band uint8 GeoTIFFs of a site, tiled with
overviews like COGs, each with a TIFFTAG_DATETIME. Then, in the same process:

1. ours: `sitewatch.workflow.ingest.ingest` on the folder (inspection through decimated reads,
   footprint, checksum, site assignment, one transaction per image);
2. baseline: a naive ingest that reads every raster whole (to find its valid pixels) and
   hashes the file, with no catalog at all: the cost of touching all the pixels once.

    .venv/bin/python bench/bench_ingest.py [--count 40] [--side 4096]

Prints one line to quote and the JSON record (also written to bench/out/bench_ingest.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

GSD = 0.5


def make_images(workdir: Path, count: int, side: int) -> list[Path]:
    import rasterio
    from rasterio.enums import Resampling

    from sitewatch.geo.grid import grid_transform, site_grid
    from sitewatch.geo.synthetic import ground_texture, to_dtype

    workdir.mkdir(parents=True, exist_ok=True)
    grid = site_grid(35.401, 35.948, side * GSD, gsd_m=GSD)
    paths = [workdir / f"scene_{side}_202412{1 + k % 28:02d}_{k:03d}.tif" for k in range(count)]
    if all(p.exists() for p in paths):
        return paths
    base = ground_texture(side, side, seed=1)
    rng = np.random.default_rng(0)
    for k, path in enumerate(paths):
        img = to_dtype(np.clip(base * rng.uniform(0.8, 1.1) + rng.normal(0, 0.01, base.shape), 0, 1), "uint8")
        profile = dict(driver="GTiff", width=side, height=side, count=3, dtype="uint8", crs=grid.crs,
                       transform=grid_transform(grid), tiled=True, blockxsize=512, blockysize=512,
                       compress="deflate")
        with rasterio.open(path, "w", **profile) as ds:
            for b in (1, 2, 3):
                ds.write(img, b)
            ds.update_tags(TIFFTAG_DATETIME=f"2024:12:{1 + k % 28:02d} 08:30:00")
            ds.build_overviews([2, 4, 8, 16], Resampling.average)
    return paths


def naive_ingest(paths: list[Path]) -> None:
    import rasterio

    for p in paths:
        h = hashlib.sha256(p.read_bytes()).hexdigest()
        with rasterio.open(p) as ds:
            data = ds.read()
            valid = np.any(data != 0, axis=0)
            _ = (h, float(valid.mean()), ds.crs.to_wkt(), ds.transform)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--side", type=int, default=4096)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/sitewatch-bench-ingest"))
    args = ap.parse_args()

    from sitewatch.domain import Site
    from sitewatch.geo.grid import site_grid
    from sitewatch.store import add_site, open_catalog
    from sitewatch.workflow.ingest import ingest

    paths = make_images(args.workdir, args.count, args.side)
    with tempfile.TemporaryDirectory() as tmp:
        catalog = open_catalog(Path(tmp) / "catalog.db")
        add_site(catalog, Site("khmeimim", "airbase", 35.401, 35.948, site_grid(35.401, 35.948, 1000, gsd_m=GSD)))
        t0 = time.perf_counter()
        outcomes = ingest(catalog, [str(args.workdir)])
        ours_s = time.perf_counter() - t0
        catalog.close()
    added = sum(o.status == "added" for o in outcomes)
    assert added == args.count, [o.message for o in outcomes if o.status != "added"][:3]
    t0 = time.perf_counter()
    naive_ingest(paths)
    base_s = time.perf_counter() - t0
    mb = sum(p.stat().st_size for p in paths) / 1e6
    record = {
        "images": args.count, "side_px": args.side, "bands": 3, "file_mb_total": mb,
        "ours": {"seconds": ours_s, "images_per_s": args.count / ours_s},
        "baseline_read_whole_and_hash": {"seconds": base_s, "images_per_s": args.count / base_s},
        "speedup_vs_baseline": base_s / ours_s,
        "peak_rss_mb_whole_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(f"ingest: {record['ours']['images_per_s']:.1f} images/s ({args.count} x {args.side}^2 RGB COGs, "
          f"{mb:.0f} MB); reading each whole and hashing it: {record['baseline_read_whole_and_hash']['images_per_s']:.1f}"
          f" images/s ({record['speedup_vs_baseline']:.1f}x)")
    print(json.dumps(record, indent=2))
    out = Path(__file__).with_name("out")
    out.mkdir(exist_ok=True)
    (out / "bench_ingest.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
