"""AROSICS' shifts between two GeoTIFFs, as JSON on stdout: run by
`bench/bench_align_real.py` in its own venv (.venv-arosics, with GDAL's Python bindings),
never in sitewatch's. Imports nothing of sitewatch.

    .venv-arosics/bin/python bench/arosics_shift.py REF.tif TGT.tif

Two of AROSICS' estimates, each as {"x_shift_px", "y_shift_px", ...} or {"error": ...}:
"global", `COREG` on one 512 px matching window at the overlap's centre; "local",
`COREG_LOCAL` on a tie-point grid every 200 px (256 px windows), the median shift of the
tie points its outlier filter keeps. Reference pixels, sitewatch's sign: the target's
content sits at the reference's position + (x east, y south).
"""

from __future__ import annotations

import argparse
import json
import time

MAX_SHIFT_PX = 100  # AROSICS refuses larger shifts (its default, 5); the bench injects 58 px


def _global(reference: str, target: str) -> dict:
    from arosics import COREG

    cr = COREG(reference, target, ws=(512, 512), max_shift=MAX_SHIFT_PX, q=True, nodata=(0, 0))
    cr.calculate_spatial_shifts()
    # x/y_shift_px: how far the target must move to fit, so the opposite of where its content sits
    return {"x_shift_px": -float(cr.x_shift_px), "y_shift_px": -float(cr.y_shift_px),
            "reliability_pct": getattr(cr, "shift_reliability", None)}


def _local(reference: str, target: str) -> dict:
    from arosics import COREG_LOCAL

    cr = COREG_LOCAL(reference, target, grid_res=200, window_size=(256, 256), max_shift=MAX_SHIFT_PX, q=True,
                     nodata=(0, 0), CPUs=2)
    t = cr.CoRegPoints_table
    if "OUTLIER" not in t.columns:  # no tie point matched at all
        return {"error": f"no tie point matched of {len(t)}"}
    kept = t[(~t.OUTLIER.astype(bool)) & (t.X_SHIFT_PX != cr.outFillVal)]
    if not len(kept):
        return {"error": f"no tie point kept of {len(t)}"}
    return {"x_shift_px": -float(kept.X_SHIFT_PX.median()), "y_shift_px": -float(kept.Y_SHIFT_PX.median()),
            "tie_points": int(len(kept)), "of": int(len(t))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference")
    ap.add_argument("target")
    args = ap.parse_args()
    out = {}
    for name, estimate in (("global", _global), ("local", _local)):
        t0 = time.perf_counter()
        try:
            out[name] = estimate(args.reference, args.target)
        except Exception as exc:  # AROSICS raises bare RuntimeError/ValueError when it finds no match
            out[name] = {"error": f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"}
        out[name]["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
