"""A seeded mutator for fuzzing sitewatch's parsers (issue 29): it takes one valid input and
makes hostile variants of it, each a few mutations away: bit flips, truncations, deleted,
inserted or repeated bytes, numbers replaced by huge, negative, NaN or infinite ones, and
values of the parsed document swapped for other types or removed.

The same seed gives the same inputs, so a failure reproduces from its number alone.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable
from typing import Any

import yaml

# Values a document's node may be swapped for: other types, extremes, non-finite numbers,
# strings that look like numbers, dates or paths.
HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, -1e308, 1e308, 10 ** 40, -(10 ** 40), 1e-320, float("nan"), float("inf"),
    float("-inf"), "", " ", "x", "nan", "inf", "-1", "1e999", "0x10", "2024-13-45", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-14:00", "../../../x", "a/b", "[bold]x", "x" * 300, "\u00e9\u0000\ufffd", [], {}, [[]],
    [None], {"": None}, [1, 2], [[1, 2], [3, 4]], {"type": "Feature"},
]
# Text that replaces a number written in the input.
HOSTILE_NUMBERS = ["NaN", "nan", ".nan", "Infinity", "-Infinity", "inf", ".inf", "-.inf", "1e309", "-1e309",
                   "-1", "0", "-0", "1e-400", "99999999999999999999999999", "-99999999999999999999", "1_0",
                   "0x7f", "3.5", "1e5", "\"5\"", "true", "null"]
SPECIAL_BYTES = b'{}[]:,"\'\n\t -0.eE+#&*!|>%@`\\\x00\xff'
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


# --- mutations of bytes --------------------------------------------------------------------

def _flip_bit(rng: random.Random, data: bytearray) -> None:
    i = rng.randrange(len(data))
    data[i] ^= 1 << rng.randrange(8)


def _truncate(rng: random.Random, data: bytearray) -> None:
    del data[rng.randrange(len(data)):]


def _delete(rng: random.Random, data: bytearray) -> None:
    i = rng.randrange(len(data))
    del data[i:i + rng.randint(1, 32)]


def _insert(rng: random.Random, data: bytearray) -> None:
    i = rng.randrange(len(data) + 1)
    data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))


def _special(rng: random.Random, data: bytearray) -> None:
    data[rng.randrange(len(data))] = rng.choice(SPECIAL_BYTES)


def _repeat(rng: random.Random, data: bytearray) -> None:
    i = rng.randrange(len(data))
    piece = data[i:i + rng.randint(1, 64)]
    j = rng.randrange(len(data) + 1)
    data[j:j] = piece * rng.randint(1, 20)


BYTE_MUTATIONS: list[Callable[[random.Random, bytearray], None]] = [
    _flip_bit, _truncate, _delete, _insert, _special, _repeat]


def mutate_bytes(rng: random.Random, data: bytes, times: int = 1) -> bytes:
    out = bytearray(data)
    for _ in range(times):
        if not out:
            out.extend(bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))))
        rng.choice(BYTE_MUTATIONS)(rng, out)
    return bytes(out)


def mutate_number(rng: random.Random, data: bytes) -> bytes:
    """One number written in data replaced by a hostile one."""
    found = list(_NUMBER.finditer(data))
    if not found:
        return mutate_bytes(rng, data)
    m = rng.choice(found)
    return data[:m.start()] + rng.choice(HOSTILE_NUMBERS).encode() + data[m.end():]


# --- mutations of a parsed document -----------------------------------------------------------

def _places(doc: Any, path: tuple = ()) -> list[tuple]:
    """Every path into doc (dict keys and list indices), the root included."""
    out = [path]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.extend(_places(v, (*path, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.extend(_places(v, (*path, i)))
    return out


def _swapped(rng: random.Random, value: Any) -> Any:
    """value as another type, or a hostile value."""
    choices = [lambda: rng.choice(HOSTILE_VALUES), lambda: [value], lambda: {"v": value}, lambda: str(value)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        choices += [lambda: -value, lambda: value * 1e12, lambda: value + 0.5]
    if isinstance(value, list) and value:
        choices += [lambda: value[:-1], lambda: value * 50, lambda: value[0]]
    return rng.choice(choices)()


def mutate_tree(rng: random.Random, doc: Any) -> Any:
    """A copy of doc with one node swapped, removed or repeated."""
    doc = copy.deepcopy(doc)
    path = rng.choice(_places(doc))
    if not path:
        return _swapped(rng, doc)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    action = rng.random()
    if action < 0.2:
        del parent[key]
    elif action < 0.3 and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    else:
        parent[key] = _swapped(rng, parent[key])
    return doc


def dump_json(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


def dump_yaml(doc: Any) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode()


def dump_lines(doc: Any) -> bytes:
    """Lines of whitespace-separated fields (label files) from a list of lists."""
    if not isinstance(doc, list):
        return str(doc).encode()
    rows = [" ".join(str(v) for v in (r if isinstance(r, list) else [r])) for r in doc]
    return "\n".join(rows).encode("utf-8", "surrogatepass")


def mutations(seed: bytes, doc: Any, dump: Callable[[Any], bytes], count: int, rng_seed: int):
    """count hostile variants of seed (whose parsed form is doc, written back by dump)."""
    rng = random.Random(rng_seed)
    for _ in range(count):
        kind = rng.random()
        if kind < 0.3:
            yield mutate_bytes(rng, seed, rng.randint(1, 3))
        elif kind < 0.5:
            yield mutate_number(rng, seed)
        elif kind < 0.9:
            tree = doc
            for _ in range(rng.randint(1, 3)):
                tree = mutate_tree(rng, tree)
            yield dump(tree)
        else:
            yield mutate_bytes(rng, dump(mutate_tree(rng, doc)))
