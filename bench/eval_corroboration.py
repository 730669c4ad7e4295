"""Eval: findings corroborated across sources on simulated multi-provider moments (issue 32).

Random two-date scenes (two air bases and a naval base in every three) whose later date is
seen by two or three providers: the primary optical source, a second optical provider 20
min to 4 h later with a georeference offset of 0-10 m in a random direction and its own
nuisance seed (cloud on some), and on most scenes a radar source, likewise offset, that
shows no decoy. Half the second optical images are stamped 3 h off their true time; some
scenes hold a decoy aircraft. Detections come from each image's truth through the detector
noise model (`sitewatch.evaluation.multi_source.NOISE`: 0.5 m centre error, 2% missed, one
false truck per image, 2% wrong types), the image's offset added. See
`sitewatch.evaluation.multi_source` for what each figure counts.

    .venv/bin/python bench/eval_corroboration.py [--scenes 60] [--show-errors]

Prints one line to quote and a JSON record.
"""

from __future__ import annotations

import argparse
import json
import time

from sitewatch.evaluation.multi_source import measure_scene, summarise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--first-seed", type=int, default=5000)
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    figures = []
    for i in range(args.scenes):
        seed = args.first_seed + i
        figures.append(measure_scene(seed, "naval_base" if i % 3 == 2 else "airbase"))
        if args.show_errors:
            for line in figures[-1].wrong:
                print("  ", line)
    s = summarise(figures)
    s["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"{s['scenes']} scenes: association precision {s['association_precision']:.3f} over "
          f"{s['association_pairs']} pairs (shift error median {s['shift_error_m_median']} m); grades right "
          f"{s['grades_right']:.3f} of {s['findings']} findings; 3 h timestamps flagged {s['shifted_flagged']}/"
          f"{s['shifted_timestamps']} (true times flagged {s['true_timestamps_flagged']}/{s['true_timestamps']}); "
          f"decoys flagged {s['decoys_flagged']}/{s['decoys']}, false decoy flags {s['false_decoy_flags']}")
    print(json.dumps(s))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
