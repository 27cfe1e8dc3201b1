"""The Vault modules against each lab region's real OpenBao (and, for Kubernetes auth, its real API server).

Every module runs as Ansible runs it: a generated one-task playbook, the URL set once through
``module_defaults: group/meridian.observability.vault`` and the token taken from VAULT_TOKEN in the
environment (never the command line), run by ansible-playbook through tests/support/ansible.py. The
tests read the server back with hvac themselves, so a module that only claims a change fails them,
and they change things by hand to prove the modules put them back.
"""

from __future__ import annotations

import pathlib
import uuid

import hvac
import pytest

from tests.support.ansible import run_tasks

pytestmark = pytest.mark.lab


# ---------------------------------------------------------------- helpers

@pytest.fixture
def vault(lab, region) -> dict:
    return lab["regions"][region]["vault"]


@pytest.fixture
def root(vault) -> hvac.Client:
    client = hvac.Client(url=vault["addr"], token=vault["token"])
    assert client.is_authenticated()
    return client


def play(tmp_path: pathlib.Path, vault: dict, module: str, args: dict, *, check: bool = False, diff: bool = False,
         connection: dict | None = None, token: str | None = None) -> tuple[dict, str]:
    """Run one task through ansible-playbook; returns (the task's result, the whole output)."""
    defaults = {"url": vault["addr"], **(connection or {})}
    results, completed = run_tasks(tmp_path, [{"name": "under test", f"meridian.observability.{module}": args}],
                                   module_defaults={"group/meridian.observability.vault": defaults},
                                   check=check, diff=diff, timeout=180,
                                   env={"VAULT_TOKEN": vault["token"] if token is None else token, "BAO_TOKEN": ""})
    return results[0], completed.stdout + completed.stderr


def play_tasks(tmp_path: pathlib.Path, vault: dict, tasks: list[dict]) -> tuple[list[dict], str]:
    """Several tasks in ONE ansible-playbook process (cheaper than one process each); returns (results, output).

    Each task is {"module": ..., "args": ...} plus task keywords such as check_mode, diff or ignore_errors.
    """
    plays = [{"name": f"step {number}", f"meridian.observability.{task['module']}": task["args"],
              **{key: value for key, value in task.items() if key not in ("module", "args")}}
             for number, task in enumerate(tasks, start=1)]
    results, completed = run_tasks(tmp_path, plays, module_defaults={"group/meridian.observability.vault":
                                                                     {"url": vault["addr"]}},
                                   timeout=180, env={"VAULT_TOKEN": vault["token"], "BAO_TOKEN": ""})
    assert len(results) == len(tasks), completed.stdout[-3000:]
    return results, completed.stdout + completed.stderr


def ok(result: dict) -> dict:
    assert not result.get("failed"), result.get("msg")
    return result


def failed(result: dict) -> str:
    assert result.get("failed"), result
    return result["msg"]


def unchanged(result: dict) -> None:
    ok(result)
    assert not result["changed"] and result["actions"] == [] and result["api_requests"]["write"] == 0, result


def read_policy(root: hvac.Client, name: str) -> str | None:
    try:
        return root.sys.read_acl_policy(name)["data"]["policy"]
    except hvac.exceptions.InvalidPath:
        return None


def read_path(root: hvac.Client, path: str) -> dict | None:
    try:
        return root.read(path)
    except hvac.exceptions.InvalidPath:
        return None


def unique(label: str) -> str:
    return f"it-{label}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- vault_policy

POLICY = 'path "it-team/data/*" {\n  capabilities = ["read", "list"]\n}\n'


@pytest.fixture
def policy_name(root):
    name = unique("policy")
    yield name
    root.sys.delete_acl_policy(name)


def test_policy_check_apply_rerun_drift_absent(tmp_path, vault, root, policy_name):
    args = {"name": policy_name, "policy": POLICY}
    check, _ = play(tmp_path, vault, "vault_policy", args, check=True, diff=True)
    assert ok(check)["changed"] and check["api_requests"] == {"read": 1, "write": 0}
    assert check["diff"]["before"] == "" and check["diff"]["after"] == POLICY
    assert read_policy(root, policy_name) is None

    applied, out = play(tmp_path, vault, "vault_policy", args, diff=True)
    assert ok(applied)["changed"] and applied["actions"] == [f"create policy {policy_name}"] == check["actions"]
    assert read_policy(root, policy_name) == POLICY
    assert applied["diff"] == {"before": "", "after": POLICY, "before_header": f"policy {policy_name}",
                               "after_header": f"policy {policy_name}"}
    assert vault["token"] not in out

    for rerun in (play(tmp_path, vault, "vault_policy", args, check=True)[0],
                  play(tmp_path, vault, "vault_policy", {**args, "policy": POLICY.replace("\n", "  \r\n")})[0]):
        unchanged(rerun)  # trailing blanks and CRLF are no difference

    root.sys.create_or_update_acl_policy(policy_name, 'path "it-team/data/*" { capabilities = ["create"] }')
    drift_check, _ = play(tmp_path, vault, "vault_policy", args, check=True, diff=True)
    assert ok(drift_check)["changed"] and "create" in drift_check["diff"]["before"]
    assert read_policy(root, policy_name) != POLICY
    repaired, _ = play(tmp_path, vault, "vault_policy", args)
    assert ok(repaired)["changed"] and repaired["api_requests"] == {"read": 1, "write": 1}
    assert read_policy(root, policy_name) == POLICY

    absent = {"name": policy_name, "state": "absent"}
    absent_check, _ = play(tmp_path, vault, "vault_policy", absent, check=True)
    assert ok(absent_check)["changed"] and read_policy(root, policy_name) == POLICY
    gone, _ = play(tmp_path, vault, "vault_policy", absent)
    assert ok(gone)["changed"] and read_policy(root, policy_name) is None
    unchanged(play(tmp_path, vault, "vault_policy", absent)[0])


