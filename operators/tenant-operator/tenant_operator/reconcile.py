"""Bring one Tenant's owned objects to their rendered form; read first, write only what differs.

Restart-safe by construction: every owned object has a fixed name, a create that meets
an existing object (409) falls back to read + compare, and a reconcile interrupted at any
point is finished by the next one. A namespace that exists without our tenant label is
never adopted: it is reported and nothing is written into it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from tenant_operator import GROUP, PLURAL, TENANT_LABEL, VERSION
from tenant_operator.compare import drift, namespace_patch, needs_recreate, replacement
from tenant_operator.conditions import Outcome, build_status, status_differs
from tenant_operator.kube import ApiError, KubeClient, RequestCounter, collection_path, object_path
from tenant_operator.render import (
    CONDITION_BY_KIND,
    OWNED_CONDITIONS,
    TenantView,
    render_namespace,
    render_namespaced,
)

logger = logging.getLogger(__name__)

TENANTS_PATH = f"/apis/{GROUP}/{VERSION}/{PLURAL}"
# The namespaced kinds, listed once per reconcile each (by tenant label) instead of one GET per object.
NAMESPACED_KINDS = ("ResourceQuota", "LimitRange", "ServiceAccount", "Role", "RoleBinding", "NetworkPolicy")
_KIND_WORDS = {
    "ResourceQuota": "resource quota", "LimitRange": "limit range", "ServiceAccount": "service account",
    "Role": "role", "RoleBinding": "role binding", "NetworkPolicy": "network policy",
}


def tenant_path(name: str) -> str:
    return f"{TENANTS_PATH}/{name}"


@dataclass
class ReconcileResult:
    """What one reconcile of one Tenant did."""

    tenant: str
    skipped: str | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    status_written: bool = False
    requests: dict[str, int] = field(default_factory=dict)
    writes: int = 0

    @property
    def ready(self) -> bool:
        return bool(self.outcomes) and all(outcome.ok for outcome in self.outcomes)


def list_tenants(client: KubeClient) -> list[dict]:
    return client.list(TENANTS_PATH)


def reconcile(client: KubeClient, name: str, tenant: dict | None = None) -> ReconcileResult:
    """Reconcile the Tenant `name` (read from the API unless its current body is given)."""
    counter = RequestCounter()
    api = client.counted(counter)
    result = ReconcileResult(name)
    try:
        if tenant is None:
            tenant = api.get(tenant_path(name))
        if tenant is None:
            result.skipped = "gone"
            return result
        view = TenantView.from_object(tenant)
        if view.deleting:  # the garbage collector is removing what it owns; recreating would fight it
            result.skipped = "being deleted"
            return result
        result.outcomes = ensure_owned_objects(api, view, result.changes)
        status = build_status(result.outcomes, view.generation, view.namespace, tenant.get("status"))
        if status_differs(status, tenant.get("status")):
            # The uid makes the API server refuse the patch if a same-named successor replaced the Tenant.
            api.merge_patch(tenant_path(name) + "/status",
                            {"metadata": {"uid": view.uid}, "status": status})
            result.status_written = True
        return result
    finally:
        result.requests = counter.snapshot()
        result.writes = counter.writes()


def ensure_owned_objects(api: KubeClient, view: TenantView, changes: list[str]) -> list[Outcome]:
    namespace_outcome = ensure_namespace(api, view, changes)
    if not namespace_outcome.ok:
        unavailable = [Outcome(condition, False, "NamespaceUnavailable",
                               f"namespace {view.namespace}: {namespace_outcome.reason}")
                       for condition in OWNED_CONDITIONS if condition != "Namespace"]
        return [namespace_outcome] + unavailable
    desired_by_condition: dict[str, list[dict]] = defaultdict(list)
    for desired in render_namespaced(view):
        desired_by_condition[CONDITION_BY_KIND[desired["kind"]]].append(desired)
    outcomes = [namespace_outcome]
    for condition in OWNED_CONDITIONS:
        if condition == "Namespace":
            continue
        desired_objects = desired_by_condition[condition]
        try:
            for kind in dict.fromkeys(obj["kind"] for obj in desired_objects):
                ensure_kind(api, view, kind, [obj for obj in desired_objects if obj["kind"] == kind], changes)
        except ApiError as err:
            logger.warning("tenant %s: %s: %s", view.name, condition, err)
            outcomes.append(Outcome(condition, False, "ApiError", str(err)[:300]))
            continue
        outcomes.append(Outcome(condition, True, "Reconciled", _in_sync_message(desired_objects)))
    return outcomes


def _in_sync_message(desired_objects: list[dict]) -> str:
    by_kind: dict[str, list[str]] = defaultdict(list)
    for obj in desired_objects:
        by_kind[obj["kind"]].append(obj["metadata"]["name"])
    parts = [f"{_KIND_WORDS[kind]} {', '.join(names)}" for kind, names in by_kind.items()]
    return "; ".join(parts) + " in sync"


def ensure_namespace(api: KubeClient, view: TenantView, changes: list[str]) -> Outcome:
    desired = render_namespace(view)
    path = object_path("Namespace", view.namespace)
    try:
        live = api.get(path)
        if live is None:
            live = _create_or_read(api, desired, changes)
            if live is None:
                return Outcome("Namespace", True, "Reconciled", f"namespace {view.namespace} in sync")
        metadata = live.get("metadata") or {}
        if (metadata.get("labels") or {}).get(TENANT_LABEL) != view.name:
            return Outcome("Namespace", False, "NamespaceConflict",
                           f"namespace {view.namespace} exists without label {TENANT_LABEL}={view.name}; "
                           "it is not adopted and nothing is written into it")
        if metadata.get("deletionTimestamp"):
            return Outcome("Namespace", False, "NamespaceTerminating",
                           f"namespace {view.namespace} is terminating; it is recreated once it is gone")
        problems = drift(desired, live)
        if problems:
            api.merge_patch(path, namespace_patch(desired, live))
            changes.append(f"updated Namespace {view.namespace} ({', '.join(problems)})")
    except ApiError as err:
        logger.warning("tenant %s: Namespace: %s", view.name, err)
        return Outcome("Namespace", False, "ApiError", str(err)[:300])
    return Outcome("Namespace", True, "Reconciled", f"namespace {view.namespace} in sync")


def _create_or_read(api: KubeClient, desired: dict, changes: list[str]) -> dict | None:
    """Create; None when created. If it already exists (a restart, a race), return the live object."""
    kind, metadata = desired["kind"], desired["metadata"]
    try:
        api.create(collection_path(kind, metadata.get("namespace")), desired)
        changes.append(f"created {kind} {metadata['name']}")
        return None
    except ApiError as err:
        if err.status != 409:
            raise
    live = api.get(object_path(kind, metadata["name"], metadata.get("namespace")))
    if live is None:
        raise ApiError("GET", object_path(kind, metadata["name"], metadata.get("namespace")), 404,
                       "NotFound", "existed a moment ago; retried on the next reconcile")
    return live


def ensure_kind(api: KubeClient, view: TenantView, kind: str, desired_objects: list[dict],
                changes: list[str]) -> None:
    """One LIST by tenant label, then create, repair or prune each object of the kind."""
    namespace = view.namespace
    live_by_name = {obj["metadata"]["name"]: obj
                    for obj in api.list(collection_path(kind, namespace), f"{TENANT_LABEL}={view.name}")}
    for desired in desired_objects:
        name = desired["metadata"]["name"]
        live = live_by_name.pop(name, None)
        if live is None:  # missing, or someone removed our label: create, or read what is there
            live = _create_or_read(api, desired, changes)
            if live is None:
                continue
        _repair(api, desired, live, changes)
    for name, leftover in live_by_name.items():
        # Ours (labelled and controlled by this Tenant) but no longer rendered, e.g. the
        # ingress-gateway policy after a switch to the isolated network profile.
        reference = next((r for r in leftover["metadata"].get("ownerReferences") or [] if r.get("controller")), {})
        if reference.get("uid") == view.uid:
            api.delete(object_path(kind, name, namespace), uid=leftover["metadata"]["uid"])
            changes.append(f"deleted {kind} {name}")


def _repair(api: KubeClient, desired: dict, live: dict, changes: list[str]) -> None:
    problems = drift(desired, live)
    if not problems:
        return
    kind, name, namespace = desired["kind"], desired["metadata"]["name"], desired["metadata"]["namespace"]
    path = object_path(kind, name, namespace)
    if needs_recreate(desired, live):
        api.delete(path, uid=live["metadata"]["uid"])
        api.create(collection_path(kind, namespace), desired)
        changes.append(f"recreated {kind} {name} ({', '.join(problems)})")
        return
    try:
        api.replace(path, replacement(desired, live))
    except ApiError as err:
        if err.status != 409:
            raise
        # Changed between our read and write: read again and retry once.
        live = api.get(path)
        if live is None:
            api.create(collection_path(kind, namespace), desired)
            changes.append(f"created {kind} {name}")
            return
        if not drift(desired, live):
            return
        api.replace(path, replacement(desired, live))
    changes.append(f"updated {kind} {name} ({', '.join(problems)})")
