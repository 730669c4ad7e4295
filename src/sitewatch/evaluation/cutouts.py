"""Real military aircraft cut out of satellite images, pasted on real ground.

Why: the real labelled airports (`evaluation.realdata`) are civil, so the only real pixels of
military aircraft are the cut-outs of `military_aircraft/chips`: about five each of eleven
Russian types, on a transparent background, at 0.02-0.13 m a pixel. Brought down to a
scene's GSD and pasted on real aprons with a shadow for a sun, they are real military
aircraft on real ground: training material for the second look (their training side) and a
measure of it (their development side, `bench/eval_military.py`).

The set's `size-labels` are not the aircraft's lengths (a MiG-29's reads 11 m, its length is
17.3 m), so each cut-out's scale comes from the type's published length instead, measured
along the cut-out's fuselage: the axis about which its outline is most nearly a mirror image
(`fuselage_axis`). The smallest rectangle around an aircraft is no measure of it: for a
cross-shaped airframe such as a Tu-95 that rectangle lies at about 45 degrees to the
fuselage, and its long side is a fifth shorter than the aircraft.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sitewatch import equipment
from sitewatch.detect.labels import Labelled
from sitewatch.domain import UNKNOWN_TYPE
from sitewatch.errors import InputError
from sitewatch.evaluation.detection import match_image
from sitewatch.evaluation.realdata import RealImage, real_images, split_of

# Type folder -> (the catalogue types a reader may rightly call it, none where the catalogue
# lacks the type; its length, nose to tail, in metres). Length, not wingspan, because three
# of these types sweep their wings. The set puts look-alikes in one folder: a Su-30 is a
# Su-27 airframe, so "su-30_su-34" may rightly be read as either catalogue Flanker, and its
# length is the mean of the Su-30's 21.9 m and the Su-34's 23.3 m (each within 3 %).
CUTOUT_TYPES: dict[str, tuple[tuple[str, ...], float]] = {
    "a-50": ((), 46.6),
    "il-76": (("Il-76",), 46.6),
    "mig-29": ((), 17.3),
    "mig-31": ((), 22.7),
    "su-24": (("Su-24M",), 22.7),
    "su-25": (("Su-25",), 15.4),
    "su-27_su-35": (("Su-35",), 21.9),
    "su-30_su-34": (("Su-34", "Su-35"), 22.6),
    "tu-160": ((), 54.1),
    "tu-22": (("Tu-22M3",), 42.5),
    "tu-95": ((), 46.2),
}
# Every type in the catalogue's two tables (equipment.CATALOGUE and REFERENCE) each folder may be.
CUTOUT_NAMES: dict[str, tuple[str, ...]] = {
    "a-50": ("A-50",), "il-76": ("Il-76",), "mig-29": ("MiG-29",), "mig-31": ("MiG-31",), "su-24": ("Su-24M",),
    "su-25": ("Su-25",), "su-27_su-35": ("Su-27", "Su-35"), "su-30_su-34": ("Su-30SM", "Su-34"),
    "tu-160": ("Tu-160",), "tu-22": ("Tu-22M3",), "tu-95": ("Tu-95MS",),
}
# A parked aircraft's shadow falls from about this height (fuselage and wing, metres).
SHADOW_HEIGHT_M = 3.0
SHADOW_DARKENING = 0.55
# The sensor's blur on a pasted aircraft (Gaussian sigma, pixels at the scene's GSD), so
# its edges are no sharper than the ground's.
MTF_SIGMA_PX = (0.5, 1.0)


@dataclass(frozen=True)
class Cutout:
    """One cut-out: an RGBA image of one aircraft."""

    folder: str  # the set's type folder, e.g. "su-30_su-34"
    path: Path
    catalogue_types: tuple[str, ...]  # () for a type the catalogue lacks
    length_m: float  # nose to tail
    split: str  # 'dev', 'val' or 'train' (`realdata.split_of`)

    @property
    def in_catalogue(self) -> bool:
        return bool(self.catalogue_types)


def military_cutouts(root: Path, split: str | None = None) -> list[Cutout]:
    """The cut-outs of `root`/military_aircraft/chips, of one side of the split (None: all)."""
    folder = root / "military_aircraft" / "chips"
    if not folder.is_dir():
        raise InputError(str(folder), "missing: the military aircraft cut-outs are not there")
    out = []
    for type_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if type_dir.name not in CUTOUT_TYPES:
            raise InputError(str(type_dir), f"a type folder this reader does not know; known: {', '.join(CUTOUT_TYPES)}")
        types, length = CUTOUT_TYPES[type_dir.name]
        for path in sorted((type_dir / "no-background").glob("*.png")):
            side = split_of(f"military_cutouts:{type_dir.name}/{path.stem}")
            if split is None or side == split:
                out.append(Cutout(type_dir.name, path, types, length, side))
    return out


def fuselage_axis(mask: np.ndarray, step_deg: float = 1.0) -> float:
    """The direction (degrees clockwise from the image's up, 0-180) of the axis about which
    the boolean outline `mask` is most nearly its own mirror image: an aircraft's fuselage
    seen from above. Searched in `step_deg` steps, then to a tenth of a degree."""
    ys, xs = np.nonzero(mask)
    centre = (float(xs.mean()), float(ys.mean()))
    reach = int(np.ceil(np.hypot(xs - centre[0], ys - centre[1]).max())) + 2
    shrink = min(1.0, 100.0 / reach)  # symmetry is judged on an outline about 200 px across
    side = 2 * int(np.ceil(reach * shrink)) + 1

    def mirror_overlap(angle: float) -> float:
        # Turn the outline so that the candidate axis points up, then compare it with its
        # left-right mirror about the centre column.
        turn = cv2.getRotationMatrix2D(centre, angle, shrink)  # counter-clockwise by angle
        turn[:, 2] += (side - 1) / 2 - np.array(centre)
        upright = cv2.warpAffine(mask.astype(np.float32), turn, (side, side), flags=cv2.INTER_LINEAR) > 0.5
        both = np.count_nonzero(upright & upright[:, ::-1])
        return both / max(1, np.count_nonzero(upright | upright[:, ::-1]))

    coarse = max(np.arange(0.0, 180.0, step_deg), key=mirror_overlap)
    fine = max(coarse + np.arange(-step_deg, step_deg + 1e-9, 0.1), key=mirror_overlap)
    return float(fine % 180.0)


def outline_extent(mask: np.ndarray, axis_deg: float) -> tuple[float, float]:
    """Extent in pixels of the boolean outline `mask` along and across the axis at `axis_deg`
    (degrees clockwise from the image's up), counting whole pixels."""
    ys, xs = np.nonzero(mask)
    t = np.radians(axis_deg)
    along = xs * np.sin(t) - ys * np.cos(t)  # rows grow downwards
    across = xs * np.cos(t) + ys * np.sin(t)
    return float(np.ptp(along)) + 1.0, float(np.ptp(across)) + 1.0


def read_cutout(cutout: Cutout, gsd_m: float) -> np.ndarray:
    """The cut-out at `gsd_m`: float32 (h, w, 4), RGB 0..255 premultiplied by alpha 0..1."""
    rgba = cv2.imread(str(cutout.path), cv2.IMREAD_UNCHANGED)
    if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise InputError(str(cutout.path), "not an RGBA image (a cut-out needs its transparency)")
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    if np.count_nonzero(alpha > 0.5) < 10:
        raise InputError(str(cutout.path), "its transparency leaves no aircraft")
    along, _ = outline_extent(alpha > 0.5, fuselage_axis(alpha > 0.5))
    native_gsd = cutout.length_m / along
    rgb = cv2.cvtColor(rgba[..., :3], cv2.COLOR_BGR2RGB).astype(np.float32) * alpha[..., None]
    out = np.dstack([rgb, alpha])
    scale = native_gsd / gsd_m
    size = (max(1, round(out.shape[1] * scale)), max(1, round(out.shape[0] * scale)))
    return cv2.resize(out, size, interpolation=cv2.INTER_AREA)


def paste(ground: np.ndarray, cutout: np.ndarray, centre: tuple[float, float], angle_deg: float,
          sun_azimuth_deg: float, sun_elevation_deg: float, gsd_m: float, blur_px: float) -> tuple[np.ndarray, np.ndarray]:
    """`ground` (H, W, 3) float32 with the premultiplied cut-out (`read_cutout`, at the
    ground's `gsd_m`) turned by `angle_deg` clockwise and pasted at `centre` (col, row), its
    shadow cast away from the sun; returns (the image, the aircraft's axis-aligned pixel
    box: col, row, height, width, heading 0)."""
    h, w = ground.shape[:2]
    ch, cw = cutout.shape[:2]
    m = cv2.getRotationMatrix2D((cw / 2.0, ch / 2.0), -angle_deg, 1.0)
    m[:, 2] += np.array(centre) - np.array([cw / 2.0, ch / 2.0])
    layer = cv2.warpAffine(cutout, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if blur_px > 0:
        layer = cv2.GaussianBlur(layer, (0, 0), blur_px)
    alpha = np.clip(layer[..., 3], 0.0, 1.0)
    reach = SHADOW_HEIGHT_M / np.tan(np.radians(max(sun_elevation_deg, 5.0))) / gsd_m
    away = np.radians(sun_azimuth_deg + 180.0)  # azimuth clockwise from north (image up)
    shift = np.float32([[1, 0, reach * np.sin(away)], [0, 1, -reach * np.cos(away)]])
    shadow = cv2.warpAffine(alpha, shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out = ground * (1.0 - SHADOW_DARKENING * shadow)[..., None]
    out = out * (1.0 - alpha)[..., None] + layer[..., :3]
    ys, xs = np.nonzero(alpha > 0.5)
    if not len(xs):
        return out, np.zeros(5)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    return out, np.array([(x0 + x1) / 2, (y0 + y1) / 2, y1 - y0, x1 - x0, 0.0])


def bare_ground(images: list[RealImage], size_px: int, rng: np.random.Generator,
                margin_px: int = 8, tries: int = 200) -> Iterator[np.ndarray]:
    """Endless float32 (size_px, size_px, 3) RGB windows of real images (at their own GSD)
    that hold none of their labelled items, drawn at random."""
    frames = []
    for image in images:
        bgr = cv2.imread(str(image.path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(str(image.path), "cannot read image")
        if min(bgr.shape[:2]) > size_px:
            frames.append((cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), image.boxes))
    if not frames:
        raise InputError("bare ground", f"no image larger than {size_px} px to cut ground from")
    while True:
        rgb, boxes = frames[int(rng.integers(len(frames)))]
        for _ in range(tries):
            x0 = int(rng.integers(0, rgb.shape[1] - size_px))
            y0 = int(rng.integers(0, rgb.shape[0] - size_px))
            if not len(boxes) or not _overlaps(boxes, x0 - margin_px, y0 - margin_px, size_px + 2 * margin_px):
                yield rgb[y0:y0 + size_px, x0:x0 + size_px].astype(np.float32)
                break


def _overlaps(boxes: np.ndarray, x0: float, y0: float, size: float) -> bool:
    """Whether any axis-aligned pixel box (col, row, height, width, 0) meets the square window."""
    half_w, half_h = boxes[:, 3] / 2, boxes[:, 2] / 2
    return bool(((boxes[:, 0] + half_w > x0) & (boxes[:, 0] - half_w < x0 + size)
                 & (boxes[:, 1] + half_h > y0) & (boxes[:, 1] - half_h < y0 + size)).any())


# The development measure (`bench/eval_military.py`): each cut-out pasted at this many
# headings, each on its own window of real airport ground at 0.5 m.
SCENE_PX = 384
SCENE_GSD_M = 0.5


def pasted_scenes(root: Path, split: str, headings: int, folder: Path, seed: int = 0,
                  gsd_m: float = SCENE_GSD_M) -> list[tuple[RealImage, Cutout]]:
    """Real images of the `split` side's cut-outs pasted on bare ground of the same side's
    Airbus airports (PNG files written into `folder`), one aircraft each, labelled with its
    axis-aligned box; with the cut-out each holds. At a `gsd_m` finer than the airports'
    0.5 m the ground is enlarged to it (smooth, as the Airbus pixels are) and the cut-outs,
    photographed finer still, are brought down to it: the aircraft's pixels are real at that
    GSD, the ground's are not. The scene covers the same ground at any GSD."""
    rng = np.random.default_rng(seed)
    ground = bare_ground(real_images("airbus", root, split=split), SCENE_PX, rng)
    side = round(SCENE_PX * SCENE_GSD_M / gsd_m)
    out = []
    for cutout in military_cutouts(root, split=split):
        aircraft = read_cutout(cutout, gsd_m)
        for k in range(headings):
            angle = (360.0 * k / headings + rng.uniform(0, 360.0 / headings)) % 360.0
            bare = next(ground)
            if side != SCENE_PX:
                bare = cv2.resize(bare, (side, side), interpolation=cv2.INTER_CUBIC)
            image, box = paste(bare, aircraft, (side / 2, side / 2), angle, rng.uniform(0, 360),
                               rng.uniform(20, 80), gsd_m, float(np.mean(MTF_SIGMA_PX)))
            image_id = f"{cutout.path.stem}_{k}"
            path = folder / f"{image_id}.png"
            cv2.imwrite(str(path), cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
            out.append((RealImage("military_cutouts", image_id, path, gsd_m, box[None, :], ("aircraft",), True,
                                  ("aircraft", "helicopter", "air_defence"), split), cutout))
    return out


def _found(pairs: list[tuple[RealImage, Cutout]], preds: dict, truths: dict, threshold: float
           ) -> Iterator[tuple[Cutout, Labelled]]:
    """(cut-out, the detection that found it) for each pasted aircraft found at `threshold`."""
    for image, cutout in pairs:
        kept = [p for p in preds.get(image.image_id, []) if p.score >= threshold and p.cls == "aircraft"]
        hits = [p for p, m in zip(kept, match_image(kept, truths[image.image_id], 0.5)) if m >= 0]
        if hits:
            yield cutout, hits[0]


def sizing_of(pairs: list[tuple[RealImage, Cutout]], preds: dict, truths: dict, threshold: float) -> dict:
    """How the footprints of the aircraft found at `threshold` compare with their types
    (`CUTOUT_NAMES`), both catalogue tables: the share whose own type the footprint fits
    (`equipment.size_matches`), whose own role is among the fitting roles, the median number
    of types and roles fitted, and the median measured over true length and span (the box's
    longer and shorter sides over the type's), for aircraft under and over 30 m."""
    fits, role_fits, n_types, n_roles = [], [], [], []
    ratios: dict[str, list[tuple[float, float]]] = {"under_30m": [], "over_30m": []}
    for cutout, hit in _found(pairs, preds, truths, threshold):
        assert hit.oriented_size is not None  # detect_real keeps it
        length, width = hit.oriented_size
        fit = equipment.describe_size("aircraft", UNKNOWN_TYPE, length, width)
        matches, roles = fit["size_matches"], fit["size_roles"]
        own = [equipment.get(name) for name in CUTOUT_NAMES[cutout.folder]]
        fits.append(any(t.name in matches for t in own))
        role_fits.append(any(t.role in roles for t in own))
        n_types.append(len(matches))
        n_roles.append(len(roles))
        true_long, true_short = max(own[0].length_m, own[0].width_m), min(own[0].length_m, own[0].width_m)
        ratios["over_30m" if true_long > 30 else "under_30m"].append(
            (max(length, width) / true_long, min(length, width) / true_short))
    if not fits:
        return {"found": 0}
    return {"found": len(fits), "own_type_fits": round(float(np.mean(fits)), 4),
            "own_role_fits": round(float(np.mean(role_fits)), 4),
            "median_types_fitted": float(np.median(n_types)), "median_roles_fitted": float(np.median(n_roles)),
            "measured_over_true": {k: [round(float(np.median([r[i] for r in v])), 3) for i in (0, 1)] + [len(v)]
                                   for k, v in ratios.items() if v}}


def typing_of(pairs: list[tuple[RealImage, Cutout]], preds: dict, truths: dict, threshold: float) -> dict:
    """How the aircraft found at `threshold` (IoU 0.5 with the pasted one's box, as the
    detector's boxes are compared with axis-aligned labels) are typed: for catalogue types,
    the share read as a right type, as `unknown` and as a wrong catalogue type; for types
    the catalogue lacks, the share read as `unknown` (right) and as a catalogue type.
    `preds` and `truths` as `real_pixels.detect_real` gives them."""
    counts = {"catalogue": {"found": 0, "right": 0, "unknown": 0, "wrong": 0}, "outside": {"found": 0, "unknown": 0,
                                                                                        "named": 0}}
    for cutout, hit in _found(pairs, preds, truths, threshold):
        typ = hit.type
        side = counts["catalogue" if cutout.in_catalogue else "outside"]
        side["found"] += 1
        if cutout.in_catalogue:
            side["right" if typ in cutout.catalogue_types else "unknown" if typ == UNKNOWN_TYPE else "wrong"] += 1
        else:
            side["unknown" if typ == UNKNOWN_TYPE else "named"] += 1
    return {side: {k: (v if k == "found" else round(v / c["found"], 4) if c["found"] else None) for k, v in c.items()}
            for side, c in counts.items()}
