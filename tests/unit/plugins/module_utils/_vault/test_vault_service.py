"""VaultService over an in-memory stand-in for VaultClient: check mode sends no write, order of writes, purge.

The real server is exercised by tests/integration/test_vault_modules.py; this covers the orchestration
quickly and the cases a lab cannot easily produce.
"""

from __future__ import annotations

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._vault.errors import VaultNotFound
from ansible_collections.meridian.observability.plugins.module_utils._vault.kubernetes_auth import (
    kubernetes_config_spec,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.service import VaultService
from ansible_collections.meridian.observability.plugins.module_utils._vault.tenant import TenantSpec

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
JWT = "reviewer-jwt-value"


class FakeVault:
    """The VaultClient methods the service calls, over dicts; records writes in order."""

    def __init__(self) -> None:
        self.paths: dict = {}
        self.policies: dict = {}
        self.auth: dict = {"kubernetes/": {"type": "kubernetes", "description": ""}}
        self.secrets_mounts: dict = {}
        self.writes: list = []
        self.reads = 0

    @property
    def api_requests(self) -> dict:
        return {"read": self.reads, "write": len(self.writes)}

    def read(self, path):
        self.reads += 1
        return self.paths.get(path)

    def write(self, path, body):
        self.writes.append(("write", path))
        self.paths[path] = dict(body)

    def delete(self, path):
        self.writes.append(("delete", path))
        self.paths.pop(path, None)

    def list(self, path):
        self.reads += 1
        prefix = path
        keys = {rest.split("/", 1)[0] + ("/" if "/" in rest else "")
                for stored in self.paths if stored.startswith(prefix) for rest in [stored[len(prefix):]]}
        return sorted(keys)

    def read_policy(self, name):
        self.reads += 1
        return self.policies.get(name)

    def write_policy(self, name, text):
        self.writes.append(("policy", name))
        self.policies[name] = text

    def delete_policy(self, name):
        self.writes.append(("delete policy", name))
        self.policies.pop(name, None)

    def auth_mounts(self):
        self.reads += 1
        return dict(self.auth)

    def enable_auth_mount(self, path, body):
        self.writes.append(("enable auth", path))
        self.auth[f"{path}/"] = dict(body)

    def tune_auth_mount(self, path, body):
        self.writes.append(("tune auth", path))

    def disable_auth_mount(self, path):
        self.writes.append(("disable auth", path))
        self.auth.pop(f"{path}/", None)


TENANT = TenantSpec.from_params({"tenant": "acme", "auth_mount_path": "kubernetes", "kv_mount_path": "tenants",
                                 "audience": "vault", "token_ttl": "15m", "token_max_ttl": "1h"})


def test_tenant_check_mode_reads_only_then_apply_writes_policy_before_role_then_nothing():
    vault = FakeVault()
    check = VaultService(vault).ensure_tenant(TENANT, "present", check_mode=True, want_diff=True)
    assert check["changed"] and vault.writes == [] and check["changed_parts"] == ["policy", "role"]
    applied = VaultService(vault).ensure_tenant(TENANT, "present")
    assert applied["actions"] == check["actions"]
    assert vault.writes == [("policy", "tenant-acme"), ("write", "auth/kubernetes/role/acme")]
    # The server stores TTLs as seconds; the role spec already is in those units.
    vault.writes.clear()
    vault.reads = 0
    again = VaultService(vault).ensure_tenant(TENANT, "present")
    assert not again["changed"] and vault.writes == [] and again["api_requests"] == {"read": 2, "write": 0}


def test_tenant_role_needs_a_kubernetes_auth_mount_and_fails_before_writing():
    vault = FakeVault()
    vault.auth = {"kubernetes/": {"type": "approle"}}
    with pytest.raises(VaultNotFound, match="^auth_mount_path: there is an auth method of type 'approle'"):
        VaultService(vault).ensure_tenant(TENANT, "present")
    assert vault.writes == []


def test_offboarding_removes_role_first_and_purges_only_with_the_flag():
    vault = FakeVault()
    VaultService(vault).ensure_tenant(TENANT, "present")
    for key in ("a", "b/c", "b/d/e"):
        vault.paths[f"tenants/metadata/acme/{key}"] = {}
    vault.paths["tenants/metadata/acmeco/x"] = {}  # a tenant whose name starts the same
    vault.writes.clear()
    kept = VaultService(vault).ensure_tenant(TENANT, "absent")
    assert vault.writes == [("delete", "auth/kubernetes/role/acme"), ("delete policy", "tenant-acme")]
    assert kept["secrets_deleted"] == 0 and "tenants/metadata/acme/a" in vault.paths
    vault.writes.clear()
    check = VaultService(vault).ensure_tenant(TENANT, "absent", purge_secrets=True, check_mode=True)
    assert check["secrets_deleted"] == 3 and vault.writes == []
    purged = VaultService(vault).ensure_tenant(TENANT, "absent", purge_secrets=True)
    assert purged["changed_parts"] == ["secrets"]
    assert [path for _, path in vault.writes] == ["tenants/metadata/acme/a", "tenants/metadata/acme/b/c",
                                                 "tenants/metadata/acme/b/d/e"]
    assert "tenants/metadata/acmeco/x" in vault.paths


def test_kubernetes_auth_sends_the_jwt_with_each_config_write_and_never_returns_it():
    vault = FakeVault()
    spec = kubernetes_config_spec("https://k8s:443", CA, None, True)
    service = VaultService(vault)
    created = service.ensure_kubernetes_auth("k8s-r1", None, spec, JWT, "on_create", "present", want_diff=True)
    assert vault.writes == [("enable auth", "k8s-r1"), ("write", "auth/k8s-r1/config")]
    assert vault.paths["auth/k8s-r1/config"]["token_reviewer_jwt"] == JWT and JWT not in repr(created)
    # What the server returns: no JWT, only whether one is set.
    stored = dict(vault.paths["auth/k8s-r1/config"])
    del stored["token_reviewer_jwt"]
    vault.paths["auth/k8s-r1/config"] = dict(stored, token_reviewer_jwt_set=True)
    vault.writes.clear()
    again = VaultService(vault).ensure_kubernetes_auth("k8s-r1", None, spec, JWT, "on_create", "present")
    assert not again["changed"] and vault.writes == []
    rotated = VaultService(vault).ensure_kubernetes_auth("k8s-r1", None, spec, JWT, "always", "present",
                                                         want_diff=True)
    assert rotated["changed"] and rotated["diff"]["after"]["config"]["token_reviewer_jwt"] == "(replaced)"
    assert JWT not in repr(rotated)
