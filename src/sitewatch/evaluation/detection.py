"""Detection scores: AP at rotated IoU 0.5, precision and recall, type and state accuracy.

AP is the all-point interpolated average precision (the area under the precision envelope,
as in PASCAL VOC 2010+ and DOTA), per class, over all images together. Matching is greedy
in decreasing score: each prediction takes the unmatched truth of its class with the
highest rotated IoU, if that IoU reaches the threshold. Truth marked difficult is neither
a miss nor, when matched, a false positive.

Precision and recall are also given at one operating score threshold, with type and state
accuracy over the objects matched there (only where the truth says its type or state).
"""

from __future__ import annotations

import numpy as np

from sitewatch.detect import geometry
from sitewatch.detect.labels import Labelled
from sitewatch.domain import CLASSES, UNKNOWN_TYPE

HEADING_TOLERANCE_DEG = 30.0


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP from a precision-recall curve ordered by falling score."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]  # the precision envelope
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def match_image(preds: list[Labelled], truths: list[Labelled], iou_threshold: float):
    """For each prediction (in the given order): index of the matched truth or -1, and
    -2 for a prediction that matched a difficult truth (ignored)."""
    out = np.full(len(preds), -1)
    if not preds or not truths:
        return out
    iou = geometry.rotated_iou(np.array([p.box for p in preds]), np.array([t.box for t in truths]))
    same = np.array([[p.cls == t.cls for t in truths] for p in preds])
    iou = np.where(same, iou, 0.0)
    taken = np.zeros(len(truths), bool)
    for i in np.argsort([-p.score for p in preds], kind="stable"):
        cand = np.where(~taken & (iou[i] >= iou_threshold), iou[i], -1.0)
        j = int(cand.argmax())
        if cand[j] < 0:
            continue
        taken[j] = True
        out[i] = -2 if truths[j].difficult else j
    return out


def evaluate(preds: dict[str, list[Labelled]], truths: dict[str, list[Labelled]], iou_threshold: float = 0.5,
             score_threshold: float = 0.3, classes: tuple[str, ...] = CLASSES) -> dict:
    """Scores over images (keys shared by `preds` and `truths`; a key missing on one side
    counts as an image with nothing on that side)."""
    keys = sorted(set(preds) | set(truths))
    records = []  # (class, score, matched truth or None, ignored)
    n_true = dict.fromkeys(classes, 0)
    for key in keys:
        p, t = preds.get(key, []), truths.get(key, [])
        for obj in t:
            if obj.cls in n_true and not obj.difficult:
                n_true[obj.cls] += 1
        match = match_image(p, t, iou_threshold)
        for obj, m in zip(p, match):
            records.append((obj, t[m] if m >= 0 else None, m == -2))
    per_class = {}
    for cls in classes:
        recs = sorted((r for r in records if r[0].cls == cls and not r[2]), key=lambda r: -r[0].score)
        tp = np.array([r[1] is not None for r in recs], float)
        fp = 1.0 - tp
        ctp, cfp = np.cumsum(tp), np.cumsum(fp)
        recall = ctp / n_true[cls] if n_true[cls] else np.zeros_like(ctp)
        precision = ctp / np.maximum(ctp + cfp, 1e-12)
        ap = average_precision(recall, precision) if n_true[cls] else None
        op = [r for r in recs if r[0].score >= score_threshold]
        op_tp = sum(r[1] is not None for r in op)
        per_class[cls] = {
            "ap50": None if ap is None else round(ap, 4),
            "true": n_true[cls],
            "predicted": len(op),
            "matched": op_tp,
            "precision": round(op_tp / len(op), 4) if op else None,
            "recall": round(op_tp / n_true[cls], 4) if n_true[cls] else None,
        }
    op_all = [r for r in records if r[0].score >= score_threshold and not r[2]]
    matched = [(p, t) for p, t, _ in op_all if t is not None]
    typed = [(p, t) for p, t in matched if t.type != UNKNOWN_TYPE]
    stated = [(p, t) for p, t in matched if t.state is not None]
    directed = [(p, t) for p, t in matched if t.directed]
    total_true = sum(n_true.values())
    aps = [v["ap50"] for v in per_class.values() if v["ap50"] is not None]

    def acc(pairs, ok) -> float | None:
        return round(sum(ok(p, t) for p, t in pairs) / len(pairs), 4) if pairs else None

    return {
        "ap_method": f"all-point interpolated AP, rotated IoU >= {iou_threshold:.2f}, greedy matching by score",
        "iou_threshold": iou_threshold,
        "score_threshold": score_threshold,
        "images": len(keys),
        "map50": round(float(np.mean(aps)), 4) if aps else None,
        "per_class": per_class,
        "precision": round(len(matched) / len(op_all), 4) if op_all else None,
        "recall": round(len(matched) / total_true, 4) if total_true else None,
        "type_accuracy": acc(typed, lambda p, t: p.type == t.type),
        "type_accuracy_by_class": {c: acc([(p, t) for p, t in typed if t.cls == c], lambda p, t: p.type == t.type)
                                   for c in classes},
        "state_accuracy": acc(stated, lambda p, t: p.state == t.state),
        "heading_accuracy": acc(directed, lambda p, t: geometry.heading_error(p.box[4], t.box[4]) <= HEADING_TOLERANCE_DEG),
        "heading_tolerance_deg": HEADING_TOLERANCE_DEG,
        "matched": len(matched),
        "counts": {c: {"predicted": per_class[c]["predicted"], "true": n_true[c]} for c in classes},
    }
