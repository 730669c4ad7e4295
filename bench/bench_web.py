"""Web benchmark: tile and detections-query latency under concurrent clients on loopback.

Serves the sample site (sitewatch.web.sample, plus one large tiled GeoTIFF with overviews
of the same ground, --big-side px square, to show that a tile never reads a whole image)
with uvicorn in a child process, then drives it from this process with --clients
concurrent HTTP clients (httpx, keep-alive), --requests requests per scenario:

1. baseline: GET /static/app.css, bare static-file serving by the same app;
2. tiles (sample): random 256 px PNG tiles over the sample images at zooms 16-19;
3. tiles (big image): random tiles over the large image at zooms 12-19 (overviews at low zoom);
4. detections: GET /api/sites/<site>/detections with rotating date/class filters.

    .venv/bin/python bench/bench_web.py [--clients 20] [--requests 400] [--big-side 8192]

Prints one line to quote and the JSON record (also written to bench/out/bench_web.json).
Latencies are medians and 95th percentiles in milliseconds, and each scenario's median is
quoted as a ratio to the static-file baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

import numpy as np

SERVER = """
import sys, uvicorn
from sitewatch.web import WebSettings, create_app
app = create_app(WebSettings(data_dir=sys.argv[1], db=sys.argv[2], token=None))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def tiles_over(image: dict, zooms: range, rng: random.Random, count: int) -> list[str]:
    w, s, e, n = image["bounds_lonlat"]
    out = []
    for _ in range(count):
        z = rng.choice(list(zooms))
        x, y = tile_xy(rng.uniform(w, e), rng.uniform(s, n), z)
        out.append(f"/api/images/{image['id']}/tiles/{z}/{x}/{y}.png")
    return out


def make_big(folder: Path, db: str, side: int) -> None:
    """A side x side px 3-band COG-like GeoTIFF of the sample site's ground, ingested as a
    fourth date. Cached: written once per folder."""
    from datetime import datetime

    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    from sitewatch.geo.grid import grid_transform, site_grid
    from sitewatch.geo.synthetic import ground_texture
    from sitewatch.store import open_catalog
    from sitewatch.web.sample import GSD_M, LAT, LON, SITE
    from sitewatch.workflow.ingest import ingest

    path = folder / "imagery" / f"big_{side}.tif"
    if not path.exists():
        grid = site_grid(LAT, LON, side * GSD_M, side * GSD_M, gsd_m=GSD_M)
        profile = {"driver": "GTiff", "width": grid.width_px, "height": grid.height_px, "count": 3, "dtype": "uint8",
                   "crs": grid.crs, "transform": grid_transform(grid), "tiled": True, "blockxsize": 512,
                   "blockysize": 512, "compress": "deflate", "zlevel": 1}
        block = (np.clip(ground_texture(1024, 1024, seed=5) * 255, 1, 255)).astype(np.uint8)
        tmp = path.with_suffix(".partial")
        with rasterio.open(tmp, "w", **profile) as dst:
            for r in range(0, grid.height_px, 1024):
                for c in range(0, grid.width_px, 1024):
                    h, w = min(1024, grid.height_px - r), min(1024, grid.width_px - c)
                    dst.write(np.stack([block[:h, :w]] * 3), window=Window(c, r, w, h))
            dst.build_overviews([2, 4, 8, 16, 32], Resampling.average)
        os.replace(tmp, path)
    with open_catalog(db) as cat:
        ingest(cat, [str(path)], site=SITE, when=datetime(2024, 12, 20, 9, tzinfo=UTC))


async def drive(base: str, paths: list[str], clients: int) -> dict:
    import httpx

    lat: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue = asyncio.Queue()
    for p in paths:
        queue.put_nowait(p)

    async def worker(client):
        while True:
            try:
                p = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            r = await client.get(p)
            await r.aread()
            lat.append(time.perf_counter() - t0)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        wall = time.perf_counter() - t0
    ms = np.array(lat) * 1000
    return {"requests": len(lat), "median_ms": round(float(np.median(ms)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "max_ms": round(float(ms.max()), 2),
            "requests_per_s": round(len(lat) / wall, 1), "statuses": statuses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=400, help="requests per scenario")
    ap.add_argument("--big-side", type=int, default=8192, help="side of the large image in px (0: none)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sitewatch-bench-web")
    args = ap.parse_args()

    import httpx

    from sitewatch.web.sample import SITE, build_sample

    work = args.workdir
    db = str(work / "catalog.db")
    if not Path(db).exists():
        build_sample(work, db)
    if args.big_side:
        make_big(work, db, args.big_side)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(work), db, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/sites", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        images = httpx.get(f"{base}/api/sites/{SITE}/images").json()
        rng = random.Random(0)
        small = [i for i in images if i["width_px"] < 2000]
        big = [i for i in images if i["width_px"] >= 2000]
        n = args.requests
        dates = sorted({i["date"] for i in small})
        classes = ["aircraft", "helicopter", "air_defence", "vehicle"]
        scenarios = {
            "static_baseline": ["/static/app.css"] * n,
            "tiles_sample": [p for k in range(n) for p in tiles_over(small[k % len(small)], range(16, 20), rng, 1)],
            "detections": [f"/api/sites/{SITE}/detections?date={dates[k % len(dates)]}&class={classes[k % 4]}"
                           for k in range(n)],
        }
        if big:
            scenarios["tiles_big_image"] = tiles_over(big[0], range(12, 20), rng, n)
        for paths in scenarios.values():  # warm up: open files, fill GDAL's block cache a little
            asyncio.run(drive(base, paths[:20], min(4, args.clients)))
        results = {name: asyncio.run(drive(base, paths, args.clients)) for name, paths in scenarios.items()}
    finally:
        server.terminate()
        server.wait(10)
    base_med = results["static_baseline"]["median_ms"]
    for r in results.values():
        r["median_vs_static"] = round(r["median_ms"] / base_med, 2) if base_med else None
    t, d = results["tiles_sample"], results["detections"]
    big_txt = ""
    if "tiles_big_image" in results:
        b = results["tiles_big_image"]
        big_txt = f"; tiles of a {args.big_side} px image {b['median_ms']:.0f}/{b['p95_ms']:.0f} ms"
    print(f"{args.clients} clients on loopback: tile median {t['median_ms']:.0f} ms, p95 {t['p95_ms']:.0f} ms "
          f"({t['median_vs_static']:.1f}x static {base_med:.1f} ms){big_txt}; detections query median "
          f"{d['median_ms']:.0f} ms, p95 {d['p95_ms']:.0f} ms ({d['median_vs_static']:.1f}x static)")
    record = {"clients": args.clients, "requests_per_scenario": n, "cpu_count": os.cpu_count(),
              "big_side_px": args.big_side, "results": results}
    print(json.dumps(record, indent=2))
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "bench_web.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
