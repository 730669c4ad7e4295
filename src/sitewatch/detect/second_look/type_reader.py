"""The type reader: a second look at the type of each detected aircraft, helicopter or ship.

Why: the detector names types from its centre cell, and on look-alikes it errs at a rate an
analyst would not accept: on held-out simulated scenes a Su-34 was called a Su-35 about one
time in five, and frigates of two classes were swapped (so a frigate that stayed looked like
one that left and another that came). The look-alikes differ in details at the ends and
edges (canards and a wide side-by-side cockpit on the Su-34, the hull's shape and deck
layout on a ship), which a crop of the whole item, turned nose-up, shows at one place.

The crop is scaled to the item's box, so it shows shape, not size; the reader's logits are
added to the catalogue's size likelihood of the measured box (as the detector does with its
own), and only the detected class's types compete.

The reader is an ONNX file beside the detector, named in the detector's metadata
(`type_reader`); it applies to the classes listed in its own metadata (`applies_to`).

A *hull* type reader (metadata key `hull_type_reader` of the detector) is the same kind of
file for ships, on a crop long along the hull and narrow across it (`crop_w` < `crop_px`),
at a finer scale than the square crop allows: on the square crop a 125 m frigate spans 90
pixels, and the classes differ in a mast a metre or two across. It takes its classes over
from the square reader. For
the classes listed under `with_head`, its answer is weighed with the detector's own (the
head's named type at its score, the rest shared evenly among the class's other types):
two looks that err on different items, which on helicopters beat either alone.

Input: float32 (N, 3, CROP, CROP) (or CROP by CROP_W), RGB 0..255 (normalised inside the graph).
Output: `type` (N, T) logits over the detector's types.
"""

from __future__ import annotations

import json
from pathlib import Path

from sitewatch.detect.second_look.crop_reader import CropReader
from sitewatch.detect.second_look.state_reader import CROP_PX, FILL  # the state reader's crop suits types too
from sitewatch.errors import ModelError

__all__ = ["CROP_PX", "FILL", "FORMAT_TAG", "HULL_CROP_PX", "HULL_CROP_W", "HULL_FILL", "TypeReader"]

FORMAT_TAG = "sitewatch-type-reader/1"
# The hull reader's crop: at the detector's 0.5 m a 125 m hull spans 225 pixels (about 0.55 m
# each), and 64 pixels across leave room for its beam and a few degrees of heading error.
HULL_CROP_PX, HULL_CROP_W, HULL_FILL = 256, 64, 0.9


class TypeReader(CropReader):
    """A type-reader ONNX file; `read(image, boxes)` -> (N, T) logits over `types`."""

    def __init__(self, path: Path | str, types: tuple[str, ...], threads: int = 0):
        super().__init__(path, FORMAT_TAG, "types", types, FILL, threads)
        try:
            self.with_head = tuple(json.loads(self.meta.get("with_head", "[]")))
        except ValueError as exc:
            raise ModelError(str(self.path), f"unreadable type-reader metadata with_head ({exc})") from exc
