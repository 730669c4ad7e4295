"""A small demo-like catalog for trying the web app, and for its tests and benchmark.

One air base ("khmeimim-sample", 400 m square at 0.5 m GSD, near Khmeimim) on three dates,
drawn as plain planforms on synthetic ground and written as tiled GeoTIFFs with overviews.
The detections are the drawn objects themselves (a perfect detector, model id "sample"),
so every figure the app shows has a known answer:

    date        An-124        Ka-52                  S-400 launcher   Su-34   truck
    2024-11-28  2 normal      3 normal               2 erect          4       0
    2024-12-05  2 normal      3 normal               2 erect          4       0
    2024-12-13  2 cargo_open  1 normal, 2 rotor_rem. gone             4       3

Events, tracks and the assessment come from the real pipeline (run_site without align and
detect stages), so they are whatever sitewatch concludes from those detections.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from sitewatch import equipment
from sitewatch.domain import Detection, OrientedBox, Site, SiteGrid, Zone
from sitewatch.geo.grid import grid_transform, site_grid
from sitewatch.geo.synthetic import ground_texture, write_geotiff
from sitewatch.store import (
    AlignmentResult,
    add_site,
    finish_run,
    open_catalog,
    save_alignment,
    save_detections,
    set_reference_image,
    start_run,
)
from sitewatch.web.security import folder_name
from sitewatch.workflow.ingest import ingest
from sitewatch.workflow.pipeline import run_site

SITE = "khmeimim-sample"
LAT, LON = 35.401, 35.948
GSD_M = 0.5
SIDE_PX = 800  # 400 m: the transport apron, the helipad, the S-400 site and a row of fighters
DATES = (datetime(2024, 11, 28, 8, 30, tzinfo=UTC), datetime(2024, 12, 5, 8, 40, tzinfo=UTC),
         datetime(2024, 12, 13, 8, 35, tzinfo=UTC))
HEADING = 355.0  # aprons parallel to the runway, which runs 355 degrees


@dataclass(frozen=True)
class Item:
    type: str
    x: float  # metres east of the site centre
    y: float  # metres north of it
    heading: float
    states: tuple[str | None, str | None, str | None]  # per date; None: absent


# (type, offset, heading, state on each date)
ITEMS = (
    Item("An-124", 60, 90, HEADING, ("normal", "normal", "cargo_open")),
    Item("An-124", 60, -10, HEADING, ("normal", "normal", "cargo_open")),
    Item("Ka-52", -130, 120, 85.0, ("normal", "normal", "rotor_removed")),
    Item("Ka-52", -130, 95, 85.0, ("normal", "normal", "rotor_removed")),
    Item("Ka-52", -130, 70, 85.0, ("normal", "normal", "normal")),
    Item("S-400 launcher", 110, -140, 30.0, ("erect", "erect", None)),
    Item("S-400 launcher", 135, -140, 30.0, ("erect", "erect", None)),
    Item("Su-34", -60, -60, 85.0, ("normal", "normal", "normal")),
    Item("Su-34", -60, -85, 85.0, ("normal", "normal", "normal")),
    Item("Su-34", -60, -110, 85.0, ("normal", "normal", "normal")),
    Item("Su-34", -60, -135, 85.0, ("normal", "normal", "normal")),
    Item("truck", 20, 140, 265.0, (None, None, "normal")),
    Item("truck", 20, 130, 265.0, (None, None, "normal")),
    Item("truck", 20, 120, 265.0, (None, None, "normal")),
)

ZONES = (  # name, kind, centre, size (x, y) in metres from the site centre
    ("transport_apron", "apron", (60, 50), (110, 220)),
    ("helipad", "helipad", (-130, 95), (60, 110)),
    ("s400_site", "air_defence_site", (125, -140), (90, 60)),
    ("tactical_apron", "apron", (-60, -95), (50, 110)),
)
CLASS_GREY = {"aircraft": 0.82, "helicopter": 0.7, "air_defence": 0.45, "vehicle": 0.9, "ship": 0.6}


def sample_site() -> Site:
    grid = site_grid(LAT, LON, SIDE_PX * GSD_M, SIDE_PX * GSD_M, gsd_m=GSD_M)
    cx, cy = _centre(grid)
    zones = tuple(Zone(name, kind, ((cx + x - w / 2, cy + y - h / 2), (cx + x + w / 2, cy + y - h / 2),
                                    (cx + x + w / 2, cy + y + h / 2), (cx + x - w / 2, cy + y + h / 2)))
                  for name, kind, (x, y), (w, h) in ZONES)
    return Site(SITE, "airbase", LAT, LON, grid, zones)


def _centre(grid: SiteGrid) -> tuple[float, float]:
    left, bottom, right, top = grid.bounds
    return (left + right) / 2, (bottom + top) / 2


def detections_on(site: Site, date_index: int, image_id: str) -> list[Detection]:
    cx, cy = _centre(site.grid)
    out = []
    for k, it in enumerate(ITEMS):
        state = it.states[date_index]
        if state is None:
            continue
        t = equipment.get(it.type)
        length, width = t.footprint(state)
        score = 0.97 - 0.01 * (k % 5)  # distinct, plausible scores
        out.append(Detection(OrientedBox(cx + it.x, cy + it.y, length, width, it.heading), t.cls, t.name, state,
                             score, score - 0.05, score - 0.1, image_id=image_id, model_id="sample",
                             model_version="0"))
    return out


def _draw(site: Site, date_index: int, seed: int) -> np.ndarray:
    g = site.grid
    ground = ground_texture(g.height_px, g.width_px, seed=11) * 0.5 + 0.25
    rgb = np.dstack([ground * 0.95, ground * 0.92, ground * 0.85]).astype(np.float32)
    rgb *= 0.97 + 0.03 * date_index  # a slightly different look on each date
    for d in detections_on(site, date_index, ""):
        pts = np.array([g.to_pixel(x, y) for x, y in d.box.corners()], np.float32)
        shadow = pts + np.array([3.0, 2.0], np.float32)  # sun in the north-west, shadow to the south-east
        cv2.fillPoly(rgb, [np.round(shadow).astype(np.int32)], (0.15, 0.15, 0.17), lineType=cv2.LINE_AA)
        grey = CLASS_GREY[d.cls]
        cv2.fillPoly(rgb, [np.round(pts).astype(np.int32)], (grey, grey, grey * 0.98), lineType=cv2.LINE_AA)
        nose = (pts[0] + pts[3]) / 2  # front-left and front-right corners
        cv2.circle(rgb, tuple(int(v) for v in np.round(nose)), 2, (0.3, 0.3, 0.35), -1)
    noise = np.random.default_rng(seed).normal(0, 0.01, rgb.shape).astype(np.float32)
    return np.clip((rgb + noise) * 255, 1, 255).astype(np.uint8)


def build_sample(folder: str | Path, db: str | None = None, run_pipeline: bool = True):
    """Write the sample imagery into folder/imagery and its catalog (folder/catalog.db unless
    db names another); returns (db, site, image ids in date order). With run_pipeline the
    events, tracks, assessment and report come from sitewatch.workflow.pipeline.run_site (report into
    folder/reports/<site>), as the web app's jobs write them."""
    out = Path(folder)
    (out / "imagery").mkdir(parents=True, exist_ok=True)
    db = db or str(out / "catalog.db")
    site = sample_site()
    paths = []
    for i, when in enumerate(DATES):
        img = np.moveaxis(_draw(site, i, seed=100 + i), -1, 0)
        p = out / "imagery" / f"{SITE}_{when:%Y%m%d}.tif"
        write_geotiff(p, img, site.grid.crs, grid_transform(site.grid), overviews=True,
                      tags={"TIFFTAG_DATETIME": f"{when:%Y:%m:%d %H:%M:%S}"})
        paths.append(p)
    ids = []
    with open_catalog(db) as catalog:
        add_site(catalog, site)
        for p, when in zip(paths, DATES):
            o = ingest(catalog, [str(p)], site=SITE, when=when)[0]
            if o.status == "failed":
                raise RuntimeError(o.message)
            assert o.image is not None  # set on every outcome but a failed one
            ids.append(o.image.id)
        set_reference_image(catalog, SITE, ids[0])
        for k, image_id in enumerate(ids):
            save_alignment(catalog, SITE, AlignmentResult(image_id, ids[0], "reference" if k == 0 else "ok",
                                                          quality=1.0, residual_px=0.1, windows_used=16,
                                                          windows_total=16))
        run = start_run(catalog, "detect", SITE, {"model": "sample"})
        for k, image_id in enumerate(ids):
            save_detections(catalog, run, detections_on(site, k, image_id), site=SITE, crs=site.grid.crs)
        finish_run(catalog, run)
        if run_pipeline:
            run_site(catalog, SITE, out / "reports" / folder_name(SITE), align=False, detect=False)
    return db, site, ids


def expected_counts(date_index: int) -> dict[str, int]:
    """Detections per type on a date, from ITEMS (for tests)."""
    counts: dict[str, int] = {}
    for it in ITEMS:
        if it.states[date_index] is not None:
            counts[it.type] = counts.get(it.type, 0) + 1
    return counts



def sample_cache(cache: str | Path) -> Path:
    """The sample built in cache, once: a folder without the completion mark (an earlier
    build that died half way) is cleared and built again."""
    cache = Path(cache)
    mark = cache / ".complete"
    if not mark.exists():
        shutil.rmtree(cache, ignore_errors=True)
        build_sample(cache)
        mark.write_text("sample built\n")
    return cache


def sample_copy(cache: str | Path, dest: str | Path) -> str:
    """A private copy of the sample's catalog and reports in dest, built once in cache (the
    imagery stays in cache: the app only reads it). Returns the copy's catalog path."""
    cache, dest = sample_cache(cache), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(cache / "catalog.db", dest / "catalog.db")
    if (cache / "reports").exists():
        shutil.copytree(cache / "reports", dest / "reports", dirs_exist_ok=True)
    return str(dest / "catalog.db")
