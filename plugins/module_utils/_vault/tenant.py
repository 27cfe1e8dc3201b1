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
from typing import Any, Callable, NamedTuple

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
    def from_params(cls, params: dict, field: Callable[[str], str] = str) -> "TenantSpec":
        """Validate the module parameters; raises VaultInvalidInput naming the first bad field and its fix.

        ``field`` turns a parameter name into the name an error shows (vault_tenants says ``tenants[3].name``).
        The token TTLs are checked here too, so bad durations fail before anything is read, in absent runs too.
        """
        tenant = params.get("tenant")
        problem = tenant_name_problem(tenant)
        if problem is not None:
            raise VaultInvalidInput(f"{field('tenant')}: {problem}", field=field("tenant"))
        namespace = params.get("kubernetes_namespace") or tenant
        if len(namespace) > 63 or not DNS_1123_LABEL.match(namespace):
            raise VaultInvalidInput(f"{field('kubernetes_namespace')}: {namespace!r} is not a Kubernetes namespace "
                                    "name. Fix: use a lower-case DNS-1123 label (letters, digits, '-'; at most 63 "
                                    "characters).", field=field("kubernetes_namespace"))
        service_account = params.get("service_account") or "workload"
        if len(service_account) > 253 or not DNS_1123_SUBDOMAIN.match(service_account):
            raise VaultInvalidInput(f"{field('service_account')}: {service_account!r} is not a service account name. "
                                    "Fix: use a lower-case DNS-1123 subdomain such as workload.",
                                    field=field("service_account"))
        audience = params.get("audience")
        if audience is None or not str(audience).strip():
            raise VaultInvalidInput(f"{field('audience')} must not be empty: without it any token of the service "
                                    "account logs in, whatever it was issued for. Fix: give the audience the workload "
                                    "requests its token for, such as vault.", field=field("audience"))
        spec = cls(tenant=tenant,
                   auth_mount_path=mount_path(params.get("auth_mount_path"), "auth_mount_path"),
                   kv_mount_path=mount_path(params.get("kv_mount_path"), "kv_mount_path"),
                   kubernetes_namespace=namespace, service_account=service_account, audience=str(audience).strip(),
                   token_ttl=params.get("token_ttl"), token_max_ttl=params.get("token_max_ttl"))
        role_spec([], [], [], spec.audience, spec.token_ttl, spec.token_max_ttl,
                  ttl_field=field("token_ttl"), max_ttl_field=field("token_max_ttl"))
        return spec


class TenantRequest(NamedTuple):
    """One tenant of a vault_tenants call: its validated spec, its state and whether to purge its secrets."""

    spec: TenantSpec
    state: str
    purge_secrets: bool


# Per-tenant options of vault_tenants that fall back to the module's top-level value when a tenant leaves them out.
TENANT_DEFAULTED_OPTIONS = ("service_account", "audience", "token_ttl", "token_max_ttl", "purge_secrets")


def tenant_requests(params: dict) -> list:
    """Validate every tenant of a vault_tenants call before anything is read; a list of TenantRequest.

    Raises VaultInvalidInput naming the tenant's place in the list (``tenants[3].name: ...``) for a bad value or a
    name listed twice, and the top-level option when the bad value is a shared default.
    """
    requests: list[TenantRequest] = []
    first_place: dict = {}
    for index, entry in enumerate(params.get("tenants") or []):
        entry = entry or {}
        own = {key for key, value in entry.items() if value is not None}

        def field(name: str, index: int = index, own: set = own) -> str:
            option = "name" if name == "tenant" else name
            return f"tenants[{index}].{option}" if option in own or option == "name" else option

        merged = {**params, **{key: entry[key] for key in own}, "tenant": entry.get("name")}
        spec = TenantSpec.from_params(merged, field)
        if spec.tenant in first_place:
            raise VaultInvalidInput(f"tenants[{index}].name: {spec.tenant!r} is listed twice (also "
                                    f"tenants[{first_place[spec.tenant]}]). Fix: list each tenant once.",
                                    field=f"tenants[{index}].name")
        first_place[spec.tenant] = index
        requests.append(TenantRequest(spec, merged.get("state") or "present", bool(merged.get("purge_secrets"))))
    return requests


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
