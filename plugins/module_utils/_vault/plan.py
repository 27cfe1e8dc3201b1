# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every object's plan looks like, and the small parsers the plans share. Plain Python, no I/O."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from .errors import VaultInvalidInput

CREATE = "create"
UPDATE = "update"
DELETE = "delete"
NOTHING = "none"

# Vault's duration strings: an integer number of seconds, or numbers with units, e.g. "1h30m", "90s".
DURATION_PART = re.compile(r"(\d+)(h|m|s)")
DURATION_UNITS = {"h": 3600, "m": 60, "s": 1}
# A mount path: segments of letters, digits, '-', '_' and '.', separated by single '/'.
MOUNT_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


class Plan(NamedTuple):
    """The one write an object needs (or NOTHING), why, and the managed view before and after it."""

    action: str
    changes: tuple
    body: dict | None
    before: dict
    after: dict

    @property
    def changed(self) -> bool:
        return self.action != NOTHING


def duration_seconds(value: Any, field: str) -> int:
    """Seconds in a Vault duration (900, "900", "15m", "1h30m"); raises naming ``field`` when it is not one."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int) and value >= 0:
        return value
    text = str(value).strip() if value is not None else ""
    if text.isdigit():
        return int(text)
    parts = DURATION_PART.findall(text)
    if text and parts and "".join(number + unit for number, unit in parts) == text:
        return sum(int(number) * DURATION_UNITS[unit] for number, unit in parts)
    raise VaultInvalidInput(f"{field}: {value!r} is not a duration. Fix: give seconds (900) or a duration with "
                            "h, m and s units such as 15m or 1h30m.", field=field)


def mount_path(value: Any, field: str) -> str:
    """A mount path without leading or trailing '/'; raises naming ``field`` when Vault would not take it."""
    text = str(value or "").strip().strip("/")
    if not text or not MOUNT_PATH.match(text):
        raise VaultInvalidInput(f"{field}: {value!r} is not a mount path. Fix: use letters, digits, '-', '_' and '.', "
                                "with '/' only between segments, for example tenants or kubernetes-us-east-1.",
                                field=field)
    return text
