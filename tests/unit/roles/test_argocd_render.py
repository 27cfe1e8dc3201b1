"""The argocd role's GitOps half, which needs no server: render the lab's tree, commit and push it into a bare git repo.

The role runs against the lab topology (inventories/lab: acme in both regions, globex in eu-west-1) with
argocd_apply=false; creating the AppProjects and root Applications in a cluster, and Argo CD syncing them, need the
lab's API servers and Argo CD and are proven by the lab-backed tests. Every rendered Argo CD object is validated
against Argo CD's own CRD schemas when the Argo CD module (v3.6.1) is in the Go module cache.
"""

from __future__ import annotations

import base64
import collections
import copy
import json
import os
import pathlib
import re
import stat
import subprocess
import sys

import pytest
import yaml

from tests.support.ansible import REPO, recap, role_refusals, run_ansible, unwrap_unsafe

ENVIRONMENT_PATH = "k8s-manifests/environments/lab"
REGIONS = ["us-east-1", "eu-west-1"]
TENANT_REGIONS = {"acme": {"us-east-1", "eu-west-1"}, "globex": {"eu-west-1"}}
EU_SERVER = "https://127.0.0.1:22443"
# Components whose Application has a second source: the region's values rendered from the topology.
RENDERED_COMPONENTS = ("thanos", "loki", "prometheus", "fluent-bit")
# Recognisable fake credentials: they must reach the cluster Secret and never Ansible's output or the git tree.
FAKE_CA, FAKE_CERT, FAKE_KEY = (base64.b64encode(text.encode()).decode()
                                for text in ("fake-ca-for-argocd-test", "fake-cert-for-argocd-test", "fake-KEY-for-argocd-test"))
ARGO_CD_MODULE = "github.com/argoproj/argo-cd/v3@v3.6.1"


def git(*args: str, cwd: pathlib.Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def remote_commits(remote: pathlib.Path) -> list[str]:
    if not git("--git-dir", str(remote), "for-each-ref", "refs/heads/main").strip():
        return []
    return git("--git-dir", str(remote), "rev-list", "main").split()


def remote_documents(remote: pathlib.Path, path: str, revision: str = "main") -> list[dict]:
    text = git("--git-dir", str(remote), "show", f"{revision}:{path}")
    return [document for document in yaml.safe_load_all(text) if document]


def write_kubeconfig(path: pathlib.Path, server: str) -> pathlib.Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "lab", "cluster": {"server": server, "certificate-authority-data": FAKE_CA}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": FAKE_CERT, "client-key-data": FAKE_KEY}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "admin"}}]}))
    return path


class Lab:
    """A bare remote, the other region's kubeconfig and a playbook running the role for both lab regions."""

    def __init__(self, directory: pathlib.Path):
        self.directory = directory
        self.remote = directory / "remote.git"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(self.remote))
        self.work_dir = directory / "work"
        self.kubeconfigs = {"us-east-1": str(write_kubeconfig(directory / "us.kubeconfig", "https://127.0.0.1:21443")),
                            "eu-west-1": str(write_kubeconfig(directory / "eu.kubeconfig", EU_SERVER))}
        self.playbook = directory / "argocd.yml"
        self.playbook.write_text(yaml.safe_dump([{
            "name": "argocd role", "hosts": "all", "gather_facts": False,
            "tasks": [{"name": "Render and push", "ansible.builtin.include_role": {"name": "meridian.observability.argocd"}}]}]))

    def variables(self, **extra) -> dict:
        return {"argocd_repo_url": f"file://{self.remote}", "argocd_work_dir": str(self.work_dir),
                "argocd_region_kubeconfigs": self.kubeconfigs, "argocd_apply": False,
                # The lab inventory leaves the upstream charts out (its repo server cannot fetch them); rendered here.
                "argocd_upstream_charts": True} | extra

    def run(self, *options: str, check: bool = True, **extra) -> subprocess.CompletedProcess:
        return run_ansible("ansible-playbook", str(self.playbook), "-i", "inventories/lab", "-e", json.dumps(self.variables(**extra)),
                           *options, check=check)


