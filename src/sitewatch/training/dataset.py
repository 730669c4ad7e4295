"""Training chips from the simulator.

Each chip is a small random scene: catalogue equipment in random states, positions and
headings (parked rows, vehicle clusters, ships side by side), rendered by
`sitewatch.simulate.render.render_scene` at a native GSD drawn from a list, under random
sun, haze, colour balance, noise and blur, then resampled to the model GSD, as real
imagery is at inference time.

On disk (DIR):
- images/<id>.png        RGB chip at the model GSD;
- labels/<id>.txt        YOLO-OBB: `class x1 y1 ... x4 y4`, corners normalised to 0..1;
- meta/<id>.json         our labels: class, type, state, heading_deg (clockwise from image
                         up = north), centre in pixels, length_m, width_m, native GSD; and
                         the sun (`sun_azimuth_deg`, clockwise from image up, and
                         `sun_elevation_deg`), which the box refiner learns from;
- dataset.json           the summary: model GSD, chip size, classes, count, GSDs, seed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import shapely

from sitewatch import equipment
from sitewatch.detect import geometry
from sitewatch.domain import CLASSES, OrientedBox, Site, SiteGrid
from sitewatch.errors import InputError
from sitewatch.geo.sun import SunPosition
from sitewatch.simulate.plan import MIN_SUN_ELEVATION_DEG, plan_scenario
from sitewatch.simulate.random_scenario import random_scenario
from sitewatch.simulate.render import render_scene
from sitewatch.simulate.scene import Conditions, PlacedObject, SceneSpec
from sitewatch.simulate.truth import HIDDEN_BY_CLOUD, apparent_pixels, cloud_over_boxes

_CHIP_CRS = "EPSG:32636"
_ORIGIN = (500000.0, 3900000.0)


@dataclass(frozen=True)
class ChipObject:
    """One labelled object of a chip, in the chip's pixels at the model GSD."""

    cls: str
    type: str
    state: str
    cx: float
    cy: float
    length_m: float
    width_m: float
    heading_deg: float  # clockwise from image up (north)


class Chip(NamedTuple):
    image: np.ndarray  # (H, W, 3) uint8 at the model GSD
    objects: list[ChipObject]
    sun: SunPosition  # as seen on the chip


# Object chips' sun elevation, degrees: drawn evenly in this range unless asked otherwise.
SUN_ELEVATION_DEG = (25.0, 80.0)


def _random_conditions(rng: np.random.Generator, sun_elevation_deg: tuple[float, float] = SUN_ELEVATION_DEG
                       ) -> Conditions:
    return Conditions(
        sun_azimuth_deg=float(rng.uniform(0, 360)),
        sun_elevation_deg=float(rng.uniform(*sun_elevation_deg)),
        haze=float(rng.uniform(0, 0.5) if rng.random() < 0.6 else 0.0),
        colour_balance=tuple(float(v) for v in rng.uniform(0.85, 1.15, 3)),
        noise_sigma=float(rng.uniform(0, 8)),
        blur_sigma_px=float(rng.uniform(0, 1.2) if rng.random() < 0.5 else 0.0),
    )


def _pick_types(rng: np.random.Generator, kind: str) -> list[equipment.EquipmentType]:
    """A random inventory for one chip, weighted so that every class and type is common."""
    if kind == "naval_base":
        ships = list(equipment.types_of_class("ship"))
        out = [ships[i] for i in rng.integers(0, len(ships), rng.integers(1, 4))]
        cars = [equipment.get("car"), equipment.get("truck")]
        out += [cars[i] for i in rng.integers(0, 2, rng.integers(0, 6))]
        return out
    groups = {
        "aircraft": (0, 5),
        "helicopter": (0, 4),
        "air_defence": (0, 5),
        "vehicle": (0, 10),
    }
    out = []
    for cls, (lo, hi) in groups.items():
        types = equipment.types_of_class(cls)
        n = int(rng.integers(lo, hi + 1))
        if cls == "aircraft":
            # Heavy transports fill a chip; take at most one of them.
            heavy = [t for t in types if t.length_m > 40]
            light = [t for t in types if t.length_m <= 40]
            if rng.random() < 0.35:
                out.append(heavy[int(rng.integers(0, len(heavy)))])
                n = min(n, 2)
            out += [light[i] for i in rng.integers(0, len(light), n)]
        else:
            # Rows of identical equipment are how it parks: repeat one type often.
            base = types[int(rng.integers(0, len(types)))]
            out += [base if rng.random() < 0.6 else types[int(rng.integers(0, len(types)))] for _ in range(n)]
    return out


