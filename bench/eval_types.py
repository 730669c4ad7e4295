"""Type accuracy per type, on object chips the model never saw: the detector's own type
head against the type reader (`detect.type_reader`), on the same detections.

The held-out scenes of `eval_sim.py` hold each look-alike pair a few dozen times; this
renders fresh object chips (every catalogue type, GSD cycled over 0.3-0.8 m, seeds far from
the training chips') so that each type is counted often enough to see which pairs are
confused, and by how much the reader helps.

    .venv/bin/python bench/eval_types.py [--model M] [--chips 600] [--seed 51000000]

Prints a table per source, the most frequent confusions, one line to quote (balanced
accuracy per class: the mean over its types), then a JSON record.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict

import numpy as np
from eval_states import head_and_reader

from sitewatch.detect.model import DetectionModel

CLASSES_READ = ("aircraft", "helicopter", "ship", "air_defence")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--chips", type=int, default=600)
    ap.add_argument("--seed", type=int, default=51_000_000)
    args = ap.parse_args()
    model = DetectionModel(args.model)
    sources = ("head", "reader") if model.type_reader else ("head",)
    tallies = {src: defaultdict(lambda: [0, 0]) for src in sources}  # right, matched
    confusions = {src: Counter() for src in sources}
    missed: Counter = Counter()
    t0 = time.perf_counter()
    for matches, dets in head_and_reader(model, "type_reader", args.chips, args.seed):
        for o, k in matches:
            if o.cls not in CLASSES_READ:
                continue
            if k is None:
                missed[o.type] += 1
                continue
            for src in sources:
                said = dets[src].type[k]
                tallies[src][(o.cls, o.type)][0] += int(said == o.type)
                tallies[src][(o.cls, o.type)][1] += 1
                if said != o.type:
                    confusions[src][(o.type, said)] += 1
    record = {"bench": "types", "model": f"{model.info.model_id} {model.info.version}", "chips": args.chips,
              "seed": args.seed, "not_found": dict(missed)}
    for src in sources:
        name = "detector head" if src == "head" else "type reader"
        print(f"-- types read by the {name}")
        rows = {}
        for (cls, typ), (right, matched) in sorted(tallies[src].items()):
            rows[typ] = {"class": cls, "right": right, "matched": matched, "accuracy": round(right / matched, 3)}
            print(f"{cls:12s} {typ:32s} {right:4d} / {matched:4d}  ({rows[typ]['accuracy']})")
        print("most frequent confusions: " + "; ".join(f"{a} as {b} {n}" for (a, b), n in confusions[src].most_common(6)))
        balanced = {cls: round(float(np.mean([r["accuracy"] for r in rows.values() if r["class"] == cls])), 3)
                    for cls in CLASSES_READ if any(r["class"] == cls for r in rows.values())}
        print(f"types on {args.chips} unseen object chips ({record['model']}, {name}): balanced accuracy "
              + ", ".join(f"{c} {v}" for c, v in balanced.items()))
        record[src] = {"balanced_accuracy": balanced, "types": rows,
                       "confusions": [[a, b, n] for (a, b), n in confusions[src].most_common()]}
    record["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