@pytest.fixture(scope="module")
def topology_tenants() -> list[dict]:
    """Every tenant of the lab topology (each region host lists only the tenants living in its region), by name.

    One ansible-inventory --list for both regions; it wraps the plugin's strings, unwrapped here."""
    listing = unwrap_unsafe(json.loads(run_ansible("ansible-inventory", "-i", "inventories/lab", "--list").stdout))
    tenants = {}
    for region in REGIONS:
        tenants |= {tenant["name"]: tenant for tenant in listing["_meta"]["hostvars"][region]["meridian_tenants"]}
    return sorted(tenants.values(), key=lambda tenant: tenant["name"])


def changed_limit_tenants(tenants: list[dict]) -> list[dict]:
    changed = copy.deepcopy(tenants)
    for tenant in changed:
        if tenant["name"] == "acme":
            tenant["metrics"]["head_series_limit"] = 750000
            tenant["logs"]["ingestion_rate_mb"] = 31
    return changed


def offboarded_globex_tenants(tenants: list[dict]) -> list[dict]:
    return [tenant | ({"state": "absent"} if tenant["name"] == "globex" else {}) for tenant in changed_limit_tenants(tenants)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, topology_tenants):
    """The role's history every test reads, in order: a first run (verbose, to catch leaked keys), a second run, a
    check-mode run with a changed limit, that limit applied, then globex offboarded. Each step's commits and the
    clone's state are kept as the step left them, and the tests read the tree at the commit they are about, so no
    test runs the role or depends on another test having run first (one history instead of a history per test)."""
    lab = Lab(tmp_path_factory.mktemp("argocd"))
    clone = lab.work_dir / "repo"
    lab.first = lab.run("-v")
    lab.commits_after_first = remote_commits(lab.remote)
    lab.first_commit = lab.commits_after_first[0]
    lab.second = lab.run()
    lab.commits_after_second = remote_commits(lab.remote)
    lab.clone_head = git("-C", str(clone), "rev-parse", "HEAD").strip()
    lab.check = lab.run("--check", "--diff", argocd_tenants=changed_limit_tenants(topology_tenants))
    lab.commits_after_check = remote_commits(lab.remote)
    lab.clone_head_after_check = git("-C", str(clone), "rev-parse", "HEAD").strip()
    lab.clone_status_after_check = git("-C", str(clone), "status", "--porcelain")
    lab.limit_change = lab.run(argocd_tenants=changed_limit_tenants(topology_tenants))
    lab.commits_after_limit_change = remote_commits(lab.remote)
    lab.offboarding = lab.run(argocd_tenants=offboarded_globex_tenants(topology_tenants))
    lab.commits_after_offboarding = remote_commits(lab.remote)
    return lab


def test_the_first_run_pushes_one_commit_with_the_environment_tree(lab):
    assert [recap(lab.first.stdout, region)["failed"] for region in REGIONS] == [0, 0]
    assert len(lab.commits_after_first) == 1
    files = set(git("--git-dir", str(lab.remote), "ls-tree", "-r", "--name-only", lab.first_commit).split())
    for region in REGIONS:
        assert f"{ENVIRONMENT_PATH}/{region}/apps/platform.yaml" in files
        assert f"{ENVIRONMENT_PATH}/{region}/apps/tenants.yaml" in files
    assert f"{ENVIRONMENT_PATH}/us-east-1/tenants/acme/limits.yaml" in files
    assert f"{ENVIRONMENT_PATH}/us-east-1/tenants/globex/limits.yaml" not in files  # globex lives in eu-west-1 only
    assert f"{ENVIRONMENT_PATH}/eu-west-1/tenants/globex/limits.yaml" in files
    # One source for the operator's manifests: the pushed copies are operators/tenant-operator/deploy's, byte for byte.
    for name in ("crd.yaml", "rbac.yaml", "deployment.yaml"):
        pushed = git("--git-dir", str(lab.remote), "show", f"{lab.first_commit}:k8s-manifests/platform/tenant-operator/{name}")
        assert pushed == (REPO / "operators" / "tenant-operator" / "deploy" / name).read_text()
    assert "k8s-manifests/tenants/workload-pod-template.yaml" in files
    assert not [name for name in files if "cluster-secret" in name or name.endswith(".kubeconfig")]


