"""Detector speed and memory, end to end from a COG file to GeoJSON.

Writes a synthetic 0.5 m COG (textured ground everywhere, so no tile is skipped as
featureless; block by block, never whole in memory), then in the same process:

1. end to end: `detect_scene` (windowed reads, tiling, batching, model, decoding, seam
   merge) plus the GeoJSON write, in km² per second;
2. bare model: the same tiles, read beforehand, through the same ONNX session only: the
   full-detail pass, and the coarse pass's run of the network on the shrunk tiles where the
   model has one (network work, not tiling, IO or merge; both are reported);
Both are run --repeats times, interleaved, and their medians reported.
3. optionally (--rss-side 20000) the peak RSS of a child process detecting a large scene.

    .venv/bin/python bench/bench_detect.py [--model M] [--side 6144] [--repeats 3] [--rss-side 20000]

Prints one line to quote and the JSON record (also written to bench/out/).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling

GSD = 0.5
TARGET_KM2_S = 2.0
MAX_OVERHEAD = 0.20


def write_cog(path: Path, side: int, seed: int = 0) -> None:
    """A textured 3-band uint8 GeoTIFF, tiled and with overviews, written in 1024-row strips."""
    rng = np.random.default_rng(seed)
    profile = dict(driver="GTiff", width=side, height=side, count=3, dtype="uint8", crs="EPSG:32636",
                   transform=Affine(GSD, 0, 300000.0, 0, -GSD, 3900000.0), tiled=True, blockxsize=512,
                   blockysize=512, compress="deflate", BIGTIFF="IF_SAFER")
    with rasterio.open(path, "w", **profile) as ds:
        for r0 in range(0, side, 1024):
            h = min(1024, side - r0)
            base = rng.integers(90, 150, (3, 1, 1)).astype(np.int16)
            strip = base + rng.integers(-12, 13, (3, h, side)).astype(np.int16)
            ds.write(np.clip(strip, 0, 255).astype(np.uint8), window=rasterio.windows.Window(0, r0, side, h))
        ds.build_overviews([4, 16], Resampling.average)


def run_rss(model: str | None, side: int, tmp: Path) -> dict:
    path = tmp / f"big_{side}.tif"
    t0 = time.perf_counter()
    write_cog(path, side, seed=1)
    written = time.perf_counter() - t0
    # The child's own peak: VmHWM of its address space. (ru_maxrss would not do: Linux carries
    # the forked parent's resident size into it across exec, and this parent is large.)
    code = ("import sys, time; from pathlib import Path; from sitewatch.detect.inference import detect_scene; "
            "from sitewatch.detect.model import DetectionModel; "
            f"m = DetectionModel({model!r}); t = time.perf_counter(); "
            f"d, g, s = detect_scene({str(path)!r}, m); "
            "hwm = next(int(x.split()[1]) for x in Path('/proc/self/status').read_text().splitlines() "
            "if x.startswith('VmHWM:')); "
            "print(hwm, time.perf_counter() - t, s.tiles_run)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rss_kb, seconds, tiles = out.stdout.split()
    return {"side_px": side, "peak_rss_mb": round(int(rss_kb) / 1024, 1), "seconds": round(float(seconds), 1),
            "tiles_run": int(tiles), "km2": round((side * GSD / 1000) ** 2, 2), "cog_write_s": round(written, 1)}


def bare_model_seconds(model, path: Path, grid, batch_size: int) -> tuple[float, float]:
    """Seconds of the network alone on the scene's tiles, read beforehand, in batches as
    detect_scene runs them: the full-detail pass, and the coarse pass on the shrunk tiles
    where the model has one."""
    from sitewatch.detect.inference import SceneReader
    from sitewatch.detect.model import STRIDE_MULTIPLE, shrink
    from sitewatch.detect.tiling import plan_tiles

    reader = SceneReader(str(path), model.gsd_m)
    tiles = plan_tiles(grid.width, grid.height, model.tile_size, model.info.tile_overlap_px)
    bare = coarse = 0.0
    k = model.info.coarse_factor
    for i in range(0, len(tiles), batch_size):
        arrays = [reader.read(t)[0] for t in tiles[i:i + batch_size]]
        batch = np.stack([a for a in arrays if a is not None])
        t1 = time.perf_counter()
        model.raw(batch)
        bare += time.perf_counter() - t1
        if k:
            small = shrink(batch, k, STRIDE_MULTIPLE)
            t1 = time.perf_counter()
            model.raw(small)
            coarse += time.perf_counter() - t1
    reader.close()
    return bare, coarse


def main(argv: list[str] | None = None) -> dict:
    from sitewatch.detect import geojson
    from sitewatch.detect.inference import detect_scene
    from sitewatch.detect.model import DetectionModel

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--side", type=int, default=6144, help="scene side in pixels at 0.5 m")
    ap.add_argument("--rss-side", type=int, default=0, help="also measure peak RSS on a scene this large")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each measurement; medians are reported")
    ap.add_argument("--out", default="bench/out/bench_detect.json")
    args = ap.parse_args(argv)
    model = DetectionModel(args.model)
    record: dict = {"model": f"{model.info.model_id} {model.info.version}", "model_path": str(model.path),
                    "quantized": "quantized" in model.session.get_modelmeta().custom_metadata_map,
                    "tile": model.tile_size, "overlap": model.info.tile_overlap_px, "batch": args.batch}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        path = tmp / "scene.tif"
        write_cog(path, args.side)
        km2 = (args.side * GSD / 1000) ** 2
        # Warm-up so neither measurement pays for first-call allocation.
        model.raw(np.zeros((1, 3, model.tile_size, model.tile_size), np.float32))
        # Repeated and interleaved (end to end, then bare), medians reported: the machine is shared.
        e2es, bares, coarses = [], [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            dets, grid, stats = detect_scene(path, model, batch=args.batch)
            geojson.write(tmp / "det.geojson", geojson.to_feature_collection(dets, grid.crs, str(path), model.gsd_m))
            e2es.append(time.perf_counter() - t0)
            b, c = bare_model_seconds(model, path, grid, args.batch)
            bares.append(b)
            coarses.append(c)
        e2e, bare, coarse = (float(np.median(v)) for v in (e2es, bares, coarses))
        network = bare + coarse
        record.update({
            "scene_px": args.side, "km2": round(km2, 3), "tiles": stats.tiles, "tiles_run": stats.tiles_run,
            "detections": len(dets), "repeats": args.repeats, "end_to_end_s": round(e2e, 2), "bare_model_s": round(bare, 2),
            "km2_per_s": round(km2 / e2e, 3), "bare_km2_per_s": round(km2 / bare, 3),
            "overhead": round(e2e / bare - 1.0, 3), "coarse_pass_network_s": round(coarse, 2),
            "overhead_over_both_passes": round(e2e / network - 1.0, 3),
            "target_km2_per_s": TARGET_KM2_S, "max_overhead": MAX_OVERHEAD,
            "load_avg_1min": round(__import__("os").getloadavg()[0], 2),
        })
        if args.rss_side:
            record["rss"] = run_rss(args.model, args.rss_side, tmp)
    line = (f"detect: {record['km2_per_s']} km²/s end to end at 0.5 m ({record['bare_km2_per_s']} bare model, "
            f"overhead {record['overhead'] * 100:.0f}%; over both passes' network time "
            f"{record['overhead_over_both_passes'] * 100:.0f}%) on {record['km2']} km², {record['tiles_run']} tiles")
    if "rss" in record:
        r = record["rss"]
        line += f"; peak RSS {r['peak_rss_mb']} MB on {r['side_px']}² px ({r['km2']} km²) in {r['seconds']} s"
    print(line)
    print(json.dumps(record))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main()
    resource.getrusage(resource.RUSAGE_SELF)
