"""`sitewatch detect`: find equipment in an image and write GeoJSON (EPSG:4326)."""

from __future__ import annotations

import json
import sys
import warnings
from contextlib import ExitStack
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from sitewatch.cli.main import app, check_range, err_console, say
from sitewatch.cli.sites_cmd import DB_OPTION
from sitewatch.errors import InputError, missing_extra


def load_model(model: Path | None, yolo_obb: bool, class_map: str | None, model_gsd: float | None, threads: int,
               nms_iou: float | None = None):
    if nms_iou is not None and not 0.0 < nms_iou <= 1.0:
        raise InputError("--nms-iou", f"must be above 0 and at most 1, got {nms_iou}")
    if yolo_obb:
        from sitewatch.detect.labels import parse_class_map
        from sitewatch.detect.yolo_obb import DEFAULT_NMS_IOU, YoloObbModel

        if model is None or model_gsd is None:
            raise InputError("--yolo-obb", "needs --model PATH and --model-gsd METRES (the GSD it was trained at)")
        return YoloObbModel(model, parse_class_map(class_map), model_gsd, threads=threads,
                            nms_iou=DEFAULT_NMS_IOU if nms_iou is None else nms_iou)
    if nms_iou is not None:
        raise InputError("--nms-iou", "applies to --yolo-obb models only (a sitewatch model carries its own)")
    from sitewatch.detect.model import DetectionModel

    return DetectionModel(model, threads=threads)


@app.command("detect")
def detect_command(
    image: Path = typer.Argument(None, help="GeoTIFF / COG (any CRS, any size), or a folder of them (with --out "
                                             "FOLDER)."),
    model: Path = typer.Option(None, "--model", help="ONNX model (default: the shipped one)."),
    out: Path = typer.Option(None, "--out", help="GeoJSON to write (default: stdout); for a folder of images, the "
                                                 "folder to write one GeoJSON per image in."),
    site: str = typer.Option(None, "--site", help="Detect on the catalog's images of this site and store them."),
    catalog: str = DB_OPTION,
    threshold: float = typer.Option(None, "--threshold", help="Score threshold (default: the model's)."),
    batch: int = typer.Option(2, "--batch", help="Tiles per model call."),
    threads: int = typer.Option(0, "--threads", help="ONNX Runtime threads (0: all cores)."),
    yolo_obb: bool = typer.Option(False, "--yolo-obb", help="The model is an Ultralytics-layout OBB export."),
    class_map: str = typer.Option(None, "--class-map", help="With --yolo-obb: name=class,... (default DOTA)."),
    model_gsd: float = typer.Option(None, "--model-gsd", help="With --yolo-obb: the model's GSD in metres."),
    nms_iou: float = typer.Option(None, "--nms-iou", help="With --yolo-obb: IoU of its probiou NMS (default 0.7, "
                                                           "as Ultralytics)."),
    cluster: str = typer.Option(None, "--cluster", help="Run on Dask (an IMAGE, a FOLDER or --site): local[:N] starts N workers "
                                                        "here, tcp://HOST:PORT uses a running scheduler."),
) -> None:
    """Detect aircraft, helicopters, ships, vehicles and air defence: class, type, state, heading."""
    check_range("--threshold", threshold, 0, 1)
    check_range("--batch", batch, 1, 256)
    check_range("--threads", threads, 0, 1024)
    if cluster:
        cluster_module().parse_cluster(cluster)
    m = load_model(model, yolo_obb, class_map, model_gsd, threads, nms_iou)
    if site:
        from sitewatch.store import open_catalog
        from sitewatch.workflow.detect_site import detect_site

        cat = open_catalog(catalog)
        try:
            with warnings.catch_warnings(record=True) as caught, ExitStack() as stack:
                warnings.simplefilter("always")
                client = stack.enter_context(cluster_module().connect(cluster)) if cluster else None
                done = detect_site(cat, site, m, threshold, batch, client=client)
        finally:
            cat.close()
        for w in caught:
            say(err_console, w.message, "warning:")
        for _img, _n, st in done:
            for note in st.warnings:
                say(err_console, note, "note:")
        print(json.dumps({"site": site, "model_id": m.info.model_id, "model_version": m.info.version,
                          "images": [{"image_id": img.id, "detections": n, "tiles_run": st.tiles_run,
                                      "seconds": round(st.seconds_total, 2),
                                      "edge_blur_m": None if st.edge_blur_m is None else round(st.edge_blur_m, 3)}
                                     for img, n, st in done]}))
        return
    if image is None:
        raise InputError("sitewatch detect", "give an IMAGE, a FOLDER of images or --site NAME")
    images = _image_files(image)
    folder = image.is_dir()
    if folder:
        if out is None or (out.exists() and not out.is_dir()):
            raise InputError("--out", "a folder of images needs --out FOLDER (one GeoJSON per image is written there)")
        if len({p.stem for p in images}) < len(images):
            raise InputError(str(image), "two images share a file name stem; their GeoJSON files would collide")
        out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Library deprecations (rasterio's own, in the GeoJSON writing) are not the user's to see.
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        runs = _detect_on_cluster(images, m, batch, threshold, cluster) if cluster else \
            _detect_in_process(images, m, batch, threshold)
        if not folder:  # written once the progress bar is gone, which would take stdout's GeoJSON
            runs = list(runs)
        for path, dets, grid, stats in runs:
            _write_geojson(path, dets, grid, stats, m, out / f"{path.stem}.geojson" if folder else out)
    for w in caught:
        say(err_console, w.message, "warning:")


# The names of raster files in a folder (as ingest lists them); whether one is read is
# decided by its content (geo.imagefile).
RASTER_SUFFIXES = (".tif", ".tiff", ".gtiff", ".jp2", ".j2k", ".ntf", ".nitf")


def cluster_module():
    """sitewatch.detect.cluster, or one line naming the extra that brings Dask."""
    try:
        from sitewatch.detect import cluster
    except ModuleNotFoundError as exc:
        if missing_extra(exc) != "cluster":
            raise
        raise InputError("--cluster", f"needs the cluster extra ({exc.name} is not installed): "
                                      "pip install 'sitewatch[cluster]'") from exc
    return cluster


def _image_files(image: Path) -> list[Path]:
    """The image, or the raster files under a folder (sorted), each checked to be a real raster."""
    from sitewatch.geo.imagefile import check_image

    if image.is_dir():
        found = sorted(p for p in image.rglob("*") if p.suffix.lower() in RASTER_SUFFIXES and p.is_file())
        if not found:
            raise InputError(str(image), "folder holds no raster files (*.tif, *.tiff, *.jp2, *.ntf)")
    else:
        found = [image]
    for p in found:
        check_image(p)
    return found


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err_console, transient=True)