def test_each_tenant_appproject_deploys_only_into_its_namespace(lab):
    projects = {document["metadata"]["name"]: document["spec"]
                for document in remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/bootstrap/projects.yaml", lab.first_commit)}
    assert set(projects) == {"meridian-platform", "acme", "globex"}
    servers = {"us-east-1": "https://kubernetes.default.svc", "eu-west-1": EU_SERVER}
    for tenant, regions in TENANT_REGIONS.items():
        spec = projects[tenant]
        assert {destination["namespace"] for destination in spec["destinations"]} == {tenant}
        assert {destination["server"] for destination in spec["destinations"]} == {servers[region] for region in regions}
        assert spec["clusterResourceWhitelist"] == []
        assert {"group": "", "kind": "ResourceQuota"} in spec["namespaceResourceBlacklist"]
    assert {"group": "*", "kind": "*"} in projects["meridian-platform"]["clusterResourceWhitelist"]


def test_a_root_application_per_region_tracks_the_environment_path_and_revision(lab):
    roots = {document["metadata"]["name"]: document
             for document in remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/bootstrap/root-applications.yaml",
                                              lab.first_commit)}
    assert set(roots) == {"root-lab-us-east-1", "root-lab-eu-west-1"}
    for region in REGIONS:
        spec = roots[f"root-lab-{region}"]["spec"]
        assert spec["source"] == {"repoURL": f"file://{lab.remote}", "targetRevision": "main",
                                  "path": f"{ENVIRONMENT_PATH}/{region}/apps"}
        assert spec["destination"] == {"server": "https://kubernetes.default.svc", "namespace": "argocd"}
        assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        # The root app's path holds the region's children, each aimed at that region's cluster.
        children = remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/{region}/apps/platform.yaml", lab.first_commit)
        expected_server = "https://kubernetes.default.svc" if region == "us-east-1" else EU_SERVER
        assert {child["spec"]["destination"]["server"] for child in children} == {expected_server}
        assert {"thanos", "prometheus", "loki", "fluent-bit", "istio-ingress", "gatekeeper", "tenant-operator",
                "vault-agent-injector"} <= {child["metadata"]["labels"]["meridian.io/component"] for child in children}


def test_the_tenant_applicationset_lists_the_region_tenants_in_their_own_projects(lab):
    for region in REGIONS:
        (appset,) = remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/{region}/apps/tenants.yaml", lab.first_commit)
        elements = appset["spec"]["generators"][0]["list"]["elements"]
        assert {element["tenant"] for element in elements} == {tenant for tenant, regions in TENANT_REGIONS.items()
                                                                if region in regions}
        for element in elements:
            assert element["path"] == f"{ENVIRONMENT_PATH}/{region}/tenants/{element['tenant']}"
        template = appset["spec"]["template"]["spec"]
        assert template["project"] == "{{.tenant}}"
        assert template["destination"]["namespace"] == "{{.tenant}}"


def test_tenant_limits_come_from_the_topology(lab, topology_tenants):
    tenants = {tenant["name"]: tenant for tenant in topology_tenants}
    (limits,) = remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/eu-west-1/tenants/globex/limits.yaml", lab.first_commit)
    assert limits["metadata"]["namespace"] == "globex"
    assert yaml.safe_load(limits["data"]["metrics.yaml"]) == tenants["globex"]["metrics"]
    loki = {document["metadata"]["name"]: document
            for document in remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/us-east-1/platform/loki/values.yaml",
                                             lab.first_commit)}
    overrides = yaml.safe_load(loki["loki-runtime-overrides"]["data"]["overrides.yaml"])["overrides"]
    assert set(overrides) == {"acme"}  # globex does not live in us-east-1
    assert overrides["acme"]["ingestion_rate_mb"] == tenants["acme"]["logs"]["ingestion_rate_mb"]
    # Receive's limits are not in git: thanos_tenant keeps them in the ConfigMap receive mounts.
    thanos = remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/us-east-1/platform/thanos/values.yaml", lab.first_commit)
    assert [document["metadata"]["name"] for document in thanos] == ["thanos-objstore"]
    assert yaml.safe_load(thanos[0]["data"]["objstore.yaml"])["config"]["bucket"] == "meridian-lab-us-east-1-thanos"


