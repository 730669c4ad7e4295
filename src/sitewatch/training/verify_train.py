"""Training the presence check (needs the `train` extra: torch, onnx).

Unlike the other second-look models, the presence check learns from the detector's own
mistakes: it is shown what the detector reports, not disturbed copies of the truth. Fresh
random scenarios (seeds of their own, apart from the chips and from every benchmark's)
are rendered at GSDs of 0.3 to 0.8 m and run through the detector and its box refiners,
down to the check's floor score; each detection of the chosen classes is cut nose-up and
labelled by its overlap with the truth: present (rotated IoU with an item of its class of
at least PRESENT_IOU: a loose box is still an item there), absent (under ABSENT_IOU), or
left out in between. Present and absent are drawn equally often within each class.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn
from torch.nn import functional as F

from sitewatch.detect import geometry
from sitewatch.detect.inference import SceneReader, detect_tiles
from sitewatch.detect.labels import read_geojson_objects
from sitewatch.detect.model import DetectionModel
from sitewatch.detect.second_look import verifier as vf
from sitewatch.detect.tiling import Tile
from sitewatch.errors import InputError
from sitewatch.evaluation.real_pixels import in_working_range, map_aabb, write_georeferenced
from sitewatch.evaluation.realdata import RealImage
from sitewatch.simulate import simulate_scenario
from sitewatch.simulate.random_scenario import gsd_and_kind_of_scene, random_scenario
from sitewatch.training import crop_data as cd
from sitewatch.training.export import export_graph

PRESENT_IOU = 0.3
ABSENT_IOU = 0.1
SCENE_M = 300.0  # metres per side, as the held-out benchmark's scenes
GSDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


@dataclass
class VerifyTrainConfig:
    classes: tuple[str, ...] = ("air_defence",)
    scenes: int = 600
    first_seed: int = 300000  # apart from the benchmarks' (5000-9999, 70000-139999) and the chips'
    floor: float = 0.2
    weight: float = 0.5
    epochs: int = 12
    batch: int = 64
    lr: float = 3e-3
    threads: int = 2
    seed: int = 0
    # Classes the real images hold none of (looked at by eye: no ship at an inland airport):
    # every detection of them there is taught absent, though the labels do not vouch for it.
    none_on_real: tuple[str, ...] = ()
    counts: dict = field(default_factory=dict)  # filled in: crops per class and label


@dataclass
class CropSet:
    """Nose-up crops of detections, uint8 (N, C, C, 3), with each one's detected class, whether
    an item of that class is there, and the detector's score (NaN where not recorded)."""

    crops: np.ndarray
    classes: np.ndarray
    present: np.ndarray
    scores: np.ndarray

    def take(self, keep: np.ndarray) -> CropSet:
        return CropSet(self.crops[keep], self.classes[keep], self.present[keep], self.scores[keep])

    @staticmethod
    def join(parts: list[CropSet]) -> CropSet:
        return CropSet(np.concatenate([p.crops for p in parts]), np.concatenate([p.classes for p in parts]),
                       np.concatenate([p.present for p in parts]), np.concatenate([p.scores for p in parts]))


