# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``kubernetes_objects_to_apply``: the desired objects a client-side apply would change, from one LIST.

kubernetes.core.k8s with ``apply: true`` reads each object and, for a custom resource, sends a PATCH whenever the
object holds a list (it cannot merge lists of a kind it does not know), even when nothing differs. A role that has
already listed its objects can hand the apply only the ones that differ, and a run with nothing to do writes nothing.
"""

from __future__ import annotations

import json

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _held_by(desired, live) -> bool:
    """Whether every value ``desired`` sets is in ``live`` (which may hold more: defaults, status, metadata)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(key in live and _held_by(value, live[key]) for key, value in desired.items())
    if isinstance(desired, list):
        return (isinstance(live, list) and len(desired) == len(live)
                and all(_held_by(wanted, held) for wanted, held in zip(desired, live)))
    # bool is an int in Python: True must not match 1. Other types compare by value: Ansible hands a filter its
    # strings as subclasses of str (templated values carry tags), while a module's result holds plain ones.
    if isinstance(desired, bool) or isinstance(live, bool):
        return isinstance(desired, bool) and isinstance(live, bool) and desired == live
    return desired == live


def _identity(obj: dict) -> tuple:
    metadata = obj.get("metadata") or {}
    return obj.get("kind"), metadata.get("namespace") or "", metadata.get("name")


def _last_applied(live: dict):
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def kubernetes_objects_to_apply(desired, live):
    """The objects of ``desired`` that an apply would create or change, in their order.

    An object is left out only when one of ``live`` (same kind, namespace and name) holds every value it sets and
    its last-applied configuration is exactly it: the apply would then neither set a value nor remove one that an
    earlier apply set. Anything else (no such object, a value changed by hand, a field the desired object no longer
    sets, no last-applied record) keeps the object in the list.
    """
    live_by_identity = {_identity(obj): obj for obj in live or [] if isinstance(obj, dict)}
    pending = []
    for obj in desired or []:
        if not isinstance(obj, dict):
            continue  # an empty YAML document
        current = live_by_identity.get(_identity(obj))
        if current is None or _last_applied(current) != obj or not _held_by(obj, current):
            pending.append(obj)
    return pending


class FilterModule:
    """Kubernetes apply filters."""

    def filters(self):
        return {"kubernetes_objects_to_apply": kubernetes_objects_to_apply}