def _place(rng: np.random.Generator, types, extent_m: float, max_tries: int = 40):
    """Non-overlapping boxes for the inventory inside a square of extent_m metres (site
    coordinates relative to the chip's top-left corner, y north)."""
    placed: list[tuple[equipment.EquipmentType, str, bool, OrientedBox]] = []
    polys = []
    row_heading = float(rng.uniform(0, 360))
    for t in sorted(types, key=lambda t: -t.length_m):
        state = t.states[int(rng.integers(0, len(t.states)))]
        swept = bool(t.swing_wing and rng.random() < 0.5)
        length, width = t.footprint(state, swept)
        for _ in range(max_tries):
            heading = row_heading + (180.0 if rng.random() < 0.2 else 0.0) if rng.random() < 0.6 else rng.uniform(0, 360)
            # Centres inside the chip; boxes may cross its edge, as at a tile seam.
            cx = float(rng.uniform(0.05, 0.95) * extent_m)
            cy = float(-rng.uniform(0.05, 0.95) * extent_m)
            box = OrientedBox(cx, cy, length, width, float(heading))
            poly = shapely.Polygon(box.corners()).buffer(1.0)
            if any(poly.intersects(p) for p in polys):
                continue
            polys.append(poly)
            placed.append((t, state, swept, box))
            break
    return placed


def make_chip(seed: int, chip_px: int, model_gsd: float, native_gsd: float,
              render: Callable[[SceneSpec], np.ndarray] | None = None,
              sun_elevation_deg: tuple[float, float] = SUN_ELEVATION_DEG) -> Chip:
    """One chip at model_gsd: its image, objects and sun (its elevation drawn in
    `sun_elevation_deg`)."""
    if render is None:
        render = render_scene
    rng = np.random.default_rng(seed)
    extent = chip_px * model_gsd
    native_px = int(round(extent / native_gsd))
    kind = "naval_base" if rng.random() < 0.25 else "airbase"
    grid = SiteGrid(_CHIP_CRS, _ORIGIN[0], _ORIGIN[1], native_gsd, native_px, native_px)
    site = Site(f"chip{seed}", kind, 35.4, 35.9, grid)
    placed = _place(rng, _pick_types(rng, kind), extent)
    objects = []
    scene_objects = []
    for i, (t, state, swept, box) in enumerate(placed):
        world = OrientedBox(box.cx + _ORIGIN[0], box.cy + _ORIGIN[1], box.length, box.width, box.heading_deg)
        scene_objects.append(PlacedObject(f"o{i}", t.name, t.cls, state, world, swept, int(rng.integers(1 << 30))))
        objects.append(ChipObject(t.cls, t.name, state, box.cx / model_gsd, -box.cy / model_gsd,
                                  box.length, box.width, box.heading_deg))
    cond = _random_conditions(rng, sun_elevation_deg)
    spec = SceneSpec(site, tuple(scene_objects), cond, site_seed=int(rng.integers(1 << 30)),
                     date_seed=int(rng.integers(1 << 30)))
    img = render(spec)
    if img.shape[:2] != (chip_px, chip_px):
        interp = cv2.INTER_AREA if native_px > chip_px else cv2.INTER_LINEAR
        img = cv2.resize(img, (chip_px, chip_px), interpolation=interp)
    return Chip(np.ascontiguousarray(img[..., :3]), objects, SunPosition(cond.sun_azimuth_deg, cond.sun_elevation_deg))


def make_scene_chips(seed: int, chip_px: int, model_gsd: float, native_gsd: float,
                     render: Callable[[SceneSpec], np.ndarray] | None = None) -> list[Chip]:
    """Chips cut from a whole random scenario (`simulate.random_scenario`): zones, aprons,
    roads, buildings, trees and the layout's parking rows, every date of it, each image
    split into 2 x 2 chips. The ground clutter is what the single-object chips lack: it
    teaches the model what is not equipment. Objects are labelled where the image shows
    them (misregistration included); those hidden by cloud get no label."""
    if render is None:
        render = render_scene
    rng = np.random.default_rng(seed)
    kind = "naval_base" if rng.random() < 0.3 else "airbase"
    side = 2 * chip_px
    scenario = random_scenario(seed, kind=kind, gsd_m=native_gsd, size_px=int(round(side * model_gsd / native_gsd)),
                               n_dates=2, density=float(rng.uniform(0.8, 1.6)))
    out = []
    for plan in plan_scenario(scenario):
        g = plan.site.grid
        for date in plan.dates:
            img = render(date.spec)
            img = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA if native_gsd < model_gsd
                             else cv2.INTER_LINEAR)
            sx, sy = side / g.width_px, side / g.height_px
            cond = date.spec.conditions
            # The misregistration turns the picture, and its shadows with it.
            sun = SunPosition((cond.sun_azimuth_deg + cond.rotation_deg) % 360.0, cond.sun_elevation_deg)
            objects = []
            clouds = cloud_over_boxes(date.spec, [o.box for o in date.spec.objects])
            for o, cloud in zip(date.spec.objects, clouds):
                if cloud >= HIDDEN_BY_CLOUD:
                    continue  # nothing of it shows: no label asks the model to see through cloud
                col, row = g.to_pixel(o.box.cx, o.box.cy)
                acol, arow = apparent_pixels(g, cond, np.array([col]), np.array([row]))
                objects.append(ChipObject(o.cls, o.type, o.state, float(acol[0]) * sx, float(arow[0]) * sy,
                                          o.box.length, o.box.width, (o.box.heading_deg + cond.rotation_deg) % 360.0))
            for r0 in (0, chip_px):
                for c0 in (0, chip_px):
                    inside = [ChipObject(o.cls, o.type, o.state, o.cx - c0, o.cy - r0, o.length_m, o.width_m,
                                         o.heading_deg) for o in objects
                              if c0 <= o.cx < c0 + chip_px and r0 <= o.cy < r0 + chip_px]
                    out.append(Chip(np.ascontiguousarray(img[r0:r0 + chip_px, c0:c0 + chip_px, :3]), inside, sun))
    return out


