"""Training loop for the oriented CenterNet (needs the `train` extra: torch, onnx).

`train(config)` reads a chip folder (ours, or YOLO-OBB/DOTA text labels), trains with
domain-randomising augmentation, saves a checkpoint every `checkpoint_minutes` and at the
end (resuming from it when asked), and exports the ONNX model with its metadata.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from sitewatch.domain import CLASSES
from sitewatch.errors import InputError
from sitewatch.evaluation.real_pixels import FUSELAGE_SHARE, WING_CHORD_SHARE
from sitewatch.training import targets as tg
from sitewatch.training.export import export_onnx, metadata
from sitewatch.training.from_onnx import FOLDED_BN, network_from_onnx
from sitewatch.training.network import STRIDE, OrientedCenterNet, build_network, normalise_input


@dataclass
class TrainConfig:
    data: list[str]
    out: str = "runs/detect/model.onnx"
    checkpoint: str = "runs/detect/checkpoint.pt"
    resume: bool = False
    steps: int = 2000
    batch: int = 8
    chip: int = 320
    lr: float = 2e-3
    gsd_m: float = 0.5
    data_gsd: float | None = None  # for text labels without our meta
    class_map: dict[str, str] | None = None
    pretrained: bool = True
    threads: int = 2
    seed: int = 0
    checkpoint_minutes: float = 5.0
    # Stem and the first N Lite0 blocks (strides 2-4) keep their ImageNet weights: generic
    # edge and texture filters, the costliest layers to back-propagate (about 3x faster
    # steps on this CPU) and the ones most prone to fitting the simulator's look.
    freeze_blocks: int = 3
    minutes: float | None = None  # wall-clock budget: the schedule follows time, training stops when it is spent
    # Fine-tuning: start from this checkpoint's weights with a fresh optimiser and schedule
    # (unlike resume, which continues the same run).
    init_from: str | None = None
    model_id: str = "sitewatch-ocn"
    version: str = "0.1.0"
    tile_overlap_px: int = 128
    # Weight of a second centre loss: the error along and across the object's axis as a
    # share of its length and width, which is what rotated IoU feels. The plain offset loss
    # counts a 0.5 m miss the same on a car and on an An-124; this term weighs it by the
    # car's size (0 turns it off, as in stages 1-3 of the shipped model).
    offset_by_size: float = 0.0
    sensor_look: bool = False  # augment with a satellite product's look (targets.sensor_look)
    # An axis-aligned (unsized) label teaches the size through the box around the predicted
    # outline (`outline_extent`); off, such a label teaches the centre only.
    outline_size: bool = True
    # The box around the predicted outline also turns the predicted heading (off: the heading
    # is held fixed there, and where it is off the size grows to fill the label instead).
    outline_heading: bool = False
    extra: dict = field(default_factory=dict)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of centres.

    mask: (B, C) True where a chip's labels are complete for a class; the other channels
    are left out (a real airport chip boxes aircraft only, so its cars teach nothing)."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    neg = 1.0 - pos
    if mask is not None:
        keep = mask.float()[:, :, None, None]
        pos, neg = pos * keep, neg * keep
    pos_loss = -torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = -torch.log(1 - p) * p ** 2 * (1 - target) ** 4 * neg
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1.0)


def _gather(t: torch.Tensor, batch_idx: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """(K, C) values of a (B, C, h, w) map at given batch items and flat cells."""
    b, c, h, w = t.shape
    return t.permute(0, 2, 3, 1).reshape(b, h * w, c)[batch_idx, cell]


def relative_centre_error(pred_offset: torch.Tensor, target_offset: torch.Tensor, logsize: torch.Tensor,
                          sincos: torch.Tensor, cell_m: float) -> torch.Tensor:
    """(K,) centre error along the object's axis over its length plus across it over its
    width. Offsets are in cells (x right, y down); headings clockwise from image up."""
    err = (pred_offset - target_offset) * cell_m
    sin, cos = sincos[:, 0], sincos[:, 1]
    along = err[:, 0] * sin - err[:, 1] * cos
    across = err[:, 0] * cos + err[:, 1] * sin
    return along.abs() / logsize[:, 0].exp() + across.abs() / logsize[:, 1].exp()


def outline_extent(logsize: torch.Tensor, sincos: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
    """(K, 2) log width and height of the image-axis-aligned box around each predicted
    outline: a rectangle, or for `cross` a fuselage and wing cross as the real-pixel scoring
    draws it (`evaluation.real_pixels.map_aabb`)."""
    length, width = logsize[:, 0].exp(), logsize[:, 1].exp()
    s, c = sincos[:, 0].abs(), sincos[:, 1].abs()

    def rect(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return a * s + b * c, a * c + b * s

    rx, ry = rect(length, width)
    fx, fy = rect(length, FUSELAGE_SHARE * length)
    wx, wy = rect(WING_CHORD_SHARE * length, width)
    x = torch.where(cross, torch.maximum(fx, wx), rx)
    y = torch.where(cross, torch.maximum(fy, wy), ry)
    return torch.stack([x, y], dim=1).clamp(min=1e-3).log()


def compute_loss(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], offset_by_size: float = 0.0,
                 cell_m: float = STRIDE * 0.5, outline_heading: bool = False) -> dict[str, torch.Tensor]:
    heat = focal_loss(out["heat"], batch["heat"], batch.get("heat_mask"))
    bi, cell, wgt = batch["reg_batch"], batch["reg_index"], batch["reg_weight"]
    # Size and axis learn only from labels that give them (not from axis-aligned real boxes).
    swgt = wgt * batch["sized"].float() if "sized" in batch else wgt
    snorm = swgt.sum().clamp(min=1.0)
    zero = out["heat"].sum() * 0.0
    if len(cell) == 0:
        return {"heat": heat, "box": zero, "type": zero, "state": zero, "total": heat}
    box = _gather(out["box"], bi, cell)
    norm = wgt.sum().clamp(min=1.0)
    offset = (F.l1_loss(box[:, 0:2], batch["offset"], reduction="none").sum(1) * wgt).sum() / norm
    if offset_by_size:
        rel = relative_centre_error(box[:, 0:2], batch["offset"], batch["logsize"], batch["sincos"], cell_m)
        offset = offset + offset_by_size * (rel * wgt).sum() / norm
    size = (F.l1_loss(box[:, 2:4], batch["logsize"], reduction="none").sum(1) * swgt).sum() / snorm
    sc = F.normalize(box[:, 4:6], dim=1)
    if "extent" in batch:
        # An axis-aligned label still bounds the size: the box around the predicted outline,
        # at the predicted heading, must match it. The label cannot tell the heading (a
        # mirror image fits as well), so by default the heading is held fixed here.
        awgt = wgt - swgt
        if float(awgt.sum()) > 0:
            ext = outline_extent(box[:, 2:4], sc if outline_heading else sc.detach(), batch["cross"])
            aabb = (F.l1_loss(ext, batch["extent"], reduction="none").sum(1) * awgt).sum() / awgt.sum()
            size = size + aabb
    d_fwd = (sc - batch["sincos"]).abs().sum(1)
    d_any = torch.minimum(d_fwd, (sc + batch["sincos"]).abs().sum(1))
    heading = (torch.where(batch["directed"], d_fwd, d_any) * swgt).sum() / snorm
    if "axis" in out:
        t = batch["sincos"]
        axis_t = torch.stack([2 * t[:, 0] * t[:, 1], t[:, 1] ** 2 - t[:, 0] ** 2], dim=1)
        ax = F.normalize(_gather(out["axis"], bi, cell), dim=1)
        heading = heading + ((ax - axis_t).abs().sum(1) * swgt).sum() / snorm
    typ = _masked_ce(_gather(out["type"], bi, cell), batch["type"], wgt)
    state = _masked_ce(_gather(out["state"], bi, cell), batch["state"], wgt)
    total = heat + offset + size + heading + typ + state
    return {"heat": heat, "box": offset + size + heading, "type": typ, "state": state, "total": total}


def _masked_ce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    known = target >= 0
    if not known.any():
        return logits.sum() * 0.0
    ce = F.cross_entropy(logits[known], target[known], reduction="none")
    return (ce * weight[known]).sum() / weight[known].sum().clamp(min=1.0)


class ChipStream:
    """Endless augmented batches from one or more chip folders, read lazily."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.items = []
        for d in cfg.data:
            self.items += tg.load_chip_dir(Path(d), cfg.gsd_m, cfg.data_gsd, cfg.class_map)
        self.rng = np.random.default_rng(cfg.seed)

    def batch(self) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        images, heats, regs = [], [], []
        for b in range(cfg.batch):
            img_path, lab_path, kind = self.items[int(self.rng.integers(len(self.items)))]
            s = tg.read_sample(img_path, lab_path, kind, cfg.gsd_m, cfg.data_gsd, cfg.class_map)
            s = tg.augment(s, self.rng, cfg.chip, cfg.sensor_look)
            t = tg.build_targets(s, len(CLASSES), STRIDE, cfg.gsd_m)
            images.append(s.image)
            heats.append(t["heat"])
            regs.append((b, t))
        out = {
            "image": normalise_input(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()),
            "heat": torch.from_numpy(np.stack(heats)),
            "heat_mask": torch.from_numpy(np.stack([t["heat_mask"] for _, t in regs])),
            "reg_batch": torch.from_numpy(np.concatenate([np.full(len(t["reg_index"]), b) for b, t in regs])),
        }
        keys = ["reg_index", "reg_weight", "offset", "logsize", "sincos", "type", "state", "directed", "sized"]
        for key in keys + (["extent", "cross"] if cfg.outline_size else []):
            out[key] = torch.from_numpy(np.concatenate([t[key] for _, t in regs]))
        return out


