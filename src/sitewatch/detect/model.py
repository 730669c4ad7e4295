"""Run-time detection models: ONNX Runtime sessions, self-describing metadata, decoding.

A sitewatch model is an ONNX file whose metadata_props carry everything needed to use
it (no configuration travels beside the weights):

    format            "sitewatch-ocn/1"
    model_id, version
    gsd_m             the ground sample distance the model works at (metres / pixel)
    classes, types, states          JSON lists
    type_classes, type_states       JSON: the class and allowed states of each type
    input_size        the tile size (pixels) inference should use
    stride            output stride of the heads
    score_threshold, nms_iou, tile_overlap_px
    score_pivot       optional: the raw heatmap score of the operating point (best F1 on
                      validation). Decoded scores are then rescaled, monotonically, so that
                      it reads 0.5 and 1 stays 1 ("more likely found than not" from 0.5 up,
                      which is what the change and assessment stages assume); score_threshold
                      is on that rescaled scale.
    class_score_pivots optional JSON {class: raw score}: classes whose operating point is
                      their own (chosen on real-pixel validation images), the rest take
                      score_pivot
    training, metrics JSON summaries
    box_refiner       optional: the file names of box refiners beside the model
                      (`detect.box_refiner`), which move the centres and turn the axes of
                      the classes they apply to where a nose-up crop of each detected item
                      shows them; one name, or several separated by commas, no two for
                      one class
    hull_refiner      optional: box refiners for long items (ships, launchers) on a crop long
                      along their axis and narrow across it, which also set their length;
                      one file name, or several separated by commas, no two for one class
    state_refiner     optional: box refiners for items read in given states (their own
                      metadata's applies_to_states), run once the state is read, for
                      example bare helicopter fuselages; no two for one class
    type_reader       optional: the file name of a type reader beside the model
                      (`detect.type_reader`), which re-reads the type of the classes it
                      applies to from a nose-up crop of each detected item
    hull_type_reader  optional: a type reader for ships on a crop long along the hull and
                      narrow across it; it takes its classes over from type_reader
    state_reader      optional: the file name of a state reader beside the model
                      (`detect.state_reader`), which re-reads the state of the types it
                      applies to from a nose-up crop of each detected item
    verifier          optional: the file names of presence checks beside the model
                      (`detect.verifier`; comma-separated, no two for one class), which
                      look again at whether an item of the detected class is there and
                      rescore the classes they apply to
    catalogue_check   optional: the file name of a catalogue check beside the model
                      (`detect.catalogue_check`), which looks again at whether a detected
                      item is of a type the catalogue knows, and names it `unknown` if not
    coarse_pass       optional JSON {"factor": k, "min_length_m": {class: metres}}: the
                      network also runs on each tile shrunk k times, and the items of those
                      classes at least that long found there join the tile's detections
                      (`merge_coarse`); the second look then reads them at full resolution

Input: float32 (B, 3, H, W) RGB 0..255. Outputs: heat (B, C, H/s, W/s) sigmoid scores with
non-peaks zeroed, box (B, 6 or 8, ...) offset x, offset y (cells), log length m, log width
m, sin, cos of the heading (clockwise from image up), and optionally sin 2h, cos 2h of the
axis (then the axis sets the orientation and the heading only picks the end), type (B, T, ...) and state (B, S, ...)
logits. Decoding is numpy. `detect.yolo_obb` adapts models of the Ultralytics layout to
the same interface.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from sitewatch import equipment
from sitewatch.detect import geometry
from sitewatch.detect.second_look.box_refiner import BoxRefiner
from sitewatch.detect.second_look.catalogue_check import CatalogueCheck
from sitewatch.detect.second_look.state_reader import StateReader
from sitewatch.detect.second_look.type_reader import TypeReader
from sitewatch.detect.second_look.verifier import Verifier, combine
from sitewatch.detect.sessions import companion_names, open_session
from sitewatch.domain import UNKNOWN_TYPE
from sitewatch.errors import ModelError
from sitewatch.geo.sun import SunPosition

FORMAT_TAG = "sitewatch-ocn/1"
# The network's input sides must be multiples of its deepest stride.
STRIDE_MULTIPLE = 32
_REQUIRED = ("format", "model_id", "version", "gsd_m", "classes", "types", "type_classes", "type_states",
             "states", "input_size", "stride", "score_threshold", "nms_iou", "tile_overlap_px")
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "sitewatch-ocn.onnx"


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    version: str
    gsd_m: float
    classes: tuple[str, ...]
    types: tuple[str, ...]
    states: tuple[str, ...]
    type_classes: dict[str, str]
    type_states: dict[str, tuple[str, ...]]
    input_size: int
    stride: int
    score_threshold: float
    nms_iou: float
    tile_overlap_px: int
    training: dict
    metrics: dict
    score_pivot: float | None = None
    # Classes whose operating point is their own (real-pixel validation chose it), as raw
    # heatmap scores; the others take score_pivot.
    class_score_pivots: dict[str, float] = field(default_factory=dict)
    # The coarse pass: how many times each tile is shrunk (0: no pass), and the classes it
    # adds items of, with the shortest length (m) it adds.
    coarse_factor: int = 0
    coarse_min_length_m: dict[str, float] = field(default_factory=dict)

    def pivots(self) -> np.ndarray | None:
        """(C,) raw operating point of each class, or None when scores are not rescaled."""
        if self.score_pivot is None and not self.class_score_pivots:
            return None
        base = 0.5 if self.score_pivot is None else self.score_pivot
        return np.array([self.class_score_pivots.get(c, base) for c in self.classes])


def rescale_scores(raw: np.ndarray, pivot: float | np.ndarray) -> np.ndarray:
    """Raw heatmap scores onto the scale where the operating point `pivot` reads 0.5:
    linear from 0 to the pivot and from the pivot to 1."""
    raw = np.asarray(raw, dtype=np.float64)
    return np.where(raw < pivot, 0.5 * raw / pivot, 0.5 + 0.5 * (raw - pivot) / (1.0 - pivot))


def raw_score(score: float, pivot: float) -> float:
    """The inverse of rescale_scores, for one score."""
    return score * 2.0 * pivot if score < 0.5 else pivot + (score - 0.5) * 2.0 * (1.0 - pivot)


@dataclass(frozen=True)
class RawDetections:
    """Detections of one tile in the tile's pixels at the model GSD."""

    boxes: np.ndarray  # (N, 5) col, row, length px, width px, heading from image up
    cls: np.ndarray  # (N,) class names
    score: np.ndarray
    type: np.ndarray
    type_score: np.ndarray
    state: np.ndarray
    state_score: np.ndarray
    # The presence check's own answer (NaN where it did not look); `score` then mixes it in.
    presence: np.ndarray | None = None

    def __post_init__(self):
        if self.presence is None:
            object.__setattr__(self, "presence", np.full(len(self.score), np.nan))

    @staticmethod
    def empty() -> RawDetections:
        e = np.zeros(0)
        s = np.zeros(0, dtype=object)
        return RawDetections(np.zeros((0, 5)), s, e, s, e, s, e)

    def __len__(self) -> int:
        return len(self.score)

    def take(self, idx: np.ndarray) -> RawDetections:
        return RawDetections(*(getattr(self, f)[idx] for f in _RAW_FIELDS))

    @staticmethod
    def concat(parts: list[RawDetections]) -> RawDetections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return RawDetections.empty()
        return RawDetections(*(np.concatenate([getattr(p, f) for p in parts])
                               for f in _RAW_FIELDS))


