# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plans for ACL policies. Plain Python, no I/O.

Vault stores a policy's text as sent, so texts are compared after normalising only what cannot
matter: line endings and trailing blank space. The server checks the HCL itself on write.
"""

from __future__ import annotations

import re

from .errors import VaultInvalidInput
from .plan import CREATE, DELETE, NOTHING, UPDATE, Plan

# Vault lower-cases policy names; we require them lower case so the name read back is the name given.
POLICY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.@+=-]*$")
# Built-in policies: "root" cannot be changed at all, "default" cannot be deleted.
UNMANAGEABLE_POLICIES = frozenset({"root"})
UNDELETABLE_POLICIES = frozenset({"default"})


def policy_name(value: object, field: str = "name") -> str:
    name = str(value or "")
    if not POLICY_NAME.match(name) or len(name) > 128:
        raise VaultInvalidInput(f"{field}: {value!r} is not a policy name Vault keeps as given. Fix: use lower-case "
                                "letters, digits and - _ . (at most 128 characters).", field=field)
    if name in UNMANAGEABLE_POLICIES:
        raise VaultInvalidInput(f"{field}: the root policy is built in and cannot be managed. Fix: choose another "
                                "name.", field=field)
    return name


def normalise_policy_text(text: object) -> str:
    """The policy text with LF line endings, no trailing space on lines, and exactly one final newline."""
    lines = [line.rstrip() for line in str(text or "").replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n") + "\n"


def plan_policy(current_text: str | None, name: str, text: str | None, state: str) -> Plan:
    """The write that brings policy ``name`` to ``state``; ``current_text`` is its stored text or None."""
    before = {} if current_text is None else {"name": name, "policy": normalise_policy_text(current_text)}
    if state == "absent":
        if current_text is None:
            return Plan(NOTHING, (), None, before, {})
        if name in UNDELETABLE_POLICIES:
            raise VaultInvalidInput(f"name: the {name} policy is built in and cannot be deleted. Fix: manage its "
                                    "text with state=present instead.", field="name")
        return Plan(DELETE, ("policy",), None, before, {})
    if text is None or not str(text).strip():
        raise VaultInvalidInput("policy is required with state=present and must not be empty. Fix: give the HCL "
                                "text of the policy.", field="policy")
    wanted = normalise_policy_text(text)
    after = {"name": name, "policy": wanted}
    if current_text is None:
        return Plan(CREATE, ("policy",), {"policy": wanted}, before, after)
    if before["policy"] == wanted:
        return Plan(NOTHING, (), None, before, before)
    return Plan(UPDATE, ("policy",), {"policy": wanted}, before, after)