def test_policy_hcl_the_server_rejects_fails_naming_policy(tmp_path, vault, root, policy_name):
    message = failed(play(tmp_path, vault, "vault_policy", {"name": policy_name, "policy": 'path "x" { capa'})[0])
    assert message.startswith("policy: ") and "Fix: correct the HCL" in message
    assert read_policy(root, policy_name) is None


# ---------------------------------------------------------------- connection failures

def test_a_bad_token_fails_naming_the_token_and_its_twin_succeeds(tmp_path, vault, root, policy_name):
    args = {"name": policy_name, "policy": POLICY}
    result, out = play(tmp_path, vault, "vault_policy", args, token="it-not-a-token-" + uuid.uuid4().hex)
    message = failed(result)
    assert "refused the token" in message and "check token (or VAULT_TOKEN/BAO_TOKEN)" in message
    assert "it-not-a-token-" not in out and read_policy(root, policy_name) is None
    ok(play(tmp_path, vault, "vault_policy", args)[0])
    assert read_policy(root, policy_name) == POLICY


def test_an_unreachable_url_fails_naming_the_url(tmp_path, vault, policy_name):
    dead = "http://127.0.0.1:9"  # discard port: nothing listens there
    result, _ = play(tmp_path, vault, "vault_policy", {"name": policy_name, "policy": POLICY}, connection={"url": dead})
    message = failed(result)
    assert f"cannot reach Vault at {dead}" in message and "Check url (or VAULT_ADDR/BAO_ADDR)" in message


def test_a_missing_token_fails_before_any_request(tmp_path, vault, policy_name):
    result, _ = play(tmp_path, vault, "vault_policy", {"name": policy_name, "policy": POLICY}, token="")
    assert failed(result).startswith("token is required") and result["api_requests"] == {}


# ---------------------------------------------------------------- vault_tenant

@pytest.fixture
def tenant_mounts(root):
    """A KV v2 mount and a bare Kubernetes auth mount for tenant tests, removed afterwards."""
    kv, auth = unique("kv"), unique("k8s")
    root.sys.enable_secrets_engine("kv", path=kv, options={"version": "2"})
    root.sys.enable_auth_method("kubernetes", path=auth)
    yield {"kv": kv, "auth": auth}
    root.sys.disable_auth_method(auth)
    root.sys.disable_secrets_engine(kv)


def expected_tenant_policy(kv: str, tenant: str) -> str:
    return (f"# Managed by meridian.observability: tenant {tenant} reads its own secrets and nothing else.\n"
            f'path "{kv}/data/{tenant}/*" {{\n  capabilities = ["read", "list"]\n}}\n'
            f'path "{kv}/metadata/{tenant}/*" {{\n  capabilities = ["read", "list"]\n}}\n')


