"""Bring your own model: YOLO oriented-box ONNX exports in the Ultralytics layout.

The model has one input (1 or B, 3, S, S), RGB scaled to 0..1, and one output of shape
(B, 4 + nc + 1, N): per candidate the centre x, centre y, width, height (input pixels),
nc class scores (already sigmoid), and the rotation r in radians. Ultralytics draws the
width side along (cos r, sin r) in image coordinates (x right, y down), so r turns the box
clockwise on screen.

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
from sitewatch.detect.sessions import open_session
from sitewatch.domain import UNKNOWN_TYPE
from sitewatch.errors import ModelError

DEFAULT_INPUT = 1024


@dataclass(frozen=True)
class YoloInfo:
    model_id: str
    version: str
    gsd_m: float
    input_size: int
    score_threshold: float = 0.25
    nms_iou: float = 0.3
    tile_overlap_px: int = 128
    names: dict[int, str] = field(default_factory=dict)


class YoloObbModel:
    """Same interface as `DetectionModel`: gsd_m, tile_size, info, raw(), run()."""

    def __init__(self, path: Path | str, class_map: dict[str, str], gsd_m: float, threads: int = 0,
                 score_threshold: float = 0.25):
        self.path = Path(path)
        if not gsd_m > 0:
            raise ModelError(str(path), f"--model-gsd must be positive metres, got {gsd_m}")
        self.session = open_session(self.path, threads)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or len(outputs) != 1 or len(outputs[0].shape) != 3:
            raise ModelError(str(path), "expected one (B, 3, S, S) input and one (B, 4 + classes + 1, N) output "
                                        "(Ultralytics OBB layout), got inputs "
                                        f"{[tuple(i.shape) for i in inputs]}, outputs {[tuple(o.shape) for o in outputs]}")
        meta = self.session.get_modelmeta().custom_metadata_map
        names = {}
        if "names" in meta:
            try:
                names = {int(k): str(v) for k, v in ast.literal_eval(meta["names"]).items()}
            except (ValueError, SyntaxError) as exc:
                raise ModelError(str(path), f"unreadable 'names' metadata ({exc})") from exc
        side = inputs[0].shape[2]
        size = side if isinstance(side, int) else DEFAULT_INPUT
        self.fixed_input = isinstance(side, int)
        self.input_name = inputs[0].name
        self.class_map = class_map
        self.info = YoloInfo(model_id=meta.get("description", self.path.stem) or self.path.stem,
                             version=meta.get("version", "unknown"), gsd_m=float(gsd_m), input_size=int(size),
                             score_threshold=score_threshold, tile_overlap_px=min(128, int(size) // 4), names=names)

    @property
    def gsd_m(self) -> float:
        return self.info.gsd_m

    @property
    def tile_size(self) -> int:
        return self.info.input_size

    def _our_class(self, idx: int) -> str | None:
        name = self.info.names.get(idx)
        return self.class_map.get(name) if name is not None and name in self.class_map else self.class_map.get(str(idx))

    def raw(self, batch: np.ndarray) -> list[np.ndarray]:
        b, _, h, w = batch.shape
        x: np.ndarray = batch / 255.0
        if self.fixed_input and (h, w) != (self.tile_size, self.tile_size):
            pad = np.full((b, 3, self.tile_size, self.tile_size), 114 / 255.0, np.float32)
            pad[:, :, :h, :w] = x
            x = pad
        return self.session.run(None, {self.input_name: x.astype(np.float32)})

    def run(self, batch: np.ndarray, score_threshold: float | None = None, sun=None) -> list[RawDetections]:
        """Detections of a batch of tiles; `sun` is taken for the interface's sake (this
        model has no box refiner to use it)."""
        (out,) = self.raw(batch)
        thr = self.info.score_threshold if score_threshold is None else score_threshold
        return [self.decode(o, thr) for o in out]

    def decode(self, out: np.ndarray, threshold: float) -> RawDetections:
        """(4 + nc + 1, N) -> detections mapped onto our classes, after rotated NMS."""
        nc = out.shape[0] - 5
        if nc < 1:
            raise ModelError(str(self.path), f"output has {out.shape[0]} rows; the OBB layout needs at least 6")
        scores = out[4:4 + nc]
        idx = scores.argmax(axis=0)
        best = scores[idx, np.arange(out.shape[1])]
        cand = np.nonzero(best >= threshold)[0]
        ours = np.array([self._our_class(int(i)) for i in idx[cand]], dtype=object)
        mapped = np.array([c is not None for c in ours], bool)
        cand, ours = cand[mapped], ours[mapped]
        if len(cand) == 0:
            return RawDetections.empty()
        cx, cy, bw, bh, r = out[0, cand], out[1, cand], out[2, cand], out[3, cand], out[4 + nc, cand]
        deg = np.degrees(r.astype(np.float64))
        # The width side runs along (cos r, sin r) on screen: heading 90 + r; the height side 90 deg on.
        heading = np.where(bw >= bh, 90.0 + deg, deg)
        boxes = np.column_stack([cx, cy, np.maximum(bw, bh), np.minimum(bw, bh), geometry.fold_heading(heading)])
        score = best[cand].astype(np.float64)
        keep = geometry.rotated_nms(geometry.y_up(boxes), score, self.info.nms_iou, classes=ours)
        n = len(keep)
        return RawDetections(boxes[keep].astype(np.float64), ours[keep], score[keep],
                             np.full(n, UNKNOWN_TYPE, dtype=object), np.zeros(n),
                             np.full(n, "normal", dtype=object), np.ones(n))