def test_prometheus_and_fluent_bit_get_the_observability_roles_configuration_per_region(lab, tmp_path):
    """The region's values wrap what the observability role's templates render: Prometheus writes through the region's
    gateway and its rules file is where rule_files looks; Fluent Bit sends each tenant living in the region with that
    tenant's X-Scope-OrgID and no other tenant."""
    for region in REGIONS:
        (prometheus,) = remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/{region}/platform/prometheus/values.yaml",
                                         lab.first_commit)
        assert prometheus["metadata"]["name"] == "prometheus-config"
        config = yaml.safe_load(prometheus["data"]["prometheus.yml"])
        assert config["rule_files"] == ["rules/*.yml"]
        assert config["remote_write"] and all("/api/v1/receive" in target["url"] for target in config["remote_write"])
        assert yaml.safe_load(prometheus["data"]["platform.rules.yml"])["groups"]
        (fluent_bit,) = remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/{region}/platform/fluent-bit/values.yaml",
                                         lab.first_commit)
        assert fluent_bit["metadata"]["name"] == "fluent-bit-config"
        text = fluent_bit["data"]["fluent-bit.yaml"]
        living_here = {tenant for tenant, regions in TENANT_REGIONS.items() if region in regions}
        for tenant in TENANT_REGIONS:
            sent = re.search(rf'^\s*tenant_id: "?{tenant}"?\s*$', text, re.M) is not None
            assert sent == (tenant in living_here), (region, tenant)
    # The same files pass promtool, as Prometheus would load them (rules resolved next to the configuration).
    promtool = subprocess.run([sys.executable, "-m", "lab", "tool-path", "promtool"], cwd=REPO, capture_output=True,
                              text=True, check=False).stdout.strip()
    if promtool:
        (prometheus,) = remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/us-east-1/platform/prometheus/values.yaml",
                                         lab.first_commit)
        (tmp_path / "rules").mkdir()
        (tmp_path / "prometheus.yml").write_text(prometheus["data"]["prometheus.yml"])
        (tmp_path / "rules" / "platform.yml").write_text(prometheus["data"]["platform.rules.yml"])
        checked = subprocess.run([promtool, "check", "config", "--syntax-only", str(tmp_path / "prometheus.yml")],
                                 capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_other_region_is_registered_from_its_kubeconfig_without_logging_keys(lab):
    secret_file = lab.work_dir / "cluster-secrets" / "eu-west-1.yaml"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert not (lab.work_dir / "cluster-secrets" / "us-east-1.yaml").exists()  # Argo CD's own cluster is in-cluster
    (secret,) = [document for document in yaml.safe_load_all(secret_file.read_text()) if document]
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "cluster"
    assert secret["stringData"]["server"] == EU_SERVER
    assert json.loads(secret["stringData"]["config"]) == {
        "tlsClientConfig": {"caData": FAKE_CA, "certData": FAKE_CERT, "keyData": FAKE_KEY}}
    for run in (lab.first, lab.second, lab.check, lab.limit_change, lab.offboarding):
        assert FAKE_KEY not in run.stdout + run.stderr
        assert FAKE_CERT not in run.stdout + run.stderr


def test_a_second_run_changes_nothing_and_makes_no_commit(lab):
    assert lab.commits_after_second == lab.commits_after_first
    for region in REGIONS:
        assert recap(lab.second.stdout, region)["changed"] == 0, lab.second.stdout[-3000:]


def test_check_mode_predicts_a_limit_change_and_writes_nothing(lab):
    assert recap(lab.check.stdout, "us-east-1")["changed"] > 0 or recap(lab.check.stdout, "eu-west-1")["changed"] > 0
    assert "750000" in lab.check.stdout  # the diff shows the new limit
    assert lab.commits_after_check == lab.commits_after_second
    assert lab.clone_head_after_check == lab.clone_head
    assert lab.clone_status_after_check == ""


def test_a_changed_limit_is_one_commit_touching_only_that_tenant(lab):
    before, after = lab.commits_after_check, lab.commits_after_limit_change
    assert len(after) == len(before) + 1
    changed = set(git("--git-dir", str(lab.remote), "diff", "--name-only", before[0], after[0]).split())
    assert changed == {f"{ENVIRONMENT_PATH}/{region}/tenants/acme/limits.yaml" for region in REGIONS} | {
        f"{ENVIRONMENT_PATH}/{region}/platform/loki/values.yaml" for region in REGIONS}


def test_an_offboarded_tenant_leaves_the_tree_and_its_project(lab):
    before, after = lab.commits_after_limit_change, lab.commits_after_offboarding
    assert len(after) == len(before) + 1
    changed = git("--git-dir", str(lab.remote), "diff", "--name-status", before[0], after[0]).splitlines()
    assert f"D\t{ENVIRONMENT_PATH}/eu-west-1/tenants/globex/limits.yaml" in changed
    projects = remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/bootstrap/projects.yaml", after[0])
    assert {project["metadata"]["name"] for project in projects} == {"meridian-platform", "acme"}
    (appset,) = remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/eu-west-1/apps/tenants.yaml", after[0])
    assert [element["tenant"] for element in appset["spec"]["generators"][0]["list"]["elements"]] == ["acme"]
    # The static tree and the other files stay.
    files = set(git("--git-dir", str(lab.remote), "ls-tree", "-r", "--name-only", after[0]).split())
    assert "k8s-manifests/platform/thanos/receive.yaml" in files
    assert f"{ENVIRONMENT_PATH}/eu-west-1/tenants/acme/limits.yaml" in files


def test_every_platform_application_syncs_plain_yaml_that_exists_in_the_tree(lab, tmp_path):
    """What Argo CD's repo server reads for each platform Application: every source path is a directory of plain YAML
    (a kustomization.yaml would make it run a kustomize binary the lab's repo server does not have)."""
    checkout = tmp_path / "checkout"
    git("clone", "--quiet", "--no-checkout", str(lab.remote), str(checkout))
    git("-C", str(checkout), "checkout", "--quiet", lab.first_commit)
    expected_kinds = {"thanos": {"StatefulSet", "Deployment", "Service", "ConfigMap"}, "loki": {"StatefulSet", "ConfigMap"},
                      "tenant-operator": {"CustomResourceDefinition", "ClusterRole", "Deployment"},
                      "namespaces": {"Namespace"}, "istio-ingress": {"Gateway"}, "prometheus": {"StatefulSet", "ConfigMap"},
                      "fluent-bit": {"DaemonSet", "ConfigMap"}}
    for region in REGIONS:
        applications = {app["metadata"]["labels"]["meridian.io/component"]: app
                        for app in remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/{region}/apps/platform.yaml",
                                                    lab.first_commit)}
        assert set(expected_kinds) <= set(applications), region
        for component, kinds in expected_kinds.items():
            sources = applications[component]["spec"]["sources"]
            assert sources[0]["path"] == f"k8s-manifests/platform/{component}"
            if component in RENDERED_COMPONENTS:
                assert [source["path"] for source in sources[1:]] == [f"{ENVIRONMENT_PATH}/{region}/platform/{component}"]
            else:
                assert len(sources) == 1, (region, component)
            objects = []
            for source in sources:
                directory = checkout / source["path"]
                assert directory.is_dir(), (region, component, source["path"])
                assert not (directory / "kustomization.yaml").exists()
                for manifest in sorted(directory.glob("*.yaml")):
                    objects += [document for document in yaml.safe_load_all(manifest.read_text()) if document]
            assert kinds <= {item["kind"] for item in objects}, (region, component)
            if component in ("thanos", "loki"):
                # Namespaced objects take the Application's destination namespace.
                assert applications[component]["spec"]["destination"]["namespace"] == "meridian-observability"
                assert {item["metadata"].get("namespace") for item in objects} <= {None, "meridian-observability"}