def test_tenant_check_apply_rerun_drift_offboard(tmp_path, vault, root, tenant_mounts):
    kv, auth = tenant_mounts["kv"], tenant_mounts["auth"]
    tenant = "it" + uuid.uuid4().hex[:8]
    args = {"tenant": tenant, "auth_mount_path": auth, "kv_mount_path": kv, "token_ttl": "10m"}
    role_path = f"auth/{auth}/role/{tenant}"
    try:
        check, _ = play(tmp_path, vault, "vault_tenant", args, check=True, diff=True)
        assert ok(check)["changed"] and check["changed_parts"] == ["policy", "role"]
        assert check["api_requests"]["write"] == 0 and check["diff"]["before"] == {"policy": None, "role": None}
        assert read_path(root, role_path) is None and read_policy(root, f"tenant-{tenant}") is None

        applied, _ = play(tmp_path, vault, "vault_tenant", args, diff=True)
        assert ok(applied)["changed"] and applied["actions"] == check["actions"]
        assert applied["policy_name"] == f"tenant-{tenant}" and applied["role_name"] == tenant
        assert read_policy(root, f"tenant-{tenant}") == expected_tenant_policy(kv, tenant)
        role = read_path(root, role_path)["data"]
        assert role["bound_service_account_names"] == ["workload"]
        assert role["bound_service_account_namespaces"] == [tenant]
        assert role["audience"] == "vault" and role["token_policies"] == [f"tenant-{tenant}"]
        assert (role["token_ttl"], role["token_max_ttl"]) == (600, 3600)

        for rerun in (play(tmp_path, vault, "vault_tenant", args, check=True)[0],
                      play(tmp_path, vault, "vault_tenant", args)[0]):
            unchanged(rerun)
            # Two reads per tenant on a run with nothing to do: the role and the policy.
            assert rerun["api_requests"] == {"read": 2, "write": 0} and rerun["changed_parts"] == []

        # By hand: a wider role and a wider policy. The module narrows both back.
        root.write(role_path, bound_service_account_names=["workload", "intruder"],
                   bound_service_account_namespaces=["*"], token_policies=[f"tenant-{tenant}", "default"],
                   audience="vault", token_ttl=86400, token_max_ttl=86400)
        root.sys.create_or_update_acl_policy(f"tenant-{tenant}", f'path "{kv}/*" {{ capabilities = ["read"] }}')
        drift, _ = play(tmp_path, vault, "vault_tenant", args, diff=True)
        assert ok(drift)["changed"] and drift["changed_parts"] == ["policy", "role"]
        assert drift["diff"]["before"]["role"]["bound_service_account_namespaces"] == ["*"]
        assert drift["diff"]["after"]["role"]["token_ttl"] == 600
        assert read_policy(root, f"tenant-{tenant}") == expected_tenant_policy(kv, tenant)
        role = read_path(root, role_path)["data"]
        assert role["bound_service_account_namespaces"] == [tenant] and role["bound_service_account_names"] == ["workload"]
        assert role["token_policies"] == [f"tenant-{tenant}"] and role["token_ttl"] == 600

        # Offboarding keeps the secrets unless asked; check mode with the flag predicts and deletes nothing.
        for key in ("app/db", "app/nested/api", "config"):
            root.secrets.kv.v2.create_or_update_secret(mount_point=kv, path=f"{tenant}/{key}", secret={"v": key})
        root.secrets.kv.v2.create_or_update_secret(mount_point=kv, path="other/config", secret={"v": "other"})
        absent = {**args, "state": "absent"}
        purge_check, _ = play(tmp_path, vault, "vault_tenant", {**absent, "purge_secrets": True}, check=True, diff=True)
        assert ok(purge_check)["changed"] and purge_check["secrets_deleted"] == 3
        assert purge_check["changed_parts"] == ["policy", "role", "secrets"]
        assert purge_check["api_requests"]["write"] == 0 and read_path(root, role_path) is not None
        assert len(root.secrets.kv.v2.list_secrets(mount_point=kv, path=f"{tenant}/")["data"]["keys"]) == 2

        offboarded, _ = play(tmp_path, vault, "vault_tenant", absent)
        assert ok(offboarded)["changed"] and offboarded["changed_parts"] == ["policy", "role"]
        assert offboarded["actions"] == [f"delete role {role_path}", f"delete policy tenant-{tenant}"]
        assert read_path(root, role_path) is None and read_policy(root, f"tenant-{tenant}") is None
        assert root.secrets.kv.v2.read_secret_version(mount_point=kv, path=f"{tenant}/config",
                                                      raise_on_deleted_version=True)["data"]["data"] == {"v": "config"}
        unchanged(play(tmp_path, vault, "vault_tenant", absent)[0])

        purged, _ = play(tmp_path, vault, "vault_tenant", {**absent, "purge_secrets": True})
        assert ok(purged)["changed"] and purged["changed_parts"] == ["secrets"] and purged["secrets_deleted"] == 3
        with pytest.raises(hvac.exceptions.InvalidPath):
            root.secrets.kv.v2.list_secrets(mount_point=kv, path=f"{tenant}/")
        # Another tenant's folder is untouched.
        assert root.secrets.kv.v2.read_secret_version(mount_point=kv, path="other/config",
                                                      raise_on_deleted_version=True)["data"]["data"] == {"v": "other"}
        unchanged(play(tmp_path, vault, "vault_tenant", {**absent, "purge_secrets": True})[0])
    finally:
        root.sys.delete_acl_policy(f"tenant-{tenant}")


def test_tenant_role_on_a_missing_auth_mount_fails_naming_auth_mount_path(tmp_path, vault, root, tenant_mounts):
    tenant = "it" + uuid.uuid4().hex[:8]
    args = {"tenant": tenant, "auth_mount_path": tenant_mounts["auth"] + "-missing", "kv_mount_path": tenant_mounts["kv"]}
    message = failed(play(tmp_path, vault, "vault_tenant", args)[0])
    assert message.startswith("auth_mount_path: there is nothing at auth/") and "vault_kubernetes_auth" in message
    assert read_policy(root, f"tenant-{tenant}") is None  # failed before any write


TENANT_BAD_INPUTS = {
    "upper-case": ({"tenant": "Acme"}, "tenant: 'Acme' is not a DNS-1123 label"),
    "reserved-prefix": ({"tenant": "kube-public"}, "tenant: 'kube-public' is reserved for the platform"),
    "reserved-name": ({"tenant": "vault"}, "tenant: 'vault' is reserved for the platform"),
    "too-long": ({"tenant": "t" * 41}, "tenant: 't"),
    "bad-namespace": ({"kubernetes_namespace": "Not_A_Namespace"}, "kubernetes_namespace: 'Not_A_Namespace'"),
    "bad-service-account": ({"service_account": "work load"}, "service_account: 'work load'"),
    "empty-audience": ({"audience": " "}, "audience must not be empty"),
    "bad-ttl": ({"token_ttl": "15 minutes"}, "token_ttl: '15 minutes' is not a duration"),
    "ttl-over-max": ({"token_ttl": "2h", "token_max_ttl": "1h"}, "token_ttl (7200s) is longer than token_max_ttl"),
    "bad-kv-path": ({"kv_mount_path": "a//b c"}, "kv_mount_path: 'a//b c' is not a mount path"),
}


