"""An image's source and viewing geometry (domain.Observation) from what its metadata says:
the properties of its STAC item (with the asset's own fields), else the raster's tags.

Pure: callers hand in the properties and tags as mappings. A field that no metadata gives,
or gives as something it cannot be (an off-nadir angle of 120 degrees, a GSD of "n/a"),
stays unknown (None), with a note for the bad value; nothing is guessed, except that a
raster of three or more bands with no SAR metadata is an optical colour (multispectral)
picture.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import fields, replace

from sitewatch.domain import Observation

# (field, lowest, highest) of the angles, degrees
_ANGLE_RANGES = {
    "off_nadir_deg": (0.0, 90.0),
    "view_azimuth_deg": (0.0, 360.0),
    "sun_azimuth_deg": (0.0, 360.0),
    "sun_elevation_deg": (-90.0, 90.0),
}
STAC_KEYS = {
    "off_nadir_deg": "view:off_nadir",
    "view_azimuth_deg": "view:azimuth",
    "sun_azimuth_deg": "view:sun_azimuth",
    "sun_elevation_deg": "view:sun_elevation",
    "gsd_m": "gsd",
}
# Tag names per field, compared after _tag_key (upper case, letters and digits only, the part
# after the last dot: an IMD block's "IMAGE_1.meanSunAz" is MEANSUNAZ). Generic names, the
# STAC names written as tags, GDAL's IMAGERY domain and the Maxar IMD names.
TAG_KEYS = {
    "provider": ("PROVIDER", "DATAPROVIDER"),
    "platform": ("PLATFORM", "SATELLITE", "SATELLITEID", "SATID", "MISSION"),
    "constellation": ("CONSTELLATION",),
    "instruments": ("INSTRUMENT", "INSTRUMENTS", "SENSOR"),
    "gsd_m": ("GSD",),
    "off_nadir_deg": ("VIEWOFFNADIR", "OFFNADIR", "OFFNADIRANGLE", "MEANOFFNADIRVIEWANGLE"),
    "view_azimuth_deg": ("VIEWAZIMUTH", "SATELLITEAZIMUTH", "SATAZIMUTH", "MEANSATAZ"),
    "sun_azimuth_deg": ("VIEWSUNAZIMUTH", "SUNAZIMUTH", "SUNAZ", "MEANSUNAZ"),
    "sun_elevation_deg": ("VIEWSUNELEVATION", "SUNELEVATION", "SUNEL", "MEANSUNEL"),
}
# Names (platform, constellation or instrument, lower case) that say the image is radar.
SAR_NAMES = ("sar", "sentinel-1", "sentinel-1a", "sentinel-1b", "sentinel-1c", "iceye", "capella", "umbra",
             "radarsat-2", "rcm", "terrasar-x", "tandem-x", "cosmo-skymed", "paz", "alos-2", "palsar-2")
# Name stems of optical very-high-resolution and medium-resolution sources.
OPTICAL_STEMS = ("worldview", "geoeye", "quickbird", "legion", "pleiades", "phr", "pneo", "spot", "skysat", "blacksky",
                 "global-", "planetscope", "dove", "superdove", "sentinel-2", "landsat", "superview", "jilin", "kompsat",
                 "gaofen", "wv1", "wv2", "wv3", "wv4", "ge01")


def _tag_key(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", name.rsplit(".", 1)[-1].upper())


def _number(value, name: str, low: float, high: float, notes: list[str] | None) -> float | None:
    """value as a float in [low, high], else None (with a note unless it was absent)."""
    if value is None or value == "":
        return None
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and low <= number <= high):
        if notes is not None:
            notes.append(f"{name} {value!r} is not a number from {low:g} to {high:g}: taken as unknown")
        return None
    return number


def _text(value) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text[:200] or None


def _provider(providers) -> str | None:
    """The name of the producer among STAC providers, else the licensor, else the first."""
    if not isinstance(providers, list):
        return None
    named = [p for p in providers if isinstance(p, Mapping) and _text(p.get("name"))]
    for role in ("producer", "licensor"):
        for p in named:
            roles = p.get("roles") or []
            if isinstance(roles, list) and role in roles:
                return _text(p["name"])
    return _text(named[0]["name"]) if named else None


def _instruments(value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = re.split(r"[,;]", value)
    if not isinstance(value, list):
        return ()
    return tuple(t for t in (_text(v) for v in value) if t)


def from_stac(properties: Mapping, notes: list[str] | None = None) -> Observation:
    """What a STAC item's properties (merged with its asset's fields) say about the image."""
    values: dict = {"provider": _provider(properties.get("providers")), "platform": _text(properties.get("platform")),
                    "constellation": _text(properties.get("constellation")),
                    "instruments": _instruments(properties.get("instruments"))}
    for name, key in STAC_KEYS.items():
        low, high = _ANGLE_RANGES.get(name, (1e-6, 1e4))
        values[name] = _number(properties.get(key), f"STAC {key}", low, high, notes)
    if any(str(k).startswith("sar:") for k in properties):
        values["modality"] = "sar"
    return _with_origin(Observation(**values), "stac")


def from_tags(tags: Mapping[str, str], notes: list[str] | None = None) -> Observation:
    """What a raster's metadata tags say about the image."""
    by_key: dict[str, str] = {}
    for name, value in tags.items():
        by_key.setdefault(_tag_key(str(name)), value)
    found: dict = {}
    for name, keys in TAG_KEYS.items():
        key = next((k for k in keys if k in by_key), None)
        if key is None:
            continue
        raw = by_key[key]
        if name == "instruments":
            found[name] = _instruments(raw)
        elif name in ("provider", "platform", "constellation"):
            found[name] = _text(raw)
        else:
            low, high = _ANGLE_RANGES.get(name, (1e-6, 1e4))
            found[name] = _number(raw, f"tag {key}", low, high, notes)
    return _with_origin(Observation(**found), "tags")


