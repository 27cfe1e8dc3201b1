"""The argocd role against the lab's real Argo CD: what it pushes is synced into both regions by Argo CD itself.

The lab runs one application controller and repo server (v3.6.1) in the hub region for both regions, reading the lab's
bare repository under .lab/gitops/. The role renders the lab environment's tree, pushes it and bootstraps the root
Applications (us-east-1 in-cluster, eu-west-1 through the cluster Secret the role writes); from there every object
reaches the API servers through Argo CD: the tests check what the API servers hold, heal a hand deletion by self-heal,
and follow a limit change from git to the cluster while Ansible writes nothing to that cluster object.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import time

import pytest
import yaml

from tests.support.ansible import REPO, recap, run_ansible

pytestmark = pytest.mark.lab

REGIONS = ("us-east-1", "eu-west-1")
HUB = "us-east-1"
ENVIRONMENT = "lab"
ARGOCD = "argocd"
PLATFORM_NAMESPACE = "meridian-observability"
PLATFORM_COMPONENTS = ("namespaces", "thanos", "prometheus", "loki", "fluent-bit", "istio-ingress", "tenant-operator")
GROUP, VERSION = "argoproj.io", "v1alpha1"
# Loki's per-tenant limits, rendered from the topology into git by the argocd role and applied by Argo CD.
OVERRIDES = "loki-runtime-overrides"


def converge(lab_dir: pathlib.Path, *args: str, check: bool = True, extra: dict | None = None):
    options = ["-e", json.dumps(extra)] if extra else []
    return run_ansible("ansible-playbook", "playbooks/platform.yml", "-i", "inventories/lab", "--tags", "argocd",
                       "-e", f"meridian_lab_dir={lab_dir}", *options, *args, check=check)


def git(*args: str, cwd: pathlib.Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def wait_for(predicate, timeout: float = 180, interval: float = 1.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def kube(lab):
    """Per region: (CoreV1Api, AppsV1Api, CustomObjectsApi, ApiextensionsV1Api) from the admin kubeconfig."""
    from kubernetes import client, config

    clients, apis = [], {}
    for region in REGIONS:
        api = config.new_client_from_config(config_file=lab["regions"][region]["kubernetes"]["kubeconfigs"]["admin"])
        clients.append(api)
        apis[region] = (client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api),
                        client.ApiextensionsV1Api(api))
    yield apis
    for api in clients:
        api.close()


@pytest.fixture(scope="module")
def lab_dir(lab_runtime) -> pathlib.Path:
    return lab_runtime.paths.root


@pytest.fixture(scope="module")
def repository(lab) -> pathlib.Path:
    return pathlib.Path(lab["argocd"]["git_dir"])


@pytest.fixture(scope="module")
def first_run(lab, lab_dir):
    """The role over both regions (the hub host bootstraps), as `make demo` runs it."""
    completed = converge(lab_dir)
    return completed


def applications(kube, selector: str = f"meridian.io/environment={ENVIRONMENT}") -> dict[str, dict]:
    items = kube[HUB][2].list_namespaced_custom_object(GROUP, VERSION, ARGOCD, "applications",
                                                        label_selector=selector)["items"]
    return {item["metadata"]["name"]: item for item in items}


def remote_head(repository: pathlib.Path) -> str:
    return git("--git-dir", str(repository), "rev-parse", "refs/heads/main").strip()


def read_config_map(kube, region: str, namespace: str, name: str):
    from kubernetes.client.exceptions import ApiException

    try:
        return kube[region][0].read_namespaced_config_map(name, namespace)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def test_the_role_pushes_and_the_root_applications_are_synced_at_the_pushed_commit(first_run, kube, repository):
    head = remote_head(repository)
    apps = applications(kube)
    for region in REGIONS:
        root = apps[f"root-{ENVIRONMENT}-{region}"]
        assert root["status"]["sync"]["status"] == "Synced", root["status"]
        assert root["status"]["sync"]["revision"] == head


def test_the_root_app_of_apps_creates_every_platform_application_of_both_regions(first_run, kube):
    wanted = {f"{ENVIRONMENT}-{region}-{component}" for region in REGIONS for component in PLATFORM_COMPONENTS}

    def not_synced():
        apps = applications(kube)
        return {name: apps[name].get("status", {}).get("sync", {}).get("status") if name in apps else "missing"
                for name in wanted if name not in apps or apps[name].get("status", {}).get("sync", {}).get("status") != "Synced"}

    def done():
        return not not_synced()

    try:
        wait_for(done, timeout=240, what="every platform Application Synced")
    except AssertionError as err:
        raise AssertionError(f"{err}: {not_synced()}") from None
    apps = applications(kube)
    # Upstream charts are left out in the lab (no route to their repositories).
    assert not {name for name in apps if name.endswith(("-gatekeeper", "-vault-agent-injector"))}
    # The root of each region owns its children (the app-of-apps), in the platform project.
    for region in REGIONS:
        child = apps[f"{ENVIRONMENT}-{region}-thanos"]
        assert child["spec"]["project"] == "meridian-platform"
        assert len(child["spec"]["sources"]) == 2


def test_the_tenant_applicationsets_give_each_tenant_an_application_per_region_it_lives_in(first_run, lab_tenants, kube):
    """The ApplicationSet controller expands each region's tenant ApplicationSet: one Application per tenant and
    region, in the tenant's own project, synced into the tenant's namespace (the tenant operator made it)."""
    topology = yaml.safe_load((REPO / "inventories" / "lab" / "topology.yml").read_text())
    placed = {(tenant["name"], region) for tenant in topology["tenants"] if tenant.get("state", "present") == "present"
              for region in tenant["regions"]}
    expected = {f"{tenant}-{region}": (tenant, region) for tenant, region in placed}

    def synced():
        apps = {name: app for name, app in applications(kube, "meridian.io/tenant").items()}
        return all(apps.get(name, {}).get("status", {}).get("sync", {}).get("status") == "Synced" for name in expected)

    wait_for(synced, timeout=240, what="every tenant Application Synced")
    apps = applications(kube, "meridian.io/tenant")
    assert set(expected) <= set(apps)
    for name, (tenant, region) in expected.items():
        assert apps[name]["spec"]["project"] == tenant
        assert apps[name]["spec"]["destination"]["namespace"] == tenant
        limits = read_config_map(kube, region, tenant, "meridian-tenant-limits")
        assert limits is not None, name
    # globex lives only in eu-west-1: no Application and no object of it in us-east-1.
    assert "globex-us-east-1" not in apps
    assert read_config_map(kube, "us-east-1", "globex", "meridian-tenant-limits") is None


def test_the_synced_objects_exist_in_both_api_servers(first_run, kube):
    for region in REGIONS:
        core, apps_api, _, extensions = kube[region]
        wait_for(lambda: read_config_map(kube, region, PLATFORM_NAMESPACE, "thanos-objstore"),
                 what=f"thanos-objstore in {region}")
        statefulsets = {item.metadata.name for item in apps_api.list_namespaced_stateful_set(PLATFORM_NAMESPACE).items}
        assert {"thanos-receive", "thanos-store", "thanos-compactor"} <= statefulsets, (region, statefulsets)
        # Argo CD (3.x: annotation tracking) marks what it applied with the owning Application.
        receive = apps_api.read_namespaced_stateful_set("thanos-receive", PLATFORM_NAMESPACE)
        tracking = (receive.metadata.annotations or {}).get("argocd.argoproj.io/tracking-id", "")
        assert tracking.startswith(f"{ENVIRONMENT}-{region}-thanos:"), tracking
        assert extensions.read_custom_resource_definition("tenants.observability.meridian.io").metadata.name
        # No kubelet in the lab: workloads are created but never become ready.
        assert (receive.status.ready_replicas or 0) == 0


def loki_overrides(kube, region: str) -> dict:
    stored = read_config_map(kube, region, PLATFORM_NAMESPACE, OVERRIDES)
    return yaml.safe_load(stored.data["overrides.yaml"])["overrides"]


def test_the_limits_argo_cd_applied_are_the_topologys(first_run, kube, lab):
    topology = yaml.safe_load((REPO / "inventories" / "lab" / "topology.yml").read_text())
    for region in REGIONS:
        wait_for(lambda: read_config_map(kube, region, PLATFORM_NAMESPACE, OVERRIDES), what=f"{OVERRIDES} in {region}")
        living_here = {tenant["name"]: tenant for tenant in topology["tenants"] if region in tenant["regions"]
                       and tenant.get("state", "present") == "present"}
        overrides = loki_overrides(kube, region)
        assert set(overrides) == set(living_here), region
        assert overrides["acme"]["ingestion_rate_mb"] == living_here["acme"]["logs"]["ingestion_rate_mb"]


def test_a_second_run_changes_nothing(first_run, lab_dir):
    completed = converge(lab_dir)
    for region in REGIONS:
        assert recap(completed.stdout, region)["changed"] == 0, completed.stdout[-3000:]


def test_self_heal_restores_a_deleted_object(first_run, kube):
    region = "eu-west-1"
    before = read_config_map(kube, region, PLATFORM_NAMESPACE, OVERRIDES)
    assert before is not None
    kube[region][0].delete_namespaced_config_map(OVERRIDES, PLATFORM_NAMESPACE)
    healed = wait_for(lambda: (lambda cm: cm if cm is not None and cm.metadata.uid != before.metadata.uid else None)(
        read_config_map(kube, region, PLATFORM_NAMESPACE, OVERRIDES)), timeout=120, what="self-heal")
    assert healed.data == before.data


def test_a_commit_to_the_git_remote_reaches_the_api_server_through_argo_cd(first_run, kube, repository, tmp_path, lab_dir):
    """A hand commit (no Ansible at all) changes acme's Loki ingestion rate in us-east-1; Argo CD applies it, then the
    role's next run puts the topology's value back, again only by a commit."""
    region = HUB
    values = f"k8s-manifests/environments/{ENVIRONMENT}/{region}/platform/loki/values.yaml"
    checkout = tmp_path / "checkout"
    git("clone", "--quiet", "--branch", "main", str(repository), str(checkout))
    documents = list(yaml.safe_load_all((checkout / values).read_text()))
    overrides_document = next(doc for doc in documents if doc and doc["metadata"]["name"] == OVERRIDES)
    overrides = yaml.safe_load(overrides_document["data"]["overrides.yaml"])
    overrides["overrides"]["acme"]["ingestion_rate_mb"] = 42
    overrides_document["data"]["overrides.yaml"] = yaml.safe_dump(overrides, sort_keys=True)
    (checkout / values).write_text(yaml.safe_dump_all(documents, sort_keys=False))
    git("-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "--quiet", "-am",
        "test: acme ingestion rate 42 MB/s", cwd=checkout)
    git("push", "--quiet", "origin", "HEAD:main", cwd=checkout)
    # What a git webhook would do: ask the Application to refresh now instead of at the cache's expiry.
    kube[HUB][2].patch_namespaced_custom_object(GROUP, VERSION, ARGOCD, "applications", f"{ENVIRONMENT}-{region}-loki",
                                                {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}})

    def applied():
        return loki_overrides(kube, region)["acme"]["ingestion_rate_mb"] == 42

    wait_for(applied, timeout=180, what="the committed limit in the API server")
    # The other region's object was not part of the commit.
    assert loki_overrides(kube, "eu-west-1")["acme"]["ingestion_rate_mb"] != 42

    # The role brings the topology's value back by a commit of its own; it writes no Loki object to any cluster.
    completed = converge(lab_dir, "-v")
    assert recap(completed.stdout, HUB)["changed"] > 0
    wait_for(lambda: not applied(), timeout=180, what="the topology's limit back in the API server")
    # Only Argo CD's controller ever wrote the object (the API server records every writer in managedFields).
    stored = read_config_map(kube, region, PLATFORM_NAMESPACE, OVERRIDES)
    assert {entry.manager for entry in stored.metadata.managed_fields} == {"argocd-controller"}


def test_check_mode_on_a_synced_environment_predicts_no_change(first_run, lab_dir, repository):
    head = remote_head(repository)
    completed = converge(lab_dir, "--check", "--diff")
    for region in REGIONS:
        assert recap(completed.stdout, region)["changed"] == 0, completed.stdout[-3000:]
    assert remote_head(repository) == head


# --- tenant isolation: what a tenant's AppProject lets through, each refusal next to a twin that syncs -----------------
PROBE_CASES = {
    # name: (region, destination namespace, manifest kind, expected to sync). globex lives only in eu-west-1, so its
    # refusal and acme's twin there go through the cluster Secret the role made.
    "own-namespace": ("us-east-1", "acme", "ConfigMap", True),
    "own-namespace-eu": ("eu-west-1", "acme", "ConfigMap", True),
    "other-tenant": ("eu-west-1", "globex", "ConfigMap", False),
    "cluster-scoped": ("us-east-1", "acme", "ClusterRole", False),
    "operator-owned": ("us-east-1", "acme", "NetworkPolicy", False),
}


def probe_manifest(kind: str, name: str) -> dict:
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"probe": "yes"}}
    if kind == "ClusterRole":
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
                "rules": []}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}}


@pytest.fixture(scope="module")
def probe_branch(first_run, lab_tenants, repository, tmp_path_factory, unique_module):
    """A branch of the lab repository (a tenant's project allows that repository) with one directory per probe."""
    checkout = tmp_path_factory.mktemp("probe") / "checkout"
    git("clone", "--quiet", str(repository), str(checkout))
    branch = f"test/isolation-{unique_module}"
    git("checkout", "--quiet", "--orphan", branch, cwd=checkout)
    git("rm", "-rfq", ".", cwd=checkout)
    for case, (_, _, kind, _) in PROBE_CASES.items():
        (checkout / case).mkdir()
        (checkout / case / "probe.yaml").write_text(yaml.safe_dump(probe_manifest(kind, f"probe-{unique_module}-{case}")))
    git("add", "-A", cwd=checkout)
    git("-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "--quiet", "-m", "isolation probes",
        cwd=checkout)
    git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=checkout)
    yield branch
    git("--git-dir", str(repository), "update-ref", "-d", f"refs/heads/{branch}")