# --- bad input: refused in the preflight, before anything is cloned, written or pushed -------------------------------
BAD_INPUTS = [
    ("repo URL without a scheme", {"argocd_repo_url": "git.example.com/meridian/gitops.git"}, "argocd_repo_url"),
    ("another environment's path", {"argocd_environment_path": "k8s-manifests/environments/prod"}, "argocd_environment_path"),
    ("revision with '..'", {"argocd_repo_revision": "main..release"}, "argocd_repo_revision"),
    ("revision HEAD", {"argocd_repo_revision": "HEAD"}, "argocd_repo_revision"),
    ("tenant project reaching another namespace", {"argocd_tenant_sources": {"acme": {"namespace": "globex"}}},
     "may deploy only into its own namespace"),
    ("source for an unknown tenant", {"argocd_tenant_sources": {"initech": {"path": "apps/initech"}}}, "argocd_tenant_sources"),
    ("root path escaping the repository", {"argocd_root_path": "../k8s-manifests"}, "argocd_root_path"),
    ("unknown control region", {"argocd_control_region": "ap-south-1"}, "argocd_control_region"),
    ("missing kubeconfig of the other region", {"argocd_region_kubeconfigs": {"us-east-1": "/nonexistent"}},
     "argocd_region_kubeconfigs[eu-west-1]"),
    ("tenant name not a DNS label", {"argocd_tenants": [{"name": "Globex", "regions": ["eu-west-1"]}]}, "argocd_tenants"),
    ("relative work directory", {"argocd_work_dir": "work"}, "argocd_work_dir"),
]


