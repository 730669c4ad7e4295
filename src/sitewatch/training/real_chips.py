"""Training chips cut from the training side of the real sets (`evaluation.realdata`).

Real labels are partial, and the chips say so in their meta JSON, which the targets honour:
- `complete_classes`: only these heatmap channels learn from the chip's background (an
  airport image boxes every aircraft, none of its cars);
- an object's `sized: false`: an axis-aligned box gives the centre, not the length, width or
  axis of an aircraft at an angle, so only the centre is learned from it.
Chips are cut on a regular grid with overlap, so the empty ground between the aircraft
(roofs, car parks, roads, grass) is in them as real negatives.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from sitewatch.errors import InputError
from sitewatch.evaluation import cutouts as co
from sitewatch.evaluation.realdata import RealImage, real_images

CHIP_PX = 512
OVERLAP_PX = 96


def _windows(size: int, chip: int, overlap: int) -> list[int]:
    if size <= chip:
        return [0]
    step = chip - overlap
    starts = list(range(0, size - chip + 1, step))
    if starts[-1] != size - chip:
        starts.append(size - chip)
    return starts


def chip_records(image: RealImage, chip: int = CHIP_PX, overlap: int = OVERLAP_PX):
    """(name, (x0, y0), pixels, meta) of each chip of one real image at its own GSD."""
    bgr = cv2.imread(str(image.path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(str(image.path), "cannot read image")
    if image.gsd_m is None:
        raise InputError(str(image.path), "its set states no GSD, so it cannot be cut into training chips")
    h, w = bgr.shape[:2]
    for y0 in _windows(h, chip, overlap):
        for x0 in _windows(w, chip, overlap):
            tile = bgr[y0:y0 + chip, x0:x0 + chip]
            b = image.boxes
            inside = ((b[:, 0] >= x0) & (b[:, 0] < x0 + tile.shape[1]) & (b[:, 1] >= y0) & (b[:, 1] < y0 + tile.shape[0])
                      if len(b) else np.zeros(0, bool))
            objects = [{"cx": float(bx[0] - x0), "cy": float(bx[1] - y0), "length_m": float(bx[2] * image.gsd_m),
                        "width_m": float(bx[3] * image.gsd_m), "heading_deg": float(bx[4]), "cls": cls,
                        "type": "unknown", "state": None, "directed": False, "sized": not image.axis_aligned}
                       for bx, cls, keep in zip(b, image.cls, inside) if keep]
            meta = {"gsd_m": image.gsd_m, "source": f"{image.set_name}/{image.image_id}", "window": [x0, y0],
                    "complete_classes": list(image.complete), "objects": objects}
            yield f"{image.set_name}_{image.image_id[:8]}_{x0}_{y0}", tile, meta


def write_real_chips(root: Path, sets: list[str], out: Path, chip: int = CHIP_PX,
                     progress: Callable[[int, int], None] | None = None) -> dict:
    """Cut the training side of each real set into out/images and out/meta; returns the
    summary also written to out/dataset.json. Development images are never read here."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "meta").mkdir(parents=True, exist_ok=True)
    images = [im for s in sets for im in real_images(s, root, split="train")]
    if not images:
        raise InputError(str(root), f"no training images in the real sets {', '.join(sets)}")
    chips = objects = 0
    for n, image in enumerate(images, start=1):
        for name, pixels, meta in chip_records(image, chip):
            cv2.imwrite(str(out / "images" / f"{name}.png"), pixels)
            tmp = out / "meta" / f"{name}.json.tmp"
            tmp.write_text(json.dumps(meta))
            tmp.replace(out / "meta" / f"{name}.json")
            chips += 1
            objects += len(meta["objects"])
        if progress:
            progress(n, len(images))
    summary = {"kind": "real", "sets": sets, "images": [f"{im.set_name}/{im.image_id}" for im in images],
               "chips": chips, "objects": objects, "chip_px": chip}
    (out / "dataset.json").write_text(json.dumps(summary, indent=1))
    return summary


