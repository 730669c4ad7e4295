"""Exactly once under SIGKILL: `sitewatch watch --once` runs killed at random moments while
the small base's images land in the watched folder, against an uninterrupted run over the
same arrivals (the harness is tests/watch_kill.py; tests/test_watch_kill.py runs a few).

    .venv/bin/python bench/bench_watch_kill.py [--runs 50] [--images 4] [--seed 30] [--max-kill 8]

Prints the lost, duplicated and extra alert counts, whether the catalog equals the
uninterrupted run's, how many runs were killed (and how many of those in the middle of a
take: an image ingested, its results not yet committed), and writes the JSON record to
bench/out/bench_watch_kill.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from tests.watch_kill import arrivals, killed_runs, reference

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--seed", type=int, default=30)
    ap.add_argument("--max-kill", type=float, default=8.0, help="each run is killed after 0 to this many seconds")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sitewatch-kill-") as tmp:
        work = Path(tmp)
        images = arrivals(work / "images", count=args.images)
        t0 = time.monotonic()
        expected = reference(images, work / "reference")
        ref_s = time.monotonic() - t0
        r = killed_runs(images, work / "killed", runs=args.runs, seed=args.seed, max_kill_s=args.max_kill,
                        expected=expected, say=lambda line: print(line, flush=True))
    record = {"runs": r.runs, "killed": r.killed, "killed_mid_take": r.mid_take, "images": args.images,
              "alerts_expected": len(expected["alerts"]), "lost": len(r.lost), "duplicated": len(r.duplicated),
              "extra": len(r.extra), "catalog_equal": r.same_catalog, "differences": sorted(r.differences),
              "seconds_killed_runs": round(r.seconds, 1), "seconds_reference": round(ref_s, 1), "seed": args.seed,
              "max_kill_s": args.max_kill}
    print(f"{r.runs} runs, {r.killed} killed ({r.mid_take} mid-take), {len(expected['alerts'])} alerts expected: "
          f"lost {len(r.lost)}, duplicated {len(r.duplicated)}, extra {len(r.extra)}; catalog equal to an "
          f"uninterrupted run: {r.same_catalog}")
    print(json.dumps(record))
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "bench_watch_kill.json").write_text(json.dumps(record, indent=2) + "\n")
    if r.lost or r.duplicated or r.extra or not r.same_catalog:
        sys.exit(1)


if __name__ == "__main__":
    main()
