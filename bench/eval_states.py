"""State accuracy per type and state, on object chips the model never saw.

The held-out scenes of `eval_sim.py` hardly hold a heavy transport, so their state accuracy
says nothing about the An-124's raised nose or the Il-76's lowered ramp, which the
"heavy transports loading" indicator rests on. This renders fresh object chips (every
catalogue type in every state, GSD cycled over 0.3-0.8 m, seeds far from the training
chips'), runs the model on each, and counts, for each type with more than one state, how
often the matched detection names the true state.

    .venv/bin/python bench/eval_states.py [--model M] [--chips 600] [--seed 50000000]

Prints a table and one line to quote (balanced accuracy: the mean over type-state cells),
then a JSON record. When the model has a state reader (`detect.state_reader`), every item is
scored twice on the same detections: the detector's own state head, and the reader's answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict

import numpy as np

from sitewatch import equipment
from sitewatch.detect.model import DetectionModel
from sitewatch.training.dataset import make_chip

GSDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
CHIP_PX = 384


def matched_index(dets, o, gsd_m: float) -> int | None:
    """The detection of o's class nearest o's centre, if within reach (half o's width, at
    least 3 m), else None."""
    same = np.flatnonzero(dets.cls == o.cls)
    if not len(same):
        return None
    dist = np.hypot(dets.boxes[same, 0] - o.cx, dets.boxes[same, 1] - o.cy)
    k = int(dist.argmin())
    return int(same[k]) if dist[k] <= max(3.0, 0.5 * o.width_m) / gsd_m else None


def head_and_reader(model: DetectionModel, reader_attr: str, chips: int, seed: int):
    """Per unseen object chip: its objects inside the chip, each with the index of its
    matched detection (or None), and the detections as the head decoded them and, when the
    model has that reader, as the reader (`model.<reader_attr>`) re-read them: the same
    detections, so the two differ only in what the reader changes."""
    reader = getattr(model, reader_attr)
    reread = {"state_reader": model.reread_states, "type_reader": model.reread_types}[reader_attr]
    for i in range(chips):
        img, objects, sun = make_chip(seed + i, CHIP_PX, model.gsd_m, GSDS[i % len(GSDS)])
        setattr(model, reader_attr, None)
        dets = {"head": model.run(img.transpose(2, 0, 1)[None].astype(np.float32), sun=sun)[0]}
        setattr(model, reader_attr, reader)
        if reader:
            dets["reader"] = reread(img.astype(np.float32), dets["head"])
        inside = [o for o in objects if 0 <= o.cx < CHIP_PX and 0 <= o.cy < CHIP_PX]
        yield [(o, matched_index(dets["head"], o, model.gsd_m)) for o in inside], dets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--chips", type=int, default=600)
    ap.add_argument("--seed", type=int, default=50_000_000)
    args = ap.parse_args()
    model = DetectionModel(args.model)
    stateful = {t.name for t in equipment.CATALOGUE.values() if len(t.states) > 1}
    sources = ("head", "reader") if model.state_reader else ("head",)
    tallies = {src: defaultdict(lambda: [0, 0, 0]) for src in sources}  # right, matched, missed
    t0 = time.perf_counter()
    for matches, dets in head_and_reader(model, "state_reader", args.chips, args.seed):
        for o, k in matches:
            if o.type not in stateful:
                continue
            for src in sources:
                cell = tallies[src][(o.type, o.state)]
                if k is None:
                    cell[2] += 1
                    continue
                cell[1] += 1
                cell[0] += int(dets[src].state[k] == o.state)
    record = {"bench": "states", "model": f"{model.info.model_id} {model.info.version}",
              "chips": args.chips, "seed": args.seed}
    for src in sources:
        rows = {f"{t} / {s}": {"right": r, "matched": m, "missed": x, "accuracy": round(r / m, 3) if m else None}
                for (t, s), (r, m, x) in sorted(tallies[src].items())}
        print(f"-- states read by the {'detector head' if src == 'head' else 'state reader'}")
        for name, row in rows.items():
            print(f"{name:40s} {row['right']:4d} / {row['matched']:4d}  ({row['accuracy']}; {row['missed']} not found)")
        accs = [row["accuracy"] for row in rows.values() if row["accuracy"] is not None]
        balanced = round(float(np.mean(accs)), 3) if accs else None
        print(f"states on {args.chips} unseen object chips ({record['model']}, {src}): "
              f"balanced accuracy {balanced} over {len(accs)} type-state cells")
        record[src] = {"balanced_accuracy": balanced, "cells": rows}
    record["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
