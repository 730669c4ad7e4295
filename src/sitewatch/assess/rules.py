"""The posture rules file (`assess/rules.yaml`): its schema and loader.

The rules are data, so an analyst can read and change them without touching code. A bad
file fails with an InputError naming the file and the field.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sitewatch.domain import CLASSES, EVENT_KINDS, STATES
from sitewatch.equipment import ROLES
from sitewatch.errors import InputError
from sitewatch.textfiles import read_text, safe_load_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Where(_Strict):
    classes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    from_states: tuple[str, ...] = ()


class Indicator(_Strict):
    text: str
    kind: Literal["events", "present", "reduced", "regions"]
    events: tuple[str, ...] = ()
    where: Where = Field(default_factory=Where)
    min_count: int = 1
    min_fraction: float = 0.0
    min_area_m2: float = 0.0
    zone_kinds: tuple[str, ...] = ()
    supports: Literal["withdrawal", "buildup", "activity"]
    weight: float = 1.0


class PostureRule(_Strict):
    min_score: float
    margin: float
    phrase: str


class LikelihoodRow(_Strict):
    word: Literal["almost certainly", "likely", "roughly even chance", "unlikely"]
    min_score: float
    min_indicators: int
    min_looks: int


class ConfidenceRow(_Strict):
    level: Literal["high", "moderate", "low"]
    min_looks: int
    min_quality: float
    min_detection: float


class Caveats(_Strict):
    always: tuple[str, ...] = ()
    two_looks: str = ""
    withdrawal: str = ""
    buildup: str = ""
    largely_unchanged: str = ""
    low_quality: str = ""
    changed_throughout: str = ("The images of {before} and {after} differ throughout; pixel change "
                               "between them was not assessed.")
    blurred: str = ("The image of {date} is blurred (its sharpest edges spread over about {blur_m:.1f} m): "
                    "vehicles are under-counted on it.")
    coarse: str = ("The image of {date} is {gsd_m:.2f} m: most vehicles found on it are false, so vehicle "
                   "changes measured against it are weak evidence.")
    disputed: str = ("{count} finding(s) are disputed between sources ({events}); confidence is lowered "
                     "one step until another look settles them.")
    confirmed: str = ("Every finding behind the judgement is confirmed by two or more independent sources; "
                      "confidence is raised one step.")


class Rules(_Strict):
    min_event_confidence: float = 0.5
    # With no posture, "largely unchanged" is likely while the changes that confident events
    # stand for (`posture.changes_on_the_ground`) stay at most this many, or this share of
    # the items seen.
    unchanged_max_events: int = 2
    unchanged_max_share: float = 0.1
    indicators: dict[str, Indicator]
    postures: dict[Literal["withdrawal", "buildup"], PostureRule]
    likelihood: tuple[LikelihoodRow, ...]
    confidence: tuple[ConfidenceRow, ...]
    caveats: Caveats = Field(default_factory=Caveats)


def _check_vocabulary(rules: Rules, source: str) -> None:
    for name, ind in rules.indicators.items():
        w = ind.where
        for field, values, allowed in (("classes", w.classes, CLASSES), ("roles", w.roles, ROLES),
                                       ("states", w.states, STATES), ("from_states", w.from_states, STATES),
                                       ("events", ind.events, EVENT_KINDS)):
            bad = [v for v in values if v not in allowed]
            if bad:
                raise InputError(source, f"indicators.{name}.{field}: unknown {', '.join(map(repr, bad))}")
        if ind.kind == "events" and not ind.events:
            raise InputError(source, f"indicators.{name}.events: an events indicator must list event kinds")
    for name, text, fields in (("changed_throughout", rules.caveats.changed_throughout,
                                {"before": "1 Dec 2024", "after": "5 Dec 2024"}),
                               ("blurred", rules.caveats.blurred, {"date": "1 Dec 2024", "blur_m": 0.9}),
                               ("coarse", rules.caveats.coarse, {"date": "1 Dec 2024", "gsd_m": 0.8})):
        try:
            text.format(**fields)
        except (KeyError, IndexError, ValueError) as exc:
            names = " and ".join(f"{{{f}}}" for f in fields)
            raise InputError(source, f"caveats.{name}: only {names} may be filled in ({exc!r})") from None


def load_rules(path: str | Path | None = None) -> Rules:
    """The rules from a YAML file, or the shipped `assess/rules.yaml`."""
    if path is None:
        ref = resources.files("sitewatch.assess") / "rules.yaml"
        source, text = "sitewatch/assess/rules.yaml", ref.read_text(encoding="utf-8")
    else:
        source, text = str(path), read_text(path)
    try:
        raw = safe_load_yaml(text)
    except yaml.YAMLError as exc:
        raise InputError(source, f"not valid YAML: {exc}") from None
    try:
        rules = Rules.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(source, f"{where}: {err['msg']}") from None
    _check_vocabulary(rules, source)
    return rules
