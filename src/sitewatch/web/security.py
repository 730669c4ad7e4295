"""The write token, and keeping request paths inside the data folder."""

from __future__ import annotations

import hmac
import re
from pathlib import Path

from fastapi import Request

from sitewatch.web.problems import Problem
from sitewatch.web.settings import TOKEN_ENV

# A file name a request may name: letters, digits, dot, dash, underscore; no leading dot.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$")


def require_token(request: Request) -> None:
    """Dependency for write endpoints: the request must carry `Authorization: Bearer <token>`
    equal to SITEWATCH_TOKEN. Without a configured token the server refuses every write."""
    expected = request.app.state.settings.token
    challenge = {"WWW-Authenticate": 'Bearer realm="sitewatch"'}
    if not expected:
        raise Problem(401, f"writes are disabled: the server was started without {TOKEN_ENV}", headers=challenge)
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise Problem(401, "this endpoint needs 'Authorization: Bearer <token>'", headers=challenge)
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise Problem(401, "the token is not valid", headers=challenge)


def safe_name(name: str, what: str = "file name") -> str:
    """A single path component that cannot climb out of its folder, else 400."""
    if not SAFE_NAME.match(name) or ".." in name:
        raise Problem(400, f"{what} {name!r} is not allowed (letters, digits, '.', '-', '_' only)")
    return name


def inside(root: Path, *parts: str) -> Path:
    """root/parts, resolved, refusing (404) anything that resolves outside root (symlinks too)."""
    base = root.resolve()
    target = base.joinpath(*parts).resolve()
    if target != base and base not in target.parents:
        raise Problem(404, "no such file")
    return target


def folder_name(site: str) -> str:
    """A site's folder under the data folder: its name with anything but [A-Za-z0-9._-]
    replaced, so a site name can never become a path."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", site).lstrip(".")
    return cleaned or "_"