def write_pasted_chips(root: Path, sets: list[str], out: Path, per_chip: tuple[int, int] = (1, 3), seed: int = 0,
                       chip: int = CHIP_PX, progress: Callable[[int, int], None] | None = None) -> dict:
    """The training side's real chips (as `write_real_chips` cuts them) with training-side
    real military cut-outs (`evaluation.cutouts`) pasted on their bare ground: per_chip
    (fewest, most) a chip, at random places, headings, sizes within 10% and suns. A pasted
    aircraft is labelled like an axis-aligned real one (centre and outline box, not its
    axis), with its type where the set's folder names one catalogue type. Development and
    validation cut-outs are never read here."""
    rng = np.random.default_rng(seed)
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "meta").mkdir(parents=True, exist_ok=True)
    images = [im for s in sets for im in real_images(s, root, split="train")]
    cutouts = co.military_cutouts(root, split="train")
    if not images or not cutouts:
        raise InputError(str(root), "no training images or no training cut-outs to paste")
    chips = pasted = 0
    for n, image in enumerate(images, start=1):
        for name, bgr, meta in chip_records(image, chip):
            ground = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
            taken = np.array([[o["cx"], o["cy"], o["length_m"] / image.gsd_m, o["width_m"] / image.gsd_m, 0.0]
                              for o in meta["objects"]]).reshape(-1, 5)
            for _ in range(int(rng.integers(per_chip[0], per_chip[1] + 1))):
                cutout = cutouts[int(rng.integers(len(cutouts)))]
                aircraft = co.read_cutout(cutout, image.gsd_m / rng.uniform(0.9, 1.1))
                reach = max(aircraft.shape[:2]) / 2 + 4
                centre = _free_place(ground.shape, reach, taken, rng)
                if centre is None:
                    break
                ground, box = co.paste(ground, aircraft, centre, rng.uniform(0, 360), rng.uniform(0, 360),
                                       rng.uniform(20, 80), image.gsd_m, rng.uniform(*co.MTF_SIGMA_PX))
                taken = np.vstack([taken, box])
                typ = cutout.catalogue_types[0] if len(cutout.catalogue_types) == 1 else "unknown"
                meta["objects"].append({"cx": float(box[0]), "cy": float(box[1]), "length_m": float(box[2] * image.gsd_m),
                                        "width_m": float(box[3] * image.gsd_m), "heading_deg": 0.0, "cls": "aircraft",
                                        "type": typ, "state": None, "directed": False, "sized": False,
                                        "pasted": cutout.path.stem})
                pasted += 1
            rgb = np.clip(ground, 0, 255).astype(np.uint8)
            cv2.imwrite(str(out / "images" / f"{name}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            tmp = out / "meta" / f"{name}.json.tmp"
            tmp.write_text(json.dumps(meta))
            tmp.replace(out / "meta" / f"{name}.json")
            chips += 1
        if progress:
            progress(n, len(images))
    summary = {"kind": "real, with pasted cut-outs", "sets": sets, "cutouts": [c.path.stem for c in cutouts],
               "chips": chips, "pasted": pasted, "chip_px": chip, "seed": seed}
    (out / "dataset.json").write_text(json.dumps(summary, indent=1))
    return summary


def _free_place(shape: tuple[int, ...], reach: float, taken: np.ndarray, rng: np.random.Generator,
                tries: int = 50) -> tuple[float, float] | None:
    """A centre `reach` px inside the chip whose square of half-side `reach` meets none of
    the `taken` axis-aligned boxes; None when none is found."""
    h, w = shape[:2]
    if min(h, w) <= 2 * reach:
        return None
    for _ in range(tries):
        cx, cy = rng.uniform(reach, w - reach), rng.uniform(reach, h - reach)
        if not len(taken) or not (((np.abs(taken[:, 0] - cx) < taken[:, 3] / 2 + reach)
                                   & (np.abs(taken[:, 1] - cy) < taken[:, 2] / 2 + reach)).any()):
            return float(cx), float(cy)
    return None
