"""Event F1 on real pairs (issue 32): the planes that came and went between two dates.

The three same-airport Pleiades pairs of the Airbus set (`realdata.AIRBUS_PAIRS`), every
plane boxed on both dates, read from ../shared/realdata (never copied). Each pair is
wrapped as GeoTIFFs as in `bench/bench_align_real.py` (a nominal place, the second date's
georeference 25 m east and 15 m south off, --crs: delivered in another CRS), dated by
file name, and run exactly as a user would: a site GeoJSON, `sitewatch.add_sites`,
`sitewatch.ingest`, `sitewatch.run_site` with the shipped detector (align, detect,
compare, assess, report), then `sitewatch.site_events`.

Truth (`evaluation.real_pairs`): the labels of both dates, the second brought into the
first's frame by the pair's own offset from the independent ECC estimate
(`geo.synthetic.stable_shift` on plane-free tiles); a plane of like size at the same stand
on both dates stayed (within half its length, box sides at most 1.4 times apart), an
unpaired one of the first date departed, of the second arrived. "stayed" counts the whole
image; events count in the interior.

Scoring (`evaluation.event_scoring.score_events`): a reported arrival or departure matches
a true one of its kind within MATCH_M of the true plane's centre, or inside its labelled
box, one to one. A reported move of a plane is counted as the departure from its old stand
and the arrival at its new one (`moves_as_comings_and_goings`; civil types are outside the
catalogue, so one airliner is every other one to the tracker). Only the site's interior
counts: truth and reported events within BORDER_M of the grid's edge are left out on both
sides (a plane cut by the edge is half seen). Events of every confidence count.

All six images are on the detector's training side (`realdata.split_of`): the detector saw
their planes while training, so these figures are optimistic; the line says so.

    .venv/bin/python bench/eval_realpair_events.py [--crs EPSG:4326] [--root ../shared/realdata]

Prints one line per pair and overall, and the JSON record (bench/out/eval_realpair_events.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pyproj import Transformer

import sitewatch
from sitewatch.evaluation import realdata as rd
from sitewatch.evaluation.event_scoring import event_location, moves_as_comings_and_goings, score_events
from sitewatch.evaluation.real_pairs import pair_truth
from sitewatch.geo.grid import utm_crs
from sitewatch.geo.synthetic import stable_shift, wrap_pixels
from sitewatch.store import alignments_for_site, detections_for_image, images_for_site

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_align_realpairs import GSD, INSET_M, LAT, LON, SHIFT_M, _plane_free, _rgb  # noqa: E402

MATCH_M = 10.0  # a fifth of an airliner's length; the next stand is a wingspan (30 m or more) away
BORDER_M = 25.0  # half an airliner: a plane whose centre is nearer the edge is partly outside
OUT = Path(__file__).resolve().parent / "out" / "eval_realpair_events.json"


def wrap_as_site(work: Path, name: str, a: np.ndarray, b: np.ndarray, to_crs: str | None):
    """Both dates as GeoTIFFs dated by their names, and a site GeoJSON inside both;
    returns the GeoJSON path and the first date's top-left corner (site CRS)."""
    crs = utm_crs(LAT, LON)
    cx, cy = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(LON, LAT)
    h, w = a.shape[1:]
    x0, y0 = round(cx - w * GSD / 2), round(cy + h * GSD / 2)
    (work / "imagery").mkdir()
    wrap_pixels(work / "imagery" / f"{name}_2024-01-01.tif", a, crs, (x0, y0), GSD)
    wrap_pixels(work / "imagery" / f"{name}_2024-01-02.tif", b, crs, (x0, y0), GSD, shift_m=SHIFT_M, to_crs=to_crs)
    back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    left, right, top, bottom = x0 + INSET_M, x0 + w * GSD - INSET_M, y0 - INSET_M, y0 - h * GSD + INSET_M
    ring = [list(back.transform(x, y)) for x, y in ((left, top), (right, top), (right, bottom), (left, bottom))]
    site = {"type": "Feature", "properties": {"name": name, "kind": "airbase", "gsd_m": GSD},
            "geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]}}
    path = work / "site.geojson"
    path.write_text(json.dumps(site))
    return path, (x0, y0)


def in_interior(grid, x: float, y: float) -> bool:
    col, row = grid.to_pixel(x, y)
    k = BORDER_M / grid.gsd_m
    return k <= col <= grid.width_px - k and k <= row <= grid.height_px - k


def planes_found(truth_xy: list[tuple[float, float]], found: list) -> int:
    """Labelled planes with a detected aircraft within MATCH_M (greedy, one to one)."""
    left = [(d.box.cx, d.box.cy) for d in found if d.cls == "aircraft"]
    hits = 0
    for x, y in truth_xy:
        if left:
            k = int(np.argmin([np.hypot(x - u, y - v) for u, v in left]))
            if np.hypot(x - left[k][0], y - left[k][1]) <= MATCH_M:
                hits += 1
                left.pop(k)
    return hits


def run_pair(first: rd.RealImage, second: rd.RealImage, to_crs: str | None, work: Path) -> dict:
    name = f"airport-{first.image_id[:8]}"
    a, b = _rgb(first.path), _rgb(second.path)
    native = stable_shift(a.mean(axis=0), b.mean(axis=0), _plane_free(a.shape[1:], first.boxes, second.boxes))
    geojson, (x0, y0) = wrap_as_site(work, name, a, b, to_crs)
    t0 = time.perf_counter()
    with sitewatch.open_catalog(work / "catalog.db") as catalog:
        (site,) = sitewatch.add_sites(catalog, geojson)
        sitewatch.ingest(catalog, [work / "imagery"])
        sitewatch.run_site(catalog, name, work / "report")
        events = sitewatch.site_events(catalog, name)
        images = images_for_site(catalog, name)
        alignment = alignments_for_site(catalog, name)
        found = {im.id: detections_for_image(catalog, im.id) for im in images}
    took = time.perf_counter() - t0
    before, after = images[0].id, images[1].id
    reference = next(i for i, al in alignment.items() if al.status == "reference")
    # the reference frame's site coordinates of a pixel of the first date: the second
    # date's georeference is SHIFT_M off, so if it is the reference, its frame is too
    east, north = (SHIFT_M[0], -SHIFT_M[1]) if reference == after else (0.0, 0.0)

    def to_site(col: float, row: float) -> tuple[float, float]:
        return x0 + col * GSD + east, y0 - row * GSD + north

    truth, stayed = pair_truth(first.boxes, second.boxes, native[:2], GSD, to_site, before, after)
    grid = site.grid
    truth = [t for t in truth if in_interior(grid, t.x, t.y)]
    pairs = [(before, after)] * len(events)
    events, pairs, truth = moves_as_comings_and_goings(events, pairs, truth, classes=("aircraft", "helicopter"))
    comings = [(e, p) for e, p in zip(events, pairs) if e.kind in ("arrived", "departed")
               and in_interior(grid, *event_location(e))]
    # scored: the classes the labels box every instance of (a helicopter reported at these
    # civil airports is a false one); vehicles and ships are not labelled, so not scored
    kept = [(e, p) for e, p in comings if e.cls in first.complete]
    scores = score_events([e for e, _ in kept], [p for _, p in kept], truth, tolerance_m=MATCH_M)
    # Detections are stored in each image's own georeference (the second date's SHIFT_M
    # off): a label is looked for there, and counted if it truly stands in the interior.
    detection = []
    for image_id, boxes, own in ((before, first.boxes, (0.0, 0.0)), (after, second.boxes, (SHIFT_M[0], -SHIFT_M[1]))):
        shift = native[:2] if image_id == after else (0.0, 0.0)
        xy = [(x0 + c * GSD + own[0], y0 - r * GSD + own[1]) for c, r in boxes[:, :2]
              if in_interior(grid, x0 + (c - shift[0]) * GSD, y0 - (r - shift[1]) * GSD)]
        detection.append({"labelled": len(xy), "found": planes_found(xy, found[image_id])})
    return {"pair": f"{first.image_id[:8]}+{second.image_id[:8]}", "crs": to_crs or "UTM",
            "split": sorted({first.split, second.split}), "alignment": alignment[after].status,
            "truth": {k: sum(t.kind == k for t in truth) for k in ("arrived", "departed")}, "stayed": stayed,
            "scores": {k: {"tp": s.tp, "fp": s.fp, "fn": s.fn} for k, s in scores.items() if k in ("arrived", "departed")},
            "planes_detected": detection,
            "unscored_events": {c: sum(e.cls == c for e, _ in comings)
                                for c in sorted({e.cls for e, _ in comings} - set(first.complete))},
            "seconds": round(took, 1)}


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def line(label: str, counts: dict[str, dict[str, int]]) -> str:
    tp, fp, fn = (sum(c[k] for c in counts.values()) for k in ("tp", "fp", "fn"))
    p, r, f = prf(tp, fp, fn)
    per_kind = ", ".join(f"{k} {c['tp']}/{c['tp'] + c['fn']} found, {c['fp']} false" for k, c in counts.items())
    return f"{label}: event precision {p:.2f}, recall {r:.2f}, F1 {f:.2f} ({per_kind})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=rd.default_root())
    ap.add_argument("--crs", default=None, help="deliver the second date in this CRS (default: the same UTM)")
    args = ap.parse_args()
    if args.root is None or not (args.root / "README.md").exists():
        print("no ../shared/realdata here; pass --root")
        return
    ims = {im.image_id[:8]: im for im in rd.airbus_aircraft(args.root)}
    results = []
    for a, b in rd.AIRBUS_PAIRS:
        with tempfile.TemporaryDirectory() as work:
            r = run_pair(ims[a], ims[b], args.crs, Path(work))
        results.append(r)
        dets = ", ".join(f"{d['found']}/{d['labelled']}" for d in r["planes_detected"])
        unscored = ", ".join(f"{n} {c}" for c, n in r["unscored_events"].items()) or "none"
        print(line(f"{r['pair']} ({r['crs']}, {'+'.join(r['split'])}, alignment {r['alignment']}, "
                   f"{r['stayed']} stayed, planes detected {dets}, unscored {unscored}, {r['seconds']:.0f} s)", r["scores"]))
    total = {k: {m: sum(r["scores"][k][m] for r in results) for m in ("tp", "fp", "fn")} for k in ("arrived", "departed")}
    splits = sorted({s for r in results for s in r["split"]})
    caveat = " (all on the detector's training side: optimistic)" if splits == ["train"] else ""
    print(line(f"overall, 3 Airbus pairs, match within {MATCH_M:.0f} m{caveat}", total))
    p, rc, f = prf(*(sum(total[k][m] for k in total) for m in ("tp", "fp", "fn")))
    record = {"pairs": results, "overall": {"precision": round(p, 3), "recall": round(rc, 3), "f1": round(f, 3),
                                            **total}, "match_m": MATCH_M, "border_m": BORDER_M,
              "splits": splits, "model": sitewatch.load_detector().info.version}
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record["overall"]))


if __name__ == "__main__":
    main()
