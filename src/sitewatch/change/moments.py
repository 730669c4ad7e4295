"""Looks at the same moment: images of one site taken so close together that, for a class of
item, they show the same situation (two providers over an airfield an hour apart), not two
dates to compare.

How close depends on how fast the class moves: aircraft, helicopters, vehicles and air
defence can leave within hours, ships in port seldom within two days. A moment opens at its
earliest image and takes every later image within the class's window of that first one, so
no two images of a moment lie further apart than the window (a chain of images a window
apart apiece does not run together into one long moment).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sitewatch.domain import CLASSES, Image

SAME_MOMENT_WINDOWS: dict[str, timedelta] = {
    "aircraft": timedelta(hours=6),
    "helicopter": timedelta(hours=6),
    "vehicle": timedelta(hours=6),
    "air_defence": timedelta(hours=6),
    "ship": timedelta(hours=48),
}


@dataclass(frozen=True)
class Moment:
    """Images of one site that show the same moment for a class, oldest first."""

    cls: str
    images: tuple[Image, ...]

    @property
    def start(self) -> datetime:
        return self.images[0].acquired

    @property
    def end(self) -> datetime:
        return self.images[-1].acquired


def same_moment_window(cls: str, windows: Mapping[str, timedelta] | None = None) -> timedelta:
    """The class's window: from `windows` where it names the class, else the default."""
    if cls not in CLASSES:
        raise ValueError(f"unknown class {cls!r} (one of {', '.join(CLASSES)})")
    window = (windows or {}).get(cls, SAME_MOMENT_WINDOWS[cls])
    if window < timedelta(0):
        raise ValueError(f"the same-moment window of {cls} must not be negative, got {window}")
    return window


def moments(images: Iterable[Image], cls: str, windows: Mapping[str, timedelta] | None = None) -> list[Moment]:
    """The images grouped into moments for `cls`, in time order; each image in exactly one.
    Ties in time keep the images' id order, so the grouping is stable."""
    window = same_moment_window(cls, windows)
    out: list[Moment] = []
    current: list[Image] = []
    for image in sorted(images, key=lambda i: (i.acquired, i.id)):
        if current and image.acquired - current[0].acquired > window:
            out.append(Moment(cls, tuple(current)))
            current = []
        current.append(image)
    if current:
        out.append(Moment(cls, tuple(current)))
    return out


def moment_of(image_id: str, grouped: Iterable[Moment]) -> Moment | None:
    """The moment holding the image, if any."""
    return next((m for m in grouped if any(i.id == image_id for i in m.images)), None)