_RAW_FIELDS = ("boxes", "cls", "score", "type", "type_score", "state", "state_score", "presence")


def _parse_info(path: Path, meta: dict[str, str]) -> ModelInfo:
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise ModelError(str(path), f"missing metadata {', '.join(missing)}; not a sitewatch model "
                                    "(for YOLO oriented-box models use --yolo-obb with --class-map and --model-gsd)")
    if meta["format"] != FORMAT_TAG:
        raise ModelError(str(path), f"model format {meta['format']!r}, this sitewatch reads {FORMAT_TAG!r}")
    try:
        info = ModelInfo(
            model_id=meta["model_id"], version=meta["version"], gsd_m=float(meta["gsd_m"]),
            classes=tuple(json.loads(meta["classes"])), types=tuple(json.loads(meta["types"])),
            states=tuple(json.loads(meta["states"])), type_classes=dict(json.loads(meta["type_classes"])),
            type_states={k: tuple(v) for k, v in json.loads(meta["type_states"]).items()},
            input_size=int(meta["input_size"]), stride=int(meta["stride"]),
            score_threshold=float(meta["score_threshold"]), nms_iou=float(meta["nms_iou"]),
            tile_overlap_px=int(meta["tile_overlap_px"]),
            training=json.loads(meta.get("training", "{}")), metrics=json.loads(meta.get("metrics", "{}")),
            score_pivot=float(meta["score_pivot"]) if meta.get("score_pivot") else None,
            class_score_pivots={str(k): float(v) for k, v in json.loads(meta.get("class_score_pivots", "{}")).items()},
            **_coarse_pass(json.loads(meta.get("coarse_pass", "{}"))),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelError(str(path), f"unreadable metadata ({exc!r})") from exc
    if info.score_pivot is not None and not 0.0 < info.score_pivot < 1.0:
        raise ModelError(str(path), f"bad metadata: score_pivot={info.score_pivot} (must be between 0 and 1)")
    bad = {c: v for c, v in info.class_score_pivots.items() if c not in info.classes or not 0.0 < v < 1.0}
    if bad:
        raise ModelError(str(path), f"bad metadata: class_score_pivots {bad} (known classes, between 0 and 1)")
    bad = {c: v for c, v in info.coarse_min_length_m.items() if c not in info.classes or not v > 0}
    if info.coarse_factor < 0 or info.coarse_factor == 1 or bad:
        raise ModelError(str(path), f"bad metadata: coarse_pass {meta.get('coarse_pass')} (a factor of 2 or more, "
                                    "known classes, lengths above 0)")
    if not info.gsd_m > 0 or info.input_size % info.stride:
        raise ModelError(str(path), f"bad metadata: gsd_m={info.gsd_m}, input_size={info.input_size}")
    return info


def _coarse_pass(spec: dict) -> dict:
    """ModelInfo's coarse-pass fields from the metadata's JSON ({} when absent)."""
    if not spec:
        return {}
    return {"coarse_factor": int(spec["factor"]),
            "coarse_min_length_m": {str(k): float(v) for k, v in dict(spec["min_length_m"]).items()}}


def shrink(batch: np.ndarray, factor: int, multiple: int) -> np.ndarray:
    """A (B, 3, H, W) batch averaged over factor x factor blocks, its sides padded (by
    reflection) up to a multiple of `multiple`, which the network's strides need."""
    b, c, h, w = batch.shape
    h2, w2 = h // factor, w // factor
    # OpenCV's area resampling is the block mean at an integer factor, ten times numpy's speed.
    small = np.stack([np.stack([cv2.resize(batch[i, j, :h2 * factor, :w2 * factor], (w2, h2),
                                           interpolation=cv2.INTER_AREA) for j in range(c)]) for i in range(b)])
    ph, pw = -h2 % multiple, -w2 % multiple
    if ph or pw:
        small = np.pad(small, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect")
    return np.ascontiguousarray(small, dtype=np.float32)


# A fine view agreeing this well with the coarse view of an item shows the item whole.
WHOLE_VIEW_IOU = 0.5
# A fine view lying this much inside a coarse item's box is a view of that item.
SAME_ITEM_SHARE = 0.5


def merge_coarse(fine: RawDetections, coarse: RawDetections) -> RawDetections:
    """The tile's detections with the coarse pass's joined. The fine views of a coarse item
    are those of its class lying mostly inside its box. Where one of them shows the item
    whole (IoU with the coarse box at least WHOLE_VIEW_IOU), it stays, the surer of the two
    scores (its box is drawn at twice the detail); the other views go. Where they are only
    fragments, the coarse item replaces them if it scores higher than all of them, and is
    dropped otherwise. A coarse item with no fine view is added."""
    if not len(coarse):
        return fine
    keep = np.ones(len(fine), bool)
    score = fine.score.copy()
    fine_up, coarse_up = geometry.y_up(fine.boxes), geometry.y_up(coarse.boxes)
    inside = geometry.intersection_share(fine_up, coarse_up)  # (fine, coarse)
    iou = geometry.rotated_iou(fine_up, coarse_up)
    added = []
    for i in np.argsort(-coarse.score):
        views = np.flatnonzero(keep & (fine.cls == coarse.cls[i]) & (inside[:, i] >= SAME_ITEM_SHARE))
        whole = views[iou[views, i] >= WHOLE_VIEW_IOU]
        if len(whole):
            best = whole[np.argmax(score[whole])]
            score[best] = max(score[best], coarse.score[i])
            keep[views[views != best]] = False
        elif not len(views) or score[views].max() < coarse.score[i]:
            keep[views] = False
            added.append(int(i))
    lifted = replace(fine, score=score)
    return RawDetections.concat([lifted.take(np.flatnonzero(keep)), coarse.take(np.array(added, int))])


class DetectionModel:
    """A sitewatch ONNX model: `run(batch)` -> per-image RawDetections."""

    def __init__(self, path: Path | str | None = None, threads: int = 0):
        self.path = Path(path) if path else DEFAULT_MODEL
        self.session = open_session(self.path, threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.info = _parse_info(self.path, meta)
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] not in (3, "3"):
            raise ModelError(str(self.path), f"expected one input of shape (B, 3, H, W), got "
                                             f"{[tuple(i.shape) for i in inputs]}")
        outs = {o.name: o.shape for o in self.session.get_outputs()}
        if set(outs) != {"heat", "box", "type", "state"}:
            raise ModelError(str(self.path), f"expected outputs heat, box, type, state; got {sorted(outs)}")
        self.input_name = inputs[0].name
        self._type_class = np.array([self.info.classes.index(self.info.type_classes[t]) for t in self.info.types])
        self._type_state_ok = np.array([[s in self.info.type_states[t] for s in self.info.states]
                                        for t in self.info.types])
        self._type_sizes = _catalogue_log_sizes(self.info.types)
        self._outlines = _catalogue_outlines(self.info.type_states, self.info.type_classes)
        self.state_reader = self.type_reader = self.hull_type_reader = self.catalogue_check = None
        self.box_refiners, self.hull_refiners = self._refiners(meta, "box_refiner", threads), \
            self._refiners(meta, "hull_refiner", threads)
        self.state_refiners = self._refiners(meta, "state_refiner", threads)
        stateless = [r.path.name for r in self.state_refiners if not r.info.states]
        if stateless:
            raise ModelError(str(self.path), f"state refiner {', '.join(stateless)} names no states it applies to")
        if meta.get("type_reader"):
            self.type_reader = TypeReader(self._companion(meta["type_reader"]), self.info.types, threads)
        if meta.get("hull_type_reader"):
            self.hull_type_reader = TypeReader(self._companion(meta["hull_type_reader"]), self.info.types, threads)
        if meta.get("state_reader"):
            self.state_reader = StateReader(self._companion(meta["state_reader"]), self.info.states, threads)
        self.verifiers = tuple(Verifier(self._companion(name), self.info.classes, threads)
                               for name in companion_names(meta, "verifier"))
        checked = [c for v in self.verifiers for c in v.info.applies_to]
        if len(checked) != len(set(checked)):
            raise ModelError(str(self.path), f"two presence checks apply to one class ({meta['verifier']})")
        if meta.get("catalogue_check"):
            self.catalogue_check = CatalogueCheck(self._companion(meta["catalogue_check"]), self.info.classes, threads)

    def _refiners(self, meta: dict[str, str], key: str, threads: int) -> tuple:
        """The refiners the metadata names under `key`, in order; no two for one class."""
        names = companion_names(meta, key)
        if not names:
            return ()
        refiners = tuple(BoxRefiner(self._companion(name), threads) for name in names)
        claimed = [c for r in refiners for c in r.info.applies_to]
        if len(claimed) != len(set(claimed)):
            raise ModelError(str(self.path), f"two {key.replace('_', ' ')}s apply to one class ({meta[key]})")
        return refiners

    def _companion(self, name: str) -> Path:
        path = self.path.parent / name
        if not path.exists():
            raise ModelError(str(self.path), f"names a companion model {name} that is not beside it")
        return path

    @property
    def gsd_m(self) -> float:
        return self.info.gsd_m

    @property
    def tile_size(self) -> int:
        return self.info.input_size

    def raw(self, batch: np.ndarray) -> list[np.ndarray]:
        """Bare model outputs for a float32 (B, 3, H, W) batch: heat, box, type, state, each
        checked to have the shape decoding reads (a ModelError naming the model if not)."""
        outs = self.session.run(["heat", "box", "type", "state"], {self.input_name: batch})
        self._check_shapes(outs, len(batch))
        return outs

    def _check_shapes(self, outs: list[np.ndarray], batch: int) -> None:
        """Each output (B, channels, h, w) on one h x w map: heat one channel per class, box 6
        (or 8, with an axis head), type one per type, state one per state."""
        want = {"heat": (len(self.info.classes),), "box": (6, 8), "type": (len(self.info.types),),
                "state": (len(self.info.states),)}
        maps = {o.shape[2:] for o in outs if o.ndim == 4}
        for (name, channels), out in zip(want.items(), outs):
            if out.ndim != 4 or out.shape[0] != batch or out.shape[1] not in channels or len(maps) != 1:
                raise ModelError(str(self.path), f"output {name} has shape {tuple(out.shape)}; expected ({batch}, "
                                                 f"{' or '.join(map(str, channels))}, h, w) on the same h x w map "
                                                 "as the other outputs")

    def shrunk(self, batch: np.ndarray) -> np.ndarray | None:
        """The batch as the coarse pass sees it (None: the model has no coarse pass); made
        ahead by a caller that can do it off the model's thread."""
        return shrink(batch, self.info.coarse_factor, STRIDE_MULTIPLE) if self.info.coarse_factor else None

    def run(self, batch: np.ndarray, score_threshold: float | None = None,
            sun: SunPosition | None = None, shrunk: np.ndarray | None = None) -> list[RawDetections]:
        """Detections of a float32 (B, 3, H, W) batch of tiles of one image; `sun`: as seen on
        the image (None when unknown), for a box refiner that takes it; `shrunk`: the batch's
        `shrunk` copy, where the caller made it."""
        heat, box, typ, state = self.raw(batch)
        thr = self.info.score_threshold if score_threshold is None else score_threshold
        # The presence check may lift an item the detector scored under the threshold.
        floor = min((v.decode_floor(thr) for v in self.verifiers), default=thr)
        dets = [self.decode(heat[i], box[i], typ[i], state[i], floor) for i in range(len(heat))]
        if self.info.coarse_factor:
            dets = [merge_coarse(d, c) for d, c in zip(dets, self.coarse_pass(batch, floor, shrunk))]
        return [self.second_look(batch[i], dets[i], sun, thr) for i in range(len(heat))]

    def coarse_pass(self, batch: np.ndarray, threshold: float, shrunk: np.ndarray | None = None) -> list[RawDetections]:
        """Per tile, the items of the coarse pass's classes and lengths found on the tile
        shrunk `coarse_factor` times (large aircraft the network scores surer seen at half
        the detail), in the full tile's pixels."""
        k = self.info.coarse_factor
        h, w = batch.shape[2] // k, batch.shape[3] // k
        heat, box, typ, state = self.raw(shrink(batch, k, STRIDE_MULTIPLE) if shrunk is None else shrunk)
        out = []
        for i in range(len(heat)):
            d = self.decode(heat[i], box[i], typ[i], state[i], threshold, scale=k)
            small = d.boxes / [k, k, 1, 1, 1]  # centres back on the shrunk tile, to drop the padding's
            length_m = d.boxes[:, 2] * self.info.gsd_m
            wanted = np.array([length_m[j] >= self.info.coarse_min_length_m.get(str(c), np.inf)
                               for j, c in enumerate(d.cls)], bool)
            out.append(d.take(np.flatnonzero(wanted & (small[:, 0] < w) & (small[:, 1] < h))))
        return out

    def second_look(self, image_chw: np.ndarray, dets: RawDetections, sun: SunPosition | None = None,
                    threshold: float = 0.0) -> RawDetections:
        """The companions' answers for one tile's detections, then the catalogue's outlines
        where type and state are sure (`fit_outlines`); detections scored under `threshold`
        after the presence check are dropped."""
        if self.verifiers:  # under the threshold, only the checked classes get a second chance
            dets = dets.take(np.flatnonzero((dets.score >= threshold) | np.isin(dets.cls, self.checked_classes())))
        if not len(dets) or (not self.box_refiners and not self.hull_refiners and not self.state_refiners
                             and not self.type_readers() and self.state_reader is None and not self.verifiers
                             and self.catalogue_check is None):
            return self.fit_outlines(dets)
        # One contiguous (H, W, 3) copy of the tile for all its crops (OpenCV's layout).
        image = np.ascontiguousarray(image_chw.transpose(1, 2, 0), dtype=np.float32)
        if self.box_refiners or self.hull_refiners:
            dets = self.refine_boxes(image, dets, sun)
        if self.verifiers:
            dets = self.check_presence(image, dets)
            dets = dets.take(np.flatnonzero(dets.score >= threshold))
        if self.type_readers():
            dets = self.reread_types(image, dets)
        if self.catalogue_check is not None:
            dets = self.check_catalogue(image, dets)
        if self.state_reader is not None:
            dets = self.reread_states(image, dets)
        dets = self.fit_outlines(dets)
        if self.state_refiners:
            dets = self.refine_by_state(image, dets, sun)
        return dets

    def _sure_outlines(self, dets: RawDetections) -> dict[int, tuple[float, float]]:
        """Detection index -> the catalogue's (length, width) in metres, for the items whose
        type and state are read surely and whose outline the catalogue fixes."""
        sure = np.flatnonzero((dets.type_score >= SURE_OUTLINE) & (dets.state_score >= SURE_OUTLINE))
        return {int(i): self._outlines[(dets.type[i], dets.state[i])] for i in sure
                if (dets.type[i], dets.state[i]) in self._outlines}

    def fit_outlines(self, dets: RawDetections) -> RawDetections:
        """Boxes of the OUTLINE_FROM_STATE classes whose type and state are read surely take
        the catalogue's outline for that type and state (centre and heading kept)."""
        fitted = self._sure_outlines(dets)
        if not fitted:
            return dets
        boxes = dets.boxes.copy()
        for i, (length_m, width_m) in fitted.items():
            boxes[i, 2:4] = length_m / self.info.gsd_m, width_m / self.info.gsd_m
        return replace(dets, boxes=boxes)

    def refine_by_state(self, image: np.ndarray, dets: RawDetections, sun: SunPosition | None = None) -> RawDetections:
        """Centres and axes of the items a state refiner is for (its classes, read in its
        states), looked at again on crops of the (H, W, 3) tile once the state is read and the
        outline fitted. Why: a helicopter with its rotors off is a fuselage a fifth as wide as
        the rotor disc, which the other refiners' crops see too coarsely to centre. A box the
        catalogue's outline sized keeps that size."""
        boxes = dets.boxes.copy()
        for refiner in self.state_refiners:
            sel = np.flatnonzero(np.isin(dets.cls, refiner.info.applies_to) & np.isin(dets.state, refiner.info.states))
            if len(sel):
                boxes[sel] = refiner.refine(image, boxes[sel], sun)
        sized = list(self._sure_outlines(dets))
        boxes[sized, 2:4] = dets.boxes[sized, 2:4]
        return replace(dets, boxes=boxes)

    def checked_classes(self) -> list[str]:
        """The classes a presence check applies to."""
        return [c for v in self.verifiers for c in v.info.applies_to]

    def check_presence(self, image: np.ndarray, dets: RawDetections) -> RawDetections:
        """Scores of each presence check's classes, combined with its answer on nose-up
        crops of the (H, W, 3) tile."""
        assert dets.presence is not None  # decoded with a presence column
        score, presence = dets.score.copy(), dets.presence.copy()
        for verifier in self.verifiers:
            sel = np.flatnonzero(np.isin(dets.cls, verifier.info.applies_to))
            if len(sel):
                presence[sel] = verifier.presence(image, dets.boxes[sel], dets.cls[sel])
                score[sel] = combine(score[sel], presence[sel], verifier.weight)
        return replace(dets, score=score, presence=presence)

    def check_catalogue(self, image: np.ndarray, dets: RawDetections) -> RawDetections:
        """Items of the catalogue check's classes that it finds outside the catalogue (at
        or over its threshold, on nose-up crops of the (H, W, 3) tile) get type `unknown`,
        that probability as their type score, and state `normal` at an even score: no type,
        so no state of one is read."""
        check = self.catalogue_check
        assert check is not None  # called only with a catalogue check
        sel = np.flatnonzero(np.isin(dets.cls, check.info.applies_to))
        if not len(sel):
            return dets
        p = check.outside(image, dets.boxes[sel], dets.cls[sel])
        out = sel[p >= check.threshold]
        if not len(out):
            return dets
        typ, type_score = dets.type.copy(), dets.type_score.copy()
        state, state_score = dets.state.copy(), dets.state_score.copy()
        typ[out], type_score[out] = UNKNOWN_TYPE, p[p >= check.threshold]
        state[out], state_score[out] = "normal", 0.5
        return replace(dets, type=typ, type_score=type_score, state=state, state_score=state_score)

    def refine_boxes(self, image: np.ndarray, dets: RawDetections, sun: SunPosition | None = None) -> RawDetections:
        """Centres and axes (and, by the hull refiners, lengths) of the refiners' classes,
        looked at again on crops of the (H, W, 3) tile: box refiners first, then hull
        refiners (a class may have one of each)."""
        boxes = dets.boxes.copy()
        for refiner in (*self.box_refiners, *self.hull_refiners):
            sel = np.flatnonzero(np.isin(dets.cls, refiner.info.applies_to))
            if len(sel):
                boxes[sel] = refiner.refine(image, boxes[sel], sun)
        return replace(dets, boxes=boxes)

    def type_readers(self) -> list[tuple[object, tuple[str, ...]]]:
        """(type reader, the classes it reads): the hull type reader's classes, and the
        square reader's others."""
        out = []
        hull = self.hull_type_reader.info.applies_to if self.hull_type_reader is not None else ()
        if self.type_reader is not None:
            out.append((self.type_reader, tuple(c for c in self.type_reader.info.applies_to if c not in hull)))
        if self.hull_type_reader is not None:
            out.append((self.hull_type_reader, hull))
        return [(reader, classes) for reader, classes in out if classes]

    def reread_types(self, image: np.ndarray, dets: RawDetections) -> RawDetections:
        """Types of the type readers' classes (`type_readers`), read again from nose-up
        crops of the (H, W, 3) tile."""
        for reader, classes in self.type_readers():
            dets = self._reread_types(reader, classes, image, dets)
        return dets

    def _reread_types(self, reader, classes: tuple[str, ...], image: np.ndarray,
                      dets: RawDetections) -> RawDetections:
        """Types of `classes`, read again by `reader` and weighed with the catalogue's size
        likelihood of the box (and, for the reader's `with_head` classes, with the
        detector's own answer), among the detected class's types. An item whose type
        changes keeps its state only where the new type has it; otherwise it takes the new
        type's first state, at an even score."""
        sel = np.flatnonzero(np.isin(dets.cls, classes))
        if not len(sel):
            return dets
        logits = reader.read(image, dets.boxes[sel]).astype(np.float64)
        size_m = np.log(np.maximum(dets.boxes[sel, 2:4], 1e-3) * self.info.gsd_m)
        logits = logits + size_log_likelihood(size_m[:, 0], size_m[:, 1], self._type_sizes)
        cls_idx = np.array([self.info.classes.index(c) for c in dets.cls[sel]])
        same = self._type_class[None, :] == cls_idx[:, None]
        weigh = np.isin(dets.cls[sel], reader.with_head)
        if weigh.any():  # the head's answer as a distribution: its type at its score, the rest shared
            rows = np.flatnonzero(weigh)
            named = np.array([self.info.types.index(t) for t in dets.type[sel][rows]])
            score = np.clip(dets.type_score[sel][rows], 1e-6, 1 - 1e-6)
            others = np.maximum(same[rows].sum(axis=1) - 1, 1)
            head = np.log(np.broadcast_to(((1 - score) / others)[:, None], (len(rows), len(self.info.types))).copy())
            head[np.arange(len(rows)), named] = np.log(score)
            logits[rows] += head
        tp = _softmax(np.where(same, logits, -np.inf))
        t_idx = tp.argmax(1)
        typ, type_score = dets.type.copy(), dets.type_score.copy()
        state, state_score = dets.state.copy(), dets.state_score.copy()
        typ[sel] = np.array(self.info.types, dtype=object)[t_idx]
        type_score[sel] = tp[np.arange(len(sel)), t_idx]
        for i in sel:
            allowed = self.info.type_states[typ[i]]
            if state[i] not in allowed:
                state[i], state_score[i] = allowed[0], 1.0 / len(allowed)
        return replace(dets, type=typ, type_score=type_score, state=state, state_score=state_score)

    def reread_states(self, image: np.ndarray, dets: RawDetections) -> RawDetections:
        """States of the reader's types, read again from nose-up crops of the (H, W, 3) tile."""
        reader = self.state_reader
        assert reader is not None  # called only with a state reader
        sel = np.flatnonzero(np.isin(dets.type, reader.info.applies_to))
        if not len(sel):
            return dets
        logits = reader.read(image, dets.boxes[sel]).astype(np.float64)
        ok = self._type_state_ok[[self.info.types.index(t) for t in dets.type[sel]]]
        sp = _softmax(np.where(ok, logits, -np.inf))
        s_idx = sp.argmax(1)
        state, state_score = dets.state.copy(), dets.state_score.copy()
        state[sel] = np.array(self.info.states, dtype=object)[s_idx]
        state_score[sel] = sp[np.arange(len(sel)), s_idx]
        return replace(dets, state=state, state_score=state_score)

    def decode(self, heat, box, typ, state, threshold: float, scale: int = 1) -> RawDetections:
        """Peaks above threshold -> boxes in the tile's pixels, with type and state; `scale`:
        how many times the tile was shrunk before the network saw it (boxes and sizes are
        given back at full size)."""
        pivots = self.info.pivots()
        if pivots is None:
            c, yy, xx = np.nonzero(heat > threshold)
        else:
            floors = np.array([raw_score(threshold, float(p)) for p in pivots])
            c, yy, xx = np.nonzero(heat > floors[:, None, None])
        if len(c) == 0:
            return RawDetections.empty()
        s = self.info.stride
        score = heat[c, yy, xx] if pivots is None else rescale_scores(heat[c, yy, xx], pivots[c])
        b = box[:, yy, xx].T.astype(np.float64)
        b[:, 2:4] += np.log(scale)  # the network measured a shrunk item
        cx = (xx + b[:, 0]) * s * scale
        cy = (yy + b[:, 1]) * s * scale
        length = np.exp(b[:, 2]) / self.info.gsd_m
        width = np.exp(b[:, 3]) / self.info.gsd_m
        heading = np.mod(np.degrees(np.arctan2(b[:, 4], b[:, 5])), 360.0)
        if b.shape[1] >= 8:  # an axis head: its axis, with the end the nose head points to
            axis = np.mod(np.degrees(np.arctan2(b[:, 6], b[:, 7])) / 2.0, 180.0)
            flip = np.abs(((heading - axis) + 180.0) % 360.0 - 180.0) > 90.0
            heading = np.where(flip, axis + 180.0, axis)
        # Types restricted to the detected class; states restricted to the chosen type.
        tl = typ[:, yy, xx].T.astype(np.float64)
        tl = tl + size_log_likelihood(b[:, 2], b[:, 3], self._type_sizes)
        tl = np.where(self._type_class[None, :] == c[:, None], tl, -np.inf)
        tp = _softmax(tl)
        t_idx = tp.argmax(1)
        sl = state[:, yy, xx].T.astype(np.float64)
        sl = np.where(self._type_state_ok[t_idx], sl, -np.inf)
        sp = _softmax(sl)
        s_idx = sp.argmax(1)
        names = np.array(self.info.classes, dtype=object)
        return RawDetections(
            np.column_stack([cx, cy, length, width, heading]),
            names[c], score.astype(np.float64),
            np.array(self.info.types, dtype=object)[t_idx], tp[np.arange(len(t_idx)), t_idx],
            np.array(self.info.states, dtype=object)[s_idx], sp[np.arange(len(s_idx)), s_idx],
        )


# The measured size's spread about the true one, in log units: a relative part and an
# absolute part (a pixel or two of box edge at 0.5 m weighs more on a car than on a ship).
SIZE_SIGMA_REL = 0.2
SIZE_SIGMA_ABS_M = 1.0


# Classes whose outline changes with their state more than the detector's box follows: a
# Mi-8 with its rotors off is an 18.2 x 2.5 m fuselage, not a 25.2 x 21.3 m disc, and the
# detector's box for a bare Ka-52 came out 1.2x too long and 1.8x too wide on held-out
# scenes. Where the type and the state are read at least SURE_OUTLINE surely, the box takes
# the catalogue's outline for them: helicopter AP50 0.836 -> 0.867 and 0.942 -> 0.963 on
# two fresh sets of 120 scenes (session 11; vehicles lost and aircraft, ships and air
# defence did not move, so only helicopters).
OUTLINE_FROM_STATE = ("helicopter",)
SURE_OUTLINE = 0.9


def _catalogue_outlines(type_states: dict, type_classes: dict) -> dict[tuple[str, str], tuple[float, float]]:
    """(type, state) -> the catalogue's (length, width) in metres, for the OUTLINE_FROM_STATE
    types the catalogue knows and whose outline one state fixes (not swing-wing aircraft)."""
    out = {}
    for name, states in type_states.items():
        if type_classes.get(name) not in OUTLINE_FROM_STATE or not equipment.is_known_type(name):
            continue
        t = equipment.get(name)
        if t.swept_width_m is None:
            out.update({(name, s): t.footprint(s) for s in states if s in t.states})
    return out


def _catalogue_log_sizes(types) -> list[np.ndarray]:
    """Per type, the (log length, log width) in metres of each outline it can show (its
    states, swept wings); an empty array for a type the catalogue does not know."""
    out = []
    for name in types:
        try:
            t = equipment.get(name)
        except (KeyError, ValueError):
            out.append(np.zeros((0, 2)))
            continue
        sizes = {t.footprint(st) for st in t.states} | {t.footprint(st, wings_swept=True) for st in t.states}
        out.append(np.log(np.array(sorted(sizes), dtype=np.float64)))
    return out


def size_log_likelihood(log_length: np.ndarray, log_width: np.ndarray, type_sizes: list[np.ndarray]) -> np.ndarray:
    """(N, T) log-likelihood of each detection's measured size (log metres) under each
    type's catalogue outlines (the best-fitting one), up to a constant; 0 for unknown types.

    Added to the type logits, it is Bayes' rule with the size as independent evidence: the
    network sees the shape, the catalogue knows how long an An-124 is."""
    n = len(log_length)
    out = np.zeros((n, len(type_sizes)))
    sig_l = np.hypot(SIZE_SIGMA_REL, SIZE_SIGMA_ABS_M / np.exp(log_length))
    sig_w = np.hypot(SIZE_SIGMA_REL, SIZE_SIGMA_ABS_M / np.exp(log_width))
    for k, sizes in enumerate(type_sizes):
        if len(sizes) == 0:
            continue
        dl = (log_length[:, None] - sizes[None, :, 0]) / sig_l[:, None]
        dw = (log_width[:, None] - sizes[None, :, 1]) / sig_w[:, None]
        out[:, k] = (-0.5 * (dl ** 2 + dw ** 2)).max(axis=1)
    return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    return e / e.sum(axis=1, keepdims=True)
