# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plans for secrets engine and auth method mounts: compare what sys/mounts or sys/auth lists with the spec.

Only what the spec states is managed: the type always, the description when given, and the
options that are given (others the server keeps are left alone). A mount of another type at the
path is a conflict, never replaced: disabling a mount destroys everything stored under it.
"""

from __future__ import annotations

from typing import Any

from .errors import VaultConflict, VaultInvalidInput
from .plan import CREATE, DELETE, NOTHING, UPDATE, Plan

# Paths Vault owns; enabling or disabling anything there is refused by the server or breaks it.
RESERVED_SECRET_PATHS = frozenset({"sys", "cubbyhole", "identity", "auth"})
RESERVED_AUTH_PATHS = frozenset({"token"})
# "kv-v2" is the CLI's shorthand; the server stores it as type kv with option version 2.
TYPE_ALIASES = {"kv-v2": ("kv", {"version": "2"}), "kv-v1": ("kv", {"version": "1"})}


def _string_options(options: dict | None) -> dict:
    """Vault stores mount options as strings: {version: 2} is read back as {"version": "2"}."""
    return {str(key): str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in (options or {}).items()}


def secrets_engine_spec(path: str, engine_type: str | None, options: dict | None, description: str | None) -> dict:
    """The normalised spec of a secrets engine; checks the path is not one Vault reserves."""
    if path.split("/", 1)[0] in RESERVED_SECRET_PATHS:
        raise VaultInvalidInput(f"path: {path!r} is reserved by Vault ({', '.join(sorted(RESERVED_SECRET_PATHS))}). "
                                "Fix: mount the engine at another path.", field="path")
    options = _string_options(options)
    if engine_type in TYPE_ALIASES:
        engine_type, implied = TYPE_ALIASES[engine_type]
        if "version" in options and options["version"] != implied["version"]:
            raise VaultInvalidInput(f"options.version {options['version']!r} contradicts engine_type "
                                    f"(version {implied['version']}). Fix: drop options.version or use engine_type kv.",
                                    field="options")
        options = {**implied, **options}
    return {"path": path, "type": engine_type, "options": options, "description": description}


def _view(info: dict, managed_options: dict | None = None) -> dict:
    options = _string_options(info.get("options"))
    if managed_options is not None:
        options = {key: options.get(key) for key in managed_options}
    return {"type": info.get("type"), "description": info.get("description") or "", "options": options}


def _conflict(kind: str, field: str, path: str, have: str, want: str) -> VaultConflict:
    return VaultConflict(
        f"{field}: {path!r} already holds {kind} of type {have!r}, not {want!r}. The module does not replace it "
        f"(disabling a mount deletes everything under it). Fix: choose another {field}, or disable the {have} "
        "mount yourself if it is really unused.", field=field, existing_type=have)


def plan_secrets_engine(current: dict | None, spec: dict, state: str) -> Plan:
    """The write that brings the mount at spec['path'] to ``state``; ``current`` is its sys/mounts entry or None."""
    path, want_type = spec["path"], spec["type"]
    if state == "absent":
        if current is None:
            return Plan(NOTHING, (), None, {}, {})
        if want_type and current.get("type") != want_type:
            raise _conflict("a secrets engine", "path", path, current.get("type"), want_type)
        return Plan(DELETE, ("mount",), None, _view(current), {})
    if current is None:
        body: dict[str, Any] = {"type": want_type, "options": spec["options"]}
        if spec["description"] is not None:
            body["description"] = spec["description"]
        after = {"type": want_type, "description": spec["description"] or "", "options": dict(spec["options"])}
        return Plan(CREATE, ("mount",), body, {}, after)
    if current.get("type") != want_type:
        raise _conflict("a secrets engine", "path", path, current.get("type"), want_type)
    before = _view(current, spec["options"])
    after = dict(before, options={**before["options"], **spec["options"]})
    changes = []
    body = {}
    if spec["description"] is not None and before["description"] != spec["description"]:
        changes.append("description")
        body["description"] = after["description"] = spec["description"]
    changed_options = sorted(key for key, value in spec["options"].items() if before["options"].get(key) != value)
    if changed_options:
        changes.extend(f"options.{key}" for key in changed_options)
        body["options"] = dict(spec["options"])
    if not changes:
        return Plan(NOTHING, (), None, before, after)
    return Plan(UPDATE, tuple(changes), body, before, after)


def plan_auth_mount(current: dict | None, path: str, method_type: str, description: str | None, state: str,
                    field: str = "mount_path") -> Plan:
    """The write that brings the auth method at ``path`` to ``state``; ``current`` is its sys/auth entry or None."""
    if path.split("/", 1)[0] in RESERVED_AUTH_PATHS:
        raise VaultInvalidInput(f"{field}: {path!r} is the token auth method Vault needs. Fix: use another path.",
                                field=field)
    if state == "absent":
        if current is None:
            return Plan(NOTHING, (), None, {}, {})
        if current.get("type") != method_type:
            raise _conflict("an auth method", field, path, current.get("type"), method_type)
        return Plan(DELETE, ("mount",), None, _view(current, {}), {})
    if current is None:
        body = {"type": method_type}
        if description is not None:
            body["description"] = description
        return Plan(CREATE, ("mount",), body, {}, {"type": method_type, "description": description or "", "options": {}})
    if current.get("type") != method_type:
        raise _conflict("an auth method", field, path, current.get("type"), method_type)
    before = _view(current, {})
    if description is not None and before["description"] != description:
        return Plan(UPDATE, ("description",), {"description": description}, before, dict(before, description=description))
    return Plan(NOTHING, (), None, before, before)
