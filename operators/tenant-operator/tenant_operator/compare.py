"""Decide whether a live object matches its rendered form (pure; quantities compared by value).

Only what the operator manages is compared: its labels (other labels may be added by
others), its controller owner reference, and the kind's content fields. Server-filled
metadata (resourceVersion, managedFields, ...) never counts as drift.
"""

from __future__ import annotations

import copy
from decimal import Decimal

from kubernetes.utils.quantity import parse_quantity

# The fields that hold an object's content, per kind; compared exactly after canonicalising.
CONTENT_FIELDS: dict[str, tuple[str, ...]] = {
    "Namespace": (),
    "ServiceAccount": (),
    "ResourceQuota": ("spec",),
    "LimitRange": ("spec",),
    "Role": ("rules",),
    "RoleBinding": ("roleRef", "subjects"),
    "NetworkPolicy": ("spec",),
}
# roleRef cannot be changed in place: a binding pointing elsewhere is deleted and recreated.
IMMUTABLE_FIELDS: dict[str, tuple[str, ...]] = {"RoleBinding": ("roleRef",)}
_LIMIT_RANGE_QUANTITY_MAPS = ("default", "defaultRequest", "max", "min", "maxLimitRequestRatio")


def canonical_quantity(value) -> str:
    """'0.5' and '500m', '1Gi' and '1024Mi' are the same quantity; the API server may store either."""
    try:
        number: Decimal = parse_quantity(value)
    except ValueError:
        return str(value)
    return format(number.normalize(), "f")


def _quantity_map(values: dict | None) -> dict | None:
    if values is None:
        return None
    return {key: canonical_quantity(value) for key, value in values.items()}


def content(obj: dict, kind: str) -> dict:
    """The kind's content fields, with quantities canonicalised (items of a LIST carry no kind)."""
    view = {field: copy.deepcopy(obj.get(field)) for field in CONTENT_FIELDS[kind]}
    if kind == "ResourceQuota" and view["spec"]:
        view["spec"]["hard"] = _quantity_map(view["spec"].get("hard"))
    if kind == "LimitRange" and view["spec"]:
        for item in view["spec"].get("limits") or []:
            for key in _LIMIT_RANGE_QUANTITY_MAPS:
                if key in item:
                    item[key] = _quantity_map(item[key])
    return view


def _controller_reference(obj: dict) -> dict | None:
    for reference in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if reference.get("controller"):
            return reference
    return None


def metadata_drift(desired: dict, live: dict) -> list[str]:
    """What is wrong with the live object's labels and controller reference."""
    problems = []
    live_labels = (live.get("metadata") or {}).get("labels") or {}
    for key, value in desired["metadata"].get("labels", {}).items():
        if live_labels.get(key) != value:
            problems.append(f"label {key}")
    wanted = desired["metadata"]["ownerReferences"][0]
    if _controller_reference(live) != wanted:
        problems.append("owner reference")
    return problems


def drift(desired: dict, live: dict) -> list[str]:
    """Names of the parts that differ; empty when the live object is in sync."""
    problems = metadata_drift(desired, live)
    want, have = content(desired, desired["kind"]), content(live, desired["kind"])
    problems += [field for field in CONTENT_FIELDS[desired["kind"]] if want[field] != have[field]]
    return problems


def needs_recreate(desired: dict, live: dict) -> bool:
    """True when an immutable field differs, so only delete + create can repair it."""
    return any(copy.deepcopy(desired.get(field)) != live.get(field)
               for field in IMMUTABLE_FIELDS.get(desired["kind"], ()))


def merged_owner_references(desired: dict, live: dict) -> list[dict]:
    """Keep other (non-controller) owners; ours becomes the one controller."""
    ours = desired["metadata"]["ownerReferences"][0]
    kept = [reference for reference in (live.get("metadata") or {}).get("ownerReferences") or []
            if not reference.get("controller") and reference.get("uid") != ours["uid"]]
    return kept + [ours]


def replacement(desired: dict, live: dict) -> dict:
    """The body for a PUT: the live object (resourceVersion kept, for optimistic locking) with our parts put back."""
    body = copy.deepcopy(live)
    body.pop("status", None)
    metadata = body.setdefault("metadata", {})
    metadata.pop("managedFields", None)
    metadata["labels"] = (metadata.get("labels") or {}) | desired["metadata"]["labels"]
    metadata["ownerReferences"] = merged_owner_references(desired, live)
    for field in CONTENT_FIELDS[desired["kind"]]:
        body[field] = copy.deepcopy(desired[field])
    return body


def namespace_patch(desired: dict, live: dict) -> dict:
    """A merge patch for a namespace's labels and owner references (its spec belongs to Kubernetes)."""
    return {
        "metadata": {
            "resourceVersion": live["metadata"]["resourceVersion"],
            "labels": desired["metadata"]["labels"],
            "ownerReferences": merged_owner_references(desired, live),
        }
    }
