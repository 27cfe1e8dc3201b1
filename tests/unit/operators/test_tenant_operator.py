"""The tenant operator's pure parts: rendering, drift detection, status building, CRD shape."""

from __future__ import annotations

import copy
import pathlib

import pytest
import yaml

from tenant_operator import MANAGED_BY, MANAGED_BY_LABEL, TENANT_LABEL
from tenant_operator.compare import canonical_quantity, drift, namespace_patch, needs_recreate, replacement
from tenant_operator.conditions import Outcome, build_status, status_differs
from tenant_operator.render import OWNED_CONDITIONS, TenantView, render_all, render_network_policies

REPO = pathlib.Path(__file__).resolve().parents[3]
CRD_FILE = REPO / "operators" / "tenant-operator" / "deploy" / "crd.yaml"


def tenant_object(**spec_overrides) -> dict:
    spec = {
        "displayName": "ACME", "owners": ["owner@acme.example"], "viewers": ["sre@acme.example"],
        "quotas": {"cpu": "16", "memory": "32Gi", "pods": 200},
        "containerDefaults": {"cpu": "500m", "memory": "512Mi", "requestCpu": "100m", "requestMemory": "128Mi"},
        "networkProfile": "default",
    } | spec_overrides
    return {"apiVersion": "observability.meridian.io/v1alpha1", "kind": "Tenant",
            "metadata": {"name": "acme", "uid": "uid-1", "generation": 3}, "spec": spec}


@pytest.fixture
def view() -> TenantView:
    return TenantView.from_object(tenant_object())


def by_name(objects: list[dict]) -> dict[tuple[str, str], dict]:
    return {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}


def test_render_owns_exactly_the_contract_objects(view):
    assert sorted(by_name(render_all(view))) == sorted([
        ("Namespace", "acme"), ("ResourceQuota", "tenant-quota"), ("LimitRange", "tenant-defaults"),
        ("ServiceAccount", "workload"), ("Role", "tenant-owner"), ("Role", "tenant-viewer"),
        ("RoleBinding", "tenant-owners"), ("RoleBinding", "tenant-viewers"),
        ("NetworkPolicy", "default-deny"), ("NetworkPolicy", "allow-dns"),
        ("NetworkPolicy", "allow-same-namespace"), ("NetworkPolicy", "allow-ingress-gateway"),
        ("NetworkPolicy", "allow-monitoring-scrape"),
    ])


def test_every_object_is_labelled_and_controlled_by_the_tenant(view):
    for obj in render_all(view):
        metadata = obj["metadata"]
        assert metadata["labels"][MANAGED_BY_LABEL] == MANAGED_BY
        assert metadata["labels"][TENANT_LABEL] == "acme"
        assert metadata["ownerReferences"] == [{
            "apiVersion": "observability.meridian.io/v1alpha1", "kind": "Tenant", "name": "acme",
            "uid": "uid-1", "controller": True, "blockOwnerDeletion": True}]
        assert metadata.get("namespace", "acme") == "acme"


def test_namespace_is_labelled_for_istio_and_the_tenant(view):
    namespace = by_name(render_all(view))[("Namespace", "acme")]
    assert namespace["metadata"]["labels"]["istio-injection"] == "enabled"
    assert "namespace" not in namespace["metadata"]


