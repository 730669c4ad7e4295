"""The box refiner: a second look at the centre and axis of each small detected item.

Why: on vehicles and air-defence items the detector's sizes are within 5% and its headings
good enough, but its centres are off by 0.5 to 1 m (it reads them at a 2 m cell from
features shared with everything else), and on a 4.5 x 1.8 m car half a metre across the axis
is already below IoU 0.5. Put the true centre under each predicted box and 99% of them pass.
The refiner looks at a nose-up crop centred on the detector's box and says where in it the
item's centre is, and how far its axis is turned from the crop's.

The refiner is an ONNX file beside the detector, named in the detector's metadata
(`box_refiner`); it applies to the classes in its own metadata (`applies_to`).

Input: float32 (N, 3, CROP, CROP), RGB 0..255, normalised inside the graph.
Output: `correction` (N, 3): the item's centre in the crop, as a share of the crop size from
its middle (x right, y down in the nose-up crop), and the turn from the box's heading to the
item's axis, clockwise, in units of HEADING_UNIT_DEG.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sitewatch.detect.crops import nose_up_matrix, warp
from sitewatch.errors import ModelError

FORMAT_TAG = "sitewatch-box-refiner/1"
CROP_PX = 48
# The item's longer side spans half the crop: room to see its whole outline when the
# detector's centre is off by a quarter of its length.
FILL = 0.5
# The largest shift the refiner is trusted with, as a share of the crop (its training
# moved boxes by far less); a larger answer means it saw something else, and is not used.
MAX_SHIFT = 0.2
HEADING_UNIT_DEG = 30.0
MAX_TURN_DEG = 20.0


@dataclass(frozen=True)
class RefinerInfo:
    applies_to: tuple[str, ...]
    crop_px: int
    fill: float
    training: dict
    metrics: dict


class BoxRefiner:
    """A box-refiner ONNX file; `refine(image, boxes)` -> boxes with corrected centres."""

    def __init__(self, path: Path | str, threads: int = 0):
        from sitewatch.detect.model import open_companion

        self.path = Path(path)
        self.session, meta = open_companion(self.path, FORMAT_TAG, threads)
        try:
            self.info = RefinerInfo(applies_to=tuple(json.loads(meta["applies_to"])), crop_px=int(meta["crop_px"]),
                                    fill=float(meta["fill"]), training=json.loads(meta.get("training", "{}")),
                                    metrics=json.loads(meta.get("metrics", "{}")))
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(str(self.path), f"unreadable box-refiner metadata ({exc})") from exc
        self.input_name = self.session.get_inputs()[0].name
        outputs = self.session.get_outputs()
        if len(outputs) != 1 or outputs[0].shape[-1] != 3:
            raise ModelError(str(self.path), f"expected one output of shape (N, 3), got "
                                             f"{[tuple(o.shape) for o in outputs]}")

    def refine(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Pixel boxes on an (H, W, 3) image at the detector's GSD, centres moved and axes
        turned to where the refiner sees them; sizes and nose ends kept."""
        if not len(boxes):
            return boxes
        size = self.info.crop_px
        mats = [nose_up_matrix(b, size, self.info.fill) for b in boxes]
        crops = np.stack([warp(image, m, size) for m in mats]).transpose(0, 3, 1, 2)
        answer = self.session.run(None, {self.input_name: np.ascontiguousarray(crops)})[0].astype(np.float64)
        turn = answer[:, 2] * HEADING_UNIT_DEG
        trusted = (np.abs(answer[:, :2]).max(axis=1) <= MAX_SHIFT) & (np.abs(turn) <= MAX_TURN_DEG)
        out = boxes.copy()
        for i in np.flatnonzero(trusted):
            x, y = size / 2.0 + answer[i, :2] * size
            out[i, :2] = cv2.invertAffineTransform(mats[i]) @ np.array([x, y, 1.0])
            out[i, 4] = (out[i, 4] + turn[i]) % 360.0
        return out
