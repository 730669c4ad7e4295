"""Score a detection model on simulated scenes it never saw.

New random scenarios (seeds far from the training chips' seeds, new layouts, the
simulator's own sun, haze, blur, colour and misregistration), rendered at GSDs from 0.3 to
0.8 m, every date of each, run through `sitewatch detect`'s code path from the COG file,
and scored against the truth files where the image shows each object.

    .venv/bin/python bench/eval_sim.py [--model M] [--scenes 60] [--seed 90000] [--compare-plain]
                                       [--baseline-model B]

Prints one line to quote and the JSON of `sitewatch eval` (written to bench/out/). With
--compare-plain, the same images are also run without the model's second-look companions
(box and hull refiners, type reader, state reader, presence check), and that line is
printed first, as the baseline. With --baseline-model B, the same images are also run
through model B (for example the previous release) and its line is printed first. With
--show-misses CLASS, each missed true item and each false detection of that class at the
operating threshold is listed, with the nearest box on the other side and how it differs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sitewatch.detect import geometry
from sitewatch.detect.inference import detect_scene
from sitewatch.detect.labels import read_geojson_objects
from sitewatch.detect.model import DetectionModel
from sitewatch.evaluation.detection import Labelled, evaluate, match_image
from sitewatch.simulate import simulate_scenario
from sitewatch.simulate.random_scenario import gsd_and_kind_of_scene, random_scenario

GSDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
SCENE_M = 300.0  # metres per side: room for a row of aircraft or two ships


def scene_gsd_and_kind(i: int) -> tuple[float, str]:
    """Scene i's GSD and kind (every GSD for each kind; before session 12 air bases were only
    seen at 0.3, 0.4, 0.6 and 0.7 m and naval bases at 0.5 and 0.8 m)."""
    return gsd_and_kind_of_scene(i, GSDS)


def pick_threshold(preds, truths, model_path: Path) -> float:
    """The threshold in 0.05..0.70 (on the model's current score scale) with the best F1
    (precision and recall over all classes). It becomes the model's operating point: its raw
    score is written as `score_pivot`, so decoded scores read 0.5 there, and
    `score_threshold` becomes 0.5. Returns the threshold on the current scale."""
    import numpy as np
    import onnx

    from sitewatch.detect.model import DetectionModel, raw_score

    best = (-1.0, 0.3)
    for t in np.arange(0.05, 0.701, 0.05):
        r = evaluate(preds, truths, score_threshold=float(t))
        p, rec = r["precision"] or 0.0, r["recall"] or 0.0
        f1 = 2 * p * rec / (p + rec) if p + rec else 0.0
        print(f"threshold {t:.2f}: precision {p:.3f} recall {rec:.3f} F1 {f1:.3f}")
        best = max(best, (f1, round(float(t), 2)))
    pivot = DetectionModel(model_path).info.score_pivot
    raw = best[1] if pivot is None else round(raw_score(best[1], pivot), 4)
    m = onnx.load(str(model_path))
    props = {prop.key: prop for prop in m.metadata_props}
    props["score_threshold"].value = repr(0.5)
    if "score_pivot" not in props:
        props["score_pivot"] = m.metadata_props.add()
        props["score_pivot"].key = "score_pivot"
    props["score_pivot"].value = repr(raw)
    onnx.save(m, str(model_path))
    print(f"picked operating point: raw score {raw} (F1 {best[0]:.3f}), now read as 0.5 -> {model_path}")
    return best[1]


def record_metrics(model_path: Path, what: str, scores: dict) -> None:
    """Write the scores that chose the operating point into the model's `metrics` metadata
    (AP50 per class, precision, recall, type and state accuracy), so the file says how it
    was measured."""
    import onnx

    m = onnx.load(str(model_path))
    props = {prop.key: prop for prop in m.metadata_props}
    if "metrics" not in props:
        props["metrics"] = m.metadata_props.add()
        props["metrics"].key = "metrics"
    kept = {k: scores[k] for k in ("precision", "recall", "type_accuracy", "state_accuracy", "map50")}
    kept["ap50"] = {c: v["ap50"] for c, v in scores["per_class"].items()}
    props["metrics"].value = json.dumps({"data": what, "iou": scores["iou_threshold"], **kept})
    onnx.save(m, str(model_path))


def labelled(dets) -> list[Labelled]:
    return [Labelled(d.cls, (d.box.cx, d.box.cy, d.box.length, d.box.width, d.box.heading_deg), d.type, d.state,
                     d.score) for d in dets]


def how_boxes_differ(a: Labelled, b: Labelled) -> str:
    """Box b against box a: centre offset along and across a's axis, length and width
    ratios, axis turn (degrees, 0-90), in the frame's units."""
    ax, ay, al, aw, ah = a.box
    bx, by, bl, bw, bh = b.box
    t = np.radians(ah)  # heading clockwise from north: the axis is (sin, cos) in x, y
    along = (bx - ax) * np.sin(t) + (by - ay) * np.cos(t)
    across = (bx - ax) * np.cos(t) - (by - ay) * np.sin(t)
    turn = abs((bh - ah + 90.0) % 180.0 - 90.0)
    return (f"offset along {along:+.1f} across {across:+.1f}, length x{bl / al:.2f}, width x{bw / aw:.2f}, "
            f"axis {turn:.0f} deg")


def _seen_as(truth: Labelled, others: list[Labelled]) -> str:
    """What another class's detection says where a missed item stands, if any overlaps it."""
    if not others:
        return ""
    iou = geometry.rotated_iou(np.array([d.box for d in others]), np.array([truth.box]))[:, 0]
    k = int(iou.argmax())
    return f"; seen as {others[k].cls} {others[k].type} score {others[k].score:.2f} IoU {iou[k]:.2f}" \
        if iou[k] > 0 else ""


def show_misses(preds: dict, truths: dict, cls: str, thr: float) -> None:
    """Print each missed truth and each false detection of `cls` at score `thr`, with the
    box of that class on the other side that overlaps it most (and, for a miss nothing of its
    class overlaps, the detection under the threshold or of another class over it)."""
    for key in sorted(truths):
        p = [d for d in preds.get(key, []) if d.cls == cls and d.score >= thr]
        others = [d for d in preds.get(key, []) if d.cls != cls and d.score >= thr]
        faint = [d for d in preds.get(key, []) if d.cls == cls and d.score < thr]
        t = [o for o in truths[key] if o.cls == cls]
        match = match_image(p, t, 0.5)
        iou = geometry.rotated_iou(np.array([d.box for d in p]), np.array([o.box for o in t])) if p and t else None
        for j, truth in enumerate(t):
            if j in match or truth.difficult:
                continue
            if iou is None or iou[:, j].max() <= 0:
                print(f"{key}: missed {truth.type} ({truth.state}); nothing of its class over it"
                      f"{_seen_as(truth, faint)}{_seen_as(truth, others)}")
                continue
            i = int(iou[:, j].argmax())
            print(f"{key}: missed {truth.type} ({truth.state}) {truth.box[2]:.1f} x {truth.box[3]:.1f}; nearest "
                  f"{p[i].type} score {p[i].score:.2f} IoU {iou[i, j]:.2f}: {how_boxes_differ(truth, p[i])}")
        for i, det in enumerate(p):
            if match[i] != -1:
                continue
            if iou is None or iou[i].max() <= 0:
                print(f"{key}: false {det.type} ({det.state}) score {det.score:.2f}, no true {cls} under it")
                continue
            j = int(iou[i].argmax())
            print(f"{key}: false {det.type} score {det.score:.2f} on true {t[j].type} IoU {iou[i, j]:.2f}")


def ap50_by_gsd(preds: dict, truths: dict, thr: float) -> dict[str, dict[str, float]]:
    """AP50 per class on the images of each GSD (keys "scene:stem")."""
    out = {}
    for gsd in GSDS:
        keys = [k for k in truths if scene_gsd_and_kind(int(k.split(":")[0]))[0] == gsd]
        if keys:
            r = evaluate({k: preds[k] for k in keys}, {k: truths[k] for k in keys}, score_threshold=thr)
            out[f"{gsd:.1f}"] = {c: v["ap50"] for c, v in r["per_class"].items() if v["true"]}
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--seed", type=int, default=90000)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--out", default="bench/out/eval_sim.json")
    ap.add_argument("--compare-plain", action="store_true",
                    help="also score the detector without its second-look companions, on the same images")
    ap.add_argument("--baseline-model", default=None,
                    help="also score this model on the same images, as the baseline")
    ap.add_argument("--pick-threshold", action="store_true",
                    help="choose the score threshold with the best F1 on these scenes and write it into the "
                         "model's metadata (use validation seeds, not the test seeds)")
    ap.add_argument("--show-misses", metavar="CLASS", default=None,
                    help="list the missed and false detections of this class at the operating threshold")
    args = ap.parse_args(argv)
    model = DetectionModel(args.model)
    thr = model.info.score_threshold if args.threshold is None else args.threshold
    companions = (model.box_refiners, model.hull_refiners, model.type_reader, model.hull_type_reader, model.state_reader,
                  model.verifiers)
    plain = args.compare_plain and any(companions)
    baseline = DetectionModel(args.baseline_model) if args.baseline_model else None
    preds, plain_preds, base_preds, truths = {}, {}, {}, {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.scenes):
            gsd, kind = scene_gsd_and_kind(i)
            scenario = random_scenario(args.seed + i, kind=kind, gsd_m=gsd, size_px=int(SCENE_M / gsd), n_dates=2)
            result = simulate_scenario(scenario, Path(tmp) / f"s{i}")
            for image, truth in zip(result.images, result.truths):
                key = f"{i}:{image.stem}"
                for store in (preds, plain_preds) if plain else (preds,):
                    if store is plain_preds:
                        model.type_reader = model.hull_type_reader = model.state_reader = None
                        model.verifiers = ()
                        model.box_refiners = model.hull_refiners = ()
                    dets, grid, _ = detect_scene(image, model, score_threshold=min(thr, 0.05))
                    (model.box_refiners, model.hull_refiners, model.type_reader, model.hull_type_reader,
                     model.state_reader, model.verifiers) = companions
                    store[key] = labelled(dets)
                if baseline is not None:
                    base_preds[key] = labelled(detect_scene(image, baseline, score_threshold=min(thr, 0.05))[0])
                truths[key] = read_geojson_objects(truth, grid.crs)
    if baseline is not None:
        base = evaluate(base_preds, truths, score_threshold=thr)
        ap50 = ", ".join(f"{c} {v['ap50']}" for c, v in base["per_class"].items())
        print(f"baseline {baseline.info.model_id} {baseline.info.version}: AP50 {ap50}; type acc "
              f"{base['type_accuracy']}, state acc {base['state_accuracy']}, P {base['precision']} R {base['recall']} "
              f"at score {thr}")
    if plain:
        base = evaluate(plain_preds, truths, score_threshold=thr)
        ap50 = ", ".join(f"{c} {v['ap50']}" for c, v in base["per_class"].items())
        print(f"baseline, without the second look: AP50 {ap50}; type acc {base['type_accuracy']}, "
              f"state acc {base['state_accuracy']}, P {base['precision']} R {base['recall']} at score {thr}")
    if args.pick_threshold:
        thr = pick_threshold(preds, truths, Path(model.path))
    if args.show_misses:
        show_misses(preds, truths, args.show_misses, thr)
    scores = evaluate(preds, truths, score_threshold=thr)
    scores["ap50_by_gsd"] = ap50_by_gsd(preds, truths, thr)
    scores["model"] = f"{model.info.model_id} {model.info.version}"
    scores["scenes"] = args.scenes
    scores["gsds_m"] = list(GSDS)
    scores["seconds"] = round(time.perf_counter() - t0, 1)
    if args.pick_threshold:
        record_metrics(Path(model.path), f"simulated validation, seeds {args.seed}-{args.seed + args.scenes - 1}",
                       evaluate(preds, truths, score_threshold=thr))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(scores, indent=2))
    ap50 = ", ".join(f"{c} {v['ap50']}" for c, v in scores["per_class"].items())
    print(f"held-out sim ({args.scenes} scenes, {len(preds)} images, GSD 0.3-0.8 m): AP50 {ap50}; "
          f"type acc {scores['type_accuracy']}, state acc {scores['state_accuracy']}, "
          f"P {scores['precision']} R {scores['recall']} at score {thr}")
    for gsd, per_class in scores["ap50_by_gsd"].items():
        print(f"  at {gsd} m: " + ", ".join(f"{c} {v}" for c, v in per_class.items()))
    print(json.dumps(scores))
    return scores


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
