"""The pure plans of module_utils/_vault: what each object needs, compared the way the server stores it."""

from __future__ import annotations

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._vault.errors import (
    VaultConflict,
    VaultInvalidInput,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.kubernetes_auth import (
    kubernetes_config_spec,
    plan_kubernetes_config,
    plan_role,
    plan_role_absent,
    role_spec,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.mounts import (
    plan_auth_mount,
    plan_secrets_engine,
    secrets_engine_spec,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.plan import (
    CREATE,
    DELETE,
    NOTHING,
    UPDATE,
    duration_seconds,
    mount_path,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.policy import (
    normalise_policy_text,
    plan_policy,
    policy_name,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.tenant import (
    TenantSpec,
    tenant_policy_text,
    tenant_requests,
    tenant_role_spec,
)

CA = "-----BEGIN CERTIFICATE-----\nMIIBujCCAWCgAwIBAgIU\n-----END CERTIFICATE-----\n"
JWT = "eyJhbGciOiJSUzI1NiJ9.reviewer.signature"


# ---------------------------------------------------------------- shared parsers

@pytest.mark.parametrize("value, seconds", [(900, 900), ("900", 900), ("15m", 900), ("1h", 3600), ("1h30m", 5400),
                                            ("90s", 90), (0, 0)])
def test_durations_are_read_like_vault_reads_them(value, seconds):
    assert duration_seconds(value, "token_ttl") == seconds


@pytest.mark.parametrize("value", ["15 minutes", "1d", "", None, -5, True, "m15", "1h 30m"])
def test_a_bad_duration_names_the_field(value):
    with pytest.raises(VaultInvalidInput, match=r"^token_max_ttl: .* is not a duration"):
        duration_seconds(value, "token_max_ttl")


def test_mount_paths_lose_their_slashes_and_bad_ones_name_the_field():
    assert mount_path("/tenants/", "path") == "tenants"
    assert mount_path("team/kv", "path") == "team/kv"
    for bad in ("", "/", "a//b", "a b", None):
        with pytest.raises(VaultInvalidInput, match=r"^kv_mount_path: "):
            mount_path(bad, "kv_mount_path")


# ---------------------------------------------------------------- secrets engines

KV2 = {"type": "kv", "description": "tenants", "options": {"version": "2"}, "accessor": "kv_1", "config": {}}


def test_kv_v2_is_kv_with_version_2_and_options_become_strings():
    assert secrets_engine_spec("t", "kv-v2", None, None)["options"] == {"version": "2"}
    assert secrets_engine_spec("t", "kv", {"version": 2}, None)["options"] == {"version": "2"}
    with pytest.raises(VaultInvalidInput, match="^options.version '1' contradicts engine_type"):
        secrets_engine_spec("t", "kv-v2", {"version": 1}, None)


@pytest.mark.parametrize("path", ["sys", "cubbyhole", "identity/x", "auth"])
def test_reserved_secret_paths_are_refused(path):
    with pytest.raises(VaultInvalidInput, match=r"^path: .* is reserved by Vault"):
        secrets_engine_spec(path, "kv", None, None)


def test_secrets_engine_create_nothing_tune_and_delete():
    spec = secrets_engine_spec("tenants", "kv", {"version": "2"}, "tenants")
    create = plan_secrets_engine(None, spec, "present")
    assert create.action == CREATE and create.body == {"type": "kv", "options": {"version": "2"},
                                                       "description": "tenants"}
    same = plan_secrets_engine(KV2, spec, "present")
    assert same.action == NOTHING and same.before == same.after
    # An option the spec does not give is not managed, and a missing description is left alone.
    assert plan_secrets_engine(dict(KV2, options={"version": "2", "other": "x"}),
                               secrets_engine_spec("tenants", "kv", {}, None), "present").action == NOTHING
    tune = plan_secrets_engine(dict(KV2, description="by hand", options={"version": "1"}), spec, "present")
    assert tune.action == UPDATE and tune.changes == ("description", "options.version")
    assert tune.body == {"description": "tenants", "options": {"version": "2"}}
    assert plan_secrets_engine(KV2, spec, "absent").action == DELETE
    assert plan_secrets_engine(None, spec, "absent").action == NOTHING


def test_a_mount_of_another_type_is_a_conflict_never_a_replacement():
    spec = secrets_engine_spec("tenants", "kv", None, None)
    for state in ("present", "absent"):
        with pytest.raises(VaultConflict, match="^path: 'tenants' already holds a secrets engine of type 'transit'"):
            plan_secrets_engine({"type": "transit"}, spec, state)
    # Absent without a type disables whatever is there.
    assert plan_secrets_engine({"type": "transit"}, secrets_engine_spec("tenants", None, None, None),
                               "absent").action == DELETE


def test_auth_mounts():
    assert plan_auth_mount(None, "k8s", "kubernetes", "d", "present").body == {"type": "kubernetes", "description": "d"}
    assert plan_auth_mount({"type": "kubernetes", "description": "d"}, "k8s", "kubernetes", "d", "present").action == NOTHING
    assert plan_auth_mount({"type": "kubernetes", "description": ""}, "k8s", "kubernetes", None, "present").action == NOTHING
    tune = plan_auth_mount({"type": "kubernetes", "description": "x"}, "k8s", "kubernetes", "d", "present")
    assert tune.action == UPDATE and tune.body == {"description": "d"}
    with pytest.raises(VaultConflict, match="^mount_path: 'k8s' already holds an auth method of type 'approle'"):
        plan_auth_mount({"type": "approle"}, "k8s", "kubernetes", None, "absent")
    with pytest.raises(VaultInvalidInput, match="^mount_path: 'token' is the token auth method"):
        plan_auth_mount(None, "token", "kubernetes", None, "present")


# ---------------------------------------------------------------- Kubernetes auth config

SPEC = kubernetes_config_spec("https://127.0.0.1:21443/", CA, "https://issuer.example", True)
STORED = {"kubernetes_host": "https://127.0.0.1:21443", "kubernetes_ca_cert": CA.replace("\n", "\r\n"),
          "issuer": "https://issuer.example", "disable_local_ca_jwt": True, "disable_iss_validation": False,
          "pem_keys": [], "token_reviewer_jwt_set": True}


def test_config_spec_checks_the_fields_the_server_would_misuse():
    assert SPEC["kubernetes_host"] == "https://127.0.0.1:21443" and SPEC["disable_iss_validation"] is False
    assert kubernetes_config_spec("https://h", CA, None, True)["disable_iss_validation"] is True
    with pytest.raises(VaultInvalidInput, match="^kubernetes_host: '127.0.0.1:6443' is not a URL"):
        kubernetes_config_spec("127.0.0.1:6443", CA, None, True)
    with pytest.raises(VaultInvalidInput, match="^kubernetes_ca_cert is not PEM text"):
        kubernetes_config_spec("https://h", "/etc/ca.crt", None, True)
    with pytest.raises(VaultInvalidInput, match="^kubernetes_ca_cert is required"):
        kubernetes_config_spec("https://h", None, None, True)
    assert kubernetes_config_spec("https://h", None, None, False)["kubernetes_ca_cert"] == ""


def test_config_unchanged_when_fields_match_and_the_jwt_is_set():
    plan = plan_kubernetes_config(STORED, SPEC, reviewer_jwt_given=True)
    assert plan.action == NOTHING and plan.after["token_reviewer_jwt"] == "(set)"


def test_config_write_always_carries_the_jwt_and_views_never_hold_it():
    create = plan_kubernetes_config(None, SPEC, True)
    assert create.action == CREATE and "token_reviewer_jwt" in create.changes and JWT not in repr(create)
    moved = plan_kubernetes_config(dict(STORED, kubernetes_host="https://old:443"), SPEC, True)
    assert moved.action == UPDATE and moved.changes == ("kubernetes_host", "token_reviewer_jwt")
    assert moved.before["token_reviewer_jwt"] == "(set)" and moved.after["token_reviewer_jwt"] == "(replaced)"
    always = plan_kubernetes_config(STORED, SPEC, True, "always")
    assert always.action == UPDATE and always.changes == ("token_reviewer_jwt",)
    missing = plan_kubernetes_config(dict(STORED, token_reviewer_jwt_set=False), SPEC, True)
    assert missing.changes == ("token_reviewer_jwt",) and missing.after["token_reviewer_jwt"] == "(set)"
    # Given none while the server has one: the write clears it, and the plan says so.
    cleared = plan_kubernetes_config(STORED, SPEC, False)
    assert cleared.changes == ("token_reviewer_jwt",) and cleared.after["token_reviewer_jwt"] == "(not set)"


# ---------------------------------------------------------------- roles

SERVER_ROLE = {"alias_name_source": "serviceaccount_uid", "audience": "vault",
               "bound_service_account_names": ["workload"], "bound_service_account_namespaces": ["acme"],
               "token_policies": ["tenant-acme"], "token_ttl": 900, "token_max_ttl": 3600, "token_type": "default"}


def test_role_compares_in_server_units_and_ignores_unmanaged_fields():
    spec = role_spec(["workload"], ["acme"], ["tenant-acme"], "vault", "15m", "1h")
    assert plan_role(SERVER_ROLE, spec).action == NOTHING
    wider = dict(SERVER_ROLE, bound_service_account_namespaces=["*"], token_ttl=86400)
    plan = plan_role(wider, spec)
    assert plan.action == UPDATE and plan.changes == ("bound_service_account_namespaces", "token_ttl")
    assert "alias_name_source" not in plan.body
    assert plan_role(None, spec).action == CREATE
    assert plan_role_absent(SERVER_ROLE).action == DELETE and plan_role_absent(None).action == NOTHING
    with pytest.raises(VaultInvalidInput, match=r"^token_ttl \(7200s\) is longer than token_max_ttl"):
        role_spec([], [], [], "vault", "2h", "1h")


# ---------------------------------------------------------------- policies

def test_policy_text_differences_that_cannot_matter_are_ignored():
    assert normalise_policy_text('path "a" {}  \r\n\r\n') == 'path "a" {}\n'
    assert plan_policy('path "a" {}\n', "p", 'path "a" {}  \n\n', "present").action == NOTHING
    update = plan_policy('path "a" {}\n', "p", 'path "b" {}', "present")
    assert update.action == UPDATE and update.body == {"policy": 'path "b" {}\n'}
    assert plan_policy(None, "p", 'path "b" {}', "present").action == CREATE
    assert plan_policy('x', "p", None, "absent").action == DELETE and plan_policy(None, "p", None, "absent").action == NOTHING


def test_policy_names_and_built_in_policies():
    assert policy_name("tenant-acme") == "tenant-acme"
    for bad in ("Tenant", "", "a/b", "x" * 129):
        with pytest.raises(VaultInvalidInput, match="^name: "):
            policy_name(bad)
    with pytest.raises(VaultInvalidInput, match="^name: the root policy is built in"):
        policy_name("root")
    with pytest.raises(VaultInvalidInput, match="^name: the default policy is built in and cannot be deleted"):
        plan_policy("x", "default", None, "absent")
    with pytest.raises(VaultInvalidInput, match="^policy is required"):
        plan_policy(None, "p", "  ", "present")


# ---------------------------------------------------------------- tenants

PARAMS = {"tenant": "acme", "auth_mount_path": "kubernetes-us-east-1", "kv_mount_path": "tenants",
          "kubernetes_namespace": None, "service_account": "workload", "audience": "vault",
          "token_ttl": "15m", "token_max_ttl": "1h"}


def test_tenant_defaults_names_and_grants():
    spec = TenantSpec.from_params(PARAMS)
    assert (spec.policy_name, spec.role_name, spec.kubernetes_namespace) == ("tenant-acme", "acme", "acme")
    assert spec.role_path == "auth/kubernetes-us-east-1/role/acme"
    assert spec.secrets_folder == "tenants/metadata/acme"
    paths = [line for line in tenant_policy_text(spec).splitlines() if line.startswith("path")]
    assert paths == ['path "tenants/data/acme/*" {', 'path "tenants/metadata/acme/*" {']
    assert tenant_policy_text(spec).count('capabilities = ["read", "list"]') == 2
    assert tenant_role_spec(spec) == {"bound_service_account_names": ["workload"],
                                      "bound_service_account_namespaces": ["acme"], "token_policies": ["tenant-acme"],
                                      "audience": "vault", "token_ttl": 900, "token_max_ttl": 3600}


@pytest.mark.parametrize("change, field", [
    ({"tenant": "Acme"}, "tenant"), ({"tenant": "kube-system"}, "tenant"), ({"tenant": "vault"}, "tenant"),
    ({"tenant": None}, "tenant"), ({"tenant": "a" * 41}, "tenant"),
    ({"kubernetes_namespace": "Bad_Ns"}, "kubernetes_namespace"), ({"service_account": "a b"}, "service_account"),
    ({"audience": ""}, "audience"), ({"auth_mount_path": "a//b"}, "auth_mount_path"),
    ({"kv_mount_path": ""}, "kv_mount_path"),
])
def test_bad_tenant_input_names_its_field(change, field):
    with pytest.raises(VaultInvalidInput) as raised:
        TenantSpec.from_params({**PARAMS, **change})
    assert raised.value.details["field"] == field and str(raised.value).startswith(field)


# ---------------------------------------------------------------- many tenants (vault_tenants)

SHARED = {"auth_mount_path": "kubernetes-us-east-1", "kv_mount_path": "tenants", "service_account": "workload",
          "audience": "vault", "token_ttl": "15m", "token_max_ttl": "1h", "purge_secrets": False}


def batch(*tenants, **shared):
    return tenant_requests({**SHARED, **shared, "tenants": [
        {"state": "present", "kubernetes_namespace": None, "service_account": None, "audience": None,
         "token_ttl": None, "token_max_ttl": None, "purge_secrets": None, **tenant} for tenant in tenants]})


def test_each_tenant_takes_the_shared_settings_unless_it_sets_its_own():
    acme, initech, globex = batch({"name": "acme"}, {"name": "initech", "token_ttl": "5m", "kubernetes_namespace": "ini"},
                                  {"name": "globex", "state": "absent", "purge_secrets": True})
    assert tenant_role_spec(acme.spec)["token_ttl"] == 900 and acme.spec.kubernetes_namespace == "acme"
    assert tenant_role_spec(initech.spec)["token_ttl"] == 300 and initech.spec.kubernetes_namespace == "ini"
    assert (acme.state, acme.purge_secrets) == ("present", False)
    assert (globex.state, globex.purge_secrets) == ("absent", True)
    assert batch() == []


@pytest.mark.parametrize("tenants, shared, message", [
    ([{"name": "acme"}, {"name": "Acme"}], {}, "tenants[1].name: 'Acme' is not a DNS-1123 label"),
    ([{"name": "acme"}, {"name": "globex"}, {"name": "acme"}], {},
     "tenants[2].name: 'acme' is listed twice (also tenants[0]). Fix: list each tenant once."),
    ([{"name": "acme", "token_ttl": "15 minutes"}], {}, "tenants[0].token_ttl: '15 minutes' is not a duration"),
    ([{"name": "acme", "token_ttl": "2h"}], {}, "tenants[0].token_ttl (7200s) is longer than token_max_ttl (3600s)"),
    ([{"name": "acme", "audience": " "}], {}, "tenants[0].audience must not be empty"),
    ([{"name": "acme", "kubernetes_namespace": "Bad_Ns"}], {}, "tenants[0].kubernetes_namespace: 'Bad_Ns'"),
    # A bad shared value is named where it was written: at the top level.
    ([{"name": "acme"}], {"token_max_ttl": "1 hour"}, "token_max_ttl: '1 hour' is not a duration"),
    ([{"name": "acme"}], {"service_account": "work load"}, "service_account: 'work load' is not a service account"),
    ([{"name": "acme"}], {"kv_mount_path": "a//b"}, "kv_mount_path: 'a//b' is not a mount path"),
])
def test_a_bad_tenant_is_named_by_its_place_in_the_list(tenants, shared, message):
    with pytest.raises(VaultInvalidInput) as raised:
        batch(*tenants, **shared)
    assert str(raised.value).startswith(message)
    assert str(raised.value).startswith(raised.value.details["field"])


def test_the_twin_of_each_refusal_is_accepted():
    requests = batch({"name": "acme"}, {"name": "globex", "token_ttl": "30m", "audience": "other"},
                     {"name": "initech", "kubernetes_namespace": "initech-prod"}, token_max_ttl="1h")
    assert [request.spec.tenant for request in requests] == ["acme", "globex", "initech"]
    assert tenant_role_spec(requests[1].spec)["audience"] == "other"
