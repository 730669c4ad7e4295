"""Bundled scenarios (package data). `scenario_path()` gives the demo's file."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DEMO = "khmeimim-tartus-2024-12"


def scenario_path(name: str = DEMO) -> Path:
    """The path of a bundled scenario by name (without .yaml)."""
    p = Path(str(files(__name__).joinpath(f"{name}.yaml")))
    if not p.is_file():
        known = sorted(q.stem for q in Path(str(files(__name__))).glob("*.yaml"))
        raise FileNotFoundError(f"no bundled scenario {name!r}; bundled: {', '.join(known)}")
    return p
