"""ONNX Runtime sessions of the detector and its second-look companions, opened with a
clear error naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnxruntime as ort

from sitewatch.errors import ModelError


def open_session(path: Path, threads: int) -> ort.InferenceSession:
    """An ONNX Runtime CPU session of a model file; ModelError names the file when it is
    missing or unreadable. threads 0: ONNX Runtime's default."""
    path = Path(path)
    if not path.exists():
        raise ModelError(str(path), "model file not found")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle model threads sleep rather than spin: tiles are read on another thread, and a
    # spinning pool takes the cores that reading needs (bench/bench_detect.py: end to end
    # about 7% faster, the bare model about 3% slower).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types for corrupt files
        raise ModelError(str(path), f"not a readable ONNX model ({str(exc).splitlines()[0][:200]})") from exc


def open_companion(path: Path, format_tag: str, threads: int) -> tuple[Any, dict[str, str]]:
    """The session and metadata of a second-look model beside a detector, refused by name
    unless its metadata carries `format_tag`."""
    session = open_session(path, threads)
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("format") != format_tag:
        raise ModelError(str(path), f"not a {format_tag.split('/')[0]} model (format {meta.get('format')!r})")
    return session, meta


def companion_names(meta: dict[str, str], key: str) -> list[str]:
    """The companion file names a detector's metadata gives under `key` (comma-separated
    where a key may name several, as box_refiner and hull_refiner do)."""
    return [name.strip() for name in meta.get(key, "").split(",") if name.strip()]
