"""Benchmark: events recovered between dates against the change truth, on random simulated
sites with known changes (new seeds and layouts, not the bundled scenario).

Each scene is rendered, ingested and aligned for real. Detections come from the truth
through the detector noise model (default), or from the installed detection model
(--detector model). Our tracking (global assignment, coasting over one missed date, pixel
corroboration) is compared with a greedy nearest-neighbour pairing of consecutive dates run
in the same process on the same detections.

Two sets of figures: against the full change truth, and against what an image pair can show
("recoverable", `sitewatch.evaluation.event_scoring.what_images_show`): same-spot swaps of one type
left out, and a ship that changed berth scored as a departure and an arrival, since one hull
of a class is every other hull of that class at 0.5 m.

    .venv/bin/python bench/bench_change.py [--scenes 6] [--detector noise|model] [--model M] [--show-errors]

--show-errors lists, per scene, each false and each missed event of what images can show.
--cache DIR keeps each rendered, aligned and detected scene (a pickle per seed, detector and
model) and reuses it on the next run, so a change to tracking or scoring is measured in
seconds on the very same detections. Delete the folder when the simulator, alignment or
model changes.

Prints one line to quote and a JSON record.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from sitewatch.change.events import MODERATE
from sitewatch.change.matching import MatchParams, stay_distance
from sitewatch.domain import EVENT_KINDS, Event
from sitewatch.evaluation.detector_noise import DetectorNoise
from sitewatch.evaluation.event_scoring import moves_as_comings_and_goings, same_spot_swaps, score_events, what_images_show
from sitewatch.evaluation.simulated_site import simulated_site
from sitewatch.simulate.random_scenario import random_scenario
from sitewatch.workflow.pipeline import compare

NOISE = DetectorNoise(position_sigma_m=0.7, heading_sigma_deg=5, size_sigma_frac=0.04, miss_rate=0.05,
                      spurious_per_image=1.0, type_error_rate=0.03)


def greedy_events(looks) -> tuple[list[Event], list[tuple[str, str]]]:
    """The baseline: per consecutive pair, nearest same-class detections paired first within
    the same stay gate; leftovers are departures and arrivals; no moves, no memory."""
    events, pairs = [], []
    params = MatchParams()
    for a, b in zip(looks, looks[1:]):
        da = [d for d in a.detections if d.score >= 0.5]
        db = [d for d in b.detections if d.score >= 0.5]
        cands = []
        for i, x in enumerate(da):
            for j, y in enumerate(db):
                d = math.hypot(x.box.cx - y.box.cx, x.box.cy - y.box.cy)
                if x.cls == y.cls and stay_distance(x, y, params) <= 1.0:
                    cands.append((d, i, j))
        used_a, used_b = set(), set()
        for _d, i, j in sorted(cands):
            if i in used_a or j in used_b:
                continue
            used_a.add(i)
            used_b.add(j)
            if da[i].state != db[j].state:
                events.append(Event("g", "state_changed", "", "", db[j].cls, db[j].type, da[i], db[j], 1.0))
                pairs.append((a.image.id, b.image.id))
        for i, x in enumerate(da):
            if i not in used_a:
                events.append(Event("g", "departed", "", "", x.cls, x.type, x, None, 1.0))
                pairs.append((a.image.id, b.image.id))
        for j, y in enumerate(db):
            if j not in used_b:
                events.append(Event("g", "arrived", "", "", y.cls, y.type, None, y, 1.0))
                pairs.append((a.image.id, b.image.id))
    return events, pairs


def show_errors(seed: int, score) -> None:
    for e in score.false:
        d = e.before if e.kind == "departed" else e.after
        print(f"seed {seed}: false {e.kind} {e.cls} {e.type} at ({d.box.cx:.0f}, {d.box.cy:.0f}), confidence "
              f"{e.confidence:.2f}, detection score {d.score:.2f}")
    for t in score.missed:
        print(f"seed {seed}: missed {t.kind} {t.type} at ({t.x:.0f}, {t.y:.0f}), {t.before_image} -> {t.after_image}")


def _brought_up_to_date(sim, scenario):
    """A scene cached by an earlier version, given what later versions add: each look's
    edge blur, measured on the same aligned pixels `change.looks.site_looks` measures it
    on, and the truth's cloud flags (`TruthEvent.hidden`), from the same plan."""
    from dataclasses import replace

    from sitewatch.evaluation.simulated_site import truth_events
    from sitewatch.geo.sharpness import sampled_edge_blur_px
    from sitewatch.simulate import plan_scenario

    looks = []
    for lk in sim.looks:
        px = sampled_edge_blur_px(sim.pixels[lk.image.id]) if lk.edge_blur_m is None else None
        looks.append(lk if px is None else replace(lk, edge_blur_m=px * sim.site.grid.gsd_m))
    plan = plan_scenario(scenario)[0]
    ids = {Path(lk.image.path).stem: lk.image.id for lk in sim.looks}
    if len(ids) < len(plan.dates):
        return replace(sim, looks=looks)  # a date was left out: keep the truth as it was cached
    ref_id = next(a.reference_id for a in sim.alignments.values())
    ref = next(d for d in plan.dates if ids[d.label] == ref_id)
    return replace(sim, looks=looks, truth=truth_events(plan, ids, ref.spec.conditions))


