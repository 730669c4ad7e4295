"""`sitewatch detect`: find equipment in an image and write GeoJSON (EPSG:4326)."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sitewatch.cli.main import app, check_range, err_console, say
from sitewatch.cli.sites_cmd import DB_OPTION
from sitewatch.errors import InputError


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
    image: Path = typer.Argument(None, help="GeoTIFF / COG (any CRS, any size)."),
    model: Path = typer.Option(None, "--model", help="ONNX model (default: the shipped one)."),
    out: Path = typer.Option(None, "--out", help="GeoJSON to write (default: stdout)."),
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
) -> None:
    """Detect aircraft, helicopters, ships, vehicles and air defence: class, type, state, heading."""
    from sitewatch.detect import geojson
    from sitewatch.detect.inference import detect_scene

    check_range("--threshold", threshold, 0, 1)
    check_range("--batch", batch, 1, 256)
    check_range("--threads", threads, 0, 1024)
    m = load_model(model, yolo_obb, class_map, model_gsd, threads, nms_iou)
    if site:
        from sitewatch.store import open_catalog
        from sitewatch.workflow.detect_site import detect_site

        cat = open_catalog(catalog)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                done = detect_site(cat, site, m, threshold, batch)
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
        raise InputError("sitewatch detect", "give an IMAGE or --site NAME")
    from sitewatch.geo.imagefile import check_image

    check_image(image)
    with warnings.catch_warnings(record=True) as caught, Progress(
            TextColumn("tiles"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=err_console, transient=True) as bar:
        warnings.simplefilter("always")
        task = bar.add_task("tiles", total=None)
        dets, grid, stats = detect_scene(image, m, batch=batch, score_threshold=threshold,
                                         progress=lambda n, total: bar.update(task, completed=n, total=total))
    for w in caught:
        say(err_console, w.message, "warning:")
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
