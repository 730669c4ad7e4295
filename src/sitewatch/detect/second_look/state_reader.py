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

from pathlib import Path

import numpy as np

from sitewatch.detect.second_look.crop_reader import CropReader
from sitewatch.detect.second_look.crops import nose_up_crop

FORMAT_TAG = "sitewatch-state-reader/1"
CROP_PX = 112
# The item's longer side spans this share of the crop: a margin for a box that is a little
# off, and for ramps or raised doors that stick out beyond the closed outline.
FILL = 0.8


def crop(image: np.ndarray, box: np.ndarray, crop_px: int = CROP_PX) -> np.ndarray:
    return nose_up_crop(image, box, crop_px, FILL)


class StateReader(CropReader):
    """A state-reader ONNX file; `read(image, boxes)` -> (N, S) logits over `states`."""

    def __init__(self, path: Path | str, states: tuple[str, ...], threads: int = 0):
        super().__init__(path, FORMAT_TAG, "states", states, FILL, threads)
