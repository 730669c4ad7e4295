"""Bring your own model: YOLO oriented-box ONNX exports in the Ultralytics layout, run as
Ultralytics' own predict runs them.

The model has one input (B, 3, H, W), RGB scaled to 0..1, and one output of shape
(B, 4 + nc + 1, N): per candidate the centre x, centre y, width, height (input pixels),
nc class scores (already sigmoid), and the rotation r in radians. Ultralytics draws the
width side along (cos r, sin r) in image coordinates (x right, y down), so r turns the box
clockwise on screen. Each of B, H and W is fixed or dynamic in the export; the graph says
which, and the metadata gives the stride and, for dynamic sides, the size it was exported at.

What Ultralytics does, and so this adapter does (the export's boxes then come out
unchanged): a tile smaller than the input is padded with grey 114, centred; a dynamic input
is padded only up to the next multiple of the stride; candidates whose best class scores
above the threshold go through class-aware probiou NMS (`detect.probiou`, IoU 0.7 unless
set), at most 300 a tile; the score is that raw class confidence. A fixed batch is filled
with grey tiles. Tiles stay at the model GSD: unlike Ultralytics' predict, a small image is
not enlarged to the input size.

The user gives a class map (their class names or indices onto ours) and the GSD the model
was trained at; those are not in the file. YOLO boxes have no nose, so the heading is the
long axis folded into [0, 180) degrees (clockwise from image up): a box heading h may in
truth point at h or h + 180. Type is `unknown` and state `normal` (YOLO classes say
neither); their scores are 0 and 1.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sitewatch.detect import geometry
from sitewatch.detect.model import RawDetections
from sitewatch.detect.probiou import fast_nms
from sitewatch.detect.sessions import open_session
from sitewatch.domain import UNKNOWN_TYPE
from sitewatch.errors import ModelError

DEFAULT_INPUT = 1024  # tile side for a dynamic export whose metadata has no imgsz
DEFAULT_STRIDE = 32  # YOLOv8 / YOLO11 heads; used when the metadata has no stride
DEFAULT_NMS_IOU = 0.7  # Ultralytics' predict default
PAD_VALUE = 114.0  # Ultralytics' letterbox grey
MAX_DET = 300  # boxes kept a tile, as Ultralytics keeps an image
MAX_NMS = 30000  # candidates entering NMS, highest scores first


@dataclass(frozen=True)
class YoloInfo:
    model_id: str
    version: str
    gsd_m: float
    input_size: int
    score_threshold: float = 0.25
    nms_iou: float = DEFAULT_NMS_IOU
    tile_overlap_px: int = 128
    names: dict[int, str] = field(default_factory=dict)
    stride: int = DEFAULT_STRIDE
    # Tile origins on multiples of the stride, so an object in two tiles falls on the same
    # cells of the model's grid in both; the seam merge resolves only boxes of different tiles.
    tile_align: int = DEFAULT_STRIDE
    seam_merge: str = "seams"


@dataclass(frozen=True)
class InputShape:
    """What the export's input accepts: None where a dimension is dynamic."""

    batch: int | None
    height: int | None
    width: int | None


