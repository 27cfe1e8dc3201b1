# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection options every Vault module shares; documented by the doc fragment meridian.observability.vault.

Both Vault's and OpenBao's environment variables are honoured, so a shell set up for either CLI works as is.
"""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback


def vault_argument_spec() -> dict:
    """Argument spec of the connection options; keep in step with plugins/doc_fragments/vault.py."""
    return {
        "url": {"type": "str", "no_log": False, "fallback": (env_fallback, ["VAULT_ADDR", "BAO_ADDR"])},
        "token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["VAULT_TOKEN", "BAO_TOKEN"])},
        "vault_namespace": {"type": "str"},
        "validate_certs": {"type": "bool", "default": True},
        "ca_cert": {"type": "path"},
        "timeout": {"type": "int", "default": 30},
    }


def _tenant_settings() -> dict:
    """A tenant's settings with their defaults; vault_tenants takes them at the top level and per tenant."""
    return {
        "service_account": {"type": "str", "default": "workload"},
        "audience": {"type": "str", "default": "vault"},
        # Durations, not secrets; the names only sound like one.
        "token_ttl": {"type": "str", "default": "15m", "no_log": False},
        "token_max_ttl": {"type": "str", "default": "1h", "no_log": False},
        "purge_secrets": {"type": "bool", "default": False},
    }


def _tenant_mounts() -> dict:
    return {"auth_mount_path": {"type": "str", "required": True}, "kv_mount_path": {"type": "str", "required": True}}


def vault_tenant_argument_spec() -> dict:
    """Options of vault_tenant (one tenant), connection options included."""
    return {**vault_argument_spec(), "tenant": {"type": "str", "required": True}, **_tenant_mounts(),
            "kubernetes_namespace": {"type": "str"}, **_tenant_settings(),
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"}}


def vault_tenants_argument_spec() -> dict:
    """Options of vault_tenants: the shared mounts and settings at the top level, then a list of tenants.

    A tenant's own settings have no defaults, so one it leaves out falls back to the top-level value.
    """
    per_tenant = {name: {key: value for key, value in option.items() if key != "default"}
                  for name, option in _tenant_settings().items()}
    tenant_options = {"name": {"type": "str", "required": True},
                      "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
                      "kubernetes_namespace": {"type": "str"}, **per_tenant}
    return {**vault_argument_spec(), **_tenant_mounts(), **_tenant_settings(),
            "tenants": {"type": "list", "elements": "dict", "required": True, "options": tenant_options}}
