"""Co-registration on real pairs (issue 32): per pair, the injected georeference error
against the recovered correction, the residual on stable ground by an independent estimate
(OpenCV ECC on intensity over plane-free tiles, `geo.synthetic.stable_shift`), the changed
share of the overlap, and the time `align_pair` takes.

Pairs: the three same-airport Pleiades pairs of the Airbus set and the LEVIR-CD pair, read
from ../shared/realdata (never copied), wrapped as GeoTIFFs at a nominal place, the second
image's georeference off by 25 m east and 15 m south, and (--crs) delivered in another CRS.

    .venv/bin/python bench/bench_align_real.py [--crs EPSG:4326] [--root ../shared/realdata]

AROSICS (PyPI `arosics`, Apache-2.0) is the comparison, in this bench only: it needs GDAL's
Python bindings, so it lives in its own venv, never sitewatch's, and runs there in a child
process (`bench/arosics_shift.py`: its global shift, one 512 px window at the overlap's
centre, and the median of its local tie points every 200 px). Its miss is taken as
sitewatch's is: against the injected offset plus the pair's own, by the independent
estimate. Make that venv once (Debian 12, libgdal 3.6.2; git-ignored). GDAL 3.6's numpy
bindings predate numpy 2, so numpy, and with it pandas and geopandas, stay below it:

    apt-get install -y libgdal-dev gdal-bin
    python3 -m venv .venv-arosics && .venv-arosics/bin/pip install "numpy<2"
    .venv-arosics/bin/pip install --no-build-isolation "gdal[numpy]==$(gdal-config --version)"
    printf 'gdal==%s\nnumpy<2\npandas<3\ngeopandas<1.1\n' "$(gdal-config --version)" > /tmp/c.txt
    .venv-arosics/bin/pip install arosics -c /tmp/c.txt

Without it the line says AROSICS is not there. AROSICS refuses a pair in two projections
("Input projections are not equal"), so with --crs its lines say so; sitewatch's do not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_align_realpairs import (  # noqa: E402  (the test's wrapping, so both measure the same)
    GSD,
    SHIFT_M,
    _plane_free,
    _rgb,
    on_grid,
    residual_on_stable_ground,
    wrapped_pair,
)

from sitewatch.evaluation import realdata as rd  # noqa: E402
from sitewatch.geo.align import align_pair  # noqa: E402
from sitewatch.geo.synthetic import stable_shift  # noqa: E402


def pairs(root: Path):
    ims = {im.image_id[:8]: im for im in rd.airbus_aircraft(root)}
    for a, b in rd.AIRBUS_PAIRS:
        yield f"airbus {a}+{b}", _rgb(ims[a].path), _rgb(ims[b].path), (ims[a].boxes, ims[b].boxes)
    levir = root / "levir_cd"
    yield "levir_cd test_2", _rgb(levir / "A" / "test_2_0000_0000.png"), _rgb(levir / "B" / "test_2_0000_0000.png"), ()


AROSICS_PYTHON = Path(__file__).resolve().parents[1] / ".venv-arosics" / "bin" / "python"


def arosics_shift(reference: str, target: str) -> dict:
    """AROSICS' global and local shifts of the pair, from its own venv: each x_shift_px,
    y_shift_px (sitewatch's sign) and seconds, or an error."""
    run = subprocess.run([str(AROSICS_PYTHON), str(Path(__file__).with_name("arosics_shift.py")), reference, target],
                         capture_output=True, text=True, timeout=900)
    try:
        return json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"run": {"error": (run.stderr.strip().splitlines() or ["no output"])[-1]}}


def measure(name, a, b, boxes, to_crs, work: Path) -> str:
    stable = _plane_free(a.shape[1:], *boxes)
    ndx, ndy, _ = stable_shift(a.mean(axis=0), b.mean(axis=0), stable)
    grid, ref, tgt = wrapped_pair(work, a, b, to_crs)
    t0 = time.perf_counter()
    res = align_pair(ref, tgt, grid)
    took = time.perf_counter() - t0
    inj = (SHIFT_M[0] / GSD, SHIFT_M[1] / GSD)
    line = f"{name:28s} {to_crs or 'UTM':9s} {res.status:6s} injected ({inj[0]:.1f}, {inj[1]:.1f}) px"
    line += f" + native ({ndx:+.2f}, {ndy:+.2f})" if np.isfinite(ndx) else " + native (n/a)"
    if res.status == "ok":
        miss = np.hypot(res.dx_px - inj[0] - ndx, res.dy_px - inj[1] - ndy)
        resid, used = residual_on_stable_ground(grid, ref, tgt, res, on_grid(grid, stable))
        line += (f" recovered ({res.dx_px:.2f}, {res.dy_px:.2f}) miss {miss:.2f} px,"
                 f" stable-ground residual {resid:.2f} px ({used} tiles), CE90 {res.ce90_m:.2f} m")
    else:
        line += f" kept on its georeference, CE90 {res.ce90_m} m"
    changed = "n/a" if res.changed_fraction is None else f"{res.changed_fraction:.2f}"
    line += f", changed {changed}, {took:.1f} s"
    if AROSICS_PYTHON.exists():
        for kind, ar in arosics_shift(ref.path, tgt.path).items():
            if "error" in ar:
                line += f"; AROSICS {kind} failed: {ar['error'][:80]}"
                continue
            miss = np.hypot(ar["x_shift_px"] - inj[0] - ndx, ar["y_shift_px"] - inj[1] - ndy)
            line += f"; AROSICS {kind} ({ar['x_shift_px']:.2f}, {ar['y_shift_px']:.2f}) miss {miss:.2f} px, {ar['seconds']:.1f} s"
    return line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=rd.default_root())
    ap.add_argument("--crs", default=None, help="deliver the second image in this CRS (default: the same UTM)")
    args = ap.parse_args()
    if args.root is None or not (args.root / "README.md").exists():
        sys.exit("no ../shared/realdata here; pass --root")
    if not AROSICS_PYTHON.exists():
        print(f"AROSICS: no {AROSICS_PYTHON.parent.parent.name} here (see this file's docstring); no comparison")
    for name, a, b, boxes in pairs(args.root):
        with tempfile.TemporaryDirectory() as work:
            print(measure(name, a, b, boxes, args.crs, Path(work)))


if __name__ == "__main__":
    main()
