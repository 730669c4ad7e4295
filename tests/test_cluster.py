"""Detection on Dask (detect.cluster): the same detections as in-process on a LocalCluster,
on a scheduler and workers started as separate processes, and after a worker is killed
with SIGKILL mid-run; work in flight is bounded; the CLI's folder and --cluster modes.

The scenes are small simulated airbases (1500 px at 0.5 m: four 1024-px tiles each, with
seams) run through the shipped model in batches of one tile, so a run is a dozen tasks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sitewatch.detect.inference import detect_scene
from sitewatch.detect.model import DEFAULT_MODEL, DetectionModel
from sitewatch.errors import InputError

HAVE_DASK = importlib.util.find_spec("distributed") is not None
needs_dask = pytest.mark.skipif(not HAVE_DASK, reason="dask.distributed is not installed (pip install "
                                                      "'sitewatch[cluster]')")
pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no shipped model in src/sitewatch/models")

SEEDS = (424251, 424252, 424253)
SCENE_PX = 1500
BATCH = 1  # one tile a task: a dozen tasks, so a worker can be killed mid-run
START_TIMEOUT_S = 60


def _key(d):
    b = d.box
    return (d.image_id, d.cls, d.type, d.state, d.score, d.type_score, d.state_score, b.cx, b.cy, b.length, b.width,
            b.heading_deg, d.window)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """(image paths, the model, {path: sorted in-process detections})."""
    from sitewatch.simulate import simulate_scenario
    from sitewatch.simulate.random_scenario import random_scenario

    root = tmp_path_factory.mktemp("cluster-scenes")
    paths = []
    for seed in SEEDS:
        scenario = random_scenario(seed, kind="airbase", gsd_m=0.5, size_px=SCENE_PX, n_dates=1, density=1.5)
        paths.append(str(simulate_scenario(scenario, root / str(seed)).images[0]))
    model = DetectionModel()
    expected = {p: sorted(map(_key, detect_scene(p, model, batch=BATCH)[0])) for p in paths}
    return paths, model, expected


def _on_cluster(client, paths, model, **kw):
    from sitewatch.detect import cluster

    plans = [cluster.plan_scene(p, model, BATCH) for p in paths]
    return {r.path: sorted(map(_key, r.detections)) for r in cluster.detect_scenes(client, plans, model, **kw)}


def test_the_scenes_have_detections_and_seams(scenes):
    paths, model, expected = scenes
    from sitewatch.detect import cluster

    assert all(cluster.plan_scene(p, model, BATCH).n_tiles == 4 for p in paths)
    assert sum(len(v) for v in expected.values()) >= 10  # something to compare, on every scene
    assert all(expected.values())


@needs_dask
def test_a_local_cluster_gives_the_in_process_detections_with_bounded_work_in_flight(scenes):
    from sitewatch.detect import cluster

    paths, model, expected = scenes
    known_to_scheduler, seen = [], {}

    with cluster.connect("local:2") as client:
        def progress(i, done, total):
            seen[i] = (done, total)
            known_to_scheduler.append(client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)))

        got = _on_cluster(client, paths, model, progress=progress, max_in_flight=2)
        assert sorted(client.nthreads().values()) == [1, 1]
    assert got == expected
    assert seen == {i: (4, 4) for i in range(len(paths))}
    # 12 tasks in all; at most the cap (and one or two just released) are ever on the scheduler
    assert max(known_to_scheduler) <= 4


@pytest.fixture
def dask_processes(tmp_path, request):
    """Start `dask scheduler` and two `dask worker` processes on loopback; yields
    (address, worker processes); all are ended afterwards. Indirectly parametrised, the
    parameter is the scheduler's allowed failures of a task (dask's default without)."""
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if getattr(request, "param", None) is not None:
        env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = str(request.param)
    info = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(info)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        workers = [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                                     "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for _ in range(2)]
        procs += workers
        yield address, workers
    finally:
        for p in reversed(procs):  # the workers first, then the scheduler
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@needs_dask
def test_a_scheduler_and_two_workers_started_apart_give_the_in_process_detections(scenes, dask_processes):
    from sitewatch.detect import cluster

    paths, model, expected = scenes
    address, _ = dask_processes
    with cluster.connect(address) as client:
        client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        assert _on_cluster(client, paths, model) == expected


@needs_dask
def test_a_worker_killed_mid_run_changes_nothing(scenes, dask_processes):
    from sitewatch.detect import cluster

    paths, model, expected = scenes
    address, workers = dask_processes
    killed = {}
    with cluster.connect(address) as client:
        client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        pid_of = client.run(os.getpid)  # worker address -> its process
        assert set(pid_of.values()) == {p.pid for p in workers}

        def progress(i, done, total):
            if killed:
                return
            busy = [a for a, keys in client.processing().items() if keys]
            if busy:  # kill a worker while it is running a task
                killed["pid"], killed["running"] = pid_of[busy[0]], list(client.processing()[busy[0]])
                os.kill(killed["pid"], signal.SIGKILL)

        got = _on_cluster(client, paths, model, progress=progress)
    assert killed and killed["running"], "no worker was busy to kill"
    assert next(p for p in workers if p.pid == killed["pid"]).wait(timeout=10) == -signal.SIGKILL
    assert got == expected


def _kill_a_busy_worker(client, killed: dict):
    """A progress callback that SIGKILLs the first worker seen running a task."""
    pid_of = client.run(os.getpid)

    def progress(i, done, total):
        busy = [a for a, keys in client.processing().items() if keys]
        if busy and not killed:
            killed["pid"] = pid_of[busy[0]]
            os.kill(killed["pid"], signal.SIGKILL)
    return progress


@needs_dask
@pytest.mark.parametrize("dask_processes", [0], indirect=True)
def test_a_task_that_kills_its_workers_is_one_error_naming_the_image(scenes, dask_processes):
    """With no failures allowed, the scheduler gives up on the task the killed worker ran:
    the run stops with the project's error naming that image, not dask's KilledWorker."""
    from sitewatch.detect import cluster

    paths, model, _ = scenes
    address, _ = dask_processes
    killed: dict = {}
    with cluster.connect(address) as client:
        client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        with pytest.raises(InputError, match="killed the workers that ran it") as caught:
            _on_cluster(client, paths, model, progress=_kill_a_busy_worker(client, killed))
    assert killed
    assert caught.value.source in {str(p) for p in paths}


@needs_dask
def test_task_keys_follow_what_the_task_computes():
    from sitewatch.detect import cluster
    from sitewatch.detect.tiling import Tile

    spec = cluster.ModelSpec("/m.onnx", "ab" * 32)
    a = cluster.PathSource("/a.tif")
    one = cluster.WindowsTask(a, spec, ((0, Tile(0, 0, 1024, 1024)),), None, 1)
    same = cluster.WindowsTask(cluster.PathSource("/a.tif"), spec, ((0, Tile(0, 0, 1024, 1024)),), None, 1)
    other = cluster.WindowsTask(a, spec, ((1, Tile(896, 0, 1024, 1024)),), None, 1)
    assert one.key(0, 0) == same.key(0, 0)
    assert one.key(0, 0) != other.key(0, 0) and one.key(0, 0) != one.key(1, 0)


@needs_dask
def test_a_worker_with_another_model_file_is_refused_by_name(tmp_path):
    from sitewatch.detect import cluster
    from sitewatch.errors import ModelError

    spec = cluster.model_spec(DetectionModel())
    with pytest.raises(ModelError, match="differs from the client's"):
        cluster.open_model(cluster.ModelSpec(spec.path, "0" * 64))
    with pytest.raises(ModelError, match="not found on this worker"):
        cluster.open_model(cluster.ModelSpec(str(tmp_path / "gone.onnx"), spec.sha256))


@needs_dask
def test_what_a_worker_notes_of_a_file_is_warned_on_the_client_once(tmp_path):
    """A raster in strips, read on two workers: the client warns that it is not tiled once,
    with the same run statistics as in-process (where the reader is the client's own)."""
    import numpy as np
    import rasterio
    from affine import Affine

    from sitewatch.detect import cluster

    path = tmp_path / "strips.tif"
    pixels = np.random.default_rng(5).integers(80, 160, (3, 256, 4608), dtype=np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=4608, height=256, count=3, dtype="uint8", crs="EPSG:32636",
                       transform=Affine(0.5, 0, 300000, 0, -0.5, 3900000)) as ds:
        ds.write(pixels)
    model = DetectionModel()
    with pytest.warns(UserWarning, match="not tiled") as in_process:
        _, _, stats = detect_scene(path, model, batch=1)
    assert sum("not tiled" in w for w in stats.warnings) == 1
    with cluster.connect("local:2") as client, pytest.warns(UserWarning, match="not tiled") as on_client:
        (result,) = cluster.detect_scenes(client, [cluster.plan_scene(path, model, batch=1)], model)
    assert result.stats.warnings == stats.warnings
    about_the_file = [[str(w.message) for w in record if str(path) in str(w.message)] for record in (on_client, in_process)]
    assert about_the_file[0] == about_the_file[1] == stats.warnings


def _features(path: Path) -> list:
    return json.loads(path.read_text())["features"]


@needs_dask
def test_detect_a_folder_in_process_and_on_a_local_cluster(scenes, tmp_path):
    from typer.testing import CliRunner

    from sitewatch.cli.main import app

    paths, _, expected = scenes
    folder = Path(paths[0]).parents[2]  # holds the three scenes' folders
    single = tmp_path / "one.geojson"
    r = CliRunner().invoke(app, ["detect", paths[0], "--out", str(single), "--batch", str(BATCH)])
    assert r.exit_code == 0, r.output
    for name, extra in (("in-process", []), ("cluster", ["--cluster", "local:2"])):
        out = tmp_path / name
        r = CliRunner().invoke(app, ["detect", str(folder), "--out", str(out), "--batch", str(BATCH), *extra])
        assert r.exit_code == 0, r.output
        written = sorted(out.glob("*.geojson"))
        assert [p.name for p in written] == sorted(Path(p).stem + ".geojson" for p in paths)
        assert [len(_features(p)) for p in written] == [len(expected[p]) for p in sorted(paths, key=lambda p:
                                                                                          Path(p).stem)]
        assert _features(out / f"{Path(paths[0]).stem}.geojson") == _features(single)


def test_a_folder_needs_images_and_an_output_folder(scenes, tmp_path):
    from typer.testing import CliRunner

    from sitewatch.cli.main import app

    r = CliRunner().invoke(app, ["detect", str(tmp_path)])
    assert r.exit_code != 0 and "folder holds no raster files" in str(r.exception)
    r = CliRunner().invoke(app, ["detect", str(Path(scenes[0][0]).parents[2])])
    assert r.exit_code != 0 and "needs --out FOLDER" in str(r.exception)


WITHOUT_DASK = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
sys.argv = ["sitewatch", *sys.argv[1:]]
from sitewatch.cli.main import main
main()
"""


def test_cluster_without_dask_is_one_line_naming_the_extra(tmp_path):
    image = tmp_path / "x.tif"
    image.write_bytes(b"not read: the option is checked first")
    done = subprocess.run([sys.executable, "-c", WITHOUT_DASK, "detect", str(image), "--cluster", "local:2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "pip install 'sitewatch[cluster]'" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _site_catalog(folder: Path, db: Path, seed: int = 424261):
    """A catalog holding one simulated airbase site (1500 px at 0.5 m) and its two dates."""
    from sitewatch.simulate import simulate_scenario
    from sitewatch.simulate.random_scenario import random_scenario
    from sitewatch.simulate.scenario import build_site
    from sitewatch.store import add_site, open_catalog
    from sitewatch.workflow.ingest import ingest

    scenario = random_scenario(seed, kind="airbase", gsd_m=0.5, size_px=SCENE_PX, n_dates=2, density=1.5)
    if not folder.exists():
        simulate_scenario(scenario, folder)
    catalog = open_catalog(f"sqlite:///{db}")
    site = build_site(scenario.sites[0])
    add_site(catalog, site)
    assert all(o.status == "added" for o in ingest(catalog, [str(folder)]))
    return catalog, site.name


@needs_dask
def test_detect_site_on_a_local_cluster_stores_the_in_process_detections(tmp_path):
    from sitewatch.detect import cluster
    from sitewatch.store import detections_for_image, images_for_site
    from sitewatch.workflow.detect_site import detect_site

    model = DetectionModel()
    stored = []
    for name, on_cluster in (("in-process", False), ("cluster", True)):
        catalog, site = _site_catalog(tmp_path / "scene", tmp_path / f"{name}.db")
        try:
            if on_cluster:
                with cluster.connect("local:2") as client:
                    done = detect_site(catalog, site, model, batch=BATCH, client=client)
            else:
                done = detect_site(catalog, site, model, batch=BATCH)
            assert len(done) == 2 and all(st.tiles_run == 4 for _, _, st in done)
            stored.append({img.path: sorted(map(_key, detections_for_image(catalog, img.id)))
                           for img in images_for_site(catalog, site)})
        finally:
            catalog.close()
    assert sum(len(v) for v in stored[0].values()) >= 10
    _assert_same(stored[1], stored[0])


def _assert_same(got: dict, want: dict) -> None:
    """The same detections per image: every field equal, numbers to 1e-9. Why not exactly:
    run_site's in-process model uses every core and the workers one thread each, and ONNX
    Runtime sums a convolution in another order across threads (scores then differ in the
    13th digit)."""
    assert got.keys() == want.keys()
    for path in want:
        assert len(got[path]) == len(want[path]), path
        for g, w in zip(got[path], want[path]):
            assert [type(v) for v in g] == [type(v) for v in w]
            assert [v for v in g if not isinstance(v, float)] == [v for v in w if not isinstance(v, float)], (g, w)
            assert [v for v in g if isinstance(v, float)] == pytest.approx([v for v in w if isinstance(v, float)],
                                                                        abs=1e-9), (g, w)


def _stored(db: Path, site: str) -> dict:
    from sitewatch.store import detections_for_image, images_for_site, open_catalog

    with open_catalog(f"sqlite:///{db}") as catalog:
        return {img.path: sorted(map(_key, detections_for_image(catalog, img.id))) for img in images_for_site(catalog, site)}


@needs_dask
def test_run_and_web_jobs_on_a_local_cluster_store_the_in_process_detections(tmp_path, monkeypatch):
    """`sitewatch run --cluster` and a web job with SITEWATCH_CLUSTER's setting detect on
    Dask; the stored detections and the judgement are those of the in-process run."""
    from typer.testing import CliRunner

    from sitewatch.cli.main import app
    from sitewatch.detect import cluster
    from sitewatch.web.jobs import JobBoard
    from sitewatch.web.settings import WebSettings

    scenes_on_dask = []

    def counted(client, plans, *args, **kw):
        scenes_on_dask.extend(p.image_id for p in plans)
        yield from real_detect_scenes(client, plans, *args, **kw)

    real_detect_scenes = cluster.detect_scenes
    monkeypatch.setattr(cluster, "detect_scenes", counted)
    runs = {}
    for name, extra in (("in-process", []), ("cli", ["--cluster", "local:2"])):
        catalog, site = _site_catalog(tmp_path / "scene", tmp_path / f"{name}.db")
        catalog.close()
        r = CliRunner().invoke(app, ["run", "--site", site, "--db", str(tmp_path / f"{name}.db"),
                                     "--out", str(tmp_path / f"{name}-report"), *extra])
        assert r.exit_code == 0, r.output
        runs[name] = (_stored(tmp_path / f"{name}.db", site), r.output.splitlines()[-2])
        assert len(scenes_on_dask) == (2 if extra else 0)  # the two dates, on the workers
    catalog, site = _site_catalog(tmp_path / "scene", tmp_path / "web.db")
    catalog.close()
    board = JobBoard(WebSettings(data_dir=tmp_path / "web", db=str(tmp_path / "web.db"), cluster="local:2"))
    job = board.wait(board.start(site, align=True, detect=True).id, timeout=600)
    assert job is not None and job.status == "done", job
    assert len(scenes_on_dask) == 4
    assert sum(len(v) for v in runs["in-process"][0].values()) >= 10
    _assert_same(runs["cli"][0], runs["in-process"][0])
    assert runs["cli"][1] == runs["in-process"][1]  # the judgement
    _assert_same(_stored(tmp_path / "web.db", site), runs["in-process"][0])


def _tartus_catalog(tmp_path: Path):
    """The bundled scenario's Tartus alone (three dates, 2001 px at 0.5 m; its last pair has
    pixel-change regions), ingested into a new catalog."""
    import yaml

    from sitewatch.simulate import simulate_scenario
    from sitewatch.simulate.loading import load_scenario
    from sitewatch.simulate.scenario import build_site
    from sitewatch.store import add_site, open_catalog
    from sitewatch.workflow.demo import bundled_scenario
    from sitewatch.workflow.ingest import ingest

    raw = yaml.safe_load(bundled_scenario().read_text())
    raw["sites"] = [s for s in raw["sites"] if s["name"] == "tartus"]
    sim = simulate_scenario(raw, tmp_path / "imagery")
    catalog = open_catalog(f"sqlite:///{tmp_path / 'tartus.db'}")
    site = build_site(load_scenario(raw)[0].sites[0])
    add_site(catalog, site)
    assert all(o.status == "added" for o in ingest(catalog, [str(p) for p in sim.images]))
    return catalog, site


@needs_dask
def test_alignment_and_pixel_change_on_a_local_cluster_are_the_in_process_ones(tmp_path):
    from dataclasses import replace

    from distributed import get_task_stream

    from sitewatch.detect import cluster
    from sitewatch.workflow.align_site import align_site
    from sitewatch.workflow.looks import site_looks
    from sitewatch.workflow.on_cluster import regions_in_process, regions_on_cluster

    catalog, site = _tartus_catalog(tmp_path)
    try:
        here = align_site(catalog, site)
        found, pixels = site_looks(catalog, site)
        pairs = list(zip(found.looks, found.looks[1:]))
        regions_here = regions_in_process(site, pixels)(pairs)
        with cluster.connect("local:2") as client, get_task_stream(client) as stream:
            there = align_site(catalog, site, client=client)
            regions_there = regions_on_cluster(client, site, found.alignments)(pairs)
        ran = [t["key"] for t in stream.data]
    finally:
        catalog.close()
    assert [r.status for r in here] == ["reference", "ok", "ok"]
    assert there == here
    # The scenario's change; nothing detected here, so nothing is masked (the demo, with its
    # detections, finds 0 and 3).
    assert [None if r is None else len(r) for r in regions_here] == [1, 3]
    # The same regions; their scores to 1e-9 (numpy's BLAS on one thread on a worker, on
    # all cores here: sums in another order differ in the 15th digit).
    assert len(regions_there) == len(regions_here)
    for got, want in zip(regions_there, regions_here):
        assert got is not None and want is not None
        assert [replace(r, score=0.0) for r in got] == [replace(r, score=0.0) for r in want]
        assert [r.score for r in got] == pytest.approx([r.score for r in want], abs=1e-9)
    assert sum(str(k).startswith("sitewatch-align-") for k in ran) == 2
    assert sum(str(k).startswith("sitewatch-pixel-change-") for k in ran) == 2


@needs_dask
def test_run_refuses_site_and_all_sites_together_before_starting_a_cluster(tmp_path):
    from typer.testing import CliRunner

    from sitewatch.cli.main import app

    r = CliRunner().invoke(app, ["run", "--all-sites", "--site", "x", "--db", str(tmp_path / "c.db"),
                                 "--cluster", "local:2"])
    assert isinstance(r.exception, InputError) and "not both" in str(r.exception)
    r = CliRunner().invoke(app, ["run", "--site", "x", "--db", str(tmp_path / "c.db"), "--cluster", "nowhere"])
    assert isinstance(r.exception, InputError) and "expected local, local:N or a scheduler" in str(r.exception)


@needs_dask
def test_a_bad_cluster_setting_for_web_jobs_names_the_variable(monkeypatch, tmp_path):
    from sitewatch.web.settings import from_env

    monkeypatch.setenv("SITEWATCH_CLUSTER", "local:0")
    with pytest.raises(InputError, match="SITEWATCH_CLUSTER: local:N needs N workers between 1 and 1024"):
        from_env(data_dir=tmp_path)


def test_run_all_sites_runs_each_site_and_names_those_that_fail(tmp_path):
    from typer.testing import CliRunner

    from sitewatch.cli.main import app
    from sitewatch.errors import InputError

    db = str(tmp_path / "catalog.db")
    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "khmeimim-tartus-2024-12.yaml"
    assert CliRunner().invoke(app, ["sites", "add", str(scenario), "--db", db]).exit_code == 0
    r = CliRunner().invoke(app, ["run", "--all-sites", "--db", db, "--out", str(tmp_path / "reports")])
    # no images ingested: each site is tried in turn, and fails by name
    assert isinstance(r.exception, InputError) and "2 of 2 sites failed: khmeimim, tartus" in str(r.exception)
    assert "site 'khmeimim' has no images" in r.output and "site 'tartus' has no images" in r.output
    r = CliRunner().invoke(app, ["run", "--all-sites", "--site", "khmeimim", "--db", db])
    assert isinstance(r.exception, InputError) and "not both" in str(r.exception)