def _detect_in_process(images: list[Path], m, batch: int, threshold: float | None):
    from sitewatch.detect.inference import detect_scene

    with _progress() as bar:
        for n, path in enumerate(images, start=1):
            label = "tiles" if len(images) == 1 else f"tiles of {path.name} ({n}/{len(images)})"
            task = bar.add_task(label, total=None)

            def progress(k: int, total: int, task: TaskID = task) -> None:
                bar.update(task, completed=k, total=total)

            dets, grid, stats = detect_scene(path, m, batch=batch, score_threshold=threshold, progress=progress)
            bar.remove_task(task)
            yield path, dets, grid, stats


def _detect_on_cluster(images: list[Path], m, batch: int, threshold: float | None, address: str):
    """The images' detections on a Dask cluster, as each image finishes; one bar over all
    their tiles and one for each image in flight."""
    cluster = cluster_module()
    plans = [cluster.plan_scene(p, m, batch) for p in images]
    with cluster.connect(address) as client, _progress() as bar:
        whole = bar.add_task(f"tiles of {len(images)} image(s)", total=sum(p.n_tiles for p in plans))
        per_image: dict[int, TaskID] = {}
        done = [0] * len(plans)

        def progress(i: int, k: int, total: int) -> None:
            if i not in per_image:
                per_image[i] = bar.add_task(f"  {images[i].name}", total=total)
            bar.update(per_image[i], completed=k)
            bar.advance(whole, k - done[i])
            done[i] = k
            if k == total:
                bar.remove_task(per_image.pop(i))

        for r in cluster.detect_scenes(client, plans, m, threshold, progress):
            yield images[r.index], r.detections, r.grid, r.stats


def _write_geojson(image: Path, dets, grid, stats, m, out: Path | None) -> None:
    from sitewatch.detect import geojson

    doc = geojson.to_feature_collection(dets, grid.crs, str(image), m.gsd_m, {"stats": {
        "tiles": stats.tiles, "tiles_run": stats.tiles_run, "skipped_nodata": stats.skipped_nodata,
        "skipped_featureless": stats.skipped_featureless, "seconds": round(stats.seconds_total, 3),
        "native_gsd_m": round(stats.native_gsd_m, 4),
        "edge_blur_m": None if stats.edge_blur_m is None else round(stats.edge_blur_m, 3)}})
    if out:
        geojson.write(out, doc)
        say(err_console, f"{len(dets)} detections -> {out}")
    else:
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
