"""Detection on Dask: throughput with one and two workers, and memory on a huge scene.

1. A batch of textured 0.5 m COGs (as bench_detect writes them: no tile is skipped) is
   detected in-process (ONNX Runtime on all cores), then on a LocalCluster of one worker and
   of two (one thread each), all in this run; throughput in km² per second of the batch,
   with the workers already started and their model loaded, and
   the share of worker time spent in the model (the rest: reading, tiling, shipping, merge),
   and each worker's overhead over the network alone on one thread (both passes, on the
   same tiles read beforehand, as bench_detect measures the in-process overhead).
2. The bundled scenario's two sites (three dates each), `run_site` end to end: in-process,
   then on a LocalCluster of one worker and of two (alignment, detection and the pixel
   change between dates on the workers; tracking, assessment and the report on the client),
   each on a fresh copy of the ingested catalog; seconds per stage.
3. A very large sparse tiled GeoTIFF (default 100k x 100k pixels: nodata except a few
   textured patches, so the disk holds it) is detected on two workers with
   memory_limit="2GB" each; the peak RSS (VmHWM) of each worker and of the client.

    .venv/bin/python bench/bench_cluster.py [--scenes 4] [--side 3072] [--big-side 100000] [--no-site] [--no-big]

Prints the figures and the JSON record (also written to bench/out/). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_detect import GSD, write_cog  # noqa: E402

PATCH_PX = 3072  # the textured patches of the big scene
PATCHES = 4


def vm_hwm_mb() -> float:
    """This process's peak resident size (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_sparse(path: Path, side: int, seed: int = 7) -> None:
    """A 3-band uint8 tiled GeoTIFF of side x side pixels, nodata 0 and unwritten (sparse)
    except PATCHES textured squares of PATCH_PX along the diagonal."""
    rng = np.random.default_rng(seed)
    profile = dict(driver="GTiff", width=side, height=side, count=3, dtype="uint8", crs="EPSG:32636", nodata=0,
                   transform=Affine(GSD, 0, 300000.0, 0, -GSD, 3900000.0), tiled=True, blockxsize=512,
                   blockysize=512, compress="deflate", BIGTIFF="YES", SPARSE_OK="TRUE")
    with rasterio.open(path, "w", **profile) as ds:
        for k in range(PATCHES):
            at = (k + 1) * side // (PATCHES + 1) // 512 * 512
            patch = rng.integers(90, 150, (3, PATCH_PX, PATCH_PX), dtype=np.uint8)
            ds.write(patch, window=rasterio.windows.Window(at, at, PATCH_PX, PATCH_PX))


