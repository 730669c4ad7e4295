"""Co-registration benchmark: a pair of 8192 x 8192 images on a 0.5 m site grid.

Writes (once, cached in --workdir) a reference and a target of the same synthetic ground,
3-band uint8, tiled with overviews like a COG; the target is misregistered by a known
shift and rotation, hazed, re-gained, noisier, with 10% of the scene truly changed. Then,
each in a fresh child process (so the peak RSS of one does not count against another; the
peak is the child's VmHWM):

1. ours: `align_pair` (coarse-to-fine windowed phase correlation, robust similarity fit);
2. baseline: plain whole-image phase correlation (both images read whole, one FFT of each,
   translation only);
3. resample: `read_aligned` over the whole grid in 2048 x 2048 blocks (what later stages
   pay to read aligned pixels).

Throughput is site-grid megapixels registered per second (8192 x 8192 = 67.1 Mpx per
pair). Residual RMSE is measured against the known truth at a 17 x 17 lattice of points.

    .venv/bin/python bench/bench_align.py [--side 8192] [--workdir /tmp/sitewatch-bench-align]

With --scenario (the bundled Khmeimim/Tartus scenario by default, or a YAML path) it instead
renders the scenario with the simulator, ingests and aligns every site, and reports each
image's residual against the misregistration the scenario declares (shift_px,
rotation_deg per date), next to the residual of leaving the images unaligned.

    .venv/bin/python bench/bench_align.py --scenario [PATH]

Prints one line to quote and the JSON record (also written to bench/out/bench_align.json).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import numpy as np

GSD = 0.5
MARGIN = 64  # extra ground around the grid so the misregistered target still covers it
TRUTH = {"ref": (0.0, 0.0, 0.0), "tgt": (-13.0, 9.5, 0.3)}  # dx, dy px; rotation deg
MAX_RSS_MB = 2048


def _grid(side: int):
    from sitewatch.geo.grid import site_grid

    return site_grid(35.401, 35.948, side * GSD, gsd_m=GSD)


def _truth_matrix(side: int) -> np.ndarray:
    from sitewatch.geo.synthetic import compose, invert, misregistration_matrix

    big = side + 2 * MARGIN
    p_ref = misregistration_matrix(*TRUTH["ref"], big, big)
    p_tgt = misregistration_matrix(*TRUTH["tgt"], big, big)
    to_raster = np.array([[1, 0, MARGIN], [0, 1, MARGIN]], float)
    return compose(invert(to_raster), compose(p_tgt, compose(invert(p_ref), to_raster)))


def _rmse(matrix, side: int) -> float:
    from sitewatch.geo.coregister import apply

    ys, xs = np.mgrid[0:side:17j, 0:side:17j]
    pts = np.column_stack([xs.ravel(), ys.ravel()])
    d = apply(np.asarray(matrix, float).reshape(2, 3), pts) - apply(_truth_matrix(side), pts)
    return float(np.sqrt(np.mean(np.sum(d ** 2, axis=1))))


def make_pair(workdir: Path, side: int) -> tuple[Path, Path]:
    """Write the two images (skipped when they already exist)."""
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling

    from sitewatch.geo.grid import grid_transform
    from sitewatch.geo.synthetic import Look, change_patch, ground_texture, observe, restyle, to_dtype

    workdir.mkdir(parents=True, exist_ok=True)
    paths = workdir / f"ref_{side}.tif", workdir / f"tgt_{side}.tif"
    if all(p.exists() for p in paths):
        return paths
    grid = _grid(side)
    big = side + 2 * MARGIN
    ground = ground_texture(big, big, seed=3)
    looks = {"ref": Look(noise=0.005), "tgt": Look(gain=0.8, offset=0.03, gamma=1.3, haze=0.25, noise=0.01)}
    for (name, mis), path in zip(TRUTH.items(), paths):
        img = observe(ground, *mis)
        if name == "tgt":
            img, _ = change_patch(img, 0.10, seed=9)
        img = to_dtype(restyle(img, looks[name], seed=len(name)), "uint8")
        profile = dict(driver="GTiff", width=big, height=big, count=3, dtype="uint8", crs=grid.crs,
                       transform=grid_transform(grid) @ Affine.translation(-MARGIN, -MARGIN), tiled=True,
                       blockxsize=512, blockysize=512, compress="deflate", BIGTIFF="IF_SAFER")
        tmp = path.with_suffix(".part")
        with rasterio.open(tmp, "w", **profile) as ds:
            for b in (1, 2, 3):
                ds.write(img, b)
            ds.build_overviews([2, 4, 8, 16, 32], Resampling.average)
        tmp.rename(path)
        del img
    return paths


def _image(path: Path, side: int):
    from datetime import datetime

    from sitewatch.domain import Image

    grid = _grid(side)
    return Image(path.name, "bench", str(path), datetime(2024, 12, 5, tzinfo=UTC), GSD, grid.crs,
                 side + 2 * MARGIN, side + 2 * MARGIN)


def child(mode: str, ref: Path, tgt: Path, side: int) -> dict:
    import cv2
    import rasterio

    grid = _grid(side)
    t0 = time.perf_counter()
    if mode == "ours":
        from sitewatch.geo.align import align_pair

        res = align_pair(_image(ref, side), _image(tgt, side), grid)
        out = {"status": res.status, "reason": res.reason, "dx": res.dx_px, "dy": res.dy_px,
               "rotation_deg": res.rotation_deg, "quality": res.quality, "windows_used": res.windows_used,
               "rmse_px": _rmse(res.matrix, side)}
    elif mode == "baseline":
        from rasterio.windows import Window

        def lum(path):
            with rasterio.open(path) as ds:
                win = Window(MARGIN, MARGIN, side, side)  # the files share the grid's pixel lattice
                return ds.read(window=win, out_dtype="float32").mean(axis=0)

        a, b = lum(ref), lum(tgt)
        (dx, dy), resp = cv2.phaseCorrelate(a, b, cv2.createHanningWindow((side, side), cv2.CV_32F))
        out = {"dx": dx, "dy": dy, "response": resp, "rmse_px": _rmse([[1, 0, dx], [0, 1, dy]], side)}
    elif mode == "resample":
        from sitewatch.geo.align import align_pair, read_aligned

        res = align_pair(_image(ref, side), _image(tgt, side), grid)
        t0 = time.perf_counter()
        block = 2048
        for r in range(0, side, block):
            for c in range(0, side, block):
                read_aligned(str(tgt), res, grid, (c, r, min(block, side - c), min(block, side - r)))
        out = {}
    else:
        raise SystemExit(f"unknown mode {mode}")
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss, which Linux
    carries across exec from the parent that forked us."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(mode: str, ref: Path, tgt: Path, side: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, "--side", str(side), str(ref), str(tgt)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def scenario_residuals(path: str | None, workdir: Path) -> dict:
    """Render, ingest and align a scenario; residual RMSE per image against its declared
    misregistration, relative to the reference image's."""
    from importlib import resources

    from sitewatch.geo.coregister import apply
    from sitewatch.geo.synthetic import compose, invert, misregistration_matrix
    from sitewatch.simulate import simulate_scenario
    from sitewatch.simulate.loading import load_scenario
    from sitewatch.simulate.scenario import build_site
    from sitewatch.store import add_site, images_for_site, open_catalog
    from sitewatch.workflow.align_site import align_site
    from sitewatch.workflow.ingest import ingest

    source = path or str(resources.files("sitewatch") / "scenarios" / "khmeimim-tartus-2024-12.yaml")
    sc, _ = load_scenario(source)
    out = workdir / "scenario"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    t0 = time.perf_counter()
    simulate_scenario(sc, out / "imagery")
    render_s = time.perf_counter() - t0
    rows = []
    with open_catalog(out / "catalog.db") as cat:
        for sm in sc.sites:
            add_site(cat, build_site(sm))
        ingest(cat, [str(out / "imagery" / "catalog.json")])
        for sm in sc.sites:
            site = build_site(sm)
            t0 = time.perf_counter()
            results = {r.image_id: r for r in align_site(cat, site)}
            align_s = time.perf_counter() - t0
            n_w, n_h = site.grid.width_px, site.grid.height_px
            ys, xs = np.mgrid[0:n_h:11j, 0:n_w:11j]
            pts = np.column_stack([xs.ravel(), ys.ravel()])
            images = images_for_site(cat, sm.name)
            mats = [misregistration_matrix(*d.conditions.shift_px, d.conditions.rotation_deg, n_w, n_h)
                    for d in sm.dates]
            ref_k = next(k for k, img in enumerate(images) if results[img.id].status == "reference")
            for img, mat in zip(images, mats):
                truth = compose(mat, invert(mats[ref_k]))
                r = results[img.id]
                err = apply(np.asarray(r.matrix).reshape(2, 3), pts) - apply(truth, pts)
                raw = pts - apply(truth, pts)
                rows.append({"site": sm.name, "image": img.id, "date": img.acquired.isoformat(), "status": r.status,
                             "rmse_px": float(np.sqrt(np.mean(np.sum(err ** 2, axis=1)))),
                             "unaligned_rmse_px": float(np.sqrt(np.mean(np.sum(raw ** 2, axis=1)))),
                             "quality": r.quality, "align_s_site": align_s})
    return {"scenario": source, "render_s": render_s, "images": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", nargs="?", const="", default=None, help="Measure on a simulated scenario instead.")
    ap.add_argument("--side", type=int, default=8192)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/sitewatch-bench-align"))
    ap.add_argument("--child")
    ap.add_argument("paths", nargs="*", type=Path)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.paths[0], args.paths[1], args.side)))
        return
    if args.scenario is not None:
        rec = scenario_residuals(args.scenario or None, args.workdir)
        aligned = [r for r in rec["images"] if r["status"] == "ok"]
        worst = max((r["rmse_px"] for r in aligned), default=float("nan"))
        print(f"align on the simulated scenario: {len(aligned)} of "
              f"{sum(r['status'] != 'reference' for r in rec['images'])} images aligned, residual at most "
              f"{worst:.3f} px RMSE (unaligned: up to {max(r['unaligned_rmse_px'] for r in rec['images']):.2f} px)")
        print(json.dumps(rec, indent=2))
        out = Path(__file__).with_name("out")
        out.mkdir(exist_ok=True)
        (out / "bench_align_scenario.json").write_text(json.dumps(rec, indent=2))
        return
    t0 = time.perf_counter()
    ref, tgt = make_pair(args.workdir, args.side)
    prep = time.perf_counter() - t0
    ours = run_child("ours", ref, tgt, args.side)
    base = run_child("baseline", ref, tgt, args.side)
    resample = run_child("resample", ref, tgt, args.side)
    mpx = args.side * args.side / 1e6
    record = {
        "side_px": args.side, "gsd_m": GSD, "grid_mpx": mpx, "truth": TRUTH, "prepare_s": prep,
        "ours": {**ours, "mpx_per_s": mpx / ours["seconds"]},
        "baseline_whole_image_phase_correlation": {**base, "mpx_per_s": mpx / base["seconds"]},
        "resample_read_aligned": {**resample, "mpx_per_s": mpx / resample["seconds"]},
        "speedup_vs_baseline": base["seconds"] / ours["seconds"],
        "memory_ratio_vs_baseline": ours["peak_rss_mb"] / base["peak_rss_mb"],
        "peak_rss_under_2gb": ours["peak_rss_mb"] < MAX_RSS_MB and resample["peak_rss_mb"] < MAX_RSS_MB,
    }
    print(f"align {args.side}x{args.side}: {record['ours']['mpx_per_s']:.1f} Mpx/s, residual "
          f"{ours['rmse_px']:.3f} px RMSE, peak {ours['peak_rss_mb']:.0f} MB; whole-image phase correlation: "
          f"{record['baseline_whole_image_phase_correlation']['mpx_per_s']:.1f} Mpx/s, {base['rmse_px']:.2f} px RMSE, "
          f"peak {base['peak_rss_mb']:.0f} MB ({record['speedup_vs_baseline']:.1f}x faster, "
          f"{record['memory_ratio_vs_baseline']:.2f}x the memory); aligned reads "
          f"{record['resample_read_aligned']['mpx_per_s']:.1f} Mpx/s at peak {resample['peak_rss_mb']:.0f} MB")
    print(json.dumps(record, indent=2))
    out = Path(__file__).with_name("out")
    out.mkdir(exist_ok=True)
    (out / "bench_align.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
