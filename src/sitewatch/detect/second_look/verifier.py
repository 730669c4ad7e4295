"""The presence check: a second look at whether a detected item is there at all.

Why: the detector scores an item from the features of its centre cell, and on some classes
its score ranks real items poorly against clutter. On 210 held-out simulated scenes, one in
ten of the air-defence detections scored 0.2-0.5 was a real launcher, radar or Pantsir, and
22 of the 288 scored above 0.5 were not there at all (a berm, a truck, a helicopter): real
items scored 0.46 ranked below clutter scored 0.6, and AP50 stayed under 0.9. The check
looks at a crop of the whole item, turned nose-up, with some ground around it, and answers
how likely an item of the detected class is there.

Its answer p is combined with the detector's score s as s^(1-w) * p^w (a weighted
geometric mean, `weight` w in its metadata): 0.5 and 0.5 stay 0.5, so the operating
threshold keeps its meaning. Detections of the classes it applies to are decoded down to
its `floor` score, so that a real item the detector scored under the threshold can be
lifted over it.

The check is an ONNX file beside the detector, named in the detector's metadata
(`verifier`); it applies to the classes listed in its own metadata (`applies_to`).

Input: float32 (N, 3, CROP, CROP), RGB 0..255 (normalised inside the graph).
Output: `presence` (N, C) logits, one per detector class; an item's own class's is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sitewatch.detect.second_look.crop_reader import CropReader
from sitewatch.detect.second_look.crops import nose_up_crop
from sitewatch.errors import ModelError

FORMAT_TAG = "sitewatch-verifier/1"
CROP_PX = 96
# The item's longer side spans this share of the crop: the ground around it is part of the
# evidence (a launcher stands in a revetment, a berm does not cast an item's shadow).
FILL = 0.6


def crop(image: np.ndarray, box: np.ndarray, crop_px: int = CROP_PX) -> np.ndarray:
    return nose_up_crop(image, box, crop_px, FILL)


def combine(score: np.ndarray, presence: np.ndarray, weight: float) -> np.ndarray:
    """The detector's score and the check's presence probability as one score."""
    s = np.clip(score, 1e-6, 1.0)
    p = np.clip(presence, 1e-6, 1.0)
    return s ** (1.0 - weight) * p ** weight


def presence_from_logits(logits: np.ndarray, labels: tuple[str, ...], classes: np.ndarray) -> np.ndarray:
    """Each row's probability for its own class: (N, len(labels)) logits -> (N,)."""
    column = np.array([labels.index(c) for c in classes], dtype=int)
    return 1.0 / (1.0 + np.exp(-logits[np.arange(len(column)), column].astype(np.float64)))


class Verifier(CropReader):
    """A presence-check ONNX file; `presence(image, boxes, classes)` -> (N,) probabilities."""

    def __init__(self, path: Path | str, classes: tuple[str, ...], threads: int = 0):
        super().__init__(path, FORMAT_TAG, "classes", classes, FILL, threads)
        try:
            self.weight = float(self.meta["weight"])
            self.floor = float(self.meta["floor"])
        except (KeyError, ValueError) as exc:
            raise ModelError(str(self.path), f"unreadable verifier metadata weight/floor ({exc})") from exc
        if not (0.0 <= self.weight <= 1.0 and 0.0 < self.floor <= 1.0):
            raise ModelError(str(self.path), f"verifier weight {self.weight} must be in 0..1 and floor "
                                             f"{self.floor} in (0, 1]")

    def decode_floor(self, threshold: float) -> float:
        """The lowest detector score worth decoding and checking for an output `threshold`:
        the metadata's floor, but no lower than the score that a sure "present" (p = 1)
        lifts to the threshold (s^(1-w) >= t). At 0.5 with w = 0.5 that is 0.25: a candidate
        at 0.2 could never reach 0.5, and looking at it would be time lost."""
        liftable = threshold ** (1.0 / (1.0 - self.weight)) if self.weight < 1.0 else 0.0
        return min(threshold, max(self.floor, liftable))

    def presence(self, image: np.ndarray, boxes: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """How likely an item of each box's class is there, for pixel boxes on an (H, W, 3)
        image at the detector's GSD."""
        if not len(boxes):
            return np.zeros(0)
        return presence_from_logits(self.read(image, boxes), self.info.labels, classes)

    def presence_of_crops(self, crops: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """The same for crops already cut as `crop` cuts them, (N, CROP, CROP, 3)."""
        return presence_from_logits(self.read_crops(crops), self.info.labels, classes)