def _frozen_modules(net: OrientedCenterNet, blocks: int) -> list[torch.nn.Module]:
    if blocks <= 0:
        return []
    return [net._conv_stem, net._bn0, *net._blocks[:blocks]]


def train(cfg: TrainConfig, progress: Callable[[int, int, dict], None] | None = None) -> dict:
    """Train (or resume) and export; returns the training summary."""
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    stream = ChipStream(cfg)
    net, loaded = build_network(cfg.pretrained and not cfg.resume and not cfg.init_from)
    folded = False  # batch norms folded into the convolutions (`from_onnx`): their statistics stay frozen
    if cfg.init_from and not cfg.resume:
        src = Path(cfg.init_from)
        if not src.exists():
            raise InputError(str(src), "no checkpoint to fine-tune from")
        if src.suffix == ".onnx":  # a shipped detector: its weights, batch norms folded
            net.load_state_dict(network_from_onnx(src).state_dict())
            folded = True
        else:
            start = torch.load(src, map_location="cpu", weights_only=True)
            net.load_state_dict(start["net"])
            loaded = start.get("pretrained_tensors", 0)
            folded = bool(start.get(FOLDED_BN))
    frozen = _frozen_modules(net, cfg.freeze_blocks)
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    # All parameters stay in the optimiser (frozen ones never get a gradient), so a
    # checkpoint resumes whatever the freezing.
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    step, history, seconds = 0, [], 0.0
    ckpt = Path(cfg.checkpoint)
    if cfg.resume:
        if not ckpt.exists():
            raise InputError(str(ckpt), "no checkpoint to resume from")
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        missing, _ = net.load_state_dict(state["net"], strict=False)
        if missing:  # a head added since the checkpoint: it starts fresh, and so does the optimiser
            print(f"resuming without {', '.join(missing)} (new in this network); optimiser state reset")
        else:
            opt.load_state_dict(state["opt"])
        step, history, seconds = state["step"], state["history"], state.get("seconds", 0.0)
        folded = bool(state.get(FOLDED_BN))
        loaded = state.get("pretrained_tensors", 0)
        stream.rng = np.random.default_rng(cfg.seed + step)

    def done_fraction(s: int) -> float:
        """Share of the run behind us: by steps, or by time when a budget is set (on a
        shared CPU the step rate varies, so a time budget keeps the schedule whole)."""
        f = s / max(1, cfg.steps)
        if cfg.minutes:
            f = max(f, seconds / (cfg.minutes * 60.0))
        return min(1.0, f)

    def lr_at(s: int) -> float:
        warm = min(1.0, (s + 1) / 100)
        return cfg.lr * warm * 0.5 * (1 + math.cos(math.pi * done_fraction(s)))

    def save() -> None:
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "step": step, "history": history,
                    "seconds": seconds, "config": asdict(cfg), "pretrained_tensors": loaded, FOLDED_BN: folded},
                   ckpt.with_suffix(".tmp"))
        ckpt.with_suffix(".tmp").replace(ckpt)

    net.train()
    for module in frozen:
        module.eval()  # frozen batch-norm statistics too
    if folded:
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()
    last_save = time.monotonic()
    running: dict[str, float] = {}
    while done_fraction(step) < 1.0:
        t0 = time.monotonic()
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        batch = stream.batch()
        losses = compute_loss(net(batch["image"]), batch, cfg.offset_by_size, STRIDE * cfg.gsd_m, cfg.outline_heading)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        step += 1
        seconds += time.monotonic() - t0
        for k, v in losses.items():
            running[k] = 0.98 * running.get(k, v.item()) + 0.02 * v.item()
        if step % 50 == 0 or done_fraction(step) >= 1.0:
            history.append({"step": step, **{k: round(v, 4) for k, v in running.items()}})
        if progress:
            progress(step, cfg.steps, running)
        if time.monotonic() - last_save > cfg.checkpoint_minutes * 60:
            save()
            last_save = time.monotonic()
    save()
    summary = {
        "data": [str(Path(d)) for d in cfg.data],
        "chips": len(stream.items),
        "steps": step,
        "batch": cfg.batch,
        "chip_px": cfg.chip,
        "cpu_seconds_wall": round(seconds, 1),
        "pretrained_lite0_tensors": loaded,
        "frozen_lite0_blocks": cfg.freeze_blocks,
        "offset_by_size": cfg.offset_by_size,
        "sensor_look": cfg.sensor_look,
        "outline_size": cfg.outline_size,
        "outline_heading": cfg.outline_heading,
        "final_loss": history[-1] if history else {},
    }
    for d in cfg.data:
        info = Path(d) / "dataset.json"
        if info.exists():
            summary.setdefault("datasets", []).append(json.loads(info.read_text()))
    return summary


def export(cfg: TrainConfig, summary: dict, metrics: dict | None = None) -> Path:
    """Export the checkpoint's network to cfg.out with its metadata."""
    state = torch.load(cfg.checkpoint, map_location="cpu", weights_only=True)
    net, _ = build_network(False)
    net.load_state_dict(state["net"], strict=False)
    net.eval()
    meta = metadata(cfg.model_id, cfg.version, cfg.gsd_m, 1024, cfg.tile_overlap_px, summary, metrics or {})
    return export_onnx(net, Path(cfg.out), meta, cfg.chip)
