"""Killing `sitewatch ingest` halfway (SIGKILL) and running it again gives the same catalog
as one uninterrupted run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from affine import Affine
from sqlalchemy import text

from sitewatch.domain import Site
from sitewatch.geo.grid import site_grid
from sitewatch.geo.synthetic import ground_texture, to_dtype, write_geotiff
from sitewatch.store import add_site, image_details, images_for_site, open_catalog

GRID = site_grid(35.401, 35.948, 200, gsd_m=1.0)  # 200 m site, 1 m pixels
N_FILES = 48
STEP = 4  # each run is killed once it has stored this many more; three kills leave most to do
SITEWATCH = str(Path(sys.executable).with_name("sitewatch"))


def write_folder(folder: Path) -> None:
    folder.mkdir()
    for k in range(N_FILES):
        data = np.stack([to_dtype(ground_texture(256, 256, seed=k), "uint8")] * 3)
        write_geotiff(folder / f"scene_202412{1 + k % 28:02d}_{k:03d}.tif", data, GRID.crs,
                      Affine(1.0, 0, GRID.origin_x - 28, 0, -1.0, GRID.origin_y + 28))


def snapshot(url: str) -> dict:
    """The ingested content, read back through the repository (so SQLite and PostgreSQL
    compare equal), without the wall-clock ingestion time."""
    with open_catalog(url) as cat:
        images = images_for_site(cat, "khmeimim")
        details = {i.id: image_details(cat, i.id) for i in images}
        with cat.engine.connect() as conn:
            n_links = conn.execute(text("SELECT COUNT(*) FROM site_images")).scalar()
    return {"images": images, "details": details, "links": n_links}


def count(cat) -> int:
    with cat.engine.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM images")).scalar()


def run_ingest(url: str, folder: Path) -> subprocess.Popen:
    env = {**os.environ, "SITEWATCH_DB": url}
    return subprocess.Popen([SITEWATCH, "ingest", str(folder)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_sigkill_then_rerun_equals_one_clean_run(catalog_url, tmp_path, tmp_path_factory):
    folder = tmp_path / "imgs"
    write_folder(folder)
    with open_catalog(catalog_url) as cat:
        add_site(cat, Site("khmeimim", "airbase", 35.401, 35.948, GRID))

    # kill it three times, each once it has stored a few more files. One catalog stays open
    # for the polling: reopening it runs the schema check, slow enough on PostgreSQL that a
    # run could finish between two polls.
    with open_catalog(catalog_url) as watcher:
        for _ in range(3):
            before = count(watcher)
            proc = run_ingest(catalog_url, folder)
            deadline = time.time() + 120
            while count(watcher) < before + STEP and proc.poll() is None and time.time() < deadline:
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL, "ingest finished before it could be killed"
            halfway = snapshot(catalog_url)
            assert before < len(halfway["images"]) < N_FILES, "the killed run stored nothing new, or all"
            # every image that is there is whole: it has its site link
            assert halfway["links"] == len(halfway["images"])

    assert run_ingest(catalog_url, folder).wait() == 0

    clean_db = str(tmp_path_factory.mktemp("clean") / "catalog.db")
    with open_catalog(clean_db) as cat:
        add_site(cat, Site("khmeimim", "airbase", 35.401, 35.948, GRID))
    assert run_ingest(clean_db, folder).wait() == 0
    assert snapshot(catalog_url) == snapshot(clean_db)
    assert len(snapshot(clean_db)["images"]) == N_FILES
