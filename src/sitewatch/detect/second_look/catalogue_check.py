"""The catalogue check: a second look at whether a detected aircraft is of a type the
catalogue knows at all.

Why: the type readers choose among the catalogue's types only, so an airliner at a civil
airport came out as a Tu-22M3, an An-72 or an An-124 (without the check, every aircraft found
on the real Airbus development images is given a catalogue type). An analyst reads a named type
as a claim; a wrong Russian type on a civil or Western aircraft is worse than none. The
check looks at the same nose-up crop as the type reader and answers how likely the item is
of a type outside the catalogue; at or over its `threshold` the item's type becomes
`unknown` (its class stays: it is still found and counted), with that probability as its
type score.

The check is an ONNX file beside the detector, named in the detector's metadata
(`catalogue_check`); it applies to the classes listed in its own metadata (`applies_to`).

Input: float32 (N, 3, CROP, CROP), RGB 0..255 (normalised inside the graph).
Output: `outside` (N, C) logits, one per detector class; an item's own class's is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sitewatch.detect.second_look.crop_reader import CropReader
from sitewatch.detect.second_look.state_reader import CROP_PX, FILL  # the type reader's crop
from sitewatch.detect.second_look.verifier import presence_from_logits
from sitewatch.errors import ModelError

__all__ = ["CROP_PX", "FILL", "FORMAT_TAG", "CatalogueCheck"]

FORMAT_TAG = "sitewatch-catalogue-check/1"


class CatalogueCheck(CropReader):
    """A catalogue-check ONNX file; `outside(image, boxes, classes)` -> (N,) probabilities
    that each item is of a type the catalogue lacks."""

    def __init__(self, path: Path | str, classes: tuple[str, ...], threads: int = 0):
        super().__init__(path, FORMAT_TAG, "classes", classes, FILL, threads)
        try:
            self.threshold = float(self.meta["threshold"])
        except (KeyError, ValueError) as exc:
            raise ModelError(str(self.path), f"unreadable catalogue-check metadata threshold ({exc})") from exc
        if not 0.0 < self.threshold < 1.0:
            raise ModelError(str(self.path), f"catalogue-check threshold {self.threshold} must be in (0, 1)")

    def outside(self, image: np.ndarray, boxes: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """For pixel boxes on an (H, W, 3) image at the detector's GSD."""
        if not len(boxes):
            return np.zeros(0)
        return presence_from_logits(self.read(image, boxes), self.info.labels, classes)

    def outside_of_crops(self, crops: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """The same for crops already cut nose-up, (N, CROP, CROP, 3)."""
        return presence_from_logits(self.read_crops(crops), self.info.labels, classes)
