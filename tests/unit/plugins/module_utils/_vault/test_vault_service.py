"""VaultService over an in-memory stand-in for VaultClient: check mode sends no write, order of writes, purge,
many tenants in one call (reads batched, a failure naming the tenant).

The real server is exercised by tests/integration/test_vault_modules.py; this covers the orchestration
quickly and the cases a lab cannot easily produce.
"""

from __future__ import annotations

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._vault.errors import (
    VaultInvalidInput,
    VaultNotFound,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.kubernetes_auth import (
    kubernetes_config_spec,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.service import VaultService
from ansible_collections.meridian.observability.plugins.module_utils._vault.tenant import (
    TenantSpec,
    tenant_policy_text,
    tenant_requests,
)

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
        self.lists: list = []

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
        self.lists.append(path)
        if path.rstrip("/") == "sys/policies/acl":
            return sorted(self.policies)
        prefix = path.rstrip("/") + "/"
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


# ---------------------------------------------------------------- many tenants in one call

def requests(*entries, **shared):
    """TenantRequests as vault_tenants builds them from its parameters."""
    params = {"auth_mount_path": "kubernetes", "kv_mount_path": "tenants", "service_account": "workload",
              "audience": "vault", "token_ttl": "15m", "token_max_ttl": "1h", "purge_secrets": False, **shared,
              "tenants": [dict(entry) if isinstance(entry, dict) else {"name": entry} for entry in entries]}
    return tenant_requests(params)


def test_batch_plans_every_tenant_then_writes_each_in_turn_and_a_rerun_reads_once_per_object():
    vault = FakeVault()
    tenants = requests("acme", "globex", "initech")
    check = VaultService(vault).ensure_tenants(tenants, check_mode=True, want_diff=True)
    assert check["changed"] and vault.writes == []
    assert [entry["before_header"] for entry in check["diff"]] == ["tenant acme", "tenant globex", "tenant initech"]
    assert check["tenants"]["globex"]["changed_parts"] == ["policy", "role"]

    applied = VaultService(vault).ensure_tenants(tenants)
    assert applied["actions"] == check["actions"]
    assert vault.writes == [(kind, name) for tenant in ("acme", "globex", "initech")
                            for kind, name in (("policy", f"tenant-{tenant}"), ("write", f"auth/kubernetes/role/{tenant}"))]
    assert vault.policies["tenant-globex"] == tenant_policy_text(tenants[1].spec)

    vault.writes.clear()
    vault.reads = 0
    again = VaultService(vault).ensure_tenants(tenants, want_diff=True)
    assert not again["changed"] and vault.writes == [] and again["diff"] == []
    # sys/auth, the two LISTs, and one GET per existing policy and role.
    assert again["api_requests"] == {"read": 3 + 2 * 3, "write": 0}
    assert {name: result["changed"] for name, result in again["tenants"].items()} == {
        "acme": False, "globex": False, "initech": False}


def test_batch_repairs_a_role_changed_by_hand_and_shows_only_that_tenants_diff():
    vault = FakeVault()
    tenants = requests("acme", "globex")
    VaultService(vault).ensure_tenants(tenants)
    vault.paths["auth/kubernetes/role/globex"]["bound_service_account_namespaces"] = ["*"]
    vault.writes.clear()
    repaired = VaultService(vault).ensure_tenants(tenants, want_diff=True)
    assert repaired["actions"] == ["update role auth/kubernetes/role/globex (bound_service_account_namespaces)"]
    assert [entry["after_header"] for entry in repaired["diff"]] == ["tenant globex"]
    assert repaired["diff"][0]["before"]["role"]["bound_service_account_namespaces"] == ["*"]
    assert repaired["tenants"]["acme"]["changed"] is False
    assert vault.paths["auth/kubernetes/role/globex"]["bound_service_account_namespaces"] == ["globex"]


def test_batch_offboards_in_the_same_call_and_reads_nothing_per_tenant_already_gone():
    vault = FakeVault()
    VaultService(vault).ensure_tenants(requests("acme", "globex"))
    vault.writes.clear()
    mixed = requests("acme", {"name": "globex", "state": "absent"})
    result = VaultService(vault).ensure_tenants(mixed)
    assert vault.writes == [("delete", "auth/kubernetes/role/globex"), ("delete policy", "tenant-globex")]
    assert result["tenants"]["globex"]["state"] == "absent" and result["tenants"]["acme"]["changed"] is False
    vault.reads = 0
    vault.writes.clear()
    gone = VaultService(vault).ensure_tenants(requests({"name": "globex", "state": "absent"},
                                                       {"name": "initech", "state": "absent"}))
    # Only the two LISTs: no sys/auth read without a tenant to keep, no GET of what the LISTs do not show.
    assert not gone["changed"] and gone["api_requests"] == {"read": 2, "write": 0}


def test_batch_purges_only_the_folders_the_kv_list_shows():
    vault = FakeVault()
    VaultService(vault).ensure_tenants(requests("acme", "globex"))
    for key in ("a", "b/c"):
        vault.paths[f"tenants/metadata/acme/{key}"] = {}
    vault.paths["tenants/metadata/acmeco/x"] = {}
    vault.lists.clear()
    result = VaultService(vault).ensure_tenants(requests({"name": "acme", "state": "absent"},
                                                         {"name": "globex", "state": "absent"},
                                                         purge_secrets=True))
    assert result["tenants"]["acme"]["secrets_deleted"] == 2 and result["tenants"]["globex"]["secrets_deleted"] == 0
    # globex has no folder: its secrets are never listed.
    assert not any(path.startswith("tenants/metadata/globex") for path in vault.lists)
    assert "tenants/metadata/acmeco/x" in vault.paths and "tenants/metadata/acme/a" not in vault.paths


class FailingRoleWrites(FakeVault):
    """Refuses to write the roles of the tenants in ``refused``, as a server would with a 400."""

    def __init__(self, refused) -> None:
        super().__init__()
        self.refused = set(refused)

    def write(self, path, body):
        if path.rsplit("/", 1)[-1] in self.refused:
            raise VaultInvalidInput(f"Vault rejected POST /v1/{path} (400): bad role", status=400, path=path)
        super().write(path, body)


def test_a_failure_names_the_tenant_and_the_write_lists_the_tenants_converged_and_a_rerun_completes():
    vault = FailingRoleWrites({"globex"})
    tenants = requests("acme", "globex", "initech")
    with pytest.raises(VaultInvalidInput) as failure:
        VaultService(vault).ensure_tenants(tenants)
    assert str(failure.value).startswith("tenant globex: create role auth/kubernetes/role/globex failed: Vault "
                                         "rejected POST")
    assert failure.value.details["failed_tenant"] == "globex"
    assert list(failure.value.details["tenants"]) == ["acme"] and failure.value.details["status"] == 400
    assert "auth/kubernetes/role/initech" not in vault.paths
    vault.refused.clear()
    vault.writes.clear()
    completed = VaultService(vault).ensure_tenants(tenants)
    assert completed["actions"] == ["create role auth/kubernetes/role/globex", "create policy tenant-initech",
                                    "create role auth/kubernetes/role/initech"]


def test_batch_fails_on_a_missing_auth_mount_before_any_write_and_an_empty_list_sends_nothing():
    vault = FakeVault()
    vault.auth = {}
    with pytest.raises(VaultNotFound, match="^auth_mount_path: there is nothing at auth/kubernetes"):
        VaultService(vault).ensure_tenants(requests("acme"))
    assert vault.writes == []
    vault.reads = 0
    assert VaultService(vault).ensure_tenants([], want_diff=True) == {
        "changed": False, "actions": [], "tenants": {}, "diff": [], "api_requests": {"read": 0, "write": 0}}