VALID_TWIN = "valid twin"


@pytest.fixture(scope="module")
def bad_input_outcomes(tmp_path_factory):
    """Every bad-input case in one ansible-playbook process: one play per case, each running the role inside a block
    whose rescue records which task stopped it and what it said (one process instead of one per case). The valid twin,
    the same variables without a bad value, runs the role's checks in the same process and must pass them (the whole
    role with these variables is the lab fixture's first run)."""
    directory = tmp_path_factory.mktemp("argocd-bad")
    labs = {case: Lab(directory / f"case{number}") for number, (case, _, _) in enumerate(BAD_INPUTS)}
    labs[VALID_TWIN] = Lab(directory / "valid")
    cases = [(f"bad input: {case}", labs[case].variables(**variables)) for case, variables, _ in BAD_INPUTS]
    cases.append((VALID_TWIN, labs[VALID_TWIN].variables(), "preflight.yml"))
    outcomes = role_refusals(directory, "meridian.observability.argocd", cases, host="eu-west-1")
    return {case: (outcome, labs[case]) for case, outcome in zip([case for case, _, _ in BAD_INPUTS] + [VALID_TWIN], outcomes)}


def test_the_valid_twin_of_the_bad_inputs_passes_the_checks(bad_input_outcomes):
    outcome, _ = bad_input_outcomes[VALID_TWIN]
    assert outcome == {"refused": False}, outcome


@pytest.mark.parametrize(("case", "variables", "named"), BAD_INPUTS, ids=[case for case, _, _ in BAD_INPUTS])
def test_bad_input_is_refused_before_any_change(bad_input_outcomes, case, variables, named):
    outcome, bad = bad_input_outcomes[case]
    assert outcome["refused"], case
    assert outcome["task"].startswith("Preflight |"), (case, outcome["task"])
    assert named in outcome["result"], (case, outcome["result"][-2000:])
    assert not bad.work_dir.exists(), case
    assert remote_commits(bad.remote) == [], case


