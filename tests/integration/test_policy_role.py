"""The policy role (playbooks/platform.yml --tags policy) against the lab hub's real API server, and its policy tests.

The role runs on a copy of inventories/lab whose topology adds tenants unique to this run (the lab's own tenants stay
in it, so their objects are left as they are). The tests read back what the API server stored, prove the Pod Security
labels are enforced by the API server itself (a privileged pod is refused at create, its restricted twin is
accepted), exercise the Constraint branch with a constraint kind made the way Gatekeeper's controller makes it, and
run the preflight's bad-input cases, each of which must stop the run before anything changes. The last tests prove
that the policy suites (gator verify, opa test) can fail.
"""

from __future__ import annotations

import copy
import json
import pathlib
import shutil
import subprocess
import time
import uuid

import pytest
import yaml

from tests.support.ansible import REPO, recap, run_ansible

pytestmark = pytest.mark.lab

HUB = "us-east-1"
TENANT_LABEL = "meridian.io/tenant"
FIELD_MANAGER = "meridian-policy"
REGO_DIR = REPO / "roles" / "policy" / "files" / "rego"
TEMPLATES = sorted(path.stem for path in REGO_DIR.glob("*.rego"))
PSA_LABELS = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
# The kind and CRD Gatekeeper's controller would generate from the meridiantenantlabel template.
CONSTRAINT_GROUP, CONSTRAINT_VERSION = "constraints.gatekeeper.sh", "v1beta1"
SERVED_KIND, SERVED_PLURAL = "MeridianTenantLabel", "meridiantenantlabel"
SERVED_CONSTRAINT = "tenant-namespaces-carry-the-tenant-label"


def tenant_record(name: str, regions: list[str], **changes) -> dict:
    """A topology tenant entry (what a platform engineer writes)."""
    record = {
        "name": name, "display_name": f"Test {name}", "regions": regions, "home_region": regions[0],
        "owners": [f"owner@{name}.example"], "quotas": {"cpu": "2", "memory": "4Gi", "pods": 10},
    }
    record.update(changes)
    return record


class Inventory:
    """A copy of inventories/lab whose topology keeps the lab's tenants and adds the test's."""

    def __init__(self, directory: pathlib.Path, lab_dir: pathlib.Path) -> None:
        shutil.copytree(REPO / "inventories" / "lab", directory)
        self.directory, self.lab_dir = directory, lab_dir
        self.base = yaml.safe_load((directory / "topology.yml").read_text())

    def write(self, extra_tenants: list[dict]) -> None:
        topology = copy.deepcopy(self.base)
        topology["tenants"] = topology["tenants"] + extra_tenants
        (self.directory / "topology.yml").write_text(yaml.safe_dump(topology, sort_keys=False))

    def playbook(self, *args: str, check: bool = True, extra: dict | None = None):
        options = []
        if extra is not None:
            extra_file = self.directory.parent / f"extra-{uuid.uuid4().hex[:6]}.json"
            extra_file.write_text(json.dumps(extra))
            options = ["-e", f"@{extra_file}"]
        return run_ansible("ansible-playbook", "playbooks/platform.yml", "-i", str(self.directory), "-l", HUB,
                           "--tags", "policy", "-e", f"meridian_lab_dir={self.lab_dir}", *options, *args, check=check)


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    run = uuid.uuid4().hex[:6]
    return {role: f"p{run}-{role}" for role in ("alpha", "beta", "later", "bad", "plain")}


