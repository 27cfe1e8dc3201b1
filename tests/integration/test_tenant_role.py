"""The tenant role (playbooks/tenants.yml) against both lab regions' API servers, tenant operators and Thanos files.

The tests run one tenant's life in order: onboarding, a re-run, a predicted and then applied quota change, a region
taken away, foreign Tenants left alone, and offboarding with ``state: absent``. Each step writes its own topology
into a copy of inventories/lab (same group_vars; the lab directory is passed explicitly because the copy lives
elsewhere), with tenant names unique to the run, so the lab's own tenants and other runs are never touched.
The bad-input cases run the role once each, all in ONE ansible-playbook process (a play per case, its failure
recorded by a rescue), beside a valid twin in check mode, and prove nothing was created.
"""

from __future__ import annotations

import copy
import json
import pathlib
import shutil
import time
import uuid

import pytest
import yaml

from tests.support.ansible import REPO, recap, run_ansible, run_tasks

pytestmark = pytest.mark.lab

HUB, SPOKE = "us-east-1", "eu-west-1"
REGIONS = (HUB, SPOKE)
GROUP, VERSION, PLURAL = "observability.meridian.io", "v1alpha1", "tenants"
OURS = {"app.kubernetes.io/managed-by": "meridian.observability", "observability.meridian.io/environment": "lab"}
OWNED = [  # (kind, name) in the tenant's namespace, per the operator's contract
    ("ResourceQuota", "tenant-quota"), ("LimitRange", "tenant-defaults"), ("ServiceAccount", "workload"),
    ("Role", "tenant-owner"), ("Role", "tenant-viewer"), ("RoleBinding", "tenant-owners"),
    ("RoleBinding", "tenant-viewers"), ("NetworkPolicy", "default-deny"), ("NetworkPolicy", "allow-dns"),
    ("NetworkPolicy", "allow-same-namespace"), ("NetworkPolicy", "allow-ingress-gateway"),
    ("NetworkPolicy", "allow-monitoring-scrape"),
]
GONE_WITHIN = 120  # seconds a deleted Tenant's namespace may take to disappear (garbage collection + namespace controller)


def tenant_record(name: str, regions: list[str], **changes) -> dict:
    """A topology tenant entry (what a platform engineer writes)."""
    record = {
        "name": name, "display_name": f"Test {name}", "regions": regions, "home_region": regions[0],
        "owners": [f"owner@{name}.example"], "viewers": [f"viewer@{name}.example"],
        "quotas": {"cpu": "2", "memory": "4Gi", "pods": 10},
        "metrics": {"head_series_limit": 1000, "request": {"series_limit": 100, "samples_limit": 1000, "size_bytes_limit": 65536}},
        "logs": {"ingestion_rate_mb": 2, "ingestion_burst_size_mb": 4},
    }
    record.update(changes)
    return record


class Inventory:
    """A copy of inventories/lab whose topology's tenants the test rewrites between runs."""

    def __init__(self, directory: pathlib.Path, lab_dir: pathlib.Path) -> None:
        shutil.copytree(REPO / "inventories" / "lab", directory)
        self.directory, self.lab_dir = directory, lab_dir
        self.base = yaml.safe_load((directory / "topology.yml").read_text())

    def write(self, tenants: list[dict]) -> None:
        topology = copy.deepcopy(self.base)
        topology["tenants"] = tenants
        (self.directory / "topology.yml").write_text(yaml.safe_dump(topology, sort_keys=False))

    def playbook(self, *args: str, check: bool = True):
        # Only the tenant role's play: the realms and Vault tenants of tenants.yml's first two plays have tests of
        # their own, and leaving them out keeps this module's runs short and its tenants out of Keycloak and Vault.
        return run_ansible("ansible-playbook", "playbooks/tenants.yml", "-i", str(self.directory),
                           "-e", f"meridian_lab_dir={self.lab_dir}", "-e", "tenants_with_identity_and_secrets=false",
                           *args, check=check)


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    run = uuid.uuid4().hex[:6]
    return {role: f"t{run}-{role}" for role in ("both", "spoke", "foreign", "otherenv", "unlisted", "bad")}