def load_scene(seed: int, kind: str, model, cache: Path | None):
    """The scene of `seed`, rendered, aligned and detected (from `cache` when it is there)."""
    tag = "noise" if model is None else f"{model.info.model_id}-{model.info.version}"
    path = None if cache is None else cache / f"scene-{seed}-{tag}.pkl"
    scenario = random_scenario(seed, kind=kind, n_dates=3, size_px=1024, change_rate=0.35)
    if path is not None and path.exists():
        return _brought_up_to_date(pickle.loads(path.read_bytes()), scenario)
    with tempfile.TemporaryDirectory() as tmp:
        sim = simulated_site(scenario, tmp, NOISE if model is None else None, model=model,
                             rng=np.random.default_rng(seed))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part")
        part.write_bytes(pickle.dumps(sim))
        part.replace(path)  # whole or not at all
    return sim


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=6)
    ap.add_argument("--first-seed", type=int, default=5000)
    ap.add_argument("--detector", choices=("noise", "model"), default="noise")
    ap.add_argument("--model", default=None, help="with --detector model: this model file, not the installed one")
    ap.add_argument("--show-errors", action="store_true", help="list each false and missed event, per scene")
    ap.add_argument("--cache", type=Path, default=None,
                    help="keep each detected scene here and reuse it (delete it when the model changes)")
    args = ap.parse_args()
    model = None
    if args.detector == "model":
        from sitewatch.detect.model import DetectionModel
        from sitewatch.workflow.pipeline import default_model

        model = DetectionModel(args.model) if args.model else default_model()
        if model is None:
            print("no detection model is installed; use --detector noise", file=sys.stderr)
            return 2
    ours: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    recoverable: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    n_swaps = 0
    base: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    t_track = t_base = 0.0
    n_true = 0
    t0 = time.perf_counter()
    for k in range(args.scenes):
        seed = args.first_seed + k
        kind = "airbase" if k % 2 == 0 else "naval_base"
        sim = load_scene(seed, kind, model, args.cache)
        n_true += len(sim.truth)
        t = time.perf_counter()
        comp = compare(sim.site, sim.looks, sim.pixels)
        t_track += time.perf_counter() - t
        preds = [e for e in comp.tracking.events if e.confidence >= MODERATE]
        pred_pairs = [comp.tracking.pairs[e.id] for e in preds]
        n_swaps += len(same_spot_swaps(moves_as_comings_and_goings([], [], sim.truth)[2]))
        seen = what_images_show(preds, pred_pairs, sim.truth)
        for tally, (p, pp, truth) in ((ours, (preds, pred_pairs, sim.truth)), (recoverable, seen)):
            for kind_, s in score_events(p, pp, truth).items():
                tally[kind_][0] += s.tp
                tally[kind_][1] += s.fp
                tally[kind_][2] += s.fn
                if args.show_errors and tally is recoverable:
                    show_errors(seed, s)
        t = time.perf_counter()
        gev, gpairs = greedy_events(sim.looks)
        t_base += time.perf_counter() - t
        for kind_, s in score_events(gev, gpairs, sim.truth).items():
            base[kind_][0] += s.tp
            base[kind_][1] += s.fp
            base[kind_][2] += s.fn

    def f1(c):
        tp, fp, fn = c
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0

    per_kind = {k: {"ours_f1": round(f1(ours[k]), 3), "greedy_f1": round(f1(base[k]), 3),
                    "ours_tp_fp_fn": ours[k], "greedy_tp_fp_fn": base[k],
                    "ours_recoverable_f1": round(f1(recoverable[k]), 3),
                    "ours_recoverable_tp_fp_fn": recoverable[k]} for k in EVENT_KINDS}
    worst = min(per_kind[k]["ours_f1"] for k in EVENT_KINDS)
    worst_base = min(per_kind[k]["greedy_f1"] for k in EVENT_KINDS)
    print(f"change events on {args.scenes} random scenes ({n_true} true changes, {args.detector} detections): "
          f"lowest per-type F1 {worst:.2f} vs {worst_base:.2f} for greedy pairing "
          f"({(f'{worst / worst_base:.2f}x' if worst_base > 0 else 'greedy finds none of one type')}); " +
          ", ".join(f"{k} {per_kind[k]['ours_f1']:.2f}" for k in EVENT_KINDS) +
          f"; what images can show ({n_swaps} same-spot swaps left out, ship moves as departure + arrival): " +
          ", ".join(f"{k} {per_kind[k]['ours_recoverable_f1']:.2f}" for k in EVENT_KINDS))
    print(json.dumps({"bench": "change", "scenes": args.scenes, "first_seed": args.first_seed,
                      "detector": args.detector, "true_changes": n_true, "same_spot_swaps": n_swaps,
                      "per_kind": per_kind,
                      "seconds_compare": round(t_track, 2), "seconds_greedy": round(t_base, 3),
                      "seconds_total": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