@pytest.fixture(scope="module")
def unique_module() -> str:
    import uuid

    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def probes(kube, lab, probe_branch, unique_module):
    """One Application per probe in tenant acme's project, all synced automatically; removed with their objects."""
    custom = kube[HUB][2]
    names = {}
    servers = {HUB: "https://kubernetes.default.svc"}
    for region in REGIONS[1:]:
        kubeconfig = yaml.safe_load(pathlib.Path(lab["regions"][region]["kubernetes"]["kubeconfigs"]["admin"]).read_text())
        servers[region] = kubeconfig["clusters"][0]["cluster"]["server"]
    for case, (region, namespace, _, _) in PROBE_CASES.items():
        name = f"probe-{unique_module}-{case}"
        names[case] = name
        custom.create_namespaced_custom_object(GROUP, VERSION, ARGOCD, "applications", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "Application",
            "metadata": {"name": name, "namespace": ARGOCD,
                         "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
            "spec": {"project": "acme",
                     "source": {"repoURL": lab["argocd"]["repo_url"], "targetRevision": probe_branch, "path": case},
                     "destination": {"server": servers[region], "namespace": namespace},
                     "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}})
    yield names
    for name in names.values():
        try:
            custom.delete_namespaced_custom_object(GROUP, VERSION, ARGOCD, "applications", name)
        except Exception:  # already gone
            pass


def probe_object_exists(kube, case: str, name: str) -> bool:
    from kubernetes.client.exceptions import ApiException

    region, namespace, kind, _ = PROBE_CASES[case]
    core = kube[region][0]
    try:
        if kind == "ConfigMap":
            core.read_namespaced_config_map(name, namespace)
        elif kind == "ClusterRole":
            from kubernetes import client

            client.RbacAuthorizationV1Api(core.api_client).read_cluster_role(name)
        else:
            from kubernetes import client

            client.NetworkingV1Api(core.api_client).read_namespaced_network_policy(name, namespace)
    except ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


def test_a_tenant_project_syncs_only_into_its_own_namespace(kube, probes):
    """acme's project syncs a ConfigMap into acme in both regions (the twins) and refuses globex's namespace, a
    cluster-scoped object and an object the tenant operator owns; none of the refused objects is created."""
    custom = kube[HUB][2]

    def settled():
        states = {}
        for case, name in probes.items():
            app = custom.get_namespaced_custom_object(GROUP, VERSION, ARGOCD, "applications", name)
            status = app.get("status", {})
            sync = status.get("sync", {}).get("status")
            conditions = [condition.get("message", "") for condition in status.get("conditions", [])]
            operation = status.get("operationState", {})
            # Argo CD's own words for a project refusing a destination or a kind.
            refused = any("is not permitted in project acme" in message
                          or "do not match any of the allowed destinations in project 'acme'" in message
                          for message in conditions + [operation.get("message", "")])
            states[case] = (sync, refused, conditions + [operation.get("message", "")])
        settled.last = states
        ready = all(states[case][0] == "Synced" if allowed else states[case][1]
                    for case, (_, _, _, allowed) in PROBE_CASES.items())
        return states if ready else None

    try:
        states = wait_for(settled, timeout=180, what="the probes synced or refused")
    except AssertionError as err:
        raise AssertionError(f"{err}: {getattr(settled, 'last', None)}") from None
    for case, (_, _, _, allowed) in PROBE_CASES.items():
        if allowed:
            assert probe_object_exists(kube, case, probes[case]), case
            continue
        assert states[case][0] != "Synced", (case, states[case])
        assert " ".join(states[case][2]), case  # Argo CD says why
        assert not probe_object_exists(kube, case, probes[case]), case