@pytest.fixture(scope="module")
def clients(lab):
    """Per region: (CustomObjectsApi, CoreV1Api, ApiClient) from the lab's admin kubeconfig."""
    from kubernetes import client, config

    made = {}
    for region in REGIONS:
        api = config.new_client_from_config(config_file=lab["regions"][region]["kubernetes"]["kubeconfigs"]["admin"])
        made[region] = (client.CustomObjectsApi(api), client.CoreV1Api(api), api)
    yield made
    for _, _, api in made.values():
        api.close()


@pytest.fixture(scope="module")
def inventory(lab, lab_runtime, tmp_path_factory, names, clients):
    """The inventory copy; afterwards every Tenant and Thanos entry of this run is removed from both regions."""
    inventory = Inventory(tmp_path_factory.mktemp("tenant-role") / "lab", lab_runtime.paths.root)
    yield inventory
    for region in REGIONS:
        for name in names.values():
            try:
                clients[region][0].delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
            except Exception:  # already gone (or never made): nothing to clean
                pass
    removals = [{"name": f"Remove {name} from {region}", "meridian.observability.thanos_tenant": {
        "name": name, "state": "absent", "hashrings_path": str(lab_runtime.paths.thanos(region) / "hashrings.json"),
        "limits_path": str(lab_runtime.paths.thanos(region) / "limits.yaml")}} for region in REGIONS for name in names.values()]
    run_tasks(inventory.directory.parent, removals)


def tenant(clients, region: str, name: str) -> dict | None:
    from kubernetes.client.exceptions import ApiException

    try:
        return clients[region][0].get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def namespace_status(clients, region: str, name: str) -> int:
    """200 when the namespace exists (terminating included), 404 when it is gone."""
    from kubernetes.client.exceptions import ApiException

    try:
        clients[region][1].read_namespace(name)
        return 200
    except ApiException as err:
        return err.status


def wait_namespace_gone(clients, region: str, name: str) -> int:
    deadline = time.monotonic() + GONE_WITHIN
    while namespace_status(clients, region, name) != 404 and time.monotonic() < deadline:
        time.sleep(1)
    return namespace_status(clients, region, name)


def is_ready(obj: dict | None) -> bool:
    if not obj:
        return False
    status = obj.get("status") or {}
    ready = [c for c in status.get("conditions", []) if c["type"] == "Ready"]
    return status.get("observedGeneration") == obj["metadata"]["generation"] and [c["status"] for c in ready] == ["True"]


def owned_objects(clients, region: str, name: str) -> dict[tuple[str, str], dict]:
    """The operator's objects in the tenant's namespace, keyed by (kind, name), as plain dicts."""
    api = clients[region][2]
    from kubernetes import dynamic

    found = {}
    dyn = dynamic.DynamicClient(api)
    versions = {"ResourceQuota": "v1", "LimitRange": "v1", "ServiceAccount": "v1", "Role": "rbac.authorization.k8s.io/v1",
                "RoleBinding": "rbac.authorization.k8s.io/v1", "NetworkPolicy": "networking.k8s.io/v1"}
    for kind, object_name in OWNED:
        try:
            found[(kind, object_name)] = dyn.resources.get(api_version=versions[kind], kind=kind).get(
                name=object_name, namespace=name).to_dict()
        except dynamic.exceptions.NotFoundError:
            pass
    return found


def thanos_tenants(lab_runtime, region: str) -> tuple[set[str], dict]:
    """(tenants listed in any hashring, the limits file's write.tenants) read straight from the region's files."""
    directory = lab_runtime.paths.thanos(region)
    listed = {name for ring in json.loads((directory / "hashrings.json").read_text()) for name in ring.get("tenants", [])}
    limits = yaml.safe_load((directory / "limits.yaml").read_text()) or {}
    return listed, ((limits.get("write") or {}).get("tenants") or {})