def test_quota_and_limit_range_come_from_the_spec(view):
    objects = by_name(render_all(view))
    assert objects[("ResourceQuota", "tenant-quota")]["spec"]["hard"] == {
        "requests.cpu": "16", "limits.cpu": "16", "requests.memory": "32Gi", "limits.memory": "32Gi", "pods": "200"}
    assert objects[("LimitRange", "tenant-defaults")]["spec"]["limits"] == [{
        "type": "Container", "default": {"cpu": "500m", "memory": "512Mi"},
        "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}]


def test_bindings_name_the_oidc_groups(view):
    objects = by_name(render_all(view))
    owners = objects[("RoleBinding", "tenant-owners")]
    assert owners["roleRef"]["name"] == "tenant-owner"
    assert owners["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "acme-owners"}]
    assert objects[("RoleBinding", "tenant-viewers")]["subjects"][0]["name"] == "acme-viewers"


def test_viewer_role_never_reads_secrets_and_nobody_writes_rbac_or_policies(view):
    objects = by_name(render_all(view))
    viewer = objects[("Role", "tenant-viewer")]["rules"]
    assert all("secrets" not in rule["resources"] for rule in viewer)
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in viewer)
    for rule in objects[("Role", "tenant-owner")]["rules"]:
        if {"roles", "rolebindings", "networkpolicies", "resourcequotas", "limitranges"} & set(rule["resources"]):
            assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule


def test_isolated_profile_drops_only_the_ingress_gateway_policy():
    default = {p["metadata"]["name"] for p in render_network_policies(TenantView.from_object(tenant_object()))}
    isolated = {p["metadata"]["name"] for p in render_network_policies(
        TenantView.from_object(tenant_object(networkProfile="isolated")))}
    assert default - isolated == {"allow-ingress-gateway"}
    assert isolated < default


def test_missing_container_defaults_fall_back_to_the_crd_defaults():
    spec = tenant_object()["spec"]
    del spec["containerDefaults"]
    obj = tenant_object()
    obj["spec"] = spec
    limit_range = by_name(render_all(TenantView.from_object(obj)))[("LimitRange", "tenant-defaults")]
    assert limit_range["spec"]["limits"][0]["default"] == {"cpu": "500m", "memory": "512Mi"}


def as_live(desired: dict) -> dict:
    """What the API server returns: server fields added, kind/apiVersion absent (as in a LIST)."""
    live = copy.deepcopy(desired)
    live.pop("kind")
    live.pop("apiVersion")
    live["metadata"] |= {"uid": "obj-uid", "resourceVersion": "42", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "managedFields": [{"manager": "x"}]}
    live["metadata"]["labels"] = live["metadata"]["labels"] | {"kubernetes.io/metadata.name": "acme"}
    return live


@pytest.mark.parametrize("index", range(13))
def test_an_unchanged_object_has_no_drift(view, index):
    desired = render_all(view)[index]
    assert drift(desired, as_live(desired)) == []


@pytest.mark.parametrize(("stored", "rendered"), [("0.5", "500m"), ("2Gi", "2048Mi"), ("1000m", "1"), ("200", "200")])
def test_quantities_compare_by_value(stored, rendered):
    assert canonical_quantity(stored) == canonical_quantity(rendered)


def test_quota_stored_in_canonical_form_is_not_drift(view):
    desired = by_name(render_all(view))[("ResourceQuota", "tenant-quota")]
    live = as_live(desired)
    live["spec"]["hard"]["requests.memory"] = "32768Mi"
    assert drift(desired, live) == []


def test_hand_edits_are_drift(view):
    objects = by_name(render_all(view))
    quota = objects[("ResourceQuota", "tenant-quota")]
    edited = as_live(quota)
    edited["spec"]["hard"]["pods"] = "5"
    assert drift(quota, edited) == ["spec"]
    extra_key = as_live(quota)
    extra_key["spec"]["hard"]["services"] = "3"
    assert drift(quota, extra_key) == ["spec"]
    binding = objects[("RoleBinding", "tenant-owners")]
    rebound = as_live(binding)
    rebound["subjects"] = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"}]
    assert drift(binding, rebound) == ["subjects"]
    unlabelled = as_live(quota)
    del unlabelled["metadata"]["labels"][TENANT_LABEL]
    assert drift(quota, unlabelled) == [f"label {TENANT_LABEL}"]
    orphaned = as_live(quota)
    orphaned["metadata"]["ownerReferences"] = []
    assert drift(quota, orphaned) == ["owner reference"]


def test_replacement_keeps_server_fields_and_other_labels_and_owners(view):
    quota = by_name(render_all(view))[("ResourceQuota", "tenant-quota")]
    live = as_live(quota)
    live["spec"]["hard"]["pods"] = "5"
    live["metadata"]["labels"]["team"] = "x"
    live["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "c1"}]
    live["status"] = {"used": {}}
    body = replacement(quota, live)
    assert body["metadata"]["resourceVersion"] == "42"
    assert body["metadata"]["labels"]["team"] == "x"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "c1"
    assert body["metadata"]["ownerReferences"][1] == quota["metadata"]["ownerReferences"][0]
    assert "status" not in body and "managedFields" not in body["metadata"]
    assert drift(quota, body) == []


def test_a_binding_to_another_role_must_be_recreated(view):
    binding = by_name(render_all(view))[("RoleBinding", "tenant-owners")]
    live = as_live(binding)
    assert not needs_recreate(binding, live)
    live["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"}
    assert needs_recreate(binding, live)


def test_namespace_patch_sets_labels_and_owner_with_optimistic_lock(view):
    namespace = by_name(render_all(view))[("Namespace", "acme")]
    live = as_live(namespace)
    patch = namespace_patch(namespace, live)
    assert patch["metadata"]["resourceVersion"] == "42"
    assert patch["metadata"]["labels"]["istio-injection"] == "enabled"
    assert patch["metadata"]["ownerReferences"] == namespace["metadata"]["ownerReferences"]


def all_ok() -> list[Outcome]:
    return [Outcome(condition, True, "Reconciled", f"{condition} in sync") for condition in OWNED_CONDITIONS]


def test_status_has_ready_and_one_condition_per_kind():
    status = build_status(all_ok(), 3, "acme", None, timestamp="T1")
    assert [c["type"] for c in status["conditions"]] == ["Ready", *OWNED_CONDITIONS]
    assert OWNED_CONDITIONS == ("Namespace", "ResourceQuota", "LimitRange", "ServiceAccount", "RBAC", "NetworkPolicy")
    assert all(c["status"] == "True" and c["observedGeneration"] == 3 for c in status["conditions"])
    assert status["observedGeneration"] == 3 and status["namespace"] == "acme"


def test_an_unchanged_status_is_not_rewritten():
    first = build_status(all_ok(), 3, "acme", None, timestamp="T1")
    again = build_status(all_ok(), 3, "acme", first, timestamp="T2")
    assert again == first  # the transition time stays T1
    assert not status_differs(again, first | {"somethingElse": 1})


def test_a_failing_kind_makes_ready_false_and_moves_only_its_transition_time():
    first = build_status(all_ok(), 3, "acme", None, timestamp="T1")
    outcomes = all_ok()
    outcomes[0] = Outcome("Namespace", False, "NamespaceConflict", "exists without our label")
    second = build_status(outcomes, 3, "acme", first, timestamp="T2")
    conditions = {c["type"]: c for c in second["conditions"]}
    assert conditions["Ready"]["status"] == "False" and conditions["Ready"]["reason"] == "NamespaceConflict"
    assert conditions["Namespace"]["lastTransitionTime"] == "T2"
    assert conditions["ResourceQuota"]["lastTransitionTime"] == "T1"
    assert status_differs(second, first)


def test_a_new_generation_is_a_status_change():
    first = build_status(all_ok(), 3, "acme", None, timestamp="T1")
    assert status_differs(build_status(all_ok(), 4, "acme", first, timestamp="T1"), first)


def test_crd_matches_the_contract():
    crd = yaml.safe_load(CRD_FILE.read_text())
    assert crd["metadata"]["name"] == "tenants.observability.meridian.io"
    assert crd["spec"]["scope"] == "Cluster"
    assert crd["spec"]["names"]["shortNames"] == ["tnt"]
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Ready", "Namespace", "Age"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert set(spec["required"]) == {"owners", "quotas"}
    assert spec["properties"]["owners"]["minItems"] == 1
    assert spec["properties"]["networkProfile"]["enum"] == ["default", "isolated"]


def test_handlers_register_only_event_handlers_so_kopf_keeps_no_state():
    """Change handlers would make kopf write progress annotations; timers would add a finalizer."""
    import kopf

    import tenant_operator.handlers  # noqa: F401 - registers the handlers

    registry = kopf.get_default_registry()
    assert not registry._changing.get_all_handlers()
    assert not registry._spawning.get_all_handlers()
    watched = {h.selector.plural or h.selector.any_name for h in registry._watching.get_all_handlers()}
    assert {"tenants", "namespaces", "resourcequotas", "networkpolicies", "rolebindings"} <= watched


def test_resync_interval_comes_from_the_environment(monkeypatch):
    from tenant_operator.handlers import DEFAULT_RESYNC_SECONDS, resync_seconds

    monkeypatch.delenv("TENANT_OPERATOR_RESYNC_SECONDS", raising=False)
    assert resync_seconds() == DEFAULT_RESYNC_SECONDS
    monkeypatch.setenv("TENANT_OPERATOR_RESYNC_SECONDS", "15")
    assert resync_seconds() == 15
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv("TENANT_OPERATOR_RESYNC_SECONDS", bad)
        with pytest.raises(SystemExit, match="TENANT_OPERATOR_RESYNC_SECONDS"):
            resync_seconds()


def _pins(path: pathlib.Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_image_requirements_are_pinned_at_the_repository_lock():
    image = _pins(REPO / "operators" / "tenant-operator" / "requirements.txt")
    lock = _pins(REPO / "requirements.txt")
    assert {"kopf", "kubernetes"} <= set(image)
    assert {name: version for name, version in image.items() if lock.get(name) != version} == {}
