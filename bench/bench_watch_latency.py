"""Latency of the watch, on loopback: from an image appearing (a file renamed into a watched
folder, or an item published in a STAC API) to its alerts received by a real HTTP receiver.

    .venv/bin/python bench/bench_watch_latency.py [--images 10] [--interval 5] [--settle 1] [--seed 30]
        [--sources folder,stac-api] [--no-events]

The watcher is `Watcher.run_forever` (what `sitewatch watch --interval` runs) in a thread of
this process (the folder watched for file-system events too, unless `--no-events`), beside
the receiver (tests/webhook_receiver.py) and, for the STAC API, the test server
(tests/stac_api_server.py). The images are the small base's dates and copies of them on
later dates (tests/watch_kill.arrivals): the first is taken without alerts, then each later
one gives alerts (the scene leaves, comes back, leaves again). An image appears a random 0 to
`--interval` seconds after the previous one's alerts arrived, so appearances fall anywhere in
the poll cycle. Per image: the latency to the last of its alerts, its processing time (the
take: ingest, align, detect, compare, assess and the commit) and the issue's budget, the poll
interval plus that processing time plus 5 s. Prints p50, p95 and max for each source with the
budget beside them, and whether any alert was lost or came twice; writes
bench/out/bench_watch_latency.json. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SLACK_S = 5.0  # the allowance beyond the poll interval and the processing


def _footprint(tif: Path) -> tuple[dict, datetime]:
    import rasterio
    from rasterio.warp import transform_bounds
    from shapely.geometry import box, mapping

    from sitewatch.geo.raster import parse_datetime

    with rasterio.open(tif) as src:
        bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        when = parse_datetime(src.tags()["ACQUISITION_DATETIME"])
    assert when is not None
    return dict(mapping(box(*bounds))), when if when.tzinfo else when.replace(tzinfo=UTC)


def _pct(values: list[float], q: float) -> float:
    """The q-quantile, linear between order statistics (q=0.95: p95)."""
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def run_source(kind: str, images: list[Path], work: Path, interval: float, settle: float, rng: random.Random,
               timeout_s: float = 300.0, events: bool = True) -> dict:
    """Watch one source of `kind` (folder or stac-api) while the images appear one by one."""
    import sitewatch
    import sitewatch.watch.service as service
    from sitewatch.detect.model import DetectionModel
    from sitewatch.store import add_subscription, list_alerts, open_catalog
    from sitewatch.watch import Watcher
    from sitewatch.watch.stac_api import ApiSource
    from sitewatch.watch.webhooks import new_secret
    from tests.stac_api_server import Served, StacApiState
    from tests.watch_kill import RULES, SITE
    from tests.webhook_receiver import Receiver

    work.mkdir(parents=True)
    rx = Receiver()
    api = state = None
    inbox = work / "inbox"
    if kind == "stac-api":
        state = StacApiState(filter_support=True)
        api = Served(state)
        location = ApiSource(api.url, "vhr").to_location()
    else:
        inbox.mkdir()
        location = str(inbox)
    db = work / "catalog.db"
    with open_catalog(db) as cat:
        sitewatch.add_sites(cat, ROOT / "scenarios" / "smallbase.yaml")
        add_subscription(cat, SITE, [(kind, location)], RULES, rx.url, new_secret())

    takes: list[dict] = []  # every take: its file's path, start, end, image id, status
    real_take = service.take_file

    def timed_take(*args, **kwargs):
        start = time.monotonic()
        t = real_take(*args, **kwargs)
        takes.append({"path": t.path, "start": start, "end": time.monotonic(), "image_id": t.image_id,
                      "status": t.status, "alerts": t.alerts})
        return t

    service.take_file = timed_take
    stop = threading.Event()
    said: list[str] = []
    cat = open_catalog(db)
    w = Watcher(cat, DetectionModel(), work / "out", settle_s=settle, say=said.append, sleep=stop.wait,
                api_options={"backoff_s": 0.2}, events=events)
    thread = threading.Thread(target=w.run_forever, args=(interval, stop.is_set), daemon=True)
    thread.start()
    rows = []
    try:
        for n, tif in enumerate(images):
            if n:
                time.sleep(rng.uniform(0.0, interval))
            done = len(takes)
            if kind == "stac-api":
                assert state is not None
                geometry, when = _footprint(tif)
                appeared = time.monotonic()
                state.add_item(f"item-{n:02d}-{tif.stem}", tif, geometry, when)
            else:
                part = inbox / f".{tif.name}.part"
                shutil.copyfile(tif, part)
                appeared = time.monotonic()
                part.rename(inbox / tif.name)
            deadline = appeared + timeout_s
            while time.monotonic() < deadline and not [t for t in takes[done:] if t["status"] == "processed"]:
                time.sleep(0.05)
            taken = [t for t in takes[done:] if t["status"] == "processed"]
            if not taken:
                rows.append({"image": tif.name, "error": "not taken in time", "said": said[-5:]})
                continue
            t = taken[0]
            while time.monotonic() < deadline:  # the alerts of this image, all received
                got = [r for r in rx.requests if json.loads(r.body)["data"]["image_id"] == t["image_id"]]
                if len(got) >= t["alerts"]:
                    break
                time.sleep(0.05)
            row = {"image": tif.name, "alerts": t["alerts"], "received": len(got),
                   "processing_s": round(t["end"] - t["start"], 3), "taken_after_s": round(t["start"] - appeared, 3)}
            if n and got:
                row["latency_s"] = round(max(r.at for r in got) - appeared, 3)
                row["budget_s"] = round(interval + row["processing_s"] + SLACK_S, 3)
            rows.append(row)
    finally:
        stop.set()
        thread.join(60)
        service.take_file = real_take
        stored = {a.id for a in list_alerts(cat)}
        cat.close()
        ids = rx.ids()
        rx.close()
        if api is not None:
            api.stop()
    measured = [r for r in rows if "latency_s" in r]
    lat = [r["latency_s"] for r in measured]
    proc = [r["processing_s"] for r in measured]
    out = {"source": kind, "images": len(images), "measured": len(measured), "rows": rows,
           "alerts_stored": len(stored), "alerts_received": len(set(ids)), "lost": len(stored - set(ids)),
           "duplicated": len(ids) - len(set(ids)),
           "within_budget": sum(r["latency_s"] <= r["budget_s"] for r in measured)}
    if lat:
        out.update({"latency_p50_s": round(statistics.median(lat), 2), "latency_p95_s": round(_pct(lat, 0.95), 2),
                    "latency_max_s": round(max(lat), 2), "processing_p50_s": round(statistics.median(proc), 2),
                    "processing_p95_s": round(_pct(proc, 0.95), 2),
                    "budget_p95_s": round(interval + _pct(proc, 0.95) + SLACK_S, 2)})
    return out


def main() -> None:
    from tests.watch_kill import arrivals

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10, help="images measured per source (one more is taken first)")
    ap.add_argument("--interval", type=float, default=5.0, help="the watcher's poll interval, seconds")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds a folder's file must stay unchanged")
    ap.add_argument("--seed", type=int, default=30)
    ap.add_argument("--sources", default="folder,stac-api")
    ap.add_argument("--events", action=argparse.BooleanOptionalAction, default=True,
                    help="watch the folder for file-system events too (--no-events: polling only)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="sitewatch-latency-") as tmp:
        work = Path(tmp)
        images = arrivals(work / "images", count=args.images + 1)
        for kind in args.sources.split(","):
            r = run_source(kind, images, work / kind, args.interval, args.settle, rng, events=args.events)
            results.append(r)
            if "latency_p95_s" in r:
                how = " (events)" if kind == "folder" and args.events else ""
                print(f"{kind}{how}: p95 {r['latency_p95_s']:.1f} s (median {r['latency_p50_s']:.1f}, max "
                      f"{r['latency_max_s']:.1f}) from appearing to alert received, over {r['measured']} images; "
                      f"budget {args.interval:g} s poll + {r['processing_p95_s']:.1f} s processing (p95) + "
                      f"{SLACK_S:g} s = {r['budget_p95_s']:.1f} s; {r['within_budget']}/{r['measured']} within "
                      f"their own budget; alerts lost {r['lost']}, duplicated {r['duplicated']}", flush=True)
            else:
                print(f"{kind}: nothing measured: {r['rows']}", flush=True)
    record = {"interval_s": args.interval, "settle_s": args.settle, "seed": args.seed, "slack_s": SLACK_S,
              "events": args.events,
              "sources": results}
    print(json.dumps({k: v for k, v in record.items() if k != "sources"}
                     | {"sources": [{k: v for k, v in r.items() if k != "rows"} for r in results]}))
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "bench_watch_latency.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