def _known(obs: Observation) -> dict:
    return {f.name: getattr(obs, f.name) for f in fields(obs)
            if f.name != "origin" and getattr(obs, f.name) not in (None, ())}


def _with_origin(obs: Observation, origin: str) -> Observation:
    return replace(obs, origin=origin if _known(obs) else None)


def combined(first: Observation, fallback: Observation) -> Observation:
    """Each field from `first` where it is known, else from `fallback`."""
    took_first, took_fallback = _known(first), _known(fallback)
    merged = {**{k: v for k, v in took_fallback.items() if k not in took_first}, **took_first}
    origins = [o for o, used in ((first.origin, took_first), (fallback.origin, set(took_fallback) - set(took_first)))
               if o and used]
    return Observation(**merged, origin="+".join(dict.fromkeys(origins)) or None)


def _is_sar(obs: Observation) -> bool:
    names = [n.lower() for n in (obs.platform, obs.constellation, *obs.instruments) if n]
    return obs.modality == "sar" or any(n in SAR_NAMES or n.endswith("-sar") or n.startswith("sar") for n in names)


def with_modality(obs: Observation, bands: int) -> Observation:
    """The observation with its modality: SAR where its metadata names radar; otherwise a
    multispectral (colour) picture for three or more bands, a panchromatic one for one band
    when the metadata says it is optical (sun angles, or a source known to be optical);
    unknown else."""
    if _is_sar(obs):
        return replace(obs, modality="sar")
    names = [n.lower() for n in (obs.platform, obs.constellation, *obs.instruments) if n]
    optical_hint = (obs.sun_azimuth_deg is not None or obs.sun_elevation_deg is not None
                    or any(n.startswith(OPTICAL_STEMS) for n in names))
    if bands >= 3:
        return replace(obs, modality="optical_multispectral")
    if bands == 1 and optical_hint:
        return replace(obs, modality="optical_pan")
    return replace(obs, modality=None)


def observation_of(stac_properties: Mapping | None, tags: Mapping[str, str], bands: int,
                   notes: list[str] | None = None) -> Observation:
    """The image's observation: its STAC item first, the file's tags for what the item does
    not say, and its modality from both and the band count."""
    stac = from_stac(stac_properties, notes) if stac_properties else Observation()
    return with_modality(combined(stac, from_tags(tags, notes)), bands)
