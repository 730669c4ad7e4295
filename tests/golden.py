"""The recorded behaviour of the whole pipeline on `scenarios/smallbase.yaml`: every stored
detection and event and the assessment, as `tests/data/smallbase-golden.json` holds them.

A change to the code that is meant to keep behaviour (a move, a tidy) must leave this record
as it is (`tests/test_api.py` compares). A change meant to alter it (a new model, a new rule)
rewrites the file, and the diff shows what it altered:

    .venv/bin/python tests/golden.py            # rewrites tests/data/smallbase-golden.json
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import sitewatch
from sitewatch.store import detections_for_image, images_for_site

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "smallbase-golden.json"
SITE = "smallbase"

# What may differ between two machines running the same code (ONNX Runtime's kernels differ
# by CPU in the last bits), and no more.
CENTRE_M, SIDE_M, HEADING_DEG, SCORE = 0.05, 0.05, 0.5, 0.005


def record(catalog) -> dict:
    """The site's detections (by date), events and assessment, in a stable order."""
    images = sorted(images_for_site(catalog, SITE), key=lambda im: im.acquired)
    detections = []
    for image in images:
        for d in detections_for_image(catalog, image.id):
            b = d.box
            detections.append({"date": image.acquired.isoformat(), "cls": d.cls, "type": d.type, "state": d.state,
                               "cx": round(b.cx, 3), "cy": round(b.cy, 3), "length": round(b.length, 3),
                               "width": round(b.width, 3), "heading": round(b.heading_deg, 2),
                               "score": round(d.score, 4)})
    detections.sort(key=lambda j: (j["date"], j["cls"], j["cx"], j["cy"]))
    events = sorted(({"kind": e.kind, "cls": e.cls, "type": e.type, "zone": e.zone,
                      "confidence": round(e.confidence, 4)} for e in sitewatch.site_events(catalog, SITE)),
                    key=lambda j: (j["kind"], j["cls"], j["type"], j["zone"] or "", j["confidence"]))
    a = sitewatch.site_assessment(catalog, SITE)
    assessment = None if a is None else {"posture": a.posture, "likelihood": a.likelihood,
                                         "confidence": a.confidence, "headline": a.headline}
    model = sitewatch.load_detector().info
    return {"scenario": "scenarios/smallbase.yaml", "model": f"{model.model_id} {model.version}",
            "detections": detections, "events": events, "assessment": assessment}


def run_and_record(folder: Path) -> dict:
    """Simulate, ingest and run the site in `folder` (as the README's example does) and record it."""
    shutil.copy(ROOT / "scenarios" / "smallbase.yaml", folder / "smallbase.yaml")
    with contextlib.chdir(folder):
        sitewatch.simulate_scenario("smallbase.yaml", "scenes")
        with sitewatch.open_catalog("catalog.db") as catalog:
            sitewatch.add_sites(catalog, "smallbase.yaml")
            sitewatch.ingest(catalog, ["scenes"])
            sitewatch.run_site(catalog, SITE, "report")
            return record(catalog)


def _heading_gap(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def differences(got: dict, want: dict) -> list[str]:
    """Each way `got` differs from `want` beyond what two machines may differ by, one line each."""
    out = []
    if got["model"] != want["model"]:
        out.append(f"model {got['model']} (recorded with {want['model']})")
    if len(got["detections"]) != len(want["detections"]):
        out.append(f"{len(got['detections'])} detections, recorded {len(want['detections'])}")
    for g, w in zip(got["detections"], want["detections"]):
        same_kind = all(g[k] == w[k] for k in ("date", "cls", "type", "state"))
        close = (abs(g["cx"] - w["cx"]) <= CENTRE_M and abs(g["cy"] - w["cy"]) <= CENTRE_M
                 and abs(g["length"] - w["length"]) <= SIDE_M and abs(g["width"] - w["width"]) <= SIDE_M
                 and _heading_gap(g["heading"], w["heading"]) <= HEADING_DEG and abs(g["score"] - w["score"]) <= SCORE)
        if not (same_kind and close):
            out.append(f"detection {g} recorded as {w}")
    key = ("kind", "cls", "type", "zone")
    if [tuple(e[k] for k in key) for e in got["events"]] != [tuple(e[k] for k in key) for e in want["events"]]:
        out.append(f"events {[tuple(e[k] for k in key) for e in got['events']]}, "
                   f"recorded {[tuple(e[k] for k in key) for e in want['events']]}")
    else:
        out += [f"event {g} confidence recorded {w['confidence']}" for g, w in zip(got["events"], want["events"])
                if abs(g["confidence"] - w["confidence"]) > SCORE]
    if got["assessment"] != want["assessment"]:
        out.append(f"assessment {got['assessment']}, recorded {want['assessment']}")
    return out


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        rec = run_and_record(Path(tmp))
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(rec, indent=1) + "\n")
    print(f"{GOLDEN}: {len(rec['detections'])} detections, {len(rec['events'])} events, "
          f"{rec['assessment']['headline'] if rec['assessment'] else 'no assessment'}", file=sys.stderr)
