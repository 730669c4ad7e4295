"""Tiled detection of many scenes, and of huge ones, on a Dask cluster.

The client plans each scene's tiles exactly as `detect_scene` does and ships small specs
(the image path, a batch of tile windows, the model's path and checksum) to the workers;
pixels and ONNX sessions never travel. Each worker opens the image itself (through
`geo.imagefile`, as in-process) and keeps one model per checksum in a worker plugin, with
ONNX Runtime, OpenMP and BLAS on one thread and GDAL's cache bounded, so N single-threaded
workers share N cores without oversubscribing them. A batch of tiles is one task, keyed by
what it computes, so a task retried after a worker died gives the same answer. At most a
few tasks a worker are in flight at once, so memory does not grow with the number of
windows. The client gathers each scene's batches in tile order and runs the same seam
merge (`inference.finish_scene`) as in-process: the detections are the same.

`connect("local:N")` starts a LocalCluster of N worker processes; `connect("tcp://HOST:PORT")`
joins a running scheduler (whose workers need sitewatch installed and the same files at the
same paths).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
from distributed import Client, KilledWorker, LocalCluster, WorkerPlugin, as_completed, get_worker

from sitewatch.detect import tiling
from sitewatch.detect.inference import (
    GDAL_CACHE_MB,
    RunStats,
    SceneGrid,
    SceneReader,
    TileResults,
    blur_every,
    finish_scene,
    reading_env,
    run_tiles,
    scene_grid,
    scene_tiles,
)
from sitewatch.detect.model import DetectionModel
from sitewatch.detect.yolo_obb import YoloObbModel
from sitewatch.domain import Detection
from sitewatch.errors import InputError, ModelError
from sitewatch.geo.imagefile import open_checked

PLUGIN_NAME = "sitewatch-detect"
# Set on every worker: one thread for each native library, and GDAL's block cache bounded.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "GDAL_CACHEMAX": str(GDAL_CACHE_MB)}
WORKER_MODEL_THREADS = 1
# Scenes a worker keeps open between tasks (tasks of one scene mostly follow each other).
OPEN_SCENES = 4
# Tasks in flight per worker thread: enough to keep each busy while the client gathers.
IN_FLIGHT_PER_THREAD = 2
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to open the client's model: its file, checksum and settings."""

    path: str
    sha256: str
    yolo_obb: bool = False
    class_map: tuple[tuple[str, str], ...] = ()
    gsd_m: float = 0.0
    nms_iou: float = 0.0


@dataclass(frozen=True)
class PathSource:
    """A scene read from its file on its own grid (as `detect_scene` reads it). Any other
    source is a small picklable object with the same `key` and `open`, such as a catalogued
    image on its site's grid (`workflow.detect_site.SiteImageSource`)."""

    path: str

    @property
    def key(self) -> str:
        return self.path

    def open(self, model_gsd: float) -> SceneReader:
        return SceneReader(self.path, model_gsd)


