# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tenant's place in Vault: one ACL policy and one Kubernetes auth role. Plain Python, no I/O.

The policy ``tenant-<tenant>`` grants read and list on the tenant's own folder of the KV v2 mount
(``<kv>/data/<tenant>/*`` and ``<kv>/metadata/<tenant>/*``) and nothing else. The role ``<tenant>``
on the Kubernetes auth mount lets exactly one service account in the tenant's namespace log in,
for tokens with the given audience, and hands out short-lived tokens with only that policy.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ansible_collections.meridian.observability.plugins.module_utils._common.tenant_name import tenant_name_problem
from .errors import VaultInvalidInput
from .kubernetes_auth import role_spec
from .plan import mount_path

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
POLICY_PREFIX = "tenant-"


class TenantSpec(NamedTuple):
    """A validated vault_tenant request."""

    tenant: str
    auth_mount_path: str
    kv_mount_path: str
    kubernetes_namespace: str
    service_account: str
    audience: str
    token_ttl: Any
    token_max_ttl: Any

    @property
    def policy_name(self) -> str:
        return f"{POLICY_PREFIX}{self.tenant}"

    @property
    def role_name(self) -> str:
        return self.tenant

    @property
    def role_path(self) -> str:
        return f"auth/{self.auth_mount_path}/role/{self.role_name}"

    @property
    def secrets_folder(self) -> str:
        """The tenant's folder under the KV mount's metadata, which lists (and deletes) every secret's versions."""
        return f"{self.kv_mount_path}/metadata/{self.tenant}"

    @classmethod
    def from_params(cls, params: dict) -> "TenantSpec":
        """Validate the module parameters; raises VaultInvalidInput naming the first bad field and its fix."""
        tenant = params.get("tenant")
        problem = tenant_name_problem(tenant)
        if problem is not None:
            raise VaultInvalidInput(f"tenant: {problem}", field="tenant")
        namespace = params.get("kubernetes_namespace") or tenant
        if len(namespace) > 63 or not DNS_1123_LABEL.match(namespace):
            raise VaultInvalidInput(f"kubernetes_namespace: {namespace!r} is not a Kubernetes namespace name. Fix: use "
                                    "a lower-case DNS-1123 label (letters, digits, '-'; at most 63 characters).",
                                    field="kubernetes_namespace")
        service_account = params.get("service_account") or "workload"
        if len(service_account) > 253 or not DNS_1123_SUBDOMAIN.match(service_account):
            raise VaultInvalidInput(f"service_account: {service_account!r} is not a service account name. Fix: use a "
                                    "lower-case DNS-1123 subdomain such as workload.", field="service_account")
        audience = params.get("audience")
        if audience is None or not str(audience).strip():
            raise VaultInvalidInput("audience must not be empty: without it any token of the service account logs "
                                    "in, whatever it was issued for. Fix: give the audience the workload requests "
                                    "its token for, such as vault.", field="audience")
        return cls(tenant=tenant,
                   auth_mount_path=mount_path(params.get("auth_mount_path"), "auth_mount_path"),
                   kv_mount_path=mount_path(params.get("kv_mount_path"), "kv_mount_path"),
                   kubernetes_namespace=namespace, service_account=service_account, audience=str(audience).strip(),
                   token_ttl=params.get("token_ttl"), token_max_ttl=params.get("token_max_ttl"))


def tenant_policy_text(spec: TenantSpec) -> str:
    """The tenant's policy: read and list on its own KV folder, nothing else."""
    return (
        f"# Managed by meridian.observability: tenant {spec.tenant} reads its own secrets and nothing else.\n"
        f'path "{spec.kv_mount_path}/data/{spec.tenant}/*" {{\n'
        '  capabilities = ["read", "list"]\n'
        "}\n"
        f'path "{spec.kv_mount_path}/metadata/{spec.tenant}/*" {{\n'
        '  capabilities = ["read", "list"]\n'
        "}\n"
    )


def tenant_role_spec(spec: TenantSpec) -> dict:
    """The tenant's Kubernetes auth role, normalised like the server returns it."""
    return role_spec(bound_service_account_names=[spec.service_account],
                     bound_service_account_namespaces=[spec.kubernetes_namespace],
                     token_policies=[spec.policy_name], audience=spec.audience,
                     token_ttl=spec.token_ttl, token_max_ttl=spec.token_max_ttl)
