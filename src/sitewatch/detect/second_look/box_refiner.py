"""The box refiner: a second look at the centre and axis of each small detected item.

Why: on vehicles and air-defence items the detector's sizes are within 5% and its headings
good enough, but its centres are off by 0.5 to 1 m (it reads them at a 2 m cell from
features shared with everything else), and on a 4.5 x 1.8 m car half a metre across the axis
is already below IoU 0.5. Put the true centre under each predicted box and 99% of them pass.
The refiner looks at a nose-up crop centred on the detector's box and says where in it the
item's centre is, and how far its axis is turned from the crop's.

The refiner is an ONNX file beside the detector, named in the detector's metadata
(`box_refiner`); it applies to the classes in its own metadata (`applies_to`).

A *hull* refiner (metadata key `hull_refiner` of the detector) is the same kind of file for
long items, ships: its crop is long along the item's axis and narrow across it
(`crop_w` < `crop_px`), so the hulls moored beside a ship stay out of it while bow and
stern stay in, and it also answers the item's length. On a ship the detector's box slides
along the hull (a Kilo submarine's by 5-15 m) and comes out a tenth short.

A refiner may also take the sun (a second input, `sun_features`): where the shadows fall in
each crop, and how long they are. In a blurred image a helicopter and its shadow merge into
one dark shape, whose middle lies 0.8 m towards the shadow on average (up to 2 m); which
side is shadow the crop alone cannot say, the sun can (the shipped helicopter refiner takes
it; on air defence the narrow hull crop did as well without it). The sun comes from the
image's acquisition time and place (`sitewatch.geo.sun.sun_on_grid`); when it is unknown
the input is zeros, which the refiner was also trained on.

Input: float32 (N, 3, CROP, CROP_W), RGB 0..255, normalised inside the graph; and, for a
refiner that takes the sun, float32 (N, 3) `sun_features`.
Output: `correction` (N, 3) or (N, 4): the item's centre in the crop, as a share of the
crop's width (x right) and height (y down) from its middle, in the nose-up crop; the turn
from the box's heading to the item's axis, clockwise, in units of HEADING_UNIT_DEG; and, in a
fourth column, the log of the true length over the box's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sitewatch.detect.second_look.crops import nose_up_matrix, warp
from sitewatch.detect.sessions import open_companion
from sitewatch.errors import ModelError
from sitewatch.geo.sun import SunPosition

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
# The largest length change trusted (log ratio): the detector's lengths are within 10%.
MAX_LOG_LENGTH = 0.3
# The hull refiner's crop: long along the axis, narrow across it, the box's length at FILL.
HULL_CROP_PX, HULL_CROP_W, HULL_FILL = 96, 32, 0.75
# Shadow length per unit of height is 1 / tan(elevation); beyond this (a sun under 22
# degrees) it is capped: the scenes the refiner learnt from have the sun at 25 degrees or more.
MAX_SHADOW = 2.5


def sun_features(mats: list[np.ndarray], sun: SunPosition | None) -> np.ndarray:
    """(N, 3) float32 per nose-up crop (affine `mats`, image -> crop): the direction the
    shadows fall in the crop (x right, y down) times their length per unit of height, and 1;
    all zeros for an unknown sun."""
    out = np.zeros((len(mats), 3), np.float32)
    if sun is None or not len(mats):
        return out
    away = np.radians(sun.azimuth_deg + 180.0)  # shadows fall away from the sun
    on_image = np.array([np.sin(away), -np.cos(away)])  # x right, y down
    length = min(1.0 / np.tan(np.radians(max(sun.elevation_deg, 1.0))), MAX_SHADOW)
    for i, m in enumerate(mats):
        v = m[:, :2] @ on_image
        out[i, :2] = length * v / max(float(np.hypot(*v)), 1e-9)
        out[i, 2] = 1.0
    return out


@dataclass(frozen=True)
class RefinerInfo:
    applies_to: tuple[str, ...]
    crop_px: int  # height (along the axis)
    fill: float
    training: dict
    metrics: dict
    crop_w: int | None = None  # width, when not square
    states: tuple[str, ...] = ()  # a state refiner's states (`DetectionModel.refine_by_state`)


class BoxRefiner:
    """A box-refiner ONNX file; `refine(image, boxes)` -> boxes with corrected centres."""

    def __init__(self, path: Path | str, threads: int = 0):
        self.path = Path(path)
        self.session, meta = open_companion(self.path, FORMAT_TAG, threads)
        try:
            self.info = RefinerInfo(applies_to=tuple(json.loads(meta["applies_to"])), crop_px=int(meta["crop_px"]),
                                    fill=float(meta["fill"]), training=json.loads(meta.get("training", "{}")),
                                    metrics=json.loads(meta.get("metrics", "{}")),
                                    crop_w=int(meta["crop_w"]) if meta.get("crop_w") else None,
                                    states=tuple(json.loads(meta.get("applies_to_states", "[]"))))
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(str(self.path), f"unreadable box-refiner metadata ({exc})") from exc
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        self.sun_input = inputs[1].name if len(inputs) > 1 else None
        if len(inputs) > 2 or (self.sun_input and inputs[1].shape[-1] != 3):
            raise ModelError(str(self.path), f"expected inputs crops (N, 3, H, W) and optionally sun_features "
                                             f"(N, 3), got {[tuple(i.shape) for i in inputs]}")
        outputs = self.session.get_outputs()
        if len(outputs) != 1 or outputs[0].shape[-1] not in (3, 4):
            raise ModelError(str(self.path), f"expected one output of shape (N, 3) or (N, 4), got "
                                             f"{[tuple(o.shape) for o in outputs]}")

    @property
    def takes_sun(self) -> bool:
        return self.sun_input is not None

    def refine(self, image: np.ndarray, boxes: np.ndarray, sun: SunPosition | None = None) -> np.ndarray:
        """Pixel boxes on an (H, W, 3) image at the detector's GSD, centres moved and axes
        turned to where the refiner sees them (and lengths set, by a refiner that answers
        them); widths and nose ends kept. `sun`: as seen on the image, None when unknown
        (used by a refiner that takes it). An answer beyond MAX_SHIFT, MAX_TURN_DEG or
        MAX_LOG_LENGTH means the refiner saw something else, and is not used."""
        if not len(boxes):
            return boxes
        height, width = self.info.crop_px, self.info.crop_w or self.info.crop_px
        mats = [nose_up_matrix(b, height, self.info.fill, width) for b in boxes]
        crops = np.stack([warp(image, m, height, width) for m in mats]).transpose(0, 3, 1, 2)
        feed = {self.input_name: np.ascontiguousarray(crops)}
        if self.sun_input:
            feed[self.sun_input] = sun_features(mats, sun)
        answer = self.session.run(None, feed)[0].astype(np.float64)
        turn = answer[:, 2] * HEADING_UNIT_DEG
        log_length = answer[:, 3] if answer.shape[1] > 3 else np.zeros(len(answer))
        trusted = ((np.abs(answer[:, :2]).max(axis=1) <= MAX_SHIFT) & (np.abs(turn) <= MAX_TURN_DEG)
                   & (np.abs(log_length) <= MAX_LOG_LENGTH))
        out = boxes.copy()
        for i in np.flatnonzero(trusted):
            x, y = width / 2.0 + answer[i, 0] * width, height / 2.0 + answer[i, 1] * height
            out[i, :2] = cv2.invertAffineTransform(mats[i]) @ np.array([x, y, 1.0])
            out[i, 4] = (out[i, 4] + turn[i]) % 360.0
            out[i, 2] *= np.exp(log_length[i])
        return out
