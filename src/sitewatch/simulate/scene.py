"""What the renderer is asked to draw: the contract between layout and rendering.

The layout code (scenario -> per-date inventory) builds a SceneSpec; the renderer turns it
into pixels. Neither knows how the other works.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sitewatch.domain import OrientedBox, Site


@dataclass(frozen=True)
class PlacedObject:
    """One piece of equipment on the ground on one date, at its true place (site CRS).

    box.length / box.width are the catalogue footprint for this type, state and wing
    position; the renderer must draw the object so that its visible outline fills that box.
    """

    track_id: str
    type: str
    cls: str
    state: str
    box: OrientedBox
    wings_swept: bool = False
    # Stable per track: paint scheme and small details stay the same on every date.
    appearance_seed: int = 0
    # The scenario zone the object stands in ("" when placed outside any zone).
    zone: str = ""
    # A dummy (inflatable, painted): optical sources show it, radar sources do not.
    decoy: bool = False


@dataclass(frozen=True)
class Conditions:
    """Acquisition conditions of one date. None of these is a change at the site."""

    sun_azimuth_deg: float = 135.0  # clockwise from north, where the sun is
    sun_elevation_deg: float = 45.0
    haze: float = 0.0  # 0 clear .. 1 thick
    colour_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)  # gains on R, G, B
    noise_sigma: float = 0.0  # in 8-bit digital numbers
    blur_sigma_px: float = 0.0
    shift_px: tuple[float, float] = (0.0, 0.0)  # misregistration (dx east, dy south) in pixels
    rotation_deg: float = 0.0  # misregistration rotation about the image centre, clockwise
    cloud_cover: float = 0.0  # fraction of the image under cloud, 0..1


@dataclass(frozen=True)
class SceneSpec:
    """Everything needed to render one image of one site on one date."""

    site: Site
    objects: tuple[PlacedObject, ...]
    conditions: Conditions = field(default_factory=Conditions)
    # The ground (runways, buildings, soil, sea) depends on site_seed only, so it is the
    # same on every date; date_seed drives per-date nuisances (noise, cloud shapes).
    site_seed: int = 0
    date_seed: int = 0