def collect_crops(cfg: VerifyTrainConfig, detector: Path, progress: Callable[[int, int], None] | None = None) -> CropSet:
    """Crops of the detector's detections of cfg.classes on fresh simulated scenes."""
    model = DetectionModel(detector, threads=cfg.threads)
    model.verifiers = ()  # the check learns from the detector as it is without one
    crops, classes, present, scores = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(cfg.scenes):
            if progress:
                progress(i, cfg.scenes)
            gsd, kind = gsd_and_kind_of_scene(i, GSDS)
            try:
                scenario = random_scenario(cfg.first_seed + i, kind=kind, gsd_m=gsd, size_px=int(SCENE_M / gsd),
                                           n_dates=2)
            except RuntimeError:  # a seed whose layout never fits (rare): the next one will do
                cfg.counts["seeds skipped"] = cfg.counts.get("seeds skipped", 0) + 1
                continue
            scene_dir = Path(tmp) / f"s{i}"
            result = simulate_scenario(scenario, scene_dir)
            for image_path, truth_path in zip(result.images, result.truths):
                reader = SceneReader(str(image_path), model.gsd_m)
                try:
                    dets, grid, _ = detect_tiles(reader, model, image_path.stem, score_threshold=cfg.floor)
                    image, _ = reader.read(Tile(0, 0, grid.width, grid.height))
                finally:
                    reader.close()
                mine = [d for d in dets if d.cls in cfg.classes]
                if image is None or not mine:
                    continue
                image = np.ascontiguousarray(image.transpose(1, 2, 0))
                truth = [t for t in read_geojson_objects(truth_path, grid.crs)]
                det_px = geometry.boxes_map_to_pixel(geometry.box_array([d.box for d in mine]), grid.transform)
                iou = (geometry.rotated_iou(geometry.box_array([d.box for d in mine]),
                                            np.array([t.box for t in truth])) if truth else np.zeros((len(mine), 0)))
                for k, d in enumerate(mine):
                    same = [j for j, t in enumerate(truth) if t.cls == d.cls]
                    best = max((iou[k, j] for j in same), default=0.0)
                    if any(truth[j].difficult and iou[k, j] >= ABSENT_IOU for j in same):
                        continue  # an item the truth marks difficult: neither answer is right
                    if best >= PRESENT_IOU or best < ABSENT_IOU:
                        crops.append(np.clip(vf.crop(image, det_px[k]), 0, 255).astype(np.uint8))
                        classes.append(d.cls)
                        present.append(best >= PRESENT_IOU)
                        scores.append(d.score)
            shutil.rmtree(scene_dir)  # keep the disk bounded over many scenes
    if progress:
        progress(cfg.scenes, cfg.scenes)
    if not crops:
        raise InputError(str(detector), f"the detector reported no {', '.join(cfg.classes)} on {cfg.scenes} scenes")
    return CropSet(np.stack(crops), np.array(classes).astype(str), np.array(present), np.array(scores))


def _scene_pixels(path: Path, model: DetectionModel, floor: float):
    """(detections down to `floor`, the scene grid, the whole scene as (H, W, 3) at the
    model's GSD or None)."""
    reader = SceneReader(str(path), model.gsd_m)
    try:
        dets, grid, _ = detect_tiles(reader, model, path.stem, score_threshold=floor)
        image, _ = reader.read(Tile(0, 0, grid.width, grid.height))
    finally:
        reader.close()
    return dets, grid, None if image is None else np.ascontiguousarray(image.transpose(1, 2, 0))


def real_label(det_aabb: np.ndarray, labels: np.ndarray) -> bool | None:
    """Against axis-aligned real labels (map boxes, heading 0): present where the box
    around the detected outline overlaps a label at PRESENT_IOU, absent where it overlaps
    none at ABSENT_IOU and its centre lies in no label (a real item boxed badly is not
    taught as absent), else None (left out)."""
    if not len(labels):
        return False
    iou = geometry.rotated_iou(det_aabb[None], labels)[0]
    if iou.max() >= PRESENT_IOU:
        return True
    inside = (np.abs(labels[:, 0] - det_aabb[0]) < labels[:, 3] / 2) & (np.abs(labels[:, 1] - det_aabb[1]) < labels[:, 2] / 2)
    return False if iou.max() < ABSENT_IOU and not inside.any() else None


def label_on_real(cfg: VerifyTrainConfig, cls: str, det_aabb: np.ndarray, truth: np.ndarray,
                  image: RealImage) -> bool | None:
    """What a detection of `cls` on a real image teaches (`real_label` against the labels of
    its class, map boxes `truth`): absent for a class in cfg.none_on_real, nothing (None)
    for a class the image's labels do not vouch for."""
    if cls in cfg.none_on_real:
        return False
    if cls not in image.complete:
        return None
    return real_label(det_aabb, truth[np.asarray(image.cls) == cls] if len(truth) else truth)


