"""Pixel change on real pixels: the LEVIR-CD pair in ../shared/realdata/levir_cd.

One 256 x 256 before/after pair of real 0.5 m imagery (new buildings) with its binary change
mask. The pair is put on a synthetic 0.5 m site grid (the images are not georeferenced) and
run through `sitewatch.change.pixel.change_regions`, the stage that reports change the
detector cannot name. Scored on the 1 m working grid against the mask:

- pixel precision, recall and IoU of the reported regions;
- true buildings found: mask components of at least the minimum region area with at least
  half their area inside a reported region;
- the same with the cloud and cloud-shadow filter off (`cloud_share` above 1), in the same
  run, to show what the filter costs on a cloud-free real pair.

    .venv/bin/python bench/eval_levir.py

What it shows (2026-11-25): with the refusal off, nothing is found. The pair is a woodland that became a housing
estate, so nearly the whole scene changed, while IR-MAD assumes most of it did not: its
reweighting settles on whatever looks consistent, and the new roofs score lower than the
cleared ground around them. Site monitoring compares mostly unchanged scenes, so the stage
now refuses such a pair (`pixel.ChangedThroughout`: the two dates' luminance correlates
0.12 on 4 x 4 blocks of working cells, against 0.43-0.99 on simulated site pairs and 0.66
on the painted no-change test pair; the threshold is 0.25), and the assessment says so in a
caveat. IR-MAD's own smallest canonical correlation could not flag it (0.74 here, 0.70 on
the painted pair). The script reports the refusal and, with the refusal off, what IR-MAD
would have found.

Skips (exit 0, message) when ../shared/realdata is absent.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LEVIR = ROOT.parent / "shared" / "realdata" / "levir_cd"
if not LEVIR.exists():
    LEVIR = Path("/work/shared/realdata/levir_cd")
GSD = 0.5


def _score(site, regions, truth: np.ndarray, min_area_m2: float) -> dict:
    """truth: boolean mask on the site grid."""
    pred = np.zeros(truth.shape, np.uint8)
    for r in regions:
        pts = np.array([site.grid.to_pixel(x, y) for x, y in r.polygon], np.float32)
        cv2.fillPoly(pred, [np.round(pts).astype(np.int32)], 1)
    pred = pred.astype(bool)
    tp, fp, fn = int((pred & truth).sum()), int((pred & ~truth).sum()), int((~pred & truth).sum())
    n, labels, stats, _ = cv2.connectedComponentsWithStats(truth.astype(np.uint8), connectivity=8)
    big = [k for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] * GSD * GSD >= min_area_m2]
    found = sum(1 for k in big if pred[labels == k].mean() >= 0.5)
    return {"regions": len(regions), "pixel_precision": round(tp / max(tp + fp, 1), 3),
            "pixel_recall": round(tp / max(tp + fn, 1), 3), "iou": round(tp / max(tp + fp + fn, 1), 3),
            "buildings": len(big), "buildings_found": found}


def main() -> dict | None:
    from sitewatch.change.pixel import ChangedThroughout, PixelChangeParams, change_regions
    from sitewatch.domain import Site, SiteGrid

    files = [LEVIR / d / "test_2_0000_0000.png" for d in ("A", "B", "label")]
    if not all(f.exists() for f in files):
        print(f"eval_levir: {LEVIR} is absent; nothing to measure")
        return None
    before, after = (cv2.imread(str(f), cv2.IMREAD_COLOR)[..., ::-1].copy() for f in files[:2])
    truth = cv2.imread(str(files[2]), cv2.IMREAD_GRAYSCALE) > 127
    h, w = truth.shape
    grid = SiteGrid("EPSG:32637", 500000.0, 3_900_000.0, GSD, w, h)
    site = Site("levir", "airbase", 35.4, 35.9, grid, ())
    params = PixelChangeParams()
    record = {"pair": "LEVIR-CD test_2_0000_0000", "size_px": [w, h], "gsd_m": GSD,
              "changed_share": round(float(truth.mean()), 3)}
    try:
        change_regions(site, before, after, "A", "B", (), params)
        record["refused"] = None
    except ChangedThroughout as exc:
        record["refused"] = {"reason": str(exc), "luminance_correlation": round(exc.correlation, 3)}
    # What IR-MAD itself makes of the pair, with the refusal turned off.
    unguarded = replace(params, min_correlation=-1.0)
    for name, p in (("with_cloud_filter", unguarded), ("without_cloud_filter", replace(unguarded, cloud_share=1.01))):
        regions = change_regions(site, before, after, "A", "B", (), p)
        record[name] = _score(site, regions, truth, p.min_area_m2)
    if record["refused"]:
        print(f"LEVIR-CD real pair: refused as changed throughout ({record['refused']['reason']}); "
              "with the refusal off, IR-MAD gives:")
    r = record["with_cloud_filter"]
    print(f"LEVIR-CD real pair ({w}x{h} px at {GSD} m, {record['changed_share']:.0%} changed): "
          f"{r['regions']} regions, pixel precision {r['pixel_precision']}, recall {r['pixel_recall']}, "
          f"IoU {r['iou']}, buildings found {r['buildings_found']}/{r['buildings']} "
          f"(without the cloud filter: IoU {record['without_cloud_filter']['iou']}, "
          f"{record['without_cloud_filter']['buildings_found']}/{record['without_cloud_filter']['buildings']})")
    print(json.dumps(record))
    out = ROOT / "bench" / "out" / "eval_levir.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main()
    sys.exit(0)