def _static(dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def _literal(path: Path, meta: dict[str, str], key: str):
    try:
        return ast.literal_eval(meta[key]) if key in meta else None
    except (ValueError, SyntaxError) as exc:
        raise ModelError(str(path), f"unreadable {key!r} metadata ({exc})") from exc


class YoloObbModel:
    """Same interface as `DetectionModel`: gsd_m, tile_size, info, raw(), run()."""

    def __init__(self, path: Path | str, class_map: dict[str, str], gsd_m: float, threads: int = 0,
                 score_threshold: float = 0.25, nms_iou: float = DEFAULT_NMS_IOU):
        self.path = Path(path)
        if not gsd_m > 0:
            raise ModelError(str(path), f"--model-gsd must be positive metres, got {gsd_m}")
        if not 0.0 < nms_iou <= 1.0:
            raise ModelError(str(path), f"the NMS IoU must be in (0, 1], got {nms_iou}")
        self.session = open_session(self.path, threads)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if (len(inputs) != 1 or len(inputs[0].shape) != 4 or _static(inputs[0].shape[1]) not in (None, 3)
                or len(outputs) != 1 or len(outputs[0].shape) != 3):
            raise ModelError(str(path), "expected one (B, 3, H, W) input and one (B, 4 + classes + 1, N) output "
                                        "(Ultralytics OBB layout), got inputs "
                                        f"{[tuple(i.shape) for i in inputs]}, outputs {[tuple(o.shape) for o in outputs]}")
        meta = self.session.get_modelmeta().custom_metadata_map
        names_meta = _literal(self.path, meta, "names") or {}
        try:
            names = {int(k): str(v) for k, v in dict(names_meta).items()}
        except (ValueError, TypeError) as exc:
            raise ModelError(str(path), f"unreadable 'names' metadata ({exc})") from exc
        stride = _literal(self.path, meta, "stride")
        stride = DEFAULT_STRIDE if stride is None else stride
        if not isinstance(stride, int) or stride < 1:
            raise ModelError(str(path), f"bad 'stride' metadata {meta.get('stride')!r} (a positive integer)")
        self.shape = InputShape(*(_static(d) for d in (inputs[0].shape[0], inputs[0].shape[2], inputs[0].shape[3])))
        self.rows = self._output_rows(_static(outputs[0].shape[1]), names)
        self.input_name = inputs[0].name
        self.class_map = class_map
        size = self._tile_side(_literal(self.path, meta, "imgsz"), stride)
        self.info = YoloInfo(model_id=meta.get("description", self.path.stem) or self.path.stem,
                             version=meta.get("version", "unknown"), gsd_m=float(gsd_m), input_size=size,
                             score_threshold=score_threshold, nms_iou=float(nms_iou),
                             tile_overlap_px=min(128, size // 4), names=names, stride=stride,
                             tile_align=min(stride, size))

    def _output_rows(self, rows: int | None, names: dict[int, str]) -> int | None:
        """The output's row count (4 + nc + 1) where the graph or the names fix it."""
        if rows is not None and rows < 6:
            raise ModelError(str(self.path), f"output has {rows} rows; the OBB layout needs 4 + classes + 1, "
                                             "at least 6")
        if rows is not None and names and max(names) >= rows - 5:
            raise ModelError(str(self.path), f"output has {rows} rows, room for {rows - 5} classes (4 + classes + 1), "
                                             f"but the metadata names class {max(names)}")
        return rows

    def _tile_side(self, imgsz, stride: int) -> int:
        """Tiles are square: the smaller fixed side, or the exported size for a dynamic one."""
        fixed = [s for s in (self.shape.height, self.shape.width) if s is not None]
        if fixed:
            return min(fixed)
        if isinstance(imgsz, int):
            imgsz = [imgsz]
        side = min(int(v) for v in imgsz) if isinstance(imgsz, (list, tuple)) and imgsz else DEFAULT_INPUT
        side -= side % stride
        if side < stride:
            raise ModelError(str(self.path), f"bad 'imgsz' metadata {imgsz!r} for stride {stride}")
        return side

    @property
    def gsd_m(self) -> float:
        return self.info.gsd_m

    @property
    def tile_size(self) -> int:
        return self.info.input_size

    def _our_class(self, idx: int) -> str | None:
        name = self.info.names.get(idx)
        return self.class_map.get(name) if name is not None and name in self.class_map else self.class_map.get(str(idx))

    def input_side(self, h: int, w: int) -> tuple[int, int]:
        """The (H, W) the model is fed for an h x w tile."""
        s = self.info.stride
        height = self.shape.height if self.shape.height is not None else -(-h // s) * s
        width = self.shape.width if self.shape.width is not None else -(-w // s) * s
        if h > height or w > width:
            raise ModelError(str(self.path), f"a {w} x {h} tile is larger than the model's {width} x {height} input")
        return height, width

    def raw(self, batch: np.ndarray) -> tuple[list[np.ndarray], tuple[int, int]]:
        """The model's outputs, one (4 + nc + 1, N) array a tile, and the (left, top) padding
        the tiles were given (`letterbox`)."""
        b, _, h, w = batch.shape
        height, width = self.input_side(h, w)
        x, offset = letterbox(batch, height, width)
        x /= 255.0
        step = self.shape.batch or b
        outs: list[np.ndarray] = []
        for start in range(0, b, step):
            chunk = x[start:start + step]
            n = len(chunk)
            if n < step:  # a fixed batch: filled up with grey tiles
                chunk = np.concatenate([chunk, np.full((step - n, *chunk.shape[1:]), PAD_VALUE / 255.0, np.float32)])
            outs.extend(self._session_run(chunk)[:n])
        return outs, offset

    def _session_run(self, x: np.ndarray) -> np.ndarray:
        try:
            (out,) = self.session.run(None, {self.input_name: x})
        except Exception as exc:  # onnxruntime raises its own types; the user needs one line
            raise ModelError(str(self.path), f"cannot run on a {tuple(x.shape)} input "
                                             f"({str(exc).splitlines()[0][:300]})") from exc
        rows = self.rows if self.rows is not None else (out.shape[1] if out.ndim == 3 else 0)
        names = self.info.names
        if (out.ndim != 3 or out.shape[0] != len(x) or out.shape[1] != rows or rows < 6
                or (names and max(names) >= rows - 5)):
            raise ModelError(str(self.path), f"output of shape {tuple(out.shape)} for a batch of {len(x)}; the "
                                             f"OBB layout is (B, 4 + classes + 1, N)"
                                             + (f" with {rows} rows" if self.rows else ""))
        return out

    def run(self, batch: np.ndarray, score_threshold: float | None = None, sun=None) -> list[RawDetections]:
        """Detections of a batch of tiles; `sun` is taken for the interface's sake (this
        model has no box refiner to use it)."""
        outs, offset = self.raw(batch)
        thr = self.info.score_threshold if score_threshold is None else score_threshold
        return [self.decode(o, thr, offset) for o in outs]

    def decode(self, out: np.ndarray, threshold: float, offset: tuple[int, int] = (0, 0)) -> RawDetections:
        """(4 + nc + 1, N) -> detections mapped onto our classes, in the tile's pixels."""
        nc = out.shape[0] - 5
        if nc < 1:
            raise ModelError(str(self.path), f"output has {out.shape[0]} rows; the OBB layout needs at least 6")
        scores = out[4:4 + nc]
        idx = scores.argmax(axis=0)
        best = scores[idx, np.arange(out.shape[1])]
        cand = np.nonzero(best > threshold)[0]
        if len(cand) > MAX_NMS:
            cand = cand[np.argsort(-best[cand], kind="stable")[:MAX_NMS]]
        xywhr = out[[0, 1, 2, 3, 4 + nc]][:, cand].T.astype(np.float64)
        keep = cand[fast_nms(xywhr, best[cand], self.info.nms_iou, classes=idx[cand])[:MAX_DET]]
        ours = np.array([self._our_class(int(i)) for i in idx[keep]], dtype=object)
        mapped = np.array([c is not None for c in ours], bool)
        keep, ours = keep[mapped], ours[mapped]
        if len(keep) == 0:
            return RawDetections.empty()
        cx, cy = out[0, keep] - offset[0], out[1, keep] - offset[1]
        bw, bh, r = out[2, keep], out[3, keep], out[4 + nc, keep]  # unclipped, as Ultralytics leaves them
        deg = np.degrees(r.astype(np.float64))
        # The width side runs along (cos r, sin r) on screen: heading 90 + r; the height side 90 deg on.
        heading = np.where(bw >= bh, 90.0 + deg, deg)
        boxes = np.column_stack([cx, cy, np.maximum(bw, bh), np.minimum(bw, bh), geometry.fold_heading(heading)])
        n = len(keep)
        return RawDetections(boxes.astype(np.float64), ours, best[keep].astype(np.float64),
                             np.full(n, UNKNOWN_TYPE, dtype=object), np.zeros(n),
                             np.full(n, "normal", dtype=object), np.ones(n))


def letterbox(batch: np.ndarray, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A (B, 3, h, w) batch padded with grey to (B, 3, height, width), centred as
    Ultralytics' letterbox centres (the odd pixel to the bottom and right), as float32;
    and the (left, top) padding."""
    b, c, h, w = batch.shape
    top, left = (height - h) // 2, (width - w) // 2
    if (h, w) == (height, width):
        return batch.astype(np.float32, copy=True), (0, 0)
    out = np.full((b, c, height, width), PAD_VALUE, np.float32)
    out[:, :, top:top + h, left:left + w] = batch
    return out, (left, top)
