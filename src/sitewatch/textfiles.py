"""Reading users' text files (site GeoJSON, scenarios, rules, labels, truth) so that a bad
file is one InputError naming it: unreadable, not UTF-8, or YAML whose values do not
construct (a date like 2024-13-45)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from sitewatch.errors import InputError


def read_text(path: str | Path, error: type[InputError] = InputError) -> str:
    """The file's text as UTF-8, or an error (InputError or a subclass) naming the file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(str(path), f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})") from None
    except OSError as exc:
        raise error(str(path), f"cannot read the file ({exc.strerror or exc})") from None


class _NotFinite(ValueError):
    """A number JSON does not have: NaN, Infinity, or a literal too large for a float."""


def _refuse_constant(name: str) -> float:
    raise _NotFinite(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"{text} is too large for a number")
    return value


def read_json(path: str | Path) -> Any:
    """The file's JSON document, or an InputError naming the file: unreadable, not UTF-8,
    not JSON (with the line), a number that is not finite (Python's json reads NaN,
    Infinity and 1e999 without complaint; no file of ours holds them), or nested too
    deeply for the parser."""
    text = read_text(path)
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except _NotFinite as exc:
        raise InputError(str(path), f"not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError(str(path), "not valid JSON (nested too deeply)") from None


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader, but a value that looks like a date and is none (2024-13-45) is a
    YAML error at its line and column, not a ValueError from inside the loader."""


def _timestamp(loader: _Loader, node: yaml.Node):
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError) as exc:
        raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not a date ({exc})",
                                                node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def safe_load_yaml(text: str):
    """yaml.safe_load that raises only yaml.YAMLError for bad input."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
