# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one rule for tenant names, used by the topology plugin, the modules and every role preflight.

A tenant name becomes a Kubernetes namespace, a Keycloak realm, a Vault path and a Thanos tenant id,
so it must be a DNS-1123 label short enough for all of them and must not collide with a platform name.
Plain Python: callers wrap the answer in their own error type (TopologyError, ThanosConfigError, ...).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

# Kubernetes' DNS-1123 label: lower-case alphanumerics and '-', starting and ending with an alphanumeric.
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Below the label's 63 so derived names (``<tenant>-owners``, ``tenant_<tenant>``, Vault roles) still fit.
MAX_TENANT_NAME_LENGTH = 40

# Names a tenant can never take: they collide with platform namespaces, realms or Vault mounts.
RESERVED_TENANT_NAMES = frozenset({
    "default", "argocd", "monitoring", "vault", "gatekeeper-system", "istio-system", "istio-ingress",
    "cert-manager", "cilium", "keycloak", "thanos", "loki", "prometheus", "fluent-bit", "logging",
    "observability", "platform", "master", "admin", "root", "system", "tenant-operator",
    "default-tenant", "meridian",
})
RESERVED_TENANT_PREFIXES = ("kube-", "openshift-", "system-", "meridian-")


class TenantNameProblem(NamedTuple):
    """Why a name cannot be a tenant name, and what to do about it."""

    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.problem} Fix: {self.fix}"


def tenant_name_problem(name: Any) -> TenantNameProblem | None:
    """The first problem with ``name`` as a tenant name, or None when the name is usable."""
    if name is None or isinstance(name, bool) or not isinstance(name, str):
        return TenantNameProblem(f"expected a string, got {name!r}.",
                                 "A tenant name is required: write a lower-case DNS-1123 label such as 'acme' "
                                 "(quote it in YAML if it looks like a number).")
    if not name:
        return TenantNameProblem("is empty; a tenant name is required.",
                                 "Give the tenant a lower-case DNS-1123 label name such as 'acme'.")
    if len(name) > MAX_TENANT_NAME_LENGTH:
        return TenantNameProblem(
            f"{name!r} is {len(name)} characters; at most {MAX_TENANT_NAME_LENGTH} are allowed "
            "(it becomes a namespace, realm, Vault path and Thanos tenant id).",
            f"Shorten the name; the limit is {MAX_TENANT_NAME_LENGTH} characters.")
    if not DNS_1123_LABEL.match(name):
        if name.lower() != name and DNS_1123_LABEL.match(name.lower()):
            hint = "lower-case it"
        else:
            hint = "use only lower-case letters, digits and '-', starting and ending with a letter or digit"
        return TenantNameProblem(f"{name!r} is not a DNS-1123 label.", f"Rename the tenant: {hint}.")
    if name in RESERVED_TENANT_NAMES or name.startswith(RESERVED_TENANT_PREFIXES):
        return TenantNameProblem(
            f"{name!r} is reserved for the platform.",
            f"Choose another name; reserved names are {', '.join(sorted(RESERVED_TENANT_NAMES))} "
            f"and anything starting with {', '.join(RESERVED_TENANT_PREFIXES)}.")
    return None


def is_tenant_name(name: Any) -> bool:
    """True when ``name`` is a usable tenant name."""
    return tenant_name_problem(name) is None