def collect_real_crops(cfg: VerifyTrainConfig, detector: Path, images: list[RealImage],
                       progress: Callable[[int, int], None] | None = None,
                       sides: tuple[str, ...] = ("train",)) -> CropSet:
    """Crops of the detector's detections of cfg.classes on real labelled images, labelled
    against their axis-aligned labels by `real_label`; a class is taught on an image only
    where its labels are complete there, or as absent everywhere if it is in
    cfg.none_on_real. Images off `sides` of the split are refused (the
    validation side is for measuring the trained check; development is never read)."""
    model = DetectionModel(detector, threads=cfg.threads)
    model.verifiers = ()  # the check learns from the detector as it is without one
    crops, classes, present, scores = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n, im in enumerate(images):
            if progress:
                progress(n, len(images))
            if im.split not in sides or im.gsd_m is None:
                raise InputError(str(im.path), f"only {' or '.join(sides)}-side images with a stated GSD are collected on")
            if not in_working_range(im, model):  # too coarse: `detect` refuses it
                cfg.counts["real images too coarse"] = cfg.counts.get("real images too coarse", 0) + 1
                continue
            path, transform, _ = write_georeferenced(im, im.gsd_m, Path(tmp))
            dets, grid, image = _scene_pixels(path, model, cfg.floor)
            path.unlink()
            mine = [d for d in dets if d.cls in cfg.classes and (d.cls in im.complete or d.cls in cfg.none_on_real)]
            if image is None or not mine:
                continue
            boxes = geometry.box_array([d.box for d in mine])
            aabb = map_aabb(boxes, [d.cls for d in mine])
            truth = geometry.boxes_pixel_to_map(im.boxes, transform) if len(im.boxes) else np.zeros((0, 5))
            det_px = geometry.boxes_map_to_pixel(boxes, grid.transform)
            for k, d in enumerate(mine):
                label = label_on_real(cfg, d.cls, aabb[k], truth, im)
                if label is None:
                    continue
                crops.append(np.clip(vf.crop(image, det_px[k]), 0, 255).astype(np.uint8))
                classes.append(d.cls)
                present.append(label)
                scores.append(d.score)
    if progress:
        progress(len(images), len(images))
    if not crops:
        raise InputError(str(detector), f"the detector reported no {', '.join(cfg.classes)} on the real images")
    return CropSet(np.stack(crops), np.array(classes).astype(str), np.array(present), np.array(scores))


def chip_folder_images(folder: Path) -> list[RealImage]:
    """The chips of a `sitewatch dataset-real` folder (real training-side chips, with or
    without pasted cut-outs) as real images with their axis-aligned labels."""
    out = []
    for meta_path in sorted((Path(folder) / "meta").glob("*.json")):
        meta = json.loads(meta_path.read_text())
        gsd = float(meta["gsd_m"])
        objs = meta.get("objects", [])
        boxes = np.array([[o["cx"], o["cy"], o["length_m"] / gsd, o["width_m"] / gsd, o["heading_deg"]] for o in objs],
                         float).reshape(-1, 5)
        out.append(RealImage(Path(folder).name, meta_path.stem, Path(folder) / "images" / f"{meta_path.stem}.png", gsd,
                             boxes, tuple(o["cls"] for o in objs), True, tuple(meta.get("complete_classes", ())),
                             "train"))
    if not out:
        raise InputError(str(folder), "holds no chips (meta/*.json)")
    return out


def chosen_crops(cfg: VerifyTrainConfig, found: CropSet, source: str) -> CropSet:
    """The crops of the configured classes, counted into cfg.counts; InputError (naming
    `source`) when a class has no present or no absent crop to learn from."""
    found = found.take(np.isin(found.classes, cfg.classes))
    classes, present = found.classes, found.present
    for c in cfg.classes:
        for label, flag in (("present", True), ("absent", False)):
            cfg.counts[f"{c} {label}"] = int(((classes == c) & (present == flag)).sum())
        if not cfg.counts[f"{c} present"] or not cfg.counts[f"{c} absent"]:
            raise InputError(source, f"{c}: no {'present' if not cfg.counts[f'{c} present'] else 'absent'} "
                                     "detections to learn from; collect on more scenes")
    return found