def loki_overrides(clients, region: str) -> dict:
    config_map = clients[region][1].read_namespaced_config_map("loki-tenant-overrides", "monitoring")
    return yaml.safe_load(config_map.data["overrides.yaml"])["overrides"] or {}


def assert_onboarded(clients, lab_runtime, region: str, name: str, record: dict) -> None:
    obj = tenant(clients, region, name)
    assert is_ready(obj), f"{name} in {region} is not Ready at its generation: {obj and obj.get('status')}"
    assert obj["metadata"]["labels"].items() >= OURS.items()
    assert namespace_status(clients, region, name) == 200
    owned = owned_objects(clients, region, name)
    assert sorted(owned) == sorted(OWNED), f"missing in {region}/{name}: {set(OWNED) - set(owned)}"
    for item in owned.values():
        owners = [ref for ref in item["metadata"].get("ownerReferences", []) if ref["kind"] == "Tenant"]
        assert [ref["uid"] for ref in owners] == [obj["metadata"]["uid"]]
    listed, limits = thanos_tenants(lab_runtime, region)
    assert name in listed
    assert limits[name]["head_series_limit"] == record["metrics"]["head_series_limit"]
    assert limits[name]["request"]["series_limit"] == record["metrics"]["request"]["series_limit"]
    assert loki_overrides(clients, region)[name]["ingestion_rate_mb"] == record["logs"]["ingestion_rate_mb"]


def assert_offboarded(clients, lab_runtime, region: str, name: str) -> None:
    assert tenant(clients, region, name) is None
    assert wait_namespace_gone(clients, region, name) == 404
    listed, limits = thanos_tenants(lab_runtime, region)
    assert name not in listed and name not in limits
    assert name not in loki_overrides(clients, region)


def quota(clients, region: str, name: str) -> dict:
    return clients[region][1].read_namespaced_resource_quota("tenant-quota", name).spec.hard


# --- the tenant's life, in order -------------------------------------------------------------------------------

def test_onboard_makes_ready_tenants_with_every_owned_object(inventory, names, clients, lab_runtime):
    both, spoke = tenant_record(names["both"], [HUB, SPOKE]), tenant_record(names["spoke"], [SPOKE])
    inventory.write([both, spoke])
    result = inventory.playbook()
    for region in REGIONS:
        counts = recap(result.stdout, region)
        assert counts["failed"] == 0 and counts["changed"] > 0, counts
        assert_onboarded(clients, lab_runtime, region, names["both"], both)
    assert_onboarded(clients, lab_runtime, SPOKE, names["spoke"], spoke)
    assert tenant(clients, HUB, names["spoke"]) is None, "a tenant was placed in a region it does not list"


def test_second_run_changes_nothing(inventory):
    result = inventory.playbook()
    assert {region: recap(result.stdout, region)["changed"] for region in REGIONS} == {HUB: 0, SPOKE: 0}


def test_check_mode_predicts_a_quota_change_and_changes_nothing(inventory, names, clients):
    before = {region: tenant(clients, region, names["both"]) for region in REGIONS}
    inventory.write([tenant_record(names["both"], [HUB, SPOKE], quotas={"cpu": "3", "memory": "6Gi", "pods": 20}),
                     tenant_record(names["spoke"], [SPOKE])])
    result = inventory.playbook("--check", "--diff")
    for region in REGIONS:
        assert recap(result.stdout, region)["changed"] >= 1
        after = tenant(clients, region, names["both"])
        assert after["metadata"]["generation"] == before[region]["metadata"]["generation"]
        assert after["spec"]["quotas"] == {"cpu": "2", "memory": "4Gi", "pods": 10}
        assert quota(clients, region, names["both"])["limits.cpu"] == "2"
    assert '"pods": 20' in result.stdout or "pods: 20" in result.stdout, "the diff does not show the new quota"