def yolo_obb_line(obj: ChipObject, chip_px: int, model_gsd: float) -> str:
    box = np.array([[obj.cx, obj.cy, obj.length_m / model_gsd, obj.width_m / model_gsd, obj.heading_deg]])
    c = geometry.corners(box, y_down=True)[0] / chip_px
    return " ".join([str(CLASSES.index(obj.cls))] + [f"{v:.6f}" for v in c.reshape(-1)])


def write_dataset(out: Path, count: int, gsds: Sequence[float], model_gsd: float = 0.5, chip_px: int = 384,
                  seed: int = 0, progress: Callable[[int], None] | None = None, scenes: bool = False,
                  sun_elevation_deg: tuple[float, float] = SUN_ELEVATION_DEG) -> dict:
    """Write `count` chips to `out`; returns the summary written to dataset.json.

    scenes=False: single random equipment chips (`make_chip`), the sun's elevation drawn in
    `sun_elevation_deg`; scenes=True: chips cut from whole random scenarios with their
    ground clutter (`make_scene_chips`), the sun of the scenario's place and time."""
    if count <= 0:
        raise InputError("--count", f"must be positive, got {count}")
    low, high = sun_elevation_deg
    if not MIN_SUN_ELEVATION_DEG <= low <= high <= 90.0:
        raise InputError("--sun", f"the sun's elevation range must lie within {MIN_SUN_ELEVATION_DEG:g}-90 degrees, "
                                  f"low to high; "
                                  f"got {low:g}-{high:g}")
    if not gsds or any(g <= 0 for g in gsds):
        raise InputError("--gsd", f"GSDs must be positive metres, got {list(gsds)}")
    out = Path(out)
    for sub in ("images", "labels", "meta"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    per_class = dict.fromkeys(CLASSES, 0)
    pending: list = []
    draw = 0
    for i in range(count):
        native = float(gsds[i % len(gsds)])
        chip_id = f"{seed:04d}_{i:06d}"
        if scenes:
            while not pending:
                pending = make_scene_chips(seed * 1_000_003 + draw, chip_px, model_gsd, float(gsds[draw % len(gsds)]))
                draw += 1
            img, objects, sun = pending.pop(0)
        else:
            img, objects, sun = make_chip(seed * 1_000_003 + i, chip_px, model_gsd, native,
                                          sun_elevation_deg=sun_elevation_deg)
        cv2.imwrite(str(out / "images" / f"{chip_id}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        (out / "labels" / f"{chip_id}.txt").write_text(
            "".join(yolo_obb_line(o, chip_px, model_gsd) + "\n" for o in objects))
        meta = {"id": chip_id, "native_gsd_m": native, "gsd_m": model_gsd,
                "sun_azimuth_deg": round(sun.azimuth_deg, 3), "sun_elevation_deg": round(sun.elevation_deg, 3),
                "objects": [o.__dict__ for o in objects]}
        (out / "meta" / f"{chip_id}.json").write_text(json.dumps(meta))
        for o in objects:
            per_class[o.cls] += 1
        if progress:
            progress(i + 1)
    summary = {"format": "sitewatch-chips/1", "source": "random scenarios" if scenes else "random chips",
               "gsd_m": model_gsd, "chip_px": chip_px, "count": count,
               "native_gsds_m": list(map(float, gsds)), "seed": seed, "classes": list(CLASSES),
               **({} if scenes else {"sun_elevation_deg": [float(low), float(high)]}),
               "objects_per_class": per_class, "yolo_obb_classes": {i: c for i, c in enumerate(CLASSES)}}
    (out / "dataset.json").write_text(json.dumps(summary, indent=2))
    return summary


def read_meta(path: Path) -> tuple[float, list[ChipObject]]:
    """(model GSD, objects) of one chip's meta JSON."""
    try:
        meta = json.loads(Path(path).read_text())
        return float(meta["gsd_m"]), [ChipObject(**o) for o in meta["objects"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(str(path), f"not a sitewatch chip label file ({exc})") from exc

