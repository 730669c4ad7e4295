"""Names of sites and zones, and the files built from them.

A site's name becomes part of file names (aligned GeoTIFFs, reports, run folders), so a
name is checked once, where it enters (a site GeoJSON, a scenario), against one safe
pattern and length; and every file path built from a name is checked to stay inside the
folder it was meant for, so a name stored before these checks cannot climb out either.
"""

from __future__ import annotations

import re
from pathlib import Path

from sitewatch.errors import InputError

NAME_MAX = 64
# Letters, digits and '_', '-', '.' not first: one harmless path component on every OS.
NAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.\-]{{0,{NAME_MAX - 1}}}$"
_NAME = re.compile(NAME_PATTERN)


def check_name(value: object, source: str, field: str) -> str:
    """value if it is a safe name, else an InputError naming the source and the field."""
    if not isinstance(value, str) or not value:
        raise InputError(source, f"{field}: needs a name")
    if len(value) > NAME_MAX:
        raise InputError(source, f"{field}: a name has at most {NAME_MAX} characters, got {len(value)}")
    if not _NAME.match(value):
        raise InputError(source, f"{field}: {value!r} is not allowed as a name (letters, digits, '_', '-' "
                         "and '.' not first)")
    return value


def path_inside(folder: str | Path, file_name: str) -> Path:
    """folder/file_name, refused (InputError) when it is not a plain file name or would
    resolve outside folder (through '..', '/' or a symbolic link)."""
    base = Path(folder).resolve()
    target = (base / file_name).resolve()
    if Path(file_name).name != file_name or target.parent != base:
        raise InputError(str(folder), f"{file_name!r} would be written outside the folder")
    return Path(folder) / file_name