def test_quota_change_reaches_the_cluster_on_the_next_run(inventory, names, clients):
    result = inventory.playbook()  # the topology written by the check-mode test
    for region in REGIONS:
        assert recap(result.stdout, region)["changed"] >= 1
        obj = tenant(clients, region, names["both"])
        assert obj["spec"]["quotas"] == {"cpu": "3", "memory": "6Gi", "pods": 20} and is_ready(obj)
        # Ready at the new generation means the operator has already written the quota.
        hard = quota(clients, region, names["both"])
        assert (hard["limits.cpu"], hard["pods"]) == ("3", "20")
    rerun = inventory.playbook()
    assert {region: recap(rerun.stdout, region)["changed"] for region in REGIONS} == {HUB: 0, SPOKE: 0}


def test_removing_a_region_offboards_the_tenant_only_there(inventory, names, clients, lab_runtime):
    both = tenant_record(names["both"], [HUB], quotas={"cpu": "3", "memory": "6Gi", "pods": 20})
    inventory.write([both, tenant_record(names["spoke"], [SPOKE])])
    predicted = inventory.playbook("--check", "--diff")
    assert recap(predicted.stdout, SPOKE)["changed"] >= 1 and recap(predicted.stdout, HUB)["changed"] == 0
    assert tenant(clients, SPOKE, names["both"]) is not None, "check mode deleted the Tenant"
    result = inventory.playbook()
    assert recap(result.stdout, SPOKE)["changed"] >= 1 and recap(result.stdout, HUB)["changed"] == 0
    assert_offboarded(clients, lab_runtime, SPOKE, names["both"])
    assert_onboarded(clients, lab_runtime, HUB, names["both"], both)


def test_tenants_the_role_did_not_create_are_never_touched(inventory, names, clients, lab_runtime):
    """A Tenant without our label, one of another environment, and one of ours no topology entry names all survive,
    even when the topology offboards a tenant of the same name."""
    custom = clients[HUB][0]
    spec = {"displayName": "made by hand", "owners": ["someone@example.org"], "quotas": {"cpu": "1", "memory": "1Gi", "pods": 1}}
    handmade = {
        names["foreign"]: {},
        names["otherenv"]: {"app.kubernetes.io/managed-by": "meridian.observability", "observability.meridian.io/environment": "stage"},
        names["unlisted"]: OURS,
    }
    for name, labels in handmade.items():
        custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "Tenant", "metadata": {"name": name, "labels": labels}, "spec": spec})
    inventory.write([tenant_record(names["both"], [HUB], quotas={"cpu": "3", "memory": "6Gi", "pods": 20}),
                     tenant_record(names["spoke"], [SPOKE]),
                     tenant_record(names["foreign"], [HUB], state="absent"),
                     # Placed only in the spoke, so in the hub it is a tenant to offboard, if the object there were ours.
                     tenant_record(names["otherenv"], [SPOKE], state="absent")])
    result = inventory.playbook()
    assert recap(result.stdout, HUB)["failed"] == 0
    for name in handmade:
        assert tenant(clients, HUB, name) is not None, f"{name} was deleted"
    assert "WARNING: Tenant objects" in result.stdout and names["unlisted"] in result.stdout
    for name in handmade:
        custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)


def test_state_absent_removes_the_tenant_its_namespace_and_its_thanos_entry(inventory, names, clients, lab_runtime):
    inventory.write([tenant_record(names["both"], [HUB], state="absent"),
                     tenant_record(names["spoke"], [SPOKE], state="absent")])
    result = inventory.playbook()
    for region in REGIONS:
        assert recap(result.stdout, region)["changed"] >= 1
    assert_offboarded(clients, lab_runtime, HUB, names["both"])
    assert_offboarded(clients, lab_runtime, SPOKE, names["spoke"])
    rerun = inventory.playbook()
    assert {region: recap(rerun.stdout, region)["changed"] for region in REGIONS} == {HUB: 0, SPOKE: 0}