def cpu_seconds() -> float:
    """This process's CPU time so far (user and system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def km2(plans) -> float:
    return sum(p.grid.width * p.grid.height for p in plans) * GSD * GSD / 1e6


def in_process(paths, model) -> dict:
    from sitewatch.detect.inference import detect_scene

    t0 = time.perf_counter()
    model_s = sum(detect_scene(p, model)[2].seconds_model for p in paths)
    return {"seconds": time.perf_counter() - t0, "model_seconds": model_s}


def on_cluster(client, paths, model) -> dict:
    from sitewatch.detect import cluster

    cluster.prepare_workers(client, model)  # the workers' models loaded before the clock starts
    plans = [cluster.plan_scene(p, model) for p in paths]
    cpu0 = client.run(cpu_seconds)
    t0 = time.perf_counter()
    results = list(cluster.detect_scenes(client, plans, model))
    seconds = time.perf_counter() - t0
    cpu = client.run(cpu_seconds)
    # How much of the wall time each worker had a core: below 1 is waiting (for work or for a core).
    busy = sorted(round((cpu[a] - cpu0[a]) / seconds, 2) for a in cpu)
    return {"seconds": seconds, "model_seconds": sum(r.stats.seconds_model for r in results),
            "workers": len(client.nthreads()), "cpu_share": busy}


def network_seconds(model_path: str, paths: list[str]) -> float:
    """On a worker: seconds of the network alone on one thread over these scenes' tiles,
    read beforehand (bench_detect's bare model, both passes)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_detect import bare_model_seconds

    from sitewatch.detect import cluster
    from sitewatch.detect.model import DetectionModel

    model = DetectionModel(model_path, threads=cluster.WORKER_MODEL_THREADS)
    model.raw(np.zeros((1, 3, model.tile_size, model.tile_size), np.float32))
    return sum(sum(bare_model_seconds(model, Path(p), cluster.plan_scene(p, model).grid, 2)) for p in paths)


def throughput(args, tmp: Path, model) -> dict:
    from sitewatch.detect import cluster

    paths = []
    for k in range(args.scenes):
        paths.append(tmp / f"scene_{k}.tif")
        write_cog(paths[-1], args.side, seed=k)
    area = km2([cluster.plan_scene(p, model) for p in paths])
    out = {"scenes": args.scenes, "side_px": args.side, "km2": round(area, 3)}
    inproc = in_process(paths, model)
    out["in_process"] = {"km2_s": round(area / inproc["seconds"], 3),
                         "model_share": round(inproc["model_seconds"] / inproc["seconds"], 3)}
    for n in (1, 2):
        with cluster.connect(f"local:{n}") as client:
            r = on_cluster(client, paths, model)
        out[f"workers_{n}"] = {"km2_s": round(area / r["seconds"], 3),
                               "model_share": round(r["model_seconds"] / (r["seconds"] * n), 3),
                               "worker_cpu_share": r["cpu_share"]}
    out["ratio_2_to_1"] = round(out["workers_2"]["km2_s"] / out["workers_1"]["km2_s"], 3)
    # Each worker's tiling, IO, shipping and merge over the network alone, as bench_detect
    # measures it in-process: on each worker at once, its share of the scenes' tiles read
    # beforehand through the network on one thread (both passes); the slowest worker's time
    # is the batch's network time at that many workers (two networks share the cores' caches
    # and memory bandwidth, which is not overhead).
    for n in (1, 2):
        with cluster.connect(f"local:{n}") as client:
            addrs = sorted(client.nthreads())
            futures = [client.submit(network_seconds, str(model.path), [str(p) for p in paths[i::n]],
                                     workers=[a], pure=False) for i, a in enumerate(addrs)]
            network = max(client.gather(futures))
        w = out[f"workers_{n}"]
        w["network_s"] = round(network, 2)
        w["overhead_over_network"] = round(area / w["km2_s"] / network - 1.0, 3)
    return out


def site_runs(tmp: Path, model) -> dict:
    import shutil

    from sitewatch.detect import cluster
    from sitewatch.simulate.loading import load_scenario
    from sitewatch.simulate.scenario import build_site
    from sitewatch.store import add_site, open_catalog
    from sitewatch.workflow.demo import bundled_scenario, simulate_bundled
    from sitewatch.workflow.ingest import ingest
    from sitewatch.workflow.pipeline import run_site

    sim = simulate_bundled(tmp / "imagery")
    sites = [build_site(s) for s in load_scenario(bundled_scenario())[0].sites]
    ingested = tmp / "ingested.db"
    with open_catalog(f"sqlite:///{ingested}") as catalog:
        for site in sites:
            add_site(catalog, site)
        ingest(catalog, [str(p) for p in sim.images])

    def timed(name: str, client) -> dict:
        db = tmp / f"{name}.db"
        shutil.copy(ingested, db)
        ends: dict[str, float] = {}
        t0 = time.perf_counter()

        def progress(stage: str, done: int, total: int) -> None:
            if done == total:
                ends[stage.split()[0]] = ends.get(stage.split()[0], 0.0) + time.perf_counter() - mark[0]
                mark[0] = time.perf_counter()

        with open_catalog(f"sqlite:///{db}") as catalog:
            for site in sites:
                mark = [time.perf_counter()]
                run_site(catalog, site.name, tmp / name / site.name, model=model, progress=progress, client=client)
        # "report" holds what follows detection: reading the aligned pixels, tracking, the
        # pixel change between dates, the assessment and the report.
        return {"seconds": round(time.perf_counter() - t0, 1), "stages_s": {k: round(v, 1) for k, v in ends.items()}}

    out = {"sites": [s.name for s in sites], "images": len(sim.images), "in_process": timed("in-process", None)}
    for n in (1, 2):
        with cluster.connect(f"local:{n}") as client:
            cluster.prepare_workers(client, model)  # workers up and their model loaded before the clock
            out[f"workers_{n}"] = timed(f"workers-{n}", client)
    out["ratio_2_to_1"] = round(out["workers_1"]["seconds"] / out["workers_2"]["seconds"], 3)
    out["ratio_2_to_in_process"] = round(out["in_process"]["seconds"] / out["workers_2"]["seconds"], 3)
    return out


def big_scene(args, tmp: Path, model) -> dict:
    from sitewatch.detect import cluster

    path = tmp / f"sparse_{args.big_side}.tif"
    t0 = time.perf_counter()
    write_sparse(path, args.big_side)
    written = time.perf_counter() - t0
    plan = cluster.plan_scene(path, model)
    with cluster.connect("local:2", memory_limit="2GB") as client:
        pids = client.run(lambda: __import__("os").getpid())
        t0 = time.perf_counter()
        (result,) = cluster.detect_scenes(client, [plan], model)
        seconds = time.perf_counter() - t0
        peaks = client.run(vm_hwm_mb)
        restarted = client.run(lambda: __import__("os").getpid()) != pids
    return {"side_px": args.big_side, "file_mb": round(path.stat().st_size / 1e6, 1), "write_s": round(written, 1),
            "tiles": result.stats.tiles, "tiles_run": result.stats.tiles_run,
            "detections": len(result.detections), "seconds": round(seconds, 1),
            "km2_s": round(km2([plan]) / seconds, 2), "memory_limit": "2GB",
            "worker_peak_rss_mb": sorted(round(v) for v in peaks.values()), "workers_restarted": restarted,
            "client_peak_rss_mb": round(vm_hwm_mb())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--side", type=int, default=3072)
    ap.add_argument("--big-side", type=int, default=100_000)
    ap.add_argument("--no-site", action="store_true", help="skip the site runs")
    ap.add_argument("--no-big", action="store_true", help="skip the huge sparse scene")
    args = ap.parse_args()

    from sitewatch.detect.model import DetectionModel

    model = DetectionModel()
    # The cores may be shared with other work: the load before the run says how much.
    record: dict = {"cpus": os.cpu_count(), "load_average_1min_before": round(os.getloadavg()[0], 2)}
    print(f"{record['cpus']} CPUs, load average {record['load_average_1min_before']} before the run", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        record["throughput"] = t = throughput(args, Path(tmp), model)
        print(f"{t['scenes']} scenes of {t['side_px']} px ({t['km2']} km²): in-process {t['in_process']['km2_s']} km²/s, "
              f"1 worker {t['workers_1']['km2_s']} km²/s, 2 workers {t['workers_2']['km2_s']} km²/s: "
              f"2 workers / 1 worker = {t['ratio_2_to_1']}x; model share of the time: in-process "
              f"{t['in_process']['model_share']}, per worker {t['workers_1']['model_share']} (1), "
              f"{t['workers_2']['model_share']} (2); overhead over the network alone on each worker at once "
              f"{t['workers_1']['overhead_over_network'] * 100:.0f}% (1), "
              f"{t['workers_2']['overhead_over_network'] * 100:.0f}% (2); CPU per worker over the wall time "
              f"{t['workers_1']['worker_cpu_share']} (1), {t['workers_2']['worker_cpu_share']} (2)", flush=True)
        if not args.no_site:
            record["site_runs"] = r = site_runs(Path(tmp), model)
            print(f"run_site over {', '.join(r['sites'])} ({r['images']} images): in-process "
                  f"{r['in_process']['seconds']} s {r['in_process']['stages_s']}, 1 worker {r['workers_1']['seconds']} s "
                  f"{r['workers_1']['stages_s']}, 2 workers {r['workers_2']['seconds']} s {r['workers_2']['stages_s']}: "
                  f"2 workers / 1 worker = {r['ratio_2_to_1']}x, 2 workers / in-process = "
                  f"{r['ratio_2_to_in_process']}x", flush=True)
        if not args.no_big:
            record["big"] = b = big_scene(args, Path(tmp), model)
            print(f"{b['side_px']} x {b['side_px']} px sparse scene ({b['file_mb']} MB on disk, {b['tiles']} tiles, "
                  f"{b['tiles_run']} run): {b['seconds']} s on 2 workers, memory_limit 2GB: peak RSS per worker "
                  f"{b['worker_peak_rss_mb']} MB, client {b['client_peak_rss_mb']} MB; workers restarted: "
                  f"{b['workers_restarted']}")
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "bench_cluster.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record))


if __name__ == "__main__":
    main()