@dataclass(frozen=True)
class WindowsTask:
    """One task: a batch of one scene's tiles (k: the tile's index in the scene)."""

    source: PathSource  # or another source with `key` and `open` (see PathSource)
    model: ModelSpec
    tiles: tuple[tuple[int, tiling.Tile], ...]
    score_threshold: float | None
    blur_every: int

    def key(self, scene: int, batch: int) -> str:
        """A key from what the task computes (and its place in the run, should one image be
        given twice), so a resubmitted or retried task is the same task."""
        return f"sitewatch-windows-{scene}-{batch}-" + hashlib.sha256(repr(self).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class TaskError:
    """A sitewatch error raised on a worker, sent back as a value (it is raised again on the client)."""

    model_error: bool
    source: str
    problem: str

    def raise_it(self) -> None:
        raise (ModelError if self.model_error else InputError)(self.source, self.problem)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_spec(model) -> ModelSpec:
    """The spec of a loaded DetectionModel or YoloObbModel."""
    path = str(Path(model.path).resolve())
    if isinstance(model, YoloObbModel):
        return ModelSpec(path, file_sha256(path), True, tuple(sorted(model.class_map.items())), model.info.gsd_m,
                         model.info.nms_iou)
    if isinstance(model, DetectionModel):
        return ModelSpec(path, file_sha256(path))
    raise TypeError(f"cannot ship a {type(model).__name__} to a cluster (a DetectionModel or YoloObbModel can be)")


def open_model(spec: ModelSpec, threads: int = WORKER_MODEL_THREADS):
    """The model a spec names, refused by name when the file is not the client's."""
    if not os.path.exists(spec.path):
        raise ModelError(spec.path, "model file not found on this worker")
    if file_sha256(spec.path) != spec.sha256:
        raise ModelError(spec.path, "the model file on this worker differs from the client's (sha256)")
    if spec.yolo_obb:
        return YoloObbModel(spec.path, dict(spec.class_map), spec.gsd_m, threads=threads, nms_iou=spec.nms_iou)
    return DetectionModel(spec.path, threads=threads)


class DetectPlugin(WorkerPlugin):
    """Per worker: the thread settings, one model per checksum and a few open scenes."""

    name = PLUGIN_NAME

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.models: dict[str, object] = {}
        self.scenes: OrderedDict[tuple, Any] = OrderedDict()
        self.lock = threading.Lock()

    # Shipped to the workers empty: each opens its own models and scenes.
    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self._reset()

    def setup(self, worker=None) -> None:
        for key, value in WORKER_ENV.items():
            os.environ.setdefault(key, value)
        cv2.setNumThreads(1)  # the second look's crops: OpenCV's own pool is not governed by OMP

    def teardown(self, worker=None) -> None:
        with self.lock:
            for reader in self.scenes.values():
                reader.close()
            self.scenes.clear()

    def model(self, spec: ModelSpec):
        with self.lock:
            if spec.sha256 not in self.models:
                self.models[spec.sha256] = open_model(spec)
            return self.models[spec.sha256]

    def scene(self, source: PathSource, gsd_m: float):
        # A reader per thread too: a rasterio dataset is not to be shared between threads.
        key = (source.key, gsd_m, threading.get_ident())
        with self.lock:
            if key in self.scenes:
                self.scenes.move_to_end(key)
                return self.scenes[key]
            reader = source.open(gsd_m)
            self.scenes[key] = reader
            while len(self.scenes) > OPEN_SCENES:
                self.scenes.popitem(last=False)[1].close()
            return reader


_local_plugin = DetectPlugin()  # where a task runs without the plugin registered


def _plugin() -> DetectPlugin:
    try:
        plugin = get_worker().plugins.get(PLUGIN_NAME)
    except ValueError:  # not on a worker
        plugin = None
    return plugin if isinstance(plugin, DetectPlugin) else _local_plugin


def _load_model(spec: ModelSpec, dask_worker=None) -> TaskError | None:
    plugin = dask_worker.plugins.get(PLUGIN_NAME) if dask_worker is not None else None
    try:
        (plugin if isinstance(plugin, DetectPlugin) else _local_plugin).model(spec)
    except InputError as exc:
        return TaskError(isinstance(exc, ModelError), exc.source, exc.problem)
    return None


def prepare_workers(client: Client, model) -> ModelSpec:
    """Register the plugin and open the model on every worker now (a worker that joins
    later opens it with its first task); a worker that cannot is an error naming the file."""
    client.register_plugin(DetectPlugin(), name=PLUGIN_NAME)
    spec = model_spec(model)
    for failed in client.run(_load_model, spec).values():
        if failed is not None:
            failed.raise_it()
    return spec


def run_windows(task: WindowsTask) -> TileResults | TaskError:
    """The worker's side: read the task's tiles and run the model on them."""
    plugin = _plugin()
    try:
        with reading_env():
            model = plugin.model(task.model)
            reader = plugin.scene(task.source, model.gsd_m)
            reads = [reader.read(t) for _, t in task.tiles]
            found = run_tiles(model, reader.grid, list(task.tiles), reads, task.score_threshold, reader.sun,
                              task.blur_every)
            found.notes = list(getattr(reader, "notes", ()))  # the client issues them, once a scene
            return found
    except InputError as exc:  # a file problem: the same on any worker, so not retried
        return TaskError(isinstance(exc, ModelError), exc.source, exc.problem)


@dataclass
class ScenePlan:
    """One scene as the client plans it: its grid and its batches of tiles. `path` is the
    image file (its georeferencing converts the boxes), `source` how workers read it."""

    path: str
    grid: SceneGrid
    n_tiles: int
    overlap: int
    batches: list[tuple[tuple[int, tiling.Tile], ...]]
    source: PathSource
    image_id: str  # what its detections are keyed by


def plan_scene(path: str | Path, model, batch: int = 2, overlap: int | None = None) -> ScenePlan:
    """The tiles of a scene in batches of `batch`, exactly as `detect_scene` runs them."""
    path = str(path)
    if "://" not in path and not path.startswith("/vsi"):
        path = os.path.abspath(path)  # workers may run in another folder
    with reading_env(), open_checked(path) as src:
        grid = scene_grid(src, model.gsd_m, path)
    return _plan(path, grid, PathSource(path), Path(path).stem, model, batch, overlap)


def plan_source(source, path: str | Path, image_id: str, model, batch: int = 2,
                overlap: int | None = None) -> ScenePlan:
    """The tiles of a scene read through `source` (see PathSource), whose grid is read from
    the source itself; `path` is its image file."""
    with reading_env():
        reader = source.open(model.gsd_m)
        try:
            grid = reader.grid
        finally:
            reader.close()
    return _plan(str(path), grid, source, image_id, model, batch, overlap)


def _plan(path: str, grid: SceneGrid, source, image_id: str, model, batch: int, overlap: int | None) -> ScenePlan:
    tiles, ov = scene_tiles(grid, model, overlap)
    indexed = list(enumerate(tiles))
    return ScenePlan(path, grid, len(tiles), ov, [tuple(indexed[i:i + batch]) for i in range(0, len(tiles), batch)],
                     source, image_id)


@dataclass
class SceneResult:
    index: int  # the scene's place in the plans given
    path: str
    detections: list[Detection]
    grid: SceneGrid
    stats: RunStats


@dataclass
class _Gathering:
    """The batches of one scene received so far, by batch number."""

    plan: ScenePlan
    started: float
    got: dict[int, TileResults] = field(default_factory=dict)
    tiles_done: int = 0


@dataclass
class _SceneView:
    """What `finish_scene` reads of a scene on the client."""

    path: str
    grid: SceneGrid
    src: object


def _finish(index: int, g: _Gathering, model) -> SceneResult:
    found = TileResults()
    for b in range(len(g.plan.batches)):
        found.extend(g.got[b])
    with reading_env(), open_checked(g.plan.path) as src:
        dets, stats = finish_scene(_SceneView(g.plan.path, g.plan.grid, src), model, g.plan.image_id,
                                   g.plan.n_tiles, g.plan.overlap, found)
    stats.seconds_total = time.perf_counter() - g.started
    return SceneResult(index, g.plan.path, dets, g.plan.grid, stats)


def _tasks(plans: list[ScenePlan], spec: ModelSpec,
           score_threshold: float | None) -> Iterator[tuple[int, int, WindowsTask]]:
    for i, plan in enumerate(plans):
        every = blur_every(plan.n_tiles)
        for b, tiles in enumerate(plan.batches):
            yield i, b, WindowsTask(plan.source, spec, tiles, score_threshold, every)


def detect_scenes(client: Client, plans: list[ScenePlan], model, score_threshold: float | None = None,
                  progress: Callable[[int, int, int], None] | None = None,
                  max_in_flight: int | None = None) -> Iterator[SceneResult]:
    """Each planned scene's detections, as its last batch comes back. `model` is the
    client's copy (its info drives the merge; workers open their own from its file).
    progress(scene index, tiles done, tiles in the scene) after each batch."""
    spec = prepare_workers(client, model)
    cap = max_in_flight or max(2, IN_FLIGHT_PER_THREAD * sum(client.nthreads().values()))
    todo = _tasks(plans, spec, score_threshold)
    running = as_completed()
    owner: dict[object, tuple[int, int]] = {}
    gathering: dict[int, _Gathering] = {}

    def submit_next() -> None:
        nxt = next(todo, None)
        if nxt is None:
            return
        i, b, task = nxt
        gathering.setdefault(i, _Gathering(plans[i], time.perf_counter()))
        future = client.submit(run_windows, task, key=task.key(i, b), pure=True)
        owner[future.key] = (i, b)
        running.add(future)

    try:
        for _ in range(cap):
            submit_next()
        for future in running:
            i, b = owner.pop(future.key)
            try:
                out = future.result()
            except KilledWorker as exc:
                # The scheduler gave up on this batch: every worker that ran it died
                # (distributed.scheduler.allowed-failures), most often of its memory limit.
                raise InputError(plans[i].path, f"batch {b + 1} of its {len(plans[i].batches)} killed the workers that "
                                                "ran it; give the workers more memory or use a smaller "
                                                "--batch") from exc
            future.release()
            if isinstance(out, TaskError):
                out.raise_it()
            g = gathering[i]
            g.got[b] = out
            g.tiles_done += len(g.plan.batches[b])
            if progress:
                progress(i, g.tiles_done, g.plan.n_tiles)
            if len(g.got) == len(g.plan.batches):
                yield _finish(i, gathering.pop(i), model)
            submit_next()
    finally:
        for future in list(running.futures):
            future.cancel()


def parse_cluster(address: str) -> tuple[str, int | None]:
    """("local", N or None) for local / local:N, else ("scheduler", None); InputError otherwise."""
    if address == "local" or address.startswith("local:"):
        n = address.partition(":")[2]
        if n and not (n.isdigit() and 1 <= int(n) <= 1024):
            raise InputError("--cluster", f"local:N needs N workers between 1 and 1024, got {n!r}")
        return "local", int(n) if n else None
    if "://" in address:
        return "scheduler", None
    raise InputError("--cluster", f"expected local, local:N or a scheduler address such as tcp://HOST:8786, "
                                  f"got {address!r}")


@contextmanager
def connect(address: str, memory_limit: str | None = None) -> Iterator[Client]:
    """A client of a new LocalCluster ("local[:N]": N single-threaded worker processes, N
    the cores by default) or of the scheduler at `address`; both are closed on exit (a
    scheduler joined is left running)."""
    kind, n = parse_cluster(address)
    if kind == "local":
        cluster = LocalCluster(n_workers=n or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None, env=WORKER_ENV, memory_limit=memory_limit or "auto")
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise InputError("--cluster", f"no Dask scheduler answers at {address} ({exc})") from exc
    try:
        yield client
    finally:
        client.close()