# --- bad input: the preflight stops the run before anything changes ------------------------------------------------

def _record_with(base: dict, path: str, value) -> dict:
    record = copy.deepcopy(base)
    *parents, leaf = path.split(".")
    target = record
    for key in parents:
        target = target[key]
    target[leaf] = value
    return record


BAD_RECORDS = {  # case -> (dotted field of the rendered tenant record, bad value, texts the failure must contain)
    "state_unknown": ("state", "gone", ["].state is \"gone\""]),
    "quota_cpu_not_a_quantity": ("quotas.cpu", "lots", ["quotas=", '"cpu": "lots"']),
    "quota_pods_zero": ("quotas.pods", 0, ["quotas=", '"pods": 0']),
    "owners_empty": ("owners", [], ["owners=[]"]),
    "network_profile_unknown": ("network_profile", "open", ['network_profile="open"']),
    "log_rate_negative": ("logs.ingestion_rate_mb", -1, ["logs=", '"ingestion_rate_mb": -1']),
    "log_streams_zero": ("logs.max_streams_per_user", 0, ["logs=", '"max_streams_per_user": 0']),
    "metrics_request_missing": ("metrics.request", None, ["metrics=", '"request": null']),
    "name_not_dns": ("name", "Bad_Name", ["tenant_tenants: tenant Bad_Name is invalid"]),
    "region_not_here": ("regions", [SPOKE], [f"does not list {HUB} in its regions"]),
}
BAD_VARIABLES = {  # case -> (extra variable, bad value, texts the failure must contain)
    "kubeconfig_missing": ("tenant_kubeconfig", "/nonexistent/admin.kubeconfig", ["tenant_kubeconfig: /nonexistent"]),
    "kubeconfig_not_a_kubeconfig": ("tenant_kubeconfig", str(REPO / "galaxy.yml"), ["tenant_kubeconfig:", "galaxy.yml"]),
    "crd_file_missing": ("tenant_crd_path", "/nonexistent/crd.yaml", ["tenant_crd_path: /nonexistent/crd.yaml"]),
    "thanos_store_unknown": ("tenant_thanos_store", "s3", ["tenant_thanos_store", "s3"]),
    "thanos_files_without_path": ("tenant_thanos_hashrings_path", "", ['tenant_thanos_hashrings_path (an existing hashrings file, got "")']),
    "ready_timeout_zero": ("tenant_ready_timeout", 0, ["tenant_ready_timeout (0)"]),
    "environment_not_a_label": ("tenant_environment", "Lab Env", ['tenant_environment: "Lab Env"']),
    "topology_names_incomplete": ("tenant_topology_names", [], ["tenant_topology_names ([]) lacks"]),
}