# --- Argo CD's own schemas ---------------------------------------------------------------------------------------------
def argo_cd_crds_directory() -> pathlib.Path:
    """Where the Argo CD module's CRDs are in the Go module cache."""
    try:
        modcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        modcache = os.environ.get("GOMODCACHE") or str(pathlib.Path.home() / "go" / "pkg" / "mod")
    return pathlib.Path(modcache) / ARGO_CD_MODULE / "manifests" / "crds"


@pytest.fixture(scope="module")
def argo_cd_schemas() -> dict[str, dict]:
    """{kind: openAPIV3Schema} from the Argo CD module in the Go module cache; skips when it is not there."""
    crds = argo_cd_crds_directory()
    if not crds.is_dir():
        pytest.skip(f"{ARGO_CD_MODULE} is not in the Go module cache ({crds}); `go mod download {ARGO_CD_MODULE}` adds it")
    schemas = {}
    for path in crds.glob("*-crd.yaml"):
        # libyaml's loader when PyYAML has it: the pure-Python one takes seconds on these 2 MB of CRDs.
        crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        (version,) = [version for version in crd["spec"]["versions"] if version.get("storage")]
        schemas[crd["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    return schemas


def schema_problems(document: dict, schema: dict) -> list[str]:
    """Where ``document`` breaks ``schema``: jsonschema's errors plus fields the schema does not know.

    The API server prunes unknown fields silently, so a misspelt field would pass plain validation and vanish.
    """
    jsonschema = pytest.importorskip("jsonschema")
    problems = [f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
                for error in jsonschema.Draft7Validator(schema).iter_errors(document)]

    def unknown(value, node, path):
        if isinstance(value, dict) and node.get("properties") and not node.get("x-kubernetes-preserve-unknown-fields"):
            for key, item in value.items():
                if key not in node["properties"]:
                    problems.append(f"{path}.{key}: unknown field")
                else:
                    unknown(item, node["properties"][key], f"{path}.{key}")
        elif isinstance(value, dict) and isinstance(node.get("additionalProperties"), dict):
            for key, item in value.items():
                unknown(item, node["additionalProperties"], f"{path}.{key}")
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            for index, item in enumerate(value):
                unknown(item, node["items"], f"{path}[{index}]")

    unknown({key: value for key, value in document.items() if key != "metadata"}, schema, "")
    return problems


def test_every_rendered_argo_cd_object_matches_argo_cds_crd_schema(lab, argo_cd_schemas):
    schemas = argo_cd_schemas
    paths = [f"{ENVIRONMENT_PATH}/bootstrap/projects.yaml", f"{ENVIRONMENT_PATH}/bootstrap/root-applications.yaml"]
    paths += [f"{ENVIRONMENT_PATH}/{region}/apps/{name}" for region in REGIONS for name in ("platform.yaml", "tenants.yaml")]
    checked = collections.Counter()
    for path in paths:
        for document in remote_documents(lab.remote, path, lab.first_commit):
            assert document["apiVersion"] == "argoproj.io/v1alpha1", path
            assert schema_problems(document, schemas[document["kind"]]) == [], (path, document["metadata"]["name"])
            checked[document["kind"]] += 1
    # Two roots and nine platform Applications per region, an ApplicationSet per region, the platform's project and
    # acme's and globex's.
    assert (checked["Application"], checked["ApplicationSet"], checked["AppProject"]) == (2 + 2 * 9, 2, 3)


@pytest.mark.parametrize(("case", "break_it"), [
    ("destinations not a list", lambda spec: spec.update(destinations="acme")),
    ("misspelt field", lambda spec: spec.update(clusterResourceWhitelists=[])),
    ("destination with an unknown key", lambda spec: spec["destinations"][0].update(namespaces="acme")),
])
def test_the_schema_check_can_fail(lab, argo_cd_schemas, case, break_it):
    schemas = argo_cd_schemas
    project = [document for document in remote_documents(lab.remote, f"{ENVIRONMENT_PATH}/bootstrap/projects.yaml",
                                                          lab.first_commit)
               if document["metadata"]["name"] == "acme"][0]
    assert schema_problems(project, schemas["AppProject"]) == []
    break_it(project["spec"])
    assert schema_problems(project, schemas["AppProject"]) != [], case
