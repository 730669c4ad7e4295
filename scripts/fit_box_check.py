"""Fit the box check's logistic weights (`footprint.BOX_CHECK_WEIGHTS`) on simulated sites.

Random sites of seeds 6000-6039 (the benchmarks use 5000 onwards) are rendered, ingested
and aligned for real; every true item's box between consecutive dates gives one case, labelled
by whether the item came or went (`change.simulated.box_cases`). The weights maximise the
L2-penalised likelihood of those labels given `footprint.box_measures`. Prints the weights,
to paste into footprint.py, and the false and missed support per class on the fitted cases;
bench/bench_box_change.py measures them on sites the fit never saw.

    .venv/bin/python scripts/fit_box_check.py [--scenes 40] [--first-seed 6000]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from rich.progress import track
from scipy.optimize import minimize

from sitewatch.change.footprint import box_measures
from sitewatch.evaluation.simulated_site import random_box_cases

PENALTY = 1.0  # L2 on every weight but the bias


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--first-seed", type=int, default=6000)
    args = ap.parse_args()
    rows, labels, classes = [], [], []
    for case in random_box_cases(args.first_seed, args.scenes, lambda r: track(r, description="rendering sites")):
        m = box_measures(case.before, case.after, case.grid, case.box, case.radiometry, cross=case.is_aircraft)
        if m is not None:
            rows.append(m.as_vector())
            labels.append(float(case.came_or_went))
            classes.append(case.cls)
    x, y = np.array(rows), np.array(labels)

    def loss(w: np.ndarray) -> float:
        z = x @ w
        # -log likelihood of a logistic model, written stably: log(1 + e^z) - y z
        return float((np.logaddexp(0.0, z) - y * z).sum() + PENALTY * (w[:-1] ** 2).sum())

    w = minimize(loss, np.zeros(x.shape[1]), method="L-BFGS-B").x
    print(f"{len(y)} cases, {int(y.sum())} came or went")
    print("BOX_CHECK_WEIGHTS = np.array([" + ", ".join(f"{v:.3f}" for v in w) + "])")
    p = 1.0 / (1.0 + np.exp(-(x @ w)))
    for cls in sorted(set(classes)):
        k = np.array(classes) == cls
        stayed, changed = p[k & (y == 0)], p[k & (y == 1)]
        print(f"{cls}: stayed >= 0.5 {np.mean(stayed >= 0.5):.2f} of {len(stayed)}, "
              f"came or went < 0.5 {np.mean(changed < 0.5):.2f} of {len(changed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