@pytest.fixture(scope="module")
def bad_input(inventory, names, tmp_path_factory) -> dict:
    """Every bad case in one ansible-playbook process against the lab inventory, and the valid twin in another.

    Each case is a play that includes the role with the case's variables inside a block; its rescue writes the
    failed task's name and result to a JSON file. The twin (the valid record) must pass in check mode.
    The record is the tenant as the inventory plugin renders it (every default filled in, as the role receives it).
    """
    inventory.write([tenant_record(names["bad"], [HUB])])
    host = json.loads(run_ansible("ansible-inventory", "-i", str(inventory.directory), "--host", HUB,
                                  "-e", f"meridian_lab_dir={inventory.lab_dir}").stdout)
    record = host["meridian_tenants"][0]
    valid = {"tenant_tenants": [record], "tenant_topology_names": [names["bad"]]}
    cases = {"valid twin": dict(valid)}
    for case, (field, value, _) in BAD_RECORDS.items():
        bad_record = _record_with(record, field, value)
        cases[case] = {"tenant_tenants": [bad_record], "tenant_topology_names": [names["bad"], bad_record["name"]]}
    for case, (variable, value, _) in BAD_VARIABLES.items():
        cases[case] = dict(valid, **{variable: value})
    directory = tmp_path_factory.mktemp("tenant-role-bad-input")
    plays = []
    for number, (case, variables) in enumerate(cases.items()):
        outcome = str(directory / f"{number}.json")
        plays.append({
            "name": case, "hosts": HUB, "gather_facts": False, "vars": variables,
            "tasks": [{"block": [
                {"name": "The role", "ansible.builtin.include_role": {"name": "meridian.observability.tenant"}},
                {"name": "Not refused", "ansible.builtin.copy": {
                    "content": json.dumps({"refused": False}), "dest": outcome, "mode": "0600"},
                 "check_mode": False}],
                "rescue": [{"name": "Record the refusal", "check_mode": False, "ansible.builtin.copy": {
                    "content": "{{ {'refused': true, 'task': ansible_failed_task.name,"
                               " 'result': ansible_failed_result} | to_json }}",
                    "dest": outcome, "mode": "0600"}}]}]})
    # The twin runs in a process of its own with --check: a play's own check_mode leaves ansible_check_mode false,
    # so the role would wait for the twin's Tenant as in a real run. The bad cases run for real, because check mode
    # rightly accepts a kubeconfig that does not exist yet.
    for name, selected, check in (("twin", plays[:1], ["--check"]), ("bad-input", plays[1:], [])):
        playbook = directory / f"{name}.yml"
        playbook.write_text(yaml.safe_dump(selected, sort_keys=False))
        run_ansible("ansible-playbook", str(playbook), "-i", "inventories/lab", "-l", HUB, *check, timeout=600)
    return {case: json.loads((directory / f"{number}.json").read_text()) for number, case in enumerate(cases)}


def test_the_valid_baseline_passes_the_role(bad_input, names, clients, lab_runtime):
    """Without this, a bad case could pass because the baseline itself is refused."""
    assert bad_input["valid twin"] == {"refused": False}
    assert tenant(clients, HUB, names["bad"]) is None, "check mode created the Tenant"
    listed, limits = thanos_tenants(lab_runtime, HUB)
    assert names["bad"] not in listed and names["bad"] not in limits, "check mode reached the Thanos files"


def _assert_refused(outcome: dict, expected: list[str], names, clients, lab_runtime) -> None:
    assert outcome["refused"], "the role was not refused"
    # Refused by the preflight, or by the role's argument spec (a value outside its choices), which runs before it.
    assert outcome["task"].startswith(("Preflight |", "Validating arguments against arg spec")), \
        f"refused by {outcome['task']!r}, past the preflight"
    # The failure messages (a looped assert keeps each item's in results), unwrapped, must name the field and value.
    result = outcome["result"]
    messages = [result.get("msg", "")] + [item.get("msg", "") for item in result.get("results", []) if item.get("failed")]
    failure = " ".join(" ".join(messages).split())
    for text in expected:
        assert text in failure, f"{text!r} not in: {failure[-3000:]}"
    # Other tests may write the shared lab's Thanos files meanwhile, so only this tenant's absence is asserted.
    assert tenant(clients, HUB, names["bad"]) is None
    listed, limits = thanos_tenants(lab_runtime, HUB)
    assert names["bad"] not in listed and names["bad"] not in limits, "the tenant reached the Thanos files"


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_bad_tenant_record_is_refused_before_any_change(case, bad_input, names, clients, lab_runtime):
    _assert_refused(bad_input[case], BAD_RECORDS[case][2], names, clients, lab_runtime)


@pytest.mark.parametrize("case", sorted(BAD_VARIABLES))
def test_bad_role_variable_is_refused_before_any_change(case, bad_input, names, clients, lab_runtime):
    _assert_refused(bad_input[case], BAD_VARIABLES[case][2], names, clients, lab_runtime)