@pytest.mark.parametrize("region", ["us-east-1"])
def test_tenant_bad_input_fails_naming_the_field_before_any_request(tmp_path, vault, root, tenant_mounts):
    # Every case in one ansible-playbook process; the last task is the twin that must succeed (in check mode).
    twin = {"tenant": "it" + uuid.uuid4().hex[:8], "auth_mount_path": tenant_mounts["auth"],
            "kv_mount_path": tenant_mounts["kv"]}
    cases = sorted(TENANT_BAD_INPUTS)
    tasks = [{"module": "vault_tenant", "args": {**twin, **TENANT_BAD_INPUTS[case][0]}, "ignore_errors": True}
             for case in cases]
    results, _ = play_tasks(tmp_path, vault, [*tasks, {"module": "vault_tenant", "args": twin, "check_mode": True}])
    for case, result in zip(cases, results):
        assert TENANT_BAD_INPUTS[case][1] in failed(result), case
        assert result["api_requests"] == {}, case
        if case == "too-long":
            assert "at most 40 are allowed" in result["msg"]
    assert ok(results[-1])["changed"] and results[-1]["api_requests"]["write"] == 0


# ---------------------------------------------------------------- vault_tenants (many tenants in one call)

def tenants_args(mounts: dict, tenants: list, **shared) -> dict:
    return {"auth_mount_path": mounts["auth"], "kv_mount_path": mounts["kv"], "tenants": tenants, **shared}


def role_of(root: hvac.Client, mounts: dict, tenant: str) -> dict | None:
    answer = read_path(root, f"auth/{mounts['auth']}/role/{tenant}")
    return answer["data"] if answer else None


@pytest.fixture
def batch_tenants(root, tenant_mounts):
    """Names for this test's tenants; their policies go afterwards (the mounts fixture removes roles and secrets)."""
    run = uuid.uuid4().hex[:6]
    names: list[str] = []

    def make(label: str) -> str:
        names.append(f"it{run}-{label}")
        return names[-1]

    yield make
    for name in names:
        root.sys.delete_acl_policy(f"tenant-{name}")


@pytest.mark.parametrize("region", ["eu-west-1"])
def test_tenants_batch_check_apply_rerun_drift_offboard(tmp_path, vault, root, tenant_mounts, batch_tenants):
    acme, globex, initech, never = (batch_tenants(label) for label in ("acme", "globex", "initech", "never"))
    present = [{"name": acme}, {"name": globex, "token_ttl": "5m"}, {"name": initech}]
    args = tenants_args(tenant_mounts, [*present, {"name": never, "state": "absent"}], token_ttl="10m")
    check, apply, recheck, rerun = play_tasks(tmp_path, vault, [
        {"module": "vault_tenants", "args": args, "check_mode": True, "diff": True},
        {"module": "vault_tenants", "args": args, "diff": True},
        {"module": "vault_tenants", "args": args, "check_mode": True, "diff": True},
        {"module": "vault_tenants", "args": args}])[0]
    assert ok(check)["changed"] and check["api_requests"]["write"] == 0
    assert [entry["before_header"] for entry in check["diff"]] == [f"tenant {acme}", f"tenant {globex}", f"tenant {initech}"]
    assert check["diff"][1]["after"]["role"]["token_ttl"] == 300 and check["diff"][0]["before"] == {"policy": None, "role": None}
    assert ok(apply)["actions"] == check["actions"] and apply["api_requests"]["write"] == 6
    assert (apply["tenants"][never]["changed"], apply["tenants"][never]["state"]) == (False, "absent")
    assert read_policy(root, f"tenant-{globex}") == expected_tenant_policy(tenant_mounts["kv"], globex)
    assert role_of(root, tenant_mounts, globex)["token_ttl"] == 300 and role_of(root, tenant_mounts, acme)["token_ttl"] == 600
    assert role_of(root, tenant_mounts, initech)["bound_service_account_namespaces"] == [initech]
    for again in (recheck, rerun):
        unchanged(again)
        # sys/auth, LIST policies, LIST roles, then one GET per policy and role: 3 + 2 x 3 reads for 6 objects.
        assert again["api_requests"] == {"read": 9, "write": 0} and not again.get("diff")

    # By hand: globex's role admits every namespace, initech's policy reads everything. The next call repairs
    # exactly those, shows only those two tenants' diffs, and offboards acme in the same call (secrets purged).
    root.write(f"auth/{tenant_mounts['auth']}/role/{globex}", bound_service_account_names=["workload"],
               bound_service_account_namespaces=["*"], token_policies=[f"tenant-{globex}"], audience="vault",
               token_ttl=300, token_max_ttl=3600)
    root.sys.create_or_update_acl_policy(f"tenant-{initech}", f'path "{tenant_mounts["kv"]}/*" {{ capabilities = ["read"] }}')
    root.secrets.kv.v2.create_or_update_secret(mount_point=tenant_mounts["kv"], path=f"{acme}/db", secret={"v": "1"})
    root.secrets.kv.v2.create_or_update_secret(mount_point=tenant_mounts["kv"], path=f"{globex}/db", secret={"v": "2"})
    offboard = tenants_args(tenant_mounts, [{"name": acme, "state": "absent", "purge_secrets": True}, *present[1:]],
                            token_ttl="10m")
    repaired, again = play_tasks(tmp_path, vault, [{"module": "vault_tenants", "args": offboard, "diff": True},
                                                   {"module": "vault_tenants", "args": offboard}])[0]
    assert ok(repaired)["actions"] == [
        f"delete role auth/{tenant_mounts['auth']}/role/{acme}", f"delete policy tenant-{acme}",
        f"delete secret {tenant_mounts['kv']}/metadata/{acme}/db",
        f"update role auth/{tenant_mounts['auth']}/role/{globex} (bound_service_account_namespaces)",
        f"update policy tenant-{initech} (policy)"]
    assert [entry["after_header"] for entry in repaired["diff"]] == [f"tenant {acme}", f"tenant {globex}", f"tenant {initech}"]
    assert repaired["diff"][1]["before"]["role"]["bound_service_account_namespaces"] == ["*"]
    assert repaired["tenants"][acme]["secrets_deleted"] == 1
    assert role_of(root, tenant_mounts, globex)["bound_service_account_namespaces"] == [globex]
    assert read_policy(root, f"tenant-{initech}") == expected_tenant_policy(tenant_mounts["kv"], initech)
    assert role_of(root, tenant_mounts, acme) is None and read_policy(root, f"tenant-{acme}") is None
    # The other tenant's secret stays.
    assert root.secrets.kv.v2.read_secret_version(mount_point=tenant_mounts["kv"], path=f"{globex}/db",
                                                  raise_on_deleted_version=True)["data"]["data"] == {"v": "2"}
    unchanged(again)
    # Offboarded acme costs nothing more than the LIST of the KV folders: 4 LISTs/reads + 2 x 2 GETs.
    assert again["api_requests"] == {"read": 8, "write": 0}