@pytest.fixture(scope="module")
def kube(lab):
    """(CoreV1Api, CustomObjectsApi, ApiextensionsV1Api) of the hub, from the lab's admin kubeconfig."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=lab["regions"][HUB]["kubernetes"]["kubeconfigs"]["admin"])
    yield client.CoreV1Api(api), client.CustomObjectsApi(api), client.ApiextensionsV1Api(api)
    api.close()


@pytest.fixture(scope="module")
def inventory(lab, lab_runtime, tmp_path_factory, names, kube):
    """The inventory copy; afterwards every namespace this run made is deleted (the templates stay: the lab's own
    converge applies the same ones)."""
    inventory = Inventory(tmp_path_factory.mktemp("policy-role") / "lab", lab_runtime.paths.root)
    inventory.write([tenant_record(names["alpha"], [HUB]), tenant_record(names["beta"], [HUB])])
    yield inventory
    for name in names.values():
        try:
            kube[0].delete_namespace(name)
        except Exception:  # never made (or already gone): nothing to clean
            pass


def read_namespace(kube, name: str):
    from kubernetes.client.exceptions import ApiException

    try:
        return kube[0].read_namespace(name)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def pod(name: str, namespace: str, *, privileged: bool) -> dict:
    """A pod the restricted Pod Security Standard accepts, or the same pod privileged."""
    security = ({"privileged": True} if privileged else
                {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 10001,
                 "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"automountServiceAccountToken": False, "containers": [{
                "name": "app", "image": "registry.meridian.example.invalid/app:1", "securityContext": security,
                "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}


def create_pod(kube, body: dict) -> tuple[int, str]:
    """(HTTP status, message) of a real create; the pod is deleted again when it was stored (nothing runs it)."""
    from kubernetes.client.exceptions import ApiException

    namespace = body["metadata"]["namespace"]
    for _ in range(30):  # the namespace's default service account may still be on its way
        try:
            kube[0].create_namespaced_pod(namespace, body)
        except ApiException as err:
            if err.status == 403 and "serviceaccount" in (err.body or "") and "not found" in (err.body or ""):
                time.sleep(1)
                continue
            return err.status, json.loads(err.body).get("message", "")
        kube[0].delete_namespaced_pod(body["metadata"]["name"], namespace, grace_period_seconds=0)
        return 201, ""
    raise AssertionError(f"namespace {namespace} never got its default service account")


# --- converge, re-run, check mode --------------------------------------------------------------------------------

def test_converge_stores_the_templates_and_labels_the_tenant_namespaces(inventory, names, kube):
    result = inventory.playbook()
    counts = recap(result.stdout, HUB)
    assert counts["failed"] == 0 and counts["changed"] > 0, counts
    for name in TEMPLATES:
        stored = kube[1].get_cluster_custom_object("templates.gatekeeper.sh", "v1", "constrainttemplates", name)
        code = stored["spec"]["targets"][0]["code"]
        assert [entry["engine"] for entry in code] == ["Rego"]
        assert code[0]["source"]["version"] == "v1"
        # One source of truth: the API server holds exactly the file opa test tests.
        assert code[0]["source"]["rego"].strip() == (REGO_DIR / f"{name}.rego").read_text().strip()
        assert stored["metadata"]["annotations"]["description"], f"{name} has no reason in its description"
    for tenant in ("alpha", "beta"):
        namespace = read_namespace(kube, names[tenant])
        labels = namespace.metadata.labels
        assert labels[TENANT_LABEL] == names[tenant]
        assert labels.items() >= PSA_LABELS.items()
        assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.34"
        owners = {entry.manager: entry.operation for entry in namespace.metadata.managed_fields}
        assert owners.get(FIELD_MANAGER) == "Apply", owners
    # The lab runs no Gatekeeper controller, so no constraint kind exists: the skip is reported, not silent.
    assert "SKIPPED Constraints" in result.stdout and "serves no MeridianTenantLabel" in " ".join(result.stdout.split())


def test_second_run_changes_nothing(inventory):
    result = inventory.playbook()
    assert recap(result.stdout, HUB)["changed"] == 0


def test_check_mode_predicts_a_new_tenant_and_changes_nothing(inventory, names, kube):
    inventory.write([tenant_record(names[t], [HUB]) for t in ("alpha", "beta", "later")])
    try:
        result = inventory.playbook("--check", "--diff")
        assert recap(result.stdout, HUB)["changed"] >= 1
        assert names["later"] in result.stdout, "the diff does not show the new tenant's namespace"
        assert read_namespace(kube, names["later"]) is None, "check mode created the namespace"
    finally:
        inventory.write([tenant_record(names["alpha"], [HUB]), tenant_record(names["beta"], [HUB])])


# --- Pod Security, enforced by the API server itself -------------------------------------------------------------

def test_pod_security_refuses_a_privileged_pod_in_a_tenant_namespace(inventory, names, kube):
    status, message = create_pod(kube, pod("privileged", names["alpha"], privileged=True))
    assert status == 403 and 'violates PodSecurity "restricted:v1.34"' in message, (status, message)
    assert "privileged" in message


def test_pod_security_accepts_the_restricted_twin_in_the_same_namespace(inventory, names, kube):
    assert create_pod(kube, pod("restricted", names["alpha"], privileged=False)) == (201, "")


def test_a_privileged_pod_outside_tenant_namespaces_is_accepted(inventory, names, kube):
    kube[0].create_namespace({"metadata": {"name": names["plain"]}})
    assert create_pod(kube, pod("privileged", names["plain"], privileged=True)) == (201, "")


# --- Constraints: applied where the kind is served, reported where not --------------------------------------------

@pytest.fixture(scope="module")
def served_constraint_kind(kube):
    """The CRD Gatekeeper's controller would make for MeridianTenantLabel (the lab runs no controller); removed after."""
    from kubernetes.client.exceptions import ApiException

    name = f"{SERVED_PLURAL}.{CONSTRAINT_GROUP}"
    kube[2].create_custom_resource_definition({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": name},
        "spec": {"group": CONSTRAINT_GROUP, "scope": "Cluster",
                 "names": {"kind": SERVED_KIND, "plural": SERVED_PLURAL, "singular": SERVED_PLURAL, "listKind": f"{SERVED_KIND}List",
                           "categories": ["constraint", "constraints"]},
                 "versions": [{"name": CONSTRAINT_VERSION, "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}})
    for _ in range(60):
        conditions = kube[2].read_custom_resource_definition(name).status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            break
        time.sleep(1)
    yield
    try:
        kube[2].delete_custom_resource_definition(name)
    except ApiException:
        pass
    for _ in range(60):  # the API server removes the stored constraints first, then the CRD
        try:
            kube[2].read_custom_resource_definition(name)
        except ApiException:
            break
        time.sleep(1)


def test_constraints_are_applied_where_their_kind_is_served(inventory, names, kube, served_constraint_kind):
    result = inventory.playbook()
    assert recap(result.stdout, HUB)["changed"] >= 1
    stored = kube[1].get_cluster_custom_object(CONSTRAINT_GROUP, CONSTRAINT_VERSION, SERVED_PLURAL, SERVED_CONSTRAINT)
    assert stored["metadata"]["annotations"]["description"]
    assert stored["spec"]["enforcementAction"] == "deny"
    # Parameters rendered from the inventory: every tenant of the topology, the lab's and this run's.
    assert {"acme", "globex", names["alpha"], names["beta"]} <= set(stored["spec"]["parameters"]["tenants"])
    assert stored["spec"]["match"]["kinds"] == [{"apiGroups": [""], "kinds": ["Namespace"]}]
    flat = " ".join(result.stdout.split())
    assert "SKIPPED Constraints" in flat and "MeridianTenantLabel" not in flat.split("serves no", 1)[1].split("yet", 1)[0]
    assert recap(inventory.playbook().stdout, HUB)["changed"] == 0


def test_always_fails_naming_the_kinds_that_are_not_served(inventory, served_constraint_kind):
    result = inventory.playbook(check=False, extra={"policy_apply_constraints": "always"})
    flat = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "policy_apply_constraints is always, but the API server serves no MeridianContainerLimits" in flat
    assert "MeridianTenantLabel," not in flat.split("serves no", 1)[1].split(".", 1)[0]


def test_never_applies_no_constraint_and_says_so(inventory, kube, served_constraint_kind):
    kube[1].delete_cluster_custom_object(CONSTRAINT_GROUP, CONSTRAINT_VERSION, SERVED_PLURAL, SERVED_CONSTRAINT)
    result = inventory.playbook(extra={"policy_apply_constraints": "never"})
    assert "policy_apply_constraints is never" in " ".join(result.stdout.split())
    assert kube[1].list_cluster_custom_object(CONSTRAINT_GROUP, CONSTRAINT_VERSION, SERVED_PLURAL)["items"] == []


# --- bad input: the preflight stops the run before anything changes ------------------------------------------------

BAD_VARIABLES = {  # case -> (variable, bad value, texts the failure must contain)
    "registry_without_trailing_slash": ("policy_allowed_registries", ["registry.example.com"],
                                        ['policy_allowed_registries: ["registry.example.com"] are not registry prefixes']),
    "registry_with_scheme": ("policy_allowed_registries", ["https://registry.example.com/"],
                             ['["https://registry.example.com/"] are not registry prefixes']),
    "registries_empty": ("policy_allowed_registries", [], ["policy_allowed_registries is empty"]),
    "pod_security_level_unknown": ("policy_pod_security_level", "strict", ["policy_pod_security_level", "strict"]),
    "pod_security_version_not_a_version": ("policy_pod_security_version", "1.34",
                                           ['policy_pod_security_version is "1.34"', "latest or v1.<minor>"]),
    "enforcement_action_unknown": ("policy_enforcement_action", "block", ["policy_enforcement_action", "block"]),
    "apply_constraints_unknown": ("policy_apply_constraints", "sometimes", ["policy_apply_constraints", "sometimes"]),
    "kubeconfig_missing": ("policy_kubeconfig", "/nonexistent/admin.kubeconfig", ["policy_kubeconfig: /nonexistent"]),
    "kubeconfig_not_a_kubeconfig": ("policy_kubeconfig", str(REPO / "galaxy.yml"), ["policy_kubeconfig:", "galaxy.yml"]),
    "topology_name_not_a_tenant_name": ("policy_topology_names", ["Acme"], ['these are not: ["Acme"]']),
}
BAD_TENANTS = {  # case -> (tenant records after the valid one, texts the failure must contain)
    "tenant_name_not_dns": ([{"name": "Bad_Name", "regions": [HUB]}], ["policy_tenants: tenant Bad_Name is invalid"]),
    "tenant_listed_twice": ("duplicate", ["policy_tenants lists a tenant more than once"]),
    "tenant_state_unknown": ([{"name": "pstate", "regions": [HUB], "state": "gone"}], ['policy_tenants[pstate].state is "gone"']),
    "tenant_without_regions": ([{"name": "pnoregion", "regions": []}], ["tenant pnoregion is invalid", "lists no regions"]),
}


def _fresh(names) -> dict:
    """The valid tenant of the bad-input runs: had the preflight let a run through, its namespace would exist."""
    return {"name": names["bad"], "regions": [HUB]}


def test_the_valid_baseline_passes_the_preflight(inventory, names, kube):
    """Without this twin, a bad case could pass because the baseline itself is refused."""
    result = inventory.playbook("--check", extra={"policy_tenants": [_fresh(names)]})
    assert "Namespaces | Read" in result.stdout
    assert read_namespace(kube, names["bad"]) is None, "check mode created the namespace"


def _assert_refused(inventory, names, kube, extra: dict, expected: list[str]) -> None:
    result = inventory.playbook(check=False, extra=extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "Namespaces | Read" not in output, "the run got past the preflight"
    starts = [position for position in (output.find("fatal: ["), output.find("failed: [")) if position >= 0]
    failure = " ".join((output[min(starts):] if starts else output).split())
    for text in expected:
        assert text in failure, f"{text!r} not in: {failure[-3000:]}"
    assert read_namespace(kube, names["bad"]) is None


@pytest.mark.parametrize("case", sorted(BAD_VARIABLES))
def test_bad_role_variable_is_refused_before_any_change(case, inventory, names, kube):
    variable, value, expected = BAD_VARIABLES[case]
    _assert_refused(inventory, names, kube, {"policy_tenants": [_fresh(names)], variable: value}, expected)


@pytest.mark.parametrize("case", sorted(BAD_TENANTS))
def test_bad_tenant_is_refused_before_any_change(case, inventory, names, kube):
    records, expected = BAD_TENANTS[case]
    tenants = [_fresh(names), _fresh(names)] if records == "duplicate" else [_fresh(names), *records]
    _assert_refused(inventory, names, kube, {"policy_tenants": tenants}, expected)


def test_a_namespace_labelled_for_another_tenant_is_never_relabelled(inventory, names, kube):
    """Not an input error but a cluster state the role refuses before it applies anything."""
    kube[0].create_namespace({"metadata": {"name": names["later"], "labels": {TENANT_LABEL: "acme"}}})
    try:
        result = inventory.playbook(check=False, extra={"policy_tenants": [{"name": names["later"], "regions": [HUB]}]})
        flat = " ".join((result.stdout + result.stderr).split())
        assert result.returncode != 0
        assert f"Namespace {names['later']} already exists with {TENANT_LABEL}=acme, another tenant's label" in flat
        assert "Gatekeeper | Apply" not in result.stdout
        assert read_namespace(kube, names["later"]).metadata.labels[TENANT_LABEL] == "acme"
    finally:
        kube[0].delete_namespace(names["later"])


# --- the policy suites can fail ------------------------------------------------------------------------------------

def _tool(name: str) -> str:
    return subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "lab", "tool-path", name], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def suites_copy(tmp_path_factory) -> pathlib.Path:
    """tests/policy/gator and the role's rendered objects, laid out as in the checkout (the suites' relative paths)."""
    root = tmp_path_factory.mktemp("policy-suites")
    shutil.copytree(REPO / "tests" / "policy" / "gator", root / "tests" / "policy" / "gator")
    run_ansible("ansible-playbook", "tests/policy/render.yml", "-e", f"policy_test_output={root / 'tests' / 'output' / 'policy'}")
    return root / "tests" / "policy" / "gator"


def test_gator_passes_the_suites_as_written(suites_copy):
    completed = subprocess.run([_tool("gator"), "verify", f"{suites_copy}/..."], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.count("ok\t") == len(TEMPLATES)


def test_gator_fails_when_an_allowed_case_is_declared_disallowed(suites_copy, tmp_path):
    broken = tmp_path / "tests" / "policy" / "gator"
    shutil.copytree(suites_copy.parent.parent, tmp_path / "tests")
    suite = broken / "hostisolation" / "suite.yaml"
    suite.write_text(suite.read_text().replace('{violations: "no"}', "{violations: yes}", 1))
    completed = subprocess.run([_tool("gator"), "verify", f"{broken}/..."], capture_output=True, text=True, check=False)
    assert completed.returncode != 0
    assert "FAIL" in completed.stdout and "unprivileged-pod-with-an-empty-dir" in completed.stdout


def test_opa_test_fails_when_a_rule_is_weakened(tmp_path):
    rego = tmp_path / "rego"
    shutil.copytree(REGO_DIR, rego)
    source = rego / "meridianallowedregistries.rego"
    source.write_text(source.read_text().replace("startswith(image, prefix)", "contains(image, prefix)"))
    tests = str(REPO / "tests" / "policy" / "rego")
    good = subprocess.run([_tool("opa"), "test", str(REGO_DIR), tests], capture_output=True, text=True, check=False)
    weakened = subprocess.run([_tool("opa"), "test", str(rego), tests], capture_output=True, text=True, check=False)
    assert good.returncode == 0, good.stdout
    assert weakened.returncode != 0 and "test_the_prefix_must_start_the_image: FAIL" in weakened.stdout
