"""What the readers (states, types) share: an ONNX classifier of nose-up crops beside a
detector, whose metadata names the labels its logits are over (they must be the
detector's), the things it applies to, and its crop: `crop_px` along the item's axis, and,
for a long narrow crop, `crop_w` across it and `fill` (the share of crop_px the box's longer
side spans; a reader without it uses its kind's default)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sitewatch.detect.second_look.crops import nose_up_crop
from sitewatch.detect.sessions import open_companion
from sitewatch.errors import ModelError


@dataclass(frozen=True)
class ReaderInfo:
    labels: tuple[str, ...]  # what the logits are over, in the detector's order
    applies_to: tuple[str, ...]
    crop_px: int  # along the item's axis
    training: dict
    metrics: dict
    crop_w: int | None = None  # across it, when not square
    fill: float | None = None  # None: the kind's default


class CropReader:
    """A reader ONNX file; `read(image, boxes)` -> (N, len(labels)) logits.

    format_tag: the metadata `format` the file must carry; label_key: the metadata key that
    lists its labels ("states", "types"); labels: the detector's; fill: the share of the crop
    the box's longer side spans, unless the file's metadata says otherwise."""

    def __init__(self, path: Path | str, format_tag: str, label_key: str, labels: tuple[str, ...], fill: float,
                 threads: int = 0):
        self.path = Path(path)
        what = format_tag.split("/")[0].removeprefix("sitewatch-").replace("-", " ")
        self.session, meta = open_companion(self.path, format_tag, threads)
        self.meta = meta  # for what a kind of reader adds to these keys
        try:
            self.info = ReaderInfo(labels=tuple(json.loads(meta[label_key])),
                                   applies_to=tuple(json.loads(meta["applies_to"])),
                                   crop_px=int(meta["crop_px"]), training=json.loads(meta.get("training", "{}")),
                                   metrics=json.loads(meta.get("metrics", "{}")),
                                   crop_w=int(meta["crop_w"]) if meta.get("crop_w") else None,
                                   fill=float(meta["fill"]) if meta.get("fill") else None)
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(str(self.path), f"unreadable {what} metadata ({exc})") from exc
        if self.info.labels != tuple(labels):
            raise ModelError(str(self.path), f"{what} knows {label_key} {list(self.info.labels)}, "
                                             f"the detector {list(labels)}")
        self.fill = self.info.fill or fill
        self.input_name = self.session.get_inputs()[0].name

    def read(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Logits for pixel boxes on an (H, W, 3) image at the detector's GSD."""
        if not len(boxes):
            return np.zeros((0, len(self.info.labels)), np.float32)
        return self.read_crops(np.stack([nose_up_crop(image, b, self.info.crop_px, self.fill, self.info.crop_w)
                                         for b in boxes]))

    def read_crops(self, crops: np.ndarray) -> np.ndarray:
        """Logits for crops already cut nose-up, (N, crop_px, crop_w, 3) RGB 0..255."""
        nchw = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)
        return self.session.run(None, {self.input_name: nchw})[0]