@pytest.mark.parametrize("region", ["eu-west-1"])
def test_tenants_failure_names_the_tenant_lists_those_converged_and_a_rerun_completes(
        tmp_path, vault, root, tenant_mounts, batch_tenants):
    first, refused, last = batch_tenants("ok-1"), batch_tenants("no"), batch_tenants("ok-2")
    auth = tenant_mounts["auth"]
    allowed = first[:-1]  # it<run>-ok-
    # A token the server lets manage only the ok-* tenants: the refusal is the server's own.
    limited_policy = f"it-limited-{uuid.uuid4().hex[:6]}"
    root.sys.create_or_update_acl_policy(limited_policy, f"""
path "sys/auth" {{ capabilities = ["read"] }}
path "sys/policies/acl" {{ capabilities = ["list"] }}
path "auth/{auth}/role" {{ capabilities = ["list"] }}
path "sys/policies/acl/tenant-{allowed}*" {{ capabilities = ["read", "create", "update"] }}
path "auth/{auth}/role/{allowed}*" {{ capabilities = ["read", "create", "update"] }}
""")
    try:
        limited = root.auth.token.create(policies=[limited_policy], ttl="10m")["auth"]["client_token"]
        args = tenants_args(tenant_mounts, [{"name": first}, {"name": refused}, {"name": last}])
        failure, completed = play_tasks(tmp_path, vault, [
            {"module": "vault_tenants", "args": {**args, "token": limited}, "ignore_errors": True},
            {"module": "vault_tenants", "args": args}])[0]
    finally:
        root.sys.delete_acl_policy(limited_policy)
    message = failed(failure)
    assert message.startswith(f"tenant {refused}: create policy tenant-{refused} failed: "), message
    assert "permission denied" in message and limited not in message
    assert failure["failed_tenant"] == refused and list(failure["tenants"]) == [first]
    assert failure["tenants"][first]["changed_parts"] == ["policy", "role"]
    # The re-run with a token that may completes the rest; the tenant converged before the failure is unchanged.
    assert ok(completed)["actions"] == [f"create policy tenant-{refused}", f"create role auth/{auth}/role/{refused}",
                                        f"create policy tenant-{last}", f"create role auth/{auth}/role/{last}"]
    assert completed["tenants"][first]["changed"] is False
    assert all(role_of(root, tenant_mounts, name) for name in (first, refused, last))


