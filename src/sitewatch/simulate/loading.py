"""Reading a scenario: YAML or a mapping, checked for shape (`scenario`'s models) and for
meaning (`checks`); every problem is reported at once, each naming its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sitewatch.errors import ScenarioError
from sitewatch.simulate.checks import semantic_problems
from sitewatch.simulate.scenario import Scenario
from sitewatch.textfiles import read_text, safe_load_yaml


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _pydantic_problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        msg = err["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling against the scenario format in the README)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        problems.append(f"{_loc(err['loc'])}: {msg}")
    return problems


def scenario_error(source: str, problems: list[str]) -> ScenarioError:
    """One ScenarioError carrying every problem (as `.problems`), on one line."""
    text = problems[0] if len(problems) == 1 else f"{len(problems)} problems: " + "; ".join(problems)
    err = ScenarioError(source, text)
    err.problems = list(problems)  # type: ignore[attr-defined]
    return err


def load_scenario(source: str | Path | dict[str, Any] | Scenario) -> tuple[Scenario, str]:
    """Read and validate a scenario. Returns it and a label for messages (the file path,
    or "<scenario>" for in-memory input). Raises ScenarioError naming every bad field."""
    if isinstance(source, Scenario):
        problems = semantic_problems(source)
        if problems:
            raise scenario_error("<scenario>", problems)
        return source, "<scenario>"
    data: Any
    if isinstance(source, dict):
        label, data = "<scenario>", source
    else:
        label = str(source)
        text = read_text(source, ScenarioError)
        try:
            data = safe_load_yaml(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            raise ScenarioError(label, f"{where}not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, dict):
        raise ScenarioError(label, "the top level must be a mapping with a `sites` list")
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise scenario_error(label, _pydantic_problems(exc)) from None
    problems = semantic_problems(sc)
    if problems:
        raise scenario_error(label, problems)
    return sc, label
