"""The tenant operator against both lab regions' real API servers, controller managers and operators.

Each test creates its own Tenants (it-op-<random>) and deletes them at the end. The lab
runs the operator with a 15 s resync (lab/services/tenant_operator.py), so every wait below
is bounded by a few resync intervals.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
import uuid

import pytest
from kubernetes import client

from lab import process
from lab.process import PidRecord
from lab.services.tenant_operator import LAB_RESYNC_SECONDS

pytestmark = pytest.mark.lab

GROUP, VERSION, PLURAL = "observability.meridian.io", "v1alpha1", "tenants"
TENANT_LABEL = "meridian.io/tenant"
# Bounded waits: one resync interval, plus the time a reconcile and the kopf probe cache (10 s) take.
HEAL_WAIT = LAB_RESYNC_SECONDS + 20
READY_WAIT = 60
GC_WAIT = 120

NETWORK_POLICIES = {"default-deny", "allow-dns", "allow-same-namespace", "allow-ingress-gateway",
                    "allow-monitoring-scrape"}
OWNED = {  # kind: (list function name on its API class, expected names)
    "ResourceQuota": ("CoreV1Api", "list_namespaced_resource_quota", {"tenant-quota"}),
    "LimitRange": ("CoreV1Api", "list_namespaced_limit_range", {"tenant-defaults"}),
    "ServiceAccount": ("CoreV1Api", "list_namespaced_service_account", {"workload"}),
    "Role": ("RbacAuthorizationV1Api", "list_namespaced_role", {"tenant-owner", "tenant-viewer"}),
    "RoleBinding": ("RbacAuthorizationV1Api", "list_namespaced_role_binding", {"tenant-owners", "tenant-viewers"}),
    "NetworkPolicy": ("NetworkingV1Api", "list_namespaced_network_policy", NETWORK_POLICIES),
}


def tenant_body(name: str, **spec_overrides) -> dict:
    spec = {
        "displayName": f"Integration test {name}",
        "owners": ["owner@it.example"],
        "viewers": ["viewer@it.example"],
        "quotas": {"cpu": "4", "memory": "8Gi", "pods": 50},
        "containerDefaults": {"cpu": "500m", "memory": "512Mi", "requestCpu": "100m", "requestMemory": "128Mi"},
        "metrics": {"headSeriesLimit": 100000, "retention": "15d",
                    "request": {"seriesLimit": 1000, "samplesLimit": 5000, "sizeBytesLimit": 1048576}},
        "logs": {"ingestionRateMb": 4, "ingestionBurstSizeMb": 8, "maxStreamsPerUser": 1000, "retention": "744h"},
        "networkProfile": "default",
    } | spec_overrides
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Tenant",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "integration-test"}},
            "spec": spec}


class Cluster:
    """One region's API server as the admin, with the operator's liveness URL."""

    def __init__(self, api_client: client.ApiClient, liveness_url: str) -> None:
        self.api_client = api_client
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.rbac = client.RbacAuthorizationV1Api(api_client)
        self.net = client.NetworkingV1Api(api_client)
        self.authz = client.AuthorizationV1Api(api_client)
        self.liveness_url = liveness_url
        self.created: list[str] = []

    # --- tenants -------------------------------------------------------------------------
    def create_tenant(self, name: str, **spec_overrides) -> dict:
        self.created.append(name)
        return self.custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, tenant_body(name, **spec_overrides))

    def tenant(self, name: str) -> dict | None:
        try:
            return self.custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
        except client.exceptions.ApiException as err:
            if err.status == 404:
                return None
            raise

    def delete_tenant(self, name: str) -> None:
        try:
            self.custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
        except client.exceptions.ApiException as err:
            if err.status != 404:
                raise

    def conditions(self, name: str) -> dict[str, dict]:
        tenant = self.tenant(name) or {}
        return {c["type"]: c for c in (tenant.get("status") or {}).get("conditions") or []}

    def wait_ready(self, name: str, timeout: float = READY_WAIT) -> dict:
        """Ready=True for the current generation (status.observedGeneration == metadata.generation)."""
        deadline = time.monotonic() + timeout
        while True:
            tenant = self.tenant(name) or {}
            status = tenant.get("status") or {}
            ready = {c["type"]: c for c in status.get("conditions") or []}.get("Ready", {})
            if (ready.get("status") == "True"
                    and status.get("observedGeneration") == tenant["metadata"]["generation"]
                    and ready.get("observedGeneration") == tenant["metadata"]["generation"]):
                return tenant
            if time.monotonic() > deadline:
                raise AssertionError(f"Tenant {name} not Ready after {timeout:.0f}s: {status}")
            time.sleep(0.3)

    # --- owned objects ---------------------------------------------------------------------
    def owned(self, namespace: str, tenant: str) -> dict[str, list]:
        """Every object of each owned kind carrying the tenant label, by kind."""
        found = {}
        for kind, (api_name, list_name, _) in OWNED.items():
            api = getattr(client, api_name)(self.api_client)
            found[kind] = getattr(api, list_name)(namespace, label_selector=f"{TENANT_LABEL}={tenant}").items
        return found

    def namespace(self, name: str):
        try:
            return self.core.read_namespace(name)
        except client.exceptions.ApiException as err:
            if err.status == 404:
                return None
            raise

    # --- the operator's own numbers ----------------------------------------------------------
    def resync(self) -> dict:
        with urllib.request.urlopen(self.liveness_url, timeout=5) as response:
            return json.loads(response.read())["resync"]

    def cleanup(self) -> None:
        for name in self.created:
            self.delete_tenant(name)


@pytest.fixture
def cluster(lab, lab_runtime, kube_api, region):
    operator = lab_runtime.service(f"tenant-operator-{region}")
    assert operator.healthy(lab_runtime.context(create_secrets=False)), f"{operator.name} is not healthy"
    cluster = Cluster(kube_api(region), operator.endpoint())
    yield cluster
    cluster.cleanup()


def new_name(suffix: str = "") -> str:
    return f"it-op-{uuid.uuid4().hex[:8]}{suffix}"


def wait_for(predicate, timeout: float, what: str, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)


def controller_uid(obj) -> str | None:
    return next((r.uid for r in obj.metadata.owner_references or [] if r.controller), None)


# --------------------------------------------------------------------------------------------
def test_tenant_becomes_ready_with_every_owned_object(cluster):
    name = new_name()
    created = cluster.create_tenant(name, quotas={"cpu": "2500m", "memory": "3Gi", "pods": 7})
    tenant = cluster.wait_ready(name)
    uid = created["metadata"]["uid"]

    assert tenant["status"]["namespace"] == name
    conditions = cluster.conditions(name)
    assert set(conditions) == {"Ready", "Namespace", "ResourceQuota", "LimitRange", "ServiceAccount", "RBAC",
                               "NetworkPolicy"}
    assert all(c["status"] == "True" for c in conditions.values()), conditions

    namespace = cluster.namespace(name)
    assert namespace.metadata.labels[TENANT_LABEL] == name
    assert namespace.metadata.labels["istio-injection"] == "enabled"
    assert controller_uid(namespace) == uid
    (reference,) = namespace.metadata.owner_references
    assert reference.kind == "Tenant" and reference.block_owner_deletion is True

    owned = cluster.owned(name, name)
    for kind, (_, _, names) in OWNED.items():
        assert {obj.metadata.name for obj in owned[kind]} == names, kind
        for obj in owned[kind]:
            assert controller_uid(obj) == uid, (kind, obj.metadata.name)
            assert obj.metadata.labels["app.kubernetes.io/managed-by"] == "meridian-tenant-operator"
    (quota,) = owned["ResourceQuota"]
    assert quota.spec.hard == {"requests.cpu": "2500m", "limits.cpu": "2500m", "requests.memory": "3Gi",
                               "limits.memory": "3Gi", "pods": "7"}
    (limits,) = owned["LimitRange"]
    assert limits.spec.limits[0].default == {"cpu": "500m", "memory": "512Mi"}
    assert limits.spec.limits[0].default_request == {"cpu": "100m", "memory": "128Mi"}
    bindings = {b.metadata.name: b for b in owned["RoleBinding"]}
    assert [(s.kind, s.name) for s in bindings["tenant-owners"].subjects] == [("Group", f"{name}-owners")]
    assert bindings["tenant-owners"].role_ref.name == "tenant-owner"
    assert [(s.kind, s.name) for s in bindings["tenant-viewers"].subjects] == [("Group", f"{name}-viewers")]


def test_a_spec_change_reaches_the_cluster_and_the_new_generation(cluster):
    name = new_name()
    cluster.create_tenant(name)
    cluster.wait_ready(name)
    cluster.custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, name,
                                               {"spec": {"quotas": {"pods": 9}, "networkProfile": "isolated"}})
    tenant = cluster.wait_ready(name)
    assert tenant["metadata"]["generation"] == 2
    assert cluster.core.read_namespaced_resource_quota("tenant-quota", name).spec.hard["pods"] == "9"
    names = {p.metadata.name for p in cluster.owned(name, name)["NetworkPolicy"]}
    assert names == NETWORK_POLICIES - {"allow-ingress-gateway"}


def test_hand_edits_of_quota_and_binding_are_healed_by_the_resync(cluster):
    name = new_name()
    cluster.create_tenant(name)
    cluster.wait_ready(name)
    cluster.core.patch_namespaced_resource_quota("tenant-quota", name,
                                                 {"spec": {"hard": {"pods": "999", "services": "3"}}})
    cluster.rbac.patch_namespaced_role_binding("tenant-owners", name, {"subjects": [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"}]})
    edited = cluster.core.read_namespaced_resource_quota("tenant-quota", name)
    assert edited.spec.hard["pods"] == "999"  # the edit landed: the heal below is the operator's

    def healed():
        hard = cluster.core.read_namespaced_resource_quota("tenant-quota", name).spec.hard
        subjects = cluster.rbac.read_namespaced_role_binding("tenant-owners", name).subjects
        return (hard == {"requests.cpu": "4", "limits.cpu": "4", "requests.memory": "8Gi", "limits.memory": "8Gi",
                         "pods": "50"}
                and [(s.kind, s.name) for s in subjects] == [("Group", f"{name}-owners")])

    wait_for(healed, HEAL_WAIT, "quota and binding put back within one resync")
    assert cluster.conditions(name)["Ready"]["status"] == "True"


def test_hand_deletions_are_recreated(cluster):
    name = new_name()
    cluster.create_tenant(name)
    cluster.wait_ready(name)
    old_quota = cluster.core.read_namespaced_resource_quota("tenant-quota", name).metadata.uid
    old_policy = cluster.net.read_namespaced_network_policy("default-deny", name).metadata.uid
    cluster.core.delete_namespaced_resource_quota("tenant-quota", name)
    cluster.net.delete_namespaced_network_policy("default-deny", name)

    def recreated():
        try:
            quota = cluster.core.read_namespaced_resource_quota("tenant-quota", name)
            policy = cluster.net.read_namespaced_network_policy("default-deny", name)
        except client.exceptions.ApiException as err:
            if err.status == 404:
                return False
            raise
        return quota.metadata.uid != old_quota and policy.metadata.uid != old_policy

    wait_for(recreated, HEAL_WAIT, "deleted quota and network policy recreated")
    assert {p.metadata.name for p in cluster.owned(name, name)["NetworkPolicy"]} == NETWORK_POLICIES


def test_a_deleted_namespace_is_recreated_once_it_is_gone(cluster):
    name = new_name()
    cluster.create_tenant(name)
    cluster.wait_ready(name)
    old = cluster.namespace(name).metadata.uid
    cluster.core.delete_namespace(name)
    reasons = set()

    def recreated():
        reasons.add(cluster.conditions(name)["Namespace"]["reason"])
        namespace = cluster.namespace(name)
        return namespace is not None and namespace.metadata.uid != old and namespace.status.phase == "Active"

    wait_for(recreated, GC_WAIT, f"namespace {name} recreated", interval=0.2)
    cluster.wait_ready(name)
    _exact_objects(cluster, name)
    print(f"Namespace condition reasons seen while it was deleted: {sorted(reasons)}")


def test_deleting_the_tenant_garbage_collects_the_namespace(cluster):
    name = new_name()
    cluster.create_tenant(name)
    cluster.wait_ready(name)
    cluster.core.create_namespaced_config_map(name, {"metadata": {"name": "tenant-data"}, "data": {"k": "v"}})
    cluster.delete_tenant(name)
    wait_for(lambda: cluster.namespace(name) is None, GC_WAIT, f"namespace {name} gone (404), not only Terminating",
             interval=0.5)
    assert cluster.tenant(name) is None
    assert cluster.namespace(name) is None


BAD_TENANTS = [
    # (id, metadata.name or None for a fresh valid one, spec overrides or a whole replacement, text in the 422)
    ("name-with-a-dot", "it-op.dotted", {}, "DNS-1123 label"),
    ("name-of-41-characters", "it-op-" + "x" * 35, {}, "at most 40 characters"),
    ("negative-cpu-quota", None, {"quotas": {"cpu": "-1", "memory": "1Gi", "pods": 1}}, "spec.quotas.cpu"),
    ("zero-memory-quota", None, {"quotas": {"cpu": "1", "memory": "0", "pods": 1}}, "positive Kubernetes quantity"),
    ("cpu-quota-not-a-quantity", None, {"quotas": {"cpu": "lots", "memory": "1Gi", "pods": 1}}, "spec.quotas.cpu"),
    ("zero-pods", None, {"quotas": {"cpu": "1", "memory": "1Gi", "pods": 0}}, "spec.quotas.pods"),
    ("cpu-request-above-limit", None,
     {"containerDefaults": {"cpu": "1", "memory": "1Gi", "requestCpu": "2", "requestMemory": "1Gi"}},
     "requestCpu must not exceed"),
    ("memory-request-above-limit", None,
     {"containerDefaults": {"cpu": "1", "memory": "512Mi", "requestCpu": "1", "requestMemory": "1Gi"}},
     "requestMemory must not exceed"),
    ("no-owners", None, {"owners": []}, "spec.owners"),
    ("duplicate-owner", None, {"owners": ["a@x.example", "a@x.example"]}, "spec.owners"),
    ("unknown-network-profile", None, {"networkProfile": "open"}, "spec.networkProfile"),
    ("negative-head-series-limit", None, {"metrics": {"headSeriesLimit": -1}}, "spec.metrics.headSeriesLimit"),
    ("retention-not-a-duration", None, {"logs": {"retention": "a month"}}, "spec.logs.retention"),
    ("zero-ingestion-rate", None, {"logs": {"ingestionRateMb": 0}}, "spec.logs.ingestionRateMb"),
    ("missing-quotas", None, {"quotas": None}, "spec.quotas"),
    ("missing-spec", None, None, "spec: Required value"),
]


@pytest.mark.parametrize(("name", "spec", "expected"), [case[1:] for case in BAD_TENANTS],
                         ids=[case[0] for case in BAD_TENANTS])
def test_a_bad_tenant_is_refused_by_the_api_server(cluster, name, spec, expected):
    name = name or new_name()
    body = tenant_body(name, **(spec or {}))
    if spec is None:
        del body["spec"]
    else:
        body["spec"] = {key: value for key, value in body["spec"].items() if value is not None}
    cluster.created.append(name)  # removed at the end should the API server wrongly accept it
    with pytest.raises(client.exceptions.ApiException) as refused:
        cluster.custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, body)
    assert refused.value.status == 422, refused.value.body
    assert expected in json.loads(refused.value.body)["message"]
    assert cluster.tenant(name) is None
    assert cluster.namespace(name) is None


def test_the_valid_twin_of_the_bad_tenants_is_accepted(cluster):
    """The base body of the bad cases is itself valid, so each refusal above is about its one change."""
    name = new_name()
    cluster.create_tenant(name)
    cluster.wait_ready(name)


def test_an_existing_namespace_is_reported_and_never_adopted(cluster):
    taken, twin = new_name("-taken"), new_name("-free")
    cluster.core.create_namespace({"metadata": {"name": taken, "labels": {"team": "someone-else"}}})
    try:
        cluster.core.create_namespaced_config_map(taken, {"metadata": {"name": "theirs"}, "data": {"k": "v"}})
        cluster.create_tenant(taken)
        cluster.create_tenant(twin)
        cluster.wait_ready(twin)

        def conflict_reported():
            conditions = cluster.conditions(taken)
            return conditions.get("Namespace", {}).get("reason") == "NamespaceConflict" and conditions

        conditions = wait_for(conflict_reported, READY_WAIT, "NamespaceConflict reported")
        assert conditions["Namespace"]["status"] == "False"
        assert conditions["Ready"]["status"] == "False"
        assert conditions["ResourceQuota"]["reason"] == "NamespaceUnavailable"
        namespace = cluster.namespace(taken)
        assert namespace.metadata.labels.get(TENANT_LABEL) is None
        assert namespace.metadata.labels["team"] == "someone-else"
        assert not namespace.metadata.owner_references
        assert all(objects == [] for objects in cluster.owned(taken, taken).values())
        assert cluster.core.list_namespaced_resource_quota(taken).items == []
        assert [c.metadata.name for c in cluster.core.list_namespaced_config_map(taken).items
                if c.metadata.name == "theirs"] == ["theirs"]
    finally:
        cluster.delete_tenant(taken)
        cluster.core.delete_namespace(taken)


def review(cluster: Cluster, group: str, verb: str, resource: str, namespace: str | None,
           api_group: str = "") -> bool:
    attributes = {"verb": verb, "resource": resource, "group": api_group}
    if namespace:
        attributes["namespace"] = namespace
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": f"someone-in-{group}", "groups": [group, "system:authenticated"],
                     "resourceAttributes": attributes}}
    return cluster.authz.create_subject_access_review(body).status.allowed


def test_rbac_by_subject_access_review(cluster):
    acme, globex = new_name("-acme"), new_name("-globex")
    cluster.create_tenant(acme)
    cluster.create_tenant(globex)
    cluster.wait_ready(acme)
    cluster.wait_ready(globex)
    owners, viewers = f"{acme}-owners", f"{acme}-viewers"
    # (who, verb, resource, api group, namespace, allowed): each denial sits next to an allowed twin.
    table = [
        (owners, "create", "deployments", "apps", acme, True),
        (owners, "create", "deployments", "apps", globex, False),
        (owners, "get", "secrets", "", acme, True),
        (owners, "get", "secrets", "", globex, False),
        (owners, "create", "rolebindings", "rbac.authorization.k8s.io", acme, False),
        (owners, "list", "rolebindings", "rbac.authorization.k8s.io", acme, True),
        (owners, "delete", "networkpolicies", "networking.k8s.io", acme, False),
        (owners, "list", "networkpolicies", "networking.k8s.io", acme, True),
        (viewers, "list", "pods", "", acme, True),
        (viewers, "create", "deployments", "apps", acme, False),
        (viewers, "get", "secrets", "", acme, False),
        (viewers, "get", "configmaps", "", acme, True),
        (owners, "list", "namespaces", "", None, False),
        (viewers, "list", "namespaces", "", None, False),
        (owners, "list", "pods", "", acme, True),
        ("system:masters", "list", "namespaces", "", None, True),  # the twin: the review can say yes
    ]
    answers = [(who, verb, resource, namespace, review(cluster, who, verb, resource, namespace, group))
               for who, verb, resource, group, namespace, _ in table]
    expected = [(who, verb, resource, namespace, allowed) for who, verb, resource, _, namespace, allowed in table]
    assert answers == expected


def _exact_objects(cluster: Cluster, name: str) -> None:
    owned = cluster.owned(name, name)
    for kind, (_, _, names) in OWNED.items():
        got = sorted(obj.metadata.name for obj in owned[kind])
        assert got == sorted(names), (kind, got)  # no duplicates, nothing missing


def test_operator_stopped_mid_run_and_restarted_converges(cluster, lab_runtime, region):
    service = f"tenant-operator-{region}"
    half_done, burst = new_name("-half"), [new_name(f"-b{i}") for i in range(10)]
    lab_runtime.stop([service])
    try:
        # A reconcile interrupted half way: the namespace and two objects exist, one of them wrong.
        created = cluster.create_tenant(half_done)
        reference = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Tenant", "name": half_done,
                     "uid": created["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
        labels = {"app.kubernetes.io/managed-by": "meridian-tenant-operator", TENANT_LABEL: half_done}
        cluster.core.create_namespace({"metadata": {"name": half_done, "labels": labels,
                                                    "ownerReferences": [reference]}})
        cluster.core.create_namespaced_resource_quota(half_done, {
            "metadata": {"name": "tenant-quota", "labels": labels, "ownerReferences": [reference]},
            "spec": {"hard": {"pods": "1"}}})
        cluster.net.create_namespaced_network_policy(half_done, {
            "metadata": {"name": "default-deny", "labels": labels, "ownerReferences": [reference]},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
    finally:
        lab_runtime.up([service])
    cluster.wait_ready(half_done)
    _exact_objects(cluster, half_done)
    assert cluster.core.read_namespaced_resource_quota("tenant-quota", half_done).spec.hard["pods"] == "50"

    # A crash in the middle of a burst: SIGKILL (a graceful stop lets kopf finish its work first)
    # as soon as the first namespace exists, then the lab's start.
    record = PidRecord.read(lab_runtime.paths.pid(service))
    assert record is not None and process.is_alive(record)
    for name in burst:
        cluster.create_tenant(name)
    try:
        wait_for(lambda: any(cluster.namespace(name) for name in burst), READY_WAIT, "the operator at work",
                 interval=0.02)
        os.kill(record.pid, signal.SIGKILL)
        wait_for(lambda: not process.is_alive(record), 10, "the operator gone", interval=0.05)
        ready_at_crash = sum(cluster.conditions(name).get("Ready", {}).get("status") == "True" for name in burst)
    finally:
        lab_runtime.up([service])
    for name in burst:
        cluster.wait_ready(name)
        _exact_objects(cluster, name)
    print(f"{ready_at_crash} of {len(burst)} Tenants were Ready when the operator was killed")


def test_a_no_change_resync_makes_no_writes(cluster):
    name = new_name()
    cluster.create_tenant(name)
    cluster.wait_ready(name)

    # Settle: one resync that saw this Tenant Ready and wrote nothing.
    def settled():
        last = cluster.resync().get("last") or {}
        entry = (last.get("per_tenant") or {}).get(name)
        return entry is not None and entry["writes"] == 0 and entry["ready"] and last
    first = wait_for(settled, HEAL_WAIT * 2, "a resync that saw the Tenant Ready", interval=1)

    def versions() -> dict:
        found = {("Tenant", name): cluster.tenant(name)["metadata"]["resourceVersion"],
                 ("Namespace", name): cluster.namespace(name).metadata.resource_version}
        for kind, objects in cluster.owned(name, name).items():
            found |= {(kind, obj.metadata.name): obj.metadata.resource_version for obj in objects}
        return found

    before = versions()
    assert len(before) == 2 + sum(len(names) for _, _, names in OWNED.values())
    # A resync that started after the snapshot: two completions later at the latest.
    target = first["number"] + 2
    last = wait_for(lambda: (r := cluster.resync().get("last") or {}).get("number", 0) >= target and r,
                    HEAL_WAIT * 3, "two more resyncs", interval=1)
    entry = last["per_tenant"][name]
    assert entry["writes"] == 0, entry
    assert entry["requests"].get("GET", 0) > 0, entry  # it really looked
    assert set(entry["requests"]) == {"GET"}, entry
    # No write by anyone, kopf included: every object keeps its resourceVersion.
    assert versions() == before
    print(f"requests of a no-change resync for one Tenant: {entry['requests']}")