@pytest.mark.parametrize("region", ["eu-west-1"])
def test_tenants_bad_input_is_refused_before_any_request_and_its_twin_succeeds(
        tmp_path, vault, root, tenant_mounts, batch_tenants):
    kept, good, other = batch_tenants("kept"), batch_tenants("good"), batch_tenants("other")
    bad = {
        "tenants[1].name: 'Not_A_Tenant' is not a DNS-1123 label": [{"name": kept}, {"name": "Not_A_Tenant"}],
        f"tenants[2].name: '{kept}' is listed twice (also tenants[0])": [{"name": kept}, {"name": other}, {"name": kept}],
        "tenants[1].token_ttl: '15 minutes' is not a duration": [{"name": kept}, {"name": other, "token_ttl": "15 minutes"}],
    }
    results, _ = play_tasks(tmp_path, vault, [
        *({"module": "vault_tenants", "args": tenants_args(tenant_mounts, tenants), "ignore_errors": True}
          for tenants in bad.values()),
        {"module": "vault_tenants", "args": tenants_args(tenant_mounts, [{"name": good}, {"name": other}])}])
    for (expected, _), result in zip(bad.items(), results):
        assert failed(result).startswith(expected) and result["api_requests"] == {} and result["tenants"] == {}
    assert ok(results[-1])["changed"] and sorted(results[-1]["tenants"]) == sorted([good, other])
    assert role_of(root, tenant_mounts, good) and read_policy(root, f"tenant-{other}")
    # The tenant listed first in every refused call was never created.
    assert role_of(root, tenant_mounts, kept) is None and read_policy(root, f"tenant-{kept}") is None


# ---------------------------------------------------------------- vault_secrets_engine

@pytest.fixture
def engine_path(root):
    path = unique("engine")
    yield path
    if f"{path}/" in root.sys.list_mounted_secrets_engines()["data"]:
        root.sys.disable_secrets_engine(path)


def mounts(root: hvac.Client) -> dict:
    return root.sys.list_mounted_secrets_engines()["data"]


def test_secrets_engine_check_apply_rerun_drift_absent(tmp_path, vault, root, engine_path):
    args = {"path": engine_path, "engine_type": "kv", "options": {"version": 2}, "description": "it tenants"}
    check, _ = play(tmp_path, vault, "vault_secrets_engine", args, check=True, diff=True)
    assert ok(check)["changed"] and check["api_requests"] == {"read": 1, "write": 0}
    assert check["diff"] == {"before": {}, "after": {"type": "kv", "description": "it tenants",
                                                     "options": {"version": "2"}}}
    assert f"{engine_path}/" not in mounts(root)

    applied, _ = play(tmp_path, vault, "vault_secrets_engine", args)
    assert ok(applied)["changed"] and applied["exists"] and applied["engine_type"] == "kv"
    mount = mounts(root)[f"{engine_path}/"]
    assert mount["type"] == "kv" and mount["options"]["version"] == "2" and mount["description"] == "it tenants"
    for rerun in (play(tmp_path, vault, "vault_secrets_engine", args, check=True)[0],
                  play(tmp_path, vault, "vault_secrets_engine", args)[0]):
        unchanged(rerun)
    # kv-v2 is the same engine: nothing to do.
    unchanged(play(tmp_path, vault, "vault_secrets_engine", {**args, "engine_type": "kv-v2", "options": {}})[0])

    root.sys.tune_mount_configuration(engine_path, description="changed by hand")
    drift, _ = play(tmp_path, vault, "vault_secrets_engine", args, diff=True)
    assert ok(drift)["changed"] and drift["actions"] == [f"update secrets engine {engine_path} (description)"]
    assert drift["diff"]["before"]["description"] == "changed by hand"
    assert mounts(root)[f"{engine_path}/"]["description"] == "it tenants"

    root.secrets.kv.v2.create_or_update_secret(mount_point=engine_path, path="keep/me", secret={"v": "1"})
    absent = {"path": engine_path, "engine_type": "kv", "state": "absent"}
    absent_check, _ = play(tmp_path, vault, "vault_secrets_engine", absent, check=True)
    assert ok(absent_check)["changed"] and f"{engine_path}/" in mounts(root)
    gone, _ = play(tmp_path, vault, "vault_secrets_engine", absent)
    assert ok(gone)["changed"] and not gone["exists"] and f"{engine_path}/" not in mounts(root)
    unchanged(play(tmp_path, vault, "vault_secrets_engine", absent)[0])


def test_a_mount_of_another_type_fails_clearly_and_is_kept(tmp_path, vault, root, engine_path):
    root.sys.enable_secrets_engine("transit", path=engine_path)
    for args in ({"path": engine_path, "engine_type": "kv", "options": {"version": "2"}},
                 {"path": engine_path, "engine_type": "kv", "state": "absent"}):
        result, _ = play(tmp_path, vault, "vault_secrets_engine", args)
        message = failed(result)
        assert message.startswith(f"path: '{engine_path}' already holds a secrets engine of type 'transit', not 'kv'")
        assert "Fix: choose another path" in message and result["existing_type"] == "transit"
        assert mounts(root)[f"{engine_path}/"]["type"] == "transit"
        assert result["api_requests"] == {"read": 1, "write": 0}


# ---------------------------------------------------------------- vault_kubernetes_auth against the real API server

