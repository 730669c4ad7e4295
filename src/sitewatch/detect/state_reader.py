"""The state reader: a second look at each detected item whose type has more than one state.

Why a second model: the detector reads an item's state at its centre cell, but the evidence
is often at one end. An An-124's raised nose is 35 m from its centre and an Il-76's ramp as
far behind it, and the detector's centre cells never learned them (state accuracy near a
coin toss, even on the chips it trained on). The reader is a small CNN on a crop of the item
turned nose-up and scaled so that its longer side spans a fixed share of the crop, so every
type's doors, ramps, rotors and launch tubes fall at the same places in its input.

The reader is an ONNX file beside the detector, named in the detector's metadata
(`state_reader`); it applies to the types listed in its own metadata (`applies_to`), those
on which it measured better than the detector's own state head.

Input: float32 (N, 3, CROP, CROP), RGB 0..255 (normalised inside the graph).
Output: `state` (N, S) logits over the detector's states.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sitewatch.detect.crops import nose_up_crop
from sitewatch.errors import ModelError

FORMAT_TAG = "sitewatch-state-reader/1"
CROP_PX = 112
# The item's longer side spans this share of the crop: a margin for a box that is a little
# off, and for ramps or raised doors that stick out beyond the closed outline.
FILL = 0.8


def crop(image: np.ndarray, box: np.ndarray, crop_px: int = CROP_PX) -> np.ndarray:
    return nose_up_crop(image, box, crop_px, FILL)


@dataclass(frozen=True)
class ReaderInfo:
    states: tuple[str, ...]
    applies_to: tuple[str, ...]
    crop_px: int
    training: dict
    metrics: dict


class StateReader:
    """A state-reader ONNX file; `read(image, boxes)` -> (N, S) logits."""

    def __init__(self, path: Path | str, states: tuple[str, ...], threads: int = 0):
        from sitewatch.detect.model import open_companion

        self.path = Path(path)
        self.session, meta = open_companion(self.path, FORMAT_TAG, threads)
        try:
            self.info = ReaderInfo(states=tuple(json.loads(meta["states"])),
                                   applies_to=tuple(json.loads(meta["applies_to"])),
                                   crop_px=int(meta["crop_px"]), training=json.loads(meta.get("training", "{}")),
                                   metrics=json.loads(meta.get("metrics", "{}")))
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(str(self.path), f"unreadable state-reader metadata ({exc})") from exc
        if self.info.states != tuple(states):
            raise ModelError(str(self.path), f"state reader knows states {list(self.info.states)}, "
                                             f"the detector {list(states)}")
        self.input_name = self.session.get_inputs()[0].name

    def read(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """State logits for pixel boxes on an (H, W, 3) image at the detector's GSD."""
        if not len(boxes):
            return np.zeros((0, len(self.info.states)), np.float32)
        crops = np.stack([crop(image, b, self.info.crop_px) for b in boxes]).transpose(0, 3, 1, 2)
        return self.session.run(None, {self.input_name: np.ascontiguousarray(crops)})[0]
