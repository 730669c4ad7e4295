"""The shadow check on simulated multi-provider scenes: how far the sun azimuth measured from
the shadows (`geo.shadows.measure_shadows`) and the elevation measured from their lengths
(`geo.shadows.measure_sun_elevation`) are from the sun the scene was lit by, and how often
the check flags an image stamped with its true time, and with its time shifted by +3 h and
-3 h: by the azimuth alone, and by the azimuth or the lengths (what the pipeline does). Also
the metadata check (`geo.sun.check_stated_sun`) on every optical image, its metadata stating
the sun it was lit by, as the simulator's STAC items do. Prints figures; asserts nothing.

Each scene is `evaluation.multi_source.multi_source_scenario(seed)` (airbases, two dates, the
later one seen by a second optical provider 20 min to 4 h later); every optical image is
rendered, and the items' true boxes, moved as the image's misregistration moved them and
jittered by 0.5 m (about the detector's centre error), stand for the detections (their true
class and type with them). With --detector-noise the detections are drawn instead through
the detector noise model of `evaluation.multi_source` (centre 0.5 m, size 3 %, heading 3 deg,
2 % missed, 2 % named another type of their class, one spurious truck an image) and only
those the pipeline's check takes count (`SHADOW_CLASSES`, score >= `MIN_SCORE`).

    .venv/bin/python bench/bench_shadow_check.py [--scenes 40] [--size 640] [--first-seed 0] [--detector-noise]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from datetime import timedelta

import numpy as np

from sitewatch.domain import OrientedBox
from sitewatch.evaluation.detector_noise import noisy_detections
from sitewatch.evaluation.multi_source import NOISE, multi_source_scenario
from sitewatch.geo.shadows import (
    MIN_SCORE,
    SHADOW_CLASSES,
    SHADOW_TOLERANCE_DEG,
    check_shadows,
    measure_shadows,
    measure_sun_elevation,
)
from sitewatch.geo.sun import angle_between, check_stated_sun, sun_over_grid_point
from sitewatch.simulate.plan import plan_scenario
from sitewatch.simulate.render import render_scene
from sitewatch.simulate.render.nuisance import misregistration_matrix


def seen_boxes(spec, rng: np.random.Generator, jitter_m: float = 0.5) -> list[OrientedBox]:
    """The scene's items where the rendered image shows them (its misregistration applied),
    each centre jittered by `jitter_m` (standard deviation)."""
    g, c = spec.site.grid, spec.conditions
    m = misregistration_matrix((g.height_px, g.width_px), c.shift_px, c.rotation_deg)
    out = []
    for o in spec.objects:
        col, row = g.to_pixel(o.box.cx, o.box.cy)
        p = m @ np.array([col - 0.5, row - 0.5, 1.0])
        x, y = g.to_map(p[0] + 0.5, p[1] + 0.5)
        dx, dy = rng.normal(0.0, jitter_m, 2)
        out.append(OrientedBox(x + dx, y + dy, o.box.length, o.box.width, o.box.heading_deg + c.rotation_deg))
    return out


def seen_items(spec, rng: np.random.Generator, noise: bool) -> tuple[list[OrientedBox], list[tuple[OrientedBox, str, str]]]:
    """The boxes the azimuth is measured on and the (box, class, type) items the lengths are:
    the seen true items (`seen_boxes`; all for the azimuth, as before, those of SHADOW_CLASSES
    for the lengths), or with `noise` the noise model's detections the pipeline would keep."""
    if not noise:
        boxes = seen_boxes(spec, rng)
        return boxes, [(b, o.cls, o.type) for b, o in zip(boxes, spec.objects) if o.cls in SHADOW_CLASSES]
    moved = [replace(o, box=b) for o, b in zip(spec.objects, seen_boxes(spec, rng, jitter_m=0.0))]
    kept = [d for d in noisy_detections(moved, "bench", spec.site, NOISE, rng)
            if d.cls in SHADOW_CLASSES and d.score >= MIN_SCORE]
    return [d.box for d in kept], [(d.box, d.cls, d.type) for d in kept]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--size", type=int, default=640, help="scene side in pixels (0.5 m)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--detector-noise", action="store_true",
                    help="detections from the detector noise model, filtered as the pipeline does")
    args = ap.parse_args()
    tolerances = sorted({20.0, 40.0, SHADOW_TOLERANCE_DEG, 50.0})
    shifts = (("true", 0), ("+3 h", 3), ("-3 h", -3))
    errors: list[float] = []
    el_errors: list[float] = []
    images = measured = with_lengths = 0
    flags = {(k, t): 0 for k, _ in shifts for t in tolerances}
    both = {k: 0 for k, _ in shifts}  # azimuth or lengths, the shipped tolerances
    by_lengths = {k: 0 for k, _ in shifts}  # by the lengths where the azimuth alone passes
    checked = {k: 0 for k, _ in shifts}
    stated = {k: 0 for k, _ in shifts}  # the metadata check, every optical image
    stated_checked = {k: 0 for k, _ in shifts}
    moved: list[float] = []
    t0 = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.scenes):
        plan = plan_scenario(multi_source_scenario(seed, size_px=args.size))[0]
        rng = np.random.default_rng(seed)
        for date in plan.dates:
            for shot in date.images:
                if shot.source is not None and shot.source.modality == "sar":
                    continue
                images += 1
                grid = shot.spec.site.grid
                c = shot.spec.conditions
                left, bottom, right, top = grid.bounds
                found = sun_over_grid_point(grid.crs, (left + right) / 2.0, (bottom + top) / 2.0, shot.acquired)
                if found is not None:
                    for name, hours in shifts:
                        sc = check_stated_sun(found[0], found[1], shot.acquired + timedelta(hours=hours),
                                              c.sun_azimuth_deg, c.sun_elevation_deg)
                        if sc is not None:
                            stated_checked[name] += 1
                            stated[name] += int(sc.mismatch)
                pixels = render_scene(shot.spec)
                boxes, items = seen_items(shot.spec, rng, args.detector_noise)
                m = measure_shadows(pixels, grid, boxes)
                truth = check_shadows(m, grid, shot.acquired)
                if m is None or truth is None:
                    continue
                measured += 1
                errors.append(angle_between(m.sun_azimuth_deg, c.sun_azimuth_deg))
                lengths = measure_sun_elevation(pixels, grid, items, m.shadow_azimuth_deg)
                if lengths is not None:
                    with_lengths += 1
                    el_errors.append(lengths.elevation_deg - c.sun_elevation_deg)
                for name, hours in shifts:
                    when = shot.acquired + timedelta(hours=hours)
                    base = check_shadows(m, grid, when)
                    if base is None:
                        continue
                    checked[name] += 1
                    if hours and base.error_deg is not None:
                        moved.append(angle_between(base.computed_azimuth_deg, truth.computed_azimuth_deg))
                    full = check_shadows(m, grid, when, lengths=lengths)
                    assert full is not None
                    both[name] += int(full.mismatch)
                    by_lengths[name] += int(full.mismatch and not base.mismatch)
                    for t in tolerances:
                        ct = check_shadows(m, grid, when, tolerance_deg=t)
                        flags[(name, t)] += int(ct is not None and ct.mismatch)
    e = np.asarray(errors)
    what = "noise-model detections" if args.detector_noise else "true boxes, jittered"
    print(f"{args.scenes} scenes (seeds {args.first_seed}-{args.first_seed + args.scenes - 1}), {what}, {images} optical images, "
          f"{time.perf_counter() - t0:.0f} s")
    print(f"measured (>= 5 items, >= 60% agreeing, spread <= 15 deg; sun <= 75 deg): {measured} of {images}")
    if len(e):
        print(f"azimuth error, measured vs the scene's sun: median {np.median(e):.1f} deg, "
              f"p90 {np.percentile(e, 90):.1f}, max {e.max():.1f}")
    if el_errors:
        a = np.abs(el_errors)
        print(f"elevation from the lengths (>= 3 items): {with_lengths} of {measured}; error median "
              f"{np.median(el_errors):+.1f} deg (signed), |error| median {np.median(a):.1f}, p90 {np.percentile(a, 90):.1f}")
    if moved:
        print(f"a 3 h shift moves the computed azimuth: median {np.median(moved):.0f} deg, min {min(moved):.0f}")
    for t in tolerances:
        mark = " (shipped)" if t == SHADOW_TOLERANCE_DEG else ""
        print(f"azimuth alone, tolerance {t:.0f} deg{mark}: flagged " + ", ".join(
            f"{name} {flags[(name, t)]}/{checked[name]}" for name, _ in shifts))
    print("azimuth or lengths (shipped): flagged " + ", ".join(
        f"{name} {both[name]}/{checked[name]} ({by_lengths[name]} by the lengths alone)" for name, _ in shifts))
    print("metadata sun vs the stated time (every optical image): flagged " + ", ".join(
        f"{name} {stated[name]}/{stated_checked[name]}" for name, _ in shifts))

if __name__ == "__main__":
    main()