@pytest.fixture
def cluster(lab, region, kube_api):
    """A namespace with a reviewer (bound to system:auth-delegator) and two workload service accounts."""
    from kubernetes import client as k8s

    api = kube_api(region, "admin")
    core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
    namespace = unique("vault")
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    for name in ("reviewer", "workload", "other"):
        core.create_namespaced_service_account(namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=name)))
    binding = f"{namespace}-reviewer"
    rbac.create_cluster_role_binding(k8s.V1ClusterRoleBinding(
        metadata=k8s.V1ObjectMeta(name=binding),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="system:auth-delegator"),
        subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name="reviewer", namespace=namespace)]))

    def token(service_account: str, audiences: list | None = None) -> str:
        request = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(
            audiences=audiences or [], expiration_seconds=3600))
        return core.create_namespaced_service_account_token(service_account, namespace, request).status.token

    kubernetes = lab["regions"][region]["kubernetes"]
    yield {"namespace": namespace, "token": token, "host": kubernetes["api_server"],
           "ca_cert": pathlib.Path(kubernetes["ca_file"]).read_text(), "issuer": kubernetes["service_account_issuer"],
           "core": core}
    rbac.delete_cluster_role_binding(binding)
    core.delete_namespace(namespace)


@pytest.fixture
def auth_path(root):
    path = unique("k8s")
    yield path
    if f"{path}/" in root.sys.list_auth_methods()["data"]:
        root.sys.disable_auth_method(path)


def test_kubernetes_auth_is_configured_so_a_bound_service_account_really_logs_in(
        tmp_path, vault, root, cluster, auth_path, engine_path):
    reviewer_jwt = cluster["token"]("reviewer")
    args = {"mount_path": auth_path, "description": "it cluster", "kubernetes_host": cluster["host"],
            "kubernetes_ca_cert": cluster["ca_cert"], "token_reviewer_jwt": reviewer_jwt, "issuer": cluster["issuer"]}

    check, out = play(tmp_path, vault, "vault_kubernetes_auth", args, check=True, diff=True)
    assert ok(check)["changed"] and check["api_requests"] == {"read": 1, "write": 0}
    assert check["diff"]["after"]["config"]["token_reviewer_jwt"] == "(set)" and reviewer_jwt not in out
    assert f"{auth_path}/" not in root.sys.list_auth_methods()["data"]

    applied, out = play(tmp_path, vault, "vault_kubernetes_auth", args, diff=True)
    assert ok(applied)["changed"] and applied["actions"] == check["actions"] and reviewer_jwt not in out
    assert root.sys.list_auth_methods()["data"][f"{auth_path}/"]["type"] == "kubernetes"
    config = root.read(f"auth/{auth_path}/config")["data"]
    assert config["kubernetes_host"] == cluster["host"] and config["token_reviewer_jwt_set"] is True
    assert config["issuer"] == cluster["issuer"] and config["disable_local_ca_jwt"] is True

    rerun, out = play(tmp_path, vault, "vault_kubernetes_auth", args, diff=True)
    unchanged(rerun)
    assert rerun["diff"]["before"] == rerun["diff"]["after"] and reviewer_jwt not in out
    assert rerun["diff"]["after"]["config"]["token_reviewer_jwt"] == "(set)"

    # A tenant on this mount; its workload logs in with a token the API server issued for the audience.
    root.sys.enable_secrets_engine("kv", path=engine_path, options={"version": "2"})
    tenant, namespace = "it" + uuid.uuid4().hex[:8], cluster["namespace"]
    root.secrets.kv.v2.create_or_update_secret(mount_point=engine_path, path=f"{tenant}/db", secret={"password": "x"})
    root.secrets.kv.v2.create_or_update_secret(mount_point=engine_path, path="someone-else/db", secret={"v": "y"})
    try:
        ok(play(tmp_path, vault, "vault_tenant", {"tenant": tenant, "auth_mount_path": auth_path,
                                                  "kv_mount_path": engine_path, "kubernetes_namespace": namespace})[0])
        login = hvac.Client(url=vault["addr"]).auth.kubernetes.login(
            role=tenant, jwt=cluster["token"]("workload", ["vault"]), mount_point=auth_path)
        assert sorted(login["auth"]["token_policies"]) == ["default", f"tenant-{tenant}"]
        assert login["auth"]["metadata"]["service_account_namespace"] == namespace
        workload = hvac.Client(url=vault["addr"], token=login["auth"]["client_token"])
        assert workload.secrets.kv.v2.read_secret_version(
            mount_point=engine_path, path=f"{tenant}/db", raise_on_deleted_version=True)["data"]["data"] == {"password": "x"}
        with pytest.raises(hvac.exceptions.Forbidden):
            workload.secrets.kv.v2.read_secret_version(mount_point=engine_path, path="someone-else/db",
                                                       raise_on_deleted_version=True)
        # Another service account of the namespace, and the right one with the wrong audience, are refused.
        for jwt in (cluster["token"]("other", ["vault"]), cluster["token"]("workload", ["not-vault"])):
            with pytest.raises((hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest)):
                hvac.Client(url=vault["addr"]).auth.kubernetes.login(role=tenant, jwt=jwt, mount_point=auth_path)
    finally:
        root.sys.delete_acl_policy(f"tenant-{tenant}")

    # By hand: the config points elsewhere and loses its issuer and reviewer JWT. The module puts it all back.
    root.write(f"auth/{auth_path}/config", kubernetes_host="https://127.0.0.1:1", disable_local_ca_jwt=True,
               kubernetes_ca_cert=cluster["ca_cert"])
    drift, out = play(tmp_path, vault, "vault_kubernetes_auth", args, diff=True)
    assert ok(drift)["changed"] and reviewer_jwt not in out
    assert drift["actions"] == [f"write auth/{auth_path}/config (kubernetes_host, issuer, disable_iss_validation, "
                                "token_reviewer_jwt)"]
    assert drift["diff"]["before"]["config"]["token_reviewer_jwt"] == "(not set)"
    assert drift["diff"]["after"]["config"]["token_reviewer_jwt"] == "(set)"
    config = root.read(f"auth/{auth_path}/config")["data"]
    assert config["kubernetes_host"] == cluster["host"] and config["token_reviewer_jwt_set"] is True

    always = {**args, "update_token_reviewer_jwt": "always"}
    rotated, out = play(tmp_path, vault, "vault_kubernetes_auth", always, diff=True)
    assert ok(rotated)["changed"] and rotated["diff"]["after"]["config"]["token_reviewer_jwt"] == "(replaced)"
    assert reviewer_jwt not in out

    absent = {"mount_path": auth_path, "state": "absent"}
    absent_check, _ = play(tmp_path, vault, "vault_kubernetes_auth", absent, check=True)
    assert ok(absent_check)["changed"] and f"{auth_path}/" in root.sys.list_auth_methods()["data"]
    gone, _ = play(tmp_path, vault, "vault_kubernetes_auth", absent)
    assert ok(gone)["changed"] and f"{auth_path}/" not in root.sys.list_auth_methods()["data"]
    unchanged(play(tmp_path, vault, "vault_kubernetes_auth", absent)[0])


