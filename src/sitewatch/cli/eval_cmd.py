"""`sitewatch eval`: score detections against truth (GeoJSON, DOTA or YOLO-OBB labels)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import typer

from sitewatch.cli.main import app, check_range
from sitewatch.errors import InputError

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _files(path: Path) -> dict[str, Path]:
    if not path.exists():
        raise InputError(str(path), "not found")
    if path.is_file():
        return {"": path}
    found = {p.name.split(".")[0]: p for p in sorted(path.iterdir())
             if p.suffix.lower() in (".geojson", ".json", ".txt")}
    if not found:
        raise InputError(str(path), "no .geojson, .json or .txt label files in this folder")
    return found


def _image_size(label: Path, image_size: str | None) -> tuple[int, int]:
    if image_size:
        try:
            w, h = (int(v) for v in image_size.split(","))
            return w, h
        except ValueError as exc:
            raise InputError("--image-size", f"expected W,H in pixels, got {image_size!r}") from exc
    for folder in (label.parent, label.parent.parent / "images"):
        for suffix in _IMAGE_SUFFIXES:
            img = folder / f"{label.stem}{suffix}"
            if img.exists():
                data = cv2.imread(str(img), cv2.IMREAD_UNCHANGED)
                if data is not None:
                    return data.shape[1], data.shape[0]
    raise InputError(str(label), "YOLO-OBB labels are normalised; give --image-size W,H or keep the image "
                                 "beside the labels (or in ../images)")


def read_objects(path: Path, crs: str | None, class_map: dict[str, str], image_size: str | None):
    from sitewatch.detect import labels

    if path.suffix.lower() in (".geojson", ".json"):
        if crs is None:
            raise InputError(str(path), "GeoJSON cannot be compared with pixel-space text labels")
        return labels.read_geojson_objects(path, crs)
    if labels.looks_like_dota(path):
        return labels.from_labelled_boxes(labels.read_dota(path, class_map))
    w, h = _image_size(path, image_size)
    return labels.from_labelled_boxes(labels.read_yolo_obb(path, w, h, class_map))


@app.command("eval")
def eval_command(
    pred: Path = typer.Option(..., "--pred", help="Detections: GeoJSON, or DOTA/YOLO-OBB txt (file or folder)."),
    truth: Path = typer.Option(..., "--truth", help="Truth: GeoJSON, or DOTA/YOLO-OBB txt (file or folder)."),
    iou: float = typer.Option(0.5, "--iou", help="Rotated IoU a match needs."),
    threshold: float = typer.Option(0.3, "--threshold", help="Operating score threshold for precision/recall."),
    class_map: str = typer.Option(None, "--class-map", help="Text labels: name=class,... (default: DOTA names "
                                                            "and dota8 indices)."),
    image_size: str = typer.Option(None, "--image-size", help="W,H of the images of YOLO-OBB labels."),
) -> None:
    """Print JSON: AP50 per class and mean, precision/recall, type/state accuracy, counts."""
    from sitewatch.detect import labels
    from sitewatch.evaluation.detection import evaluate

    check_range("--iou", iou, 0, 1)
    check_range("--threshold", threshold, 0, 1)
    cmap = labels.parse_class_map(class_map)
    p_files, t_files = _files(pred), _files(truth)
    if "" in p_files or "" in t_files:
        if not (pred.is_file() and truth.is_file()):
            raise InputError(f"{pred} / {truth}", "give two files or two folders")
        p_files, t_files = {"image": pred}, {"image": truth}
    crs = None
    geo = [p for p in list(t_files.values()) + list(p_files.values()) if p.suffix.lower() in (".geojson", ".json")]
    if geo:
        crs = labels.geojson_frame(next((p for p in t_files.values() if p in geo), geo[0]))
    preds = {k: read_objects(p, crs, cmap, image_size) for k, p in p_files.items()}
    truths = {k: read_objects(p, crs, cmap, image_size) for k, p in t_files.items()}
    result = evaluate(preds, truths, iou_threshold=iou, score_threshold=threshold)
    if crs:
        result["frame_crs"] = crs
    print(json.dumps(result, indent=2))
