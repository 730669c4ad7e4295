"""Export a trained network to a self-describing ONNX file (training side; needs torch and onnx).

Everything the run time needs travels in the ONNX metadata_props (see `detect.model`):
the format tag, model id and version, GSD, classes, types (with their class and allowed
states), states, input size, stride, thresholds, tile overlap, training summary, metrics.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import onnx
import torch

from sitewatch import equipment
from sitewatch.detect.model import FORMAT_TAG
from sitewatch.detect.sessions import companion_names
from sitewatch.domain import CLASSES, STATES
from sitewatch.training.network import ExportWrapper, OrientedCenterNet


def metadata(model_id: str, version: str, gsd_m: float, input_size: int, tile_overlap_px: int,
             training: dict, metrics: dict, score_threshold: float = 0.3, nms_iou: float = 0.3) -> dict[str, str]:
    types = equipment.TYPE_NAMES
    return {
        "format": FORMAT_TAG,
        "model_id": model_id,
        "version": version,
        "gsd_m": repr(float(gsd_m)),
        "classes": json.dumps(list(CLASSES)),
        "types": json.dumps(list(types)),
        "type_classes": json.dumps({t: equipment.get(t).cls for t in types}),
        "type_states": json.dumps({t: list(equipment.get(t).states) for t in types}),
        "states": json.dumps(list(STATES)),
        "input_size": str(int(input_size)),
        "stride": "4",
        "score_threshold": repr(float(score_threshold)),
        "nms_iou": repr(float(nms_iou)),
        "tile_overlap_px": str(int(tile_overlap_px)),
        "heading": "full360 clockwise from image up; nose direction",
        "training": json.dumps(training),
        "metrics": json.dumps(metrics),
    }


def export_onnx(net: OrientedCenterNet, path: Path, meta: dict[str, str], input_size: int) -> Path:
    """Write `net` as ONNX (dynamic batch and size) with `meta` as metadata_props."""
    return export_graph(
        ExportWrapper(net).eval(), torch.zeros(1, 3, input_size, input_size), Path(path), ["image"],
        ["heat", "box", "type", "state"],
        {"image": {0: "batch", 2: "height", 3: "width"},
         "heat": {0: "batch", 2: "h4", 3: "w4"}, "box": {0: "batch", 2: "h4", 3: "w4"},
         "type": {0: "batch", 2: "h4", 3: "w4"}, "state": {0: "batch", 2: "h4", 3: "w4"}},
        meta)


# torch.export's ONNX exporter (onnxscript); opset 18 is the lowest it writes without a
# version conversion.
OPSET = 18


def export_graph(module: torch.nn.Module, dummy: torch.Tensor | tuple[torch.Tensor, ...], path: Path,
                 inputs: list[str], outputs: list[str], dynamic_axes: dict, meta: dict[str, str]) -> Path:
    """Write an eval-mode module as an ONNX file (opset OPSET) with `meta` as metadata_props,
    replacing `path` only once the file is whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    args = dummy if isinstance(dummy, tuple) else (dummy,)
    # The inputs' dynamic axes; the outputs' follow from them.
    shapes = tuple({axis: torch.export.Dim.DYNAMIC for axis in dynamic_axes.get(name, {})} for name in inputs)
    with torch.no_grad(), warnings.catch_warnings():
        # torch's own pytree raises this inside torch.export (torch 2.13); nothing of ours to change
        warnings.filterwarnings("ignore", message=".*LeafSpec.* is deprecated", category=FutureWarning)
        torch.onnx.export(module, args, str(tmp), opset_version=OPSET, input_names=inputs, output_names=outputs,
                          dynamic_shapes=shapes, dynamo=True, external_data=False, verbose=False)
    model = onnx.load(str(tmp))
    _set_metadata(model, meta)
    onnx.save(model, str(tmp))
    tmp.replace(path)
    return path


def _set_metadata(model: onnx.ModelProto, meta: dict[str, str]) -> None:
    del model.metadata_props[:]
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v


def with_metadata(src: Path, dst: Path, updates: dict[str, str]) -> Path:
    """Copy an ONNX file to `dst` with some metadata entries set (others kept)."""
    model = onnx.load(str(src))
    meta = {p.key: p.value for p in model.metadata_props}
    meta.update(updates)
    _set_metadata(model, meta)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp.onnx")
    onnx.save(model, str(tmp))
    tmp.replace(dst)
    return dst


COMPANION_KEYS = ("box_refiner", "hull_refiner", "state_refiner", "type_reader", "hull_type_reader", "state_reader",
                  "verifier", "catalogue_check")


def attach_companion(detector: Path, out_dir: Path, key: str, name: str, version: str | None,
                     keep: tuple[str, ...] = ()) -> Path:
    """Write a copy of `detector` into `out_dir` whose metadata names the companion model
    `name` (already in out_dir) under `key`, after the files in `keep` (others it named
    under that key, for a key that takes several); companions it named under the other
    keys come along."""
    meta = {p.key: p.value for p in onnx.load(str(detector), load_external_data=False).metadata_props}
    if detector.parent.resolve() != out_dir.resolve():
        for other in COMPANION_KEYS:
            for kept in (companion_names(meta, other) if other != key else keep):
                shutil.copyfile(detector.parent / kept, out_dir / kept)
    updates = {key: ",".join([*keep, name])}
    if version:
        updates["version"] = version
    return with_metadata(detector, out_dir / detector.name, updates)


def adopt_companions(detector: Path, donor: Path, out_dir: Path, version: str | None = None) -> Path:
    """Write `detector` (a retrained detector network) into `out_dir` as `donor`'s name, with
    `donor`'s second-look companions (copied beside it) and its operating point
    (`score_pivot`, `score_threshold`), so a new detector runs with the companions the donor shipped with."""
    donor_meta = {p.key: p.value for p in onnx.load(str(donor), load_external_data=False).metadata_props}
    out_dir.mkdir(parents=True, exist_ok=True)
    updates = {}
    for key in COMPANION_KEYS:
        names = companion_names(donor_meta, key)
        for name in names:
            if (donor.parent / name).resolve() != (out_dir / name).resolve():
                shutil.copyfile(donor.parent / name, out_dir / name)
        if names:
            updates[key] = ",".join(names)
    for key in ("score_pivot", "score_threshold"):
        if key in donor_meta:
            updates[key] = donor_meta[key]
    if version:
        updates["version"] = version
    return with_metadata(detector, out_dir / donor.name, updates)