def save_crops(path: Path, found: CropSet, cfg: VerifyTrainConfig) -> Path:
    """Collected crops as one .npz (written whole, then renamed), so that collecting, the
    long part, is done once for several trainings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with open(part, "wb") as f:
        np.savez_compressed(f, crops=found.crops, classes=found.classes, present=found.present, scores=found.scores,
                            seeds=np.array([cfg.first_seed, cfg.scenes]), floor=np.array(cfg.floor))
    part.replace(path)
    return path


def load_crops(paths: list[Path], floor: float) -> CropSet:
    """The crops of files `save_crops` wrote, joined; InputError naming a file that is not
    one, or that was collected at another floor score."""
    crops, classes, present, scores = [], [], [], []
    for path in paths:
        try:
            with np.load(path) as f:
                c, k, p, f_floor = f["crops"], f["classes"], f["present"], float(f["floor"])
                # files from before scores were kept: unknown
                sc = f["scores"] if "scores" in f.files else np.full(len(c), np.nan)
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(str(path), f"not a presence-check crop file ({exc})") from exc
        if c.ndim != 4 or c.shape[1:] != (vf.CROP_PX, vf.CROP_PX, 3) or not (len(c) == len(k) == len(p)):
            raise InputError(str(path), f"crops of shape {c.shape}, expected (N, {vf.CROP_PX}, {vf.CROP_PX}, 3) "
                                        "with one class and one label each")
        if abs(f_floor - floor) > 1e-9:
            raise InputError(str(path), f"collected down to score {f_floor}, not the --floor {floor} asked for")
        crops.append(c), classes.append(k.astype(str)), present.append(p.astype(bool)), scores.append(sc)
    return CropSet(np.concatenate(crops), np.concatenate(classes), np.concatenate(present), np.concatenate(scores))


def train_verifier(cfg: VerifyTrainConfig, detector_classes: tuple[str, ...], found: CropSet,
                   progress: Callable[[int, int, float], None] | None = None) -> nn.Module:
    """One logit per detector class, trained on the detections of that class; each
    (class, present) cell drawn equally often."""
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    net = cd.ReaderNet(len(detector_classes))
    crops, classes, present = found.crops, found.classes, found.present
    column = torch.tensor([detector_classes.index(c) for c in classes])
    y_all = torch.from_numpy(present.astype(np.float32))
    cells = {k: n for k, n in zip(*np.unique(np.char.add(classes.astype(str), present.astype(str)),
                                             return_counts=True))}
    weights = torch.tensor([1.0 / cells[c + str(p)] for c, p in zip(classes.astype(str), present)])

    def loss_of(net: nn.Module, x: torch.Tensor, idx: torch.Tensor, mirrored: bool) -> torch.Tensor:
        logits = net(x).gather(1, column[idx].unsqueeze(1)).squeeze(1)
        return F.binary_cross_entropy_with_logits(logits, y_all[idx])

    return cd.fit(net, crops, weights, cfg.epochs, cfg.batch, cfg.lr, cfg.seed, loss_of, progress)


def ranking_auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """The chance that a random positive scores above a random negative (ties count half)."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def held_out_metrics(net: nn.Module, detector_classes: tuple[str, ...], held: CropSet,
                     weights=(0.0, 0.25, 0.5, 0.75, 1.0)) -> dict:
    """Per class, on crops the check never trained on: how well its answer, the detector's
    score and their combination at each weight rank present items above absent ones (AUC),
    and the share right at 0.5."""
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(torch.from_numpy(held.crops[i:i + 256]).permute(0, 3, 1, 2).float())
                            for i in range(0, len(held.crops), 256)]).numpy()
    p = vf.presence_from_logits(logits, detector_classes, held.classes)
    out = {}
    for c in np.unique(held.classes):
        sel = held.classes == c
        y, pc, sc = held.present[sel], p[sel], held.scores[sel]
        row = {"present": int(y.sum()), "absent": int((~y).sum()), "check_auc": ranking_auc(pc, y),
               "check_right_at_0.5": round(float(((pc >= 0.5) == y).mean()), 4)}
        if not np.isnan(sc).any():
            row["detector_right_at_0.5"] = round(float(((sc >= 0.5) == y).mean()), 4)
            row["auc_by_weight"] = {repr(w): ranking_auc(vf.combine(sc, pc, w), y) for w in weights}
        out[str(c)] = row
    return out


def export_verifier(net: nn.Module, out: Path, detector_classes: tuple[str, ...], cfg: VerifyTrainConfig,
                    training: dict, metrics: dict) -> Path:
    meta = {"format": vf.FORMAT_TAG, "classes": json.dumps(list(detector_classes)),
            "applies_to": json.dumps(sorted(cfg.classes)), "crop_px": str(vf.CROP_PX), "weight": repr(cfg.weight),
            "floor": repr(cfg.floor), "training": json.dumps(training), "metrics": json.dumps(metrics)}
    return export_graph(net.eval(), torch.zeros(1, 3, vf.CROP_PX, vf.CROP_PX), Path(out), ["crops"], ["presence"],
                        {"crops": {0: "n"}, "presence": {0: "n"}}, meta)


def summary(cfg: VerifyTrainConfig, found: CropSet, seconds: float) -> dict:
    return {**asdict(cfg), "crops": int(len(found.crops)), "seconds": round(seconds, 1), "trained": time.strftime("%Y-%m-%d")}
