"""Benchmark: the box check behind every arrival and departure, on simulated sites.

`sitewatch.change.footprint.box_change` says how likely it is that the item under a box came
or went between two aligned dates. It should read high (>= 0.5, "supports") where the item
came or went and low where it stayed, whatever the sun, haze, thin cloud and colour do.
Random sites (the bench_change seeds, 5000 onwards; the check's weights were fitted on
seeds 6000-6039) are rendered, ingested and aligned for real; the check runs on the true
boxes (moved into the site grid's frame), so detector error plays no part. Items that
changed state are left out (their pixels change by design); an item that stayed counts once
per pair of dates.

    .venv/bin/python bench/bench_box_change.py [--scenes 30] [--first-seed 5000]

Prints, per class, the share of items that stayed but read >= 0.5 (false support) and of
items that came or went but read < 0.5 (missed support), and a JSON record.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

import numpy as np

from sitewatch.change.events import SUPPORTS
from sitewatch.change.footprint import box_change
from sitewatch.evaluation.simulated_site import random_box_cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=30)
    ap.add_argument("--first-seed", type=int, default=5000)
    args = ap.parse_args()
    values: dict[tuple[str, bool], list[float]] = defaultdict(list)  # (class, came or went) -> checks
    for case in random_box_cases(args.first_seed, args.scenes):
        values[(case.cls, case.came_or_went)].append(
            box_change(case.before, case.after, case.grid, case.box, case.radiometry, cross=case.is_aircraft))
    per_class = {}
    for cls in sorted({c for c, _ in values}):
        stayed = np.array(values.get((cls, False), []))
        changed = np.array(values.get((cls, True), []))
        per_class[cls] = {
            "stayed": len(stayed),
            "false_support": round(float((stayed >= SUPPORTS).mean()), 3) if len(stayed) else None,
            "came_or_went": len(changed),
            "missed_support": round(float((changed < SUPPORTS).mean()), 3) if len(changed) else None,
        }
    print(f"box check on {args.scenes} random sites (true boxes): " + "; ".join(
        f"{c} stayed >= {SUPPORTS}: {v['false_support']:.0%} of {v['stayed']}, came or went < {SUPPORTS}: "
        f"{v['missed_support']:.0%} of {v['came_or_went']}" for c, v in per_class.items()
        if v["false_support"] is not None and v["missed_support"] is not None))
    print(json.dumps({"bench": "box_change", "scenes": args.scenes, "first_seed": args.first_seed,
                      "per_class": per_class}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