def test_kubernetes_auth_refuses_another_auth_type_and_bad_config_before_any_write(tmp_path, vault, root, auth_path):
    root.sys.enable_auth_method("approle", path=auth_path)
    result, _ = play(tmp_path, vault, "vault_kubernetes_auth",
                     {"mount_path": auth_path, "kubernetes_host": "https://127.0.0.1:6443",
                      "kubernetes_ca_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"})
    assert failed(result).startswith(f"mount_path: '{auth_path}' already holds an auth method of type 'approle'")
    assert root.sys.list_auth_methods()["data"][f"{auth_path}/"]["type"] == "approle"
    for change, expected in (({"kubernetes_host": "127.0.0.1:6443"}, "kubernetes_host: '127.0.0.1:6443' is not a URL"),
                             ({"kubernetes_ca_cert": "/etc/ca.crt"}, "kubernetes_ca_cert is not PEM text"),
                             ({"kubernetes_ca_cert": None}, "kubernetes_ca_cert is required")):
        args = {"mount_path": auth_path, "kubernetes_host": "https://127.0.0.1:6443",
                "kubernetes_ca_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", **change}
        result, _ = play(tmp_path, vault, "vault_kubernetes_auth", {k: v for k, v in args.items() if v is not None})
        assert failed(result).startswith(expected) and result["api_requests"] == {}


def test_kubernetes_auth_discovers_the_issuer_from_the_real_api_server(tmp_path, vault, root, cluster, auth_path):
    reviewer_jwt = cluster["token"]("reviewer")
    args = {"mount_path": auth_path, "kubernetes_host": cluster["host"], "kubernetes_ca_cert": cluster["ca_cert"],
            "token_reviewer_jwt": reviewer_jwt, "discover_issuer": True}
    check, _ = play(tmp_path, vault, "vault_kubernetes_auth", args, check=True, diff=True)
    assert ok(check)["changed"] and check["diff"]["after"]["config"]["issuer"] == cluster["issuer"]
    assert f"{auth_path}/" not in root.sys.list_auth_methods()["data"]
    applied, out = play(tmp_path, vault, "vault_kubernetes_auth", args)
    assert ok(applied)["changed"] and reviewer_jwt not in out
    config = root.read(f"auth/{auth_path}/config")["data"]
    assert config["issuer"] == cluster["issuer"] and config["disable_iss_validation"] is False
    # The twin that must agree: the same issuer given explicitly changes nothing.
    unchanged(play(tmp_path, vault, "vault_kubernetes_auth",
                   {**{k: v for k, v in args.items() if k != "discover_issuer"}, "issuer": cluster["issuer"]})[0])
    unchanged(play(tmp_path, vault, "vault_kubernetes_auth", args)[0])

    # A document that cannot be read (a token the API server does not accept) fails naming the URL; nothing changes.
    refused, out = play(tmp_path, vault, "vault_kubernetes_auth", {**args, "token_reviewer_jwt": "not-a-token"})
    assert failed(refused).startswith(
        f"{cluster['host']}/.well-known/openid-configuration answered 401 instead of the discovery document")
    assert "not-a-token" not in out and root.read(f"auth/{auth_path}/config")["data"]["issuer"] == cluster["issuer"]
    both, _ = play(tmp_path, vault, "vault_kubernetes_auth", {**args, "issuer": cluster["issuer"]})
    assert failed(both).startswith("issuer and discover_issuer: give the issuer or have it discovered, not both")
