"""Renderer benchmark: one 4096 x 4096 RGB air-base scene with 60 objects.

Prints one line a human can quote, then JSON. Time is wall-clock for render_scene alone
(the issue's target: under 10 s on the 2-core development machine); peak memory is the
process's peak resident set size measured in a fresh child process, so nothing else this
script allocates counts. The baseline, run in the same process, is the cost of the
unavoidable part: allocating, writing and quantising one float32 RGB image of that size.

    .venv/bin/python bench/bench_render.py [--size 4096] [--objects 60] [--gsd 0.5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time

import numpy as np


def build_spec(size: int, n_objects: int, gsd: float, seed: int = 7):
    from sitewatch import equipment
    from sitewatch.domain import OrientedBox, Site, SiteGrid, Zone
    from sitewatch.simulate.scene import Conditions, PlacedObject, SceneSpec

    ox, oy = 760_000.0, 3_925_000.0
    ext = size * gsd
    grid = SiteGrid("EPSG:32636", ox, oy, gsd, size, size)

    def rect(cx, cy, w, h):  # centre as a fraction of the extent, sizes in metres
        x, y = ox + cx * ext, oy - cy * ext
        return ((x - w / 2, y - h / 2), (x + w / 2, y - h / 2), (x + w / 2, y + h / 2), (x - w / 2, y + h / 2))

    zones = (
        Zone("runway", "runway", rect(0.2, 0.5, 45, ext * 0.9)),
        Zone("taxiway", "taxiway", rect(0.27, 0.5, 23, ext * 0.85)),
        Zone("apron_a", "apron", rect(0.45, 0.3, ext * 0.25, ext * 0.3)),
        Zone("apron_b", "apron", rect(0.45, 0.72, ext * 0.25, ext * 0.3)),
        Zone("helipad", "helipad", rect(0.75, 0.3, ext * 0.15, ext * 0.25)),
        Zone("sam", "air_defence_site", rect(0.8, 0.75, 160, 140)),
        Zone("town", "building_area", rect(0.9, 0.5, 250, 400)),
    )
    rng = np.random.default_rng(seed)
    types = [t for t in equipment.CATALOGUE.values() if t.cls != "ship"]
    objects = []
    targets = [zones[2], zones[3], zones[4], zones[5]]
    for i in range(n_objects):
        t = types[i % len(types)]
        z = targets[i % len(targets)]
        xs = [p[0] for p in z.polygon]
        ys = [p[1] for p in z.polygon]
        state = t.states[i % len(t.states)]
        length, width = t.footprint(state)
        cx = float(rng.uniform(min(xs) + width, max(xs) - width))
        cy = float(rng.uniform(min(ys) + length, max(ys) - length))
        box = OrientedBox(cx, cy, length, width, float(rng.uniform(0, 360)))
        objects.append(PlacedObject(f"o{i}", t.name, t.cls, state, box, appearance_seed=i))
    cond = Conditions(sun_azimuth_deg=150.0, sun_elevation_deg=35.0, haze=0.1, colour_balance=(1.03, 1.0, 0.96),
                      noise_sigma=2.5, blur_sigma_px=0.6, shift_px=(2.5, -1.5), rotation_deg=0.3, cloud_cover=0.05)
    return SceneSpec(Site("bench", "airbase", 35.4, 35.9, grid, zones), tuple(objects), cond, site_seed=3, date_seed=4)


def build_chip(size: int, gsd: float, seed: int):
    """A training-style chip: no zones (plain apron), a handful of objects."""
    from dataclasses import replace

    from sitewatch.domain import OrientedBox

    big = build_spec(4096, 8, gsd, seed)
    grid = replace(big.site.grid, width_px=size, height_px=size)
    ext = size * gsd
    objs = []
    for i, o in enumerate(big.objects):
        b = o.box
        cx = grid.origin_x + (0.15 + 0.7 * ((i * 0.37) % 1.0)) * ext
        cy = grid.origin_y - (0.15 + 0.7 * ((i * 0.61) % 1.0)) * ext
        objs.append(replace(o, box=OrientedBox(cx, cy, b.length, b.width, b.heading_deg)))
    return replace(big, site=replace(big.site, grid=grid, zones=()), objects=tuple(objs))


def _child(size: int, n: int, gsd: float, q) -> None:
    from sitewatch.simulate.render import render_scene

    spec = build_spec(size, n, gsd)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    img = render_scene(spec)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    q.put({"seconds": dt, "cpu_seconds": cpu, "peak_rss_mb": r1.ru_maxrss / 1024.0, "rss_before_mb": r0.ru_maxrss / 1024.0,
           "shape": list(img.shape), "mean": float(img.mean())})


def _baseline(size: int) -> float:
    t0 = time.perf_counter()
    img = np.empty((size, size, 3), np.float32)
    img[:] = 127.3
    img *= np.float32(1.01)
    out = np.empty((size, size, 3), np.uint8)
    np.clip(img, 0, 255, out=img)
    out[:] = img
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--objects", type=int, default=60)
    ap.add_argument("--gsd", type=float, default=0.5)
    ap.add_argument("--chips", type=int, default=20, help="also time this many 768 px chips")
    a = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(a.size, a.objects, a.gsd, q))
    p.start()
    res = q.get()
    p.join()
    base = _baseline(a.size)
    mp_ = a.size * a.size / 1e6
    from sitewatch.simulate.render import render_scene

    chip_s = []
    for i in range(a.chips):
        spec = build_chip(768, a.gsd, seed=100 + i)
        t0 = time.perf_counter()
        render_scene(spec)
        chip_s.append(time.perf_counter() - t0)
    out = {
        "size_px": a.size, "objects": a.objects, "gsd_m": a.gsd, "seconds": round(res["seconds"], 3),
        # CPU time used by the render: on an otherwise idle machine the wall time is at most this.
        "cpu_seconds": round(res["cpu_seconds"], 3), "load_average_1min": round(os.getloadavg()[0], 2),
        "seconds_per_megapixel": round(res["seconds"] / mp_, 4), "peak_rss_mb": round(res["peak_rss_mb"], 1),
        "rss_before_render_mb": round(res["rss_before_mb"], 1), "baseline_seconds": round(base, 3),
        "ratio_to_baseline": round(res["seconds"] / base, 1),
        "chip_768_median_seconds": round(float(np.median(chip_s)), 3) if chip_s else None,
        "target_seconds": 10.0, "target_peak_mb": 1536.0,
    }
    print(f"render_scene: {a.size}x{a.size} RGB, {a.objects} objects in {out['seconds']:.2f} s wall "
          f"({out['cpu_seconds']:.2f} s CPU; {out['seconds_per_megapixel']:.3f} s/MP, "
          f"{out['ratio_to_baseline']:.0f}x a bare image pass; load average {out['load_average_1min']}), "
          f"peak RSS {out['peak_rss_mb']:.0f} MB; 768 px chip {out['chip_768_median_seconds']} s")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
