"""Tenant network isolation in the lab, proven by cyclonus rather than by reading YAML.

Two tenants (acme and globex, with a per-run suffix) are created as Tenant objects in eu-west-1, so the lab's tenant
operator writes their namespaces and per-namespace policies; the policy role's network tasks then add the
cluster-wide pieces (platform-namespace policies, each tenant's gateway egress and, because the lab inventory says
the CNI is Cilium, CiliumClusterwideNetworkPolicies, which the API server validates against Cilium's own CRDs).

cyclonus (github.com/mattfenwick/cyclonus, built into the lab cache) reads the NetworkPolicies the lab API server
holds and simulates every pod-to-pod connection of a pod model (the lab has no kubelet and no CNI, so no pod runs):
its verdicts are what the assertions check. The twins run cyclonus again on the same policies, exported to files,
with one piece taken out, and must see the connection open or close accordingly, so the parsing and the test can fail.
Nothing here enforces the Cilium policies; the lab proves they are stored and schema-valid.
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import re
import subprocess
import time
import uuid

import pytest
import yaml
from kubernetes import client

from tests.support.ansible import REPO, recap, run_ansible

pytestmark = pytest.mark.lab

REGION = "eu-west-1"  # the lab region that serves both topology tenants
RUN = uuid.uuid4().hex[:6]
ACME, GLOBEX = f"np-acme-{RUN}", f"np-globex-{RUN}"
GROUP, VERSION, PLURAL = "observability.meridian.io", "v1alpha1", "tenants"
TENANT_LABEL = "meridian.io/tenant"
DNS_NAMESPACE, GATEWAY_NAMESPACE, MONITORING_NAMESPACE = "kube-system", "istio-ingress", "monitoring"
OPERATOR_POLICIES = {"default-deny", "allow-dns", "allow-same-namespace", "allow-ingress-gateway",
                     "allow-monitoring-scrape"}
GATEWAY_EGRESS = "meridian-allow-gateway-egress"
CILIUM_POLICIES = {"meridian-tenant-egress-dns", "meridian-tenant-egress-gateway", "meridian-tenant-dns-ingress",
                   "meridian-tenant-gateway-ingress"}
READY_WAIT = 90

# The pod model: (namespace, pod name, labels, [(port, protocol), ...]); the first port of each pod is what it serves.
PODS = [
    (ACME, "web", {"app": "web"}, [(8080, "TCP")]),
    (ACME, "worker", {"app": "worker"}, [(8080, "TCP")]),
    (GLOBEX, "web", {"app": "web"}, [(8080, "TCP")]),
    (GLOBEX, "worker", {"app": "worker"}, [(8080, "TCP")]),
    (DNS_NAMESPACE, "coredns", {"k8s-app": "kube-dns"}, [(53, "UDP"), (53, "TCP"), (9153, "TCP")]),
    (GATEWAY_NAMESPACE, "gateway", {"istio": "ingressgateway"}, [(8080, "TCP"), (8443, "TCP"), (15021, "TCP")]),
    (MONITORING_NAMESPACE, "prometheus", {"app.kubernetes.io/name": "prometheus"}, [(9090, "TCP")]),
]
PROBES = [(53, "UDP"), (53, "TCP"), (9153, "TCP"), (8080, "TCP"), (8443, "TCP"), (15021, "TCP"), (9090, "TCP")]


# --------------------------------------------------------------------------------------------------------------
# cyclonus
def cyclonus_binary() -> str:
    from lab import tool_path
    from lab.services.base import LabError

    try:
        return str(tool_path("cyclonus"))
    except LabError as err:
        pytest.fail(f"cyclonus is needed to prove reachability: {err}")


def probe_model(namespace_labels: dict[str, dict[str, str]]) -> dict:
    """cyclonus's synthetic probe file: the namespaces with their labels as the API server holds them, the pods."""
    pods = []
    for index, (namespace, name, labels, ports) in enumerate(PODS):
        containers = [{"Name": f"c{port}-{protocol.lower()}", "Port": port, "Protocol": protocol,
                       "PortName": f"p{port}-{protocol.lower()}"} for port, protocol in ports]
        pods.append({"Namespace": namespace, "Name": name, "Labels": labels, "IP": f"10.244.0.{index + 10}",
                     "Containers": containers})
    return {"Probes": [{"Port": port, "Protocol": protocol} for port, protocol in PROBES],
            "Resources": {"Namespaces": namespace_labels, "Pods": pods}}


_PROBE_HEADER = re.compile(r'msg="probe on port (\d+), protocol (\w+)"')


def parse_probe_output(output: str) -> dict[tuple[int, str], dict[tuple[str, str], str]]:
    """{(port, protocol): {(source, destination): verdict}} from the "Combined" tables of `analyze --mode probe`.

    Rows are sources, columns destinations (both "namespace/pod"); "." allowed, "X" blocked, "N" the destination
    does not serve that port. The log line naming the probe comes after its tables.
    """
    tables, current = [], None
    lines = output.splitlines()
    for number, line in enumerate(lines):
        if line.strip() == "Combined:":
            current = {}
            header = [cell.strip() for cell in lines[number + 2].strip().strip("|").split("|")][1:]
            for row in lines[number + 4:]:
                if row.startswith("+"):
                    break
                cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
                for destination, verdict in zip(header, cells[1:]):
                    current[cells[0], destination.lower()] = verdict
            tables.append(current)
    headers = [(int(port), protocol) for port, protocol in _PROBE_HEADER.findall(output)]
    assert len(headers) == len(PROBES), f"cyclonus ran {len(headers)} probes, expected {len(PROBES)}:\n{output[-3000:]}"
    return dict(zip(headers, tables[: len(headers)]))


class Reachability:
    """cyclonus's verdicts for one policy set; `allowed("acme/web", "kube-system/coredns", 53, "UDP")`."""

    def __init__(self, verdicts: dict, output: str) -> None:
        self.verdicts, self.output = verdicts, output

    def verdict(self, source: str, destination: str, port: int, protocol: str) -> str:
        return self.verdicts[port, protocol][source.lower(), destination.lower()]

    def allowed(self, source: str, destination: str, port: int, protocol: str = "TCP") -> bool:
        verdict = self.verdict(source, destination, port, protocol)
        assert verdict in {".", "X"}, f"{source} -> {destination}:{port}/{protocol}: cyclonus says {verdict!r}"
        return verdict == "."


def run_cyclonus(workdir: pathlib.Path, model: dict, *, kubeconfig: str | None = None,
                 policy_dir: pathlib.Path | None = None, namespaces: list[str] | None = None) -> Reachability:
    """Run `cyclonus analyze --mode probe`, reading the policies from the API server or from files."""
    model_path = workdir / f"model-{uuid.uuid4().hex[:6]}.json"
    model_path.write_text(json.dumps(model))
    command = [cyclonus_binary(), "analyze", "--mode", "probe", "--probe-path", str(model_path)]
    env = dict(os.environ)
    if kubeconfig:
        command += ["--namespace", ",".join(namespaces or [])]
        env["KUBECONFIG"] = kubeconfig
    if policy_dir:
        command += ["--policy-path", str(policy_dir)]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"cyclonus exited {completed.returncode}:\n{output[-4000:]}"
    assert "unable to read network policies" not in output, output[-4000:]
    return Reachability(parse_probe_output(output), output)


# --------------------------------------------------------------------------------------------------------------
# the lab
@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("network-policy")


@pytest.fixture(scope="module")
def kubeconfig(lab) -> str:
    return lab["regions"][REGION]["kubernetes"]["kubeconfigs"]["admin"]


@pytest.fixture(scope="module")
def api(kubeconfig):
    from kubernetes import config

    api_client = config.new_client_from_config(config_file=kubeconfig)
    yield api_client
    api_client.close()


def tenant_body(name: str) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Tenant",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "integration-test"}},
            "spec": {"displayName": f"Network policy test {name}", "owners": ["owner@np.example"],
                     "quotas": {"cpu": "2", "memory": "2Gi", "pods": 10}, "networkProfile": "default"}}


def wait_ready(custom: client.CustomObjectsApi, name: str) -> None:
    deadline = time.monotonic() + READY_WAIT
    while True:
        status = custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, name).get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        if conditions.get("Ready") == "True":
            return
        assert time.monotonic() < deadline, f"Tenant {name} not Ready within {READY_WAIT}s: {status}"
        time.sleep(0.5)


def topology_tenants() -> list[dict]:
    """The lab topology's tenants of the region, kept in the role's tenant list so their objects stay."""
    document = yaml.safe_load((REPO / "inventories" / "lab" / "topology.yml").read_text())
    return [{"name": t["name"], "regions": t["regions"], "state": t.get("state", "present"),
             "network_profile": t.get("network_profile", "default")}
            for t in document["tenants"] if REGION in t["regions"]]


def converge(workdir: pathlib.Path, tenants: list[dict], *args: str, check: bool = True, **overrides):
    """The policy role's network preflight and tasks against the region, with this tenant list."""
    playbook = workdir / "network.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "tenant network isolation", "hosts": REGION, "gather_facts": False,
        "tasks": [{"name": f"Policy role {part}", "ansible.builtin.include_role": {
            "name": "meridian.observability.policy", "tasks_from": part}}
            for part in ("preflight_network.yml", "network.yml")]}]))
    extra = workdir / f"vars-{uuid.uuid4().hex[:6]}.json"
    extra.write_text(json.dumps({"policy_tenants": tenants} | overrides))
    return run_ansible("ansible-playbook", str(playbook), "-i", "inventories/lab", "-l", REGION, "-e", f"@{extra}",
                       *args, check=check, timeout=600)


def with_test_tenants() -> list[dict]:
    return topology_tenants() + [{"name": name, "regions": [REGION]} for name in (ACME, GLOBEX)]


@pytest.fixture(scope="module")
def converged(lab, api, workdir, lab_tenants):
    """Tenants through the operator, then check -> apply -> apply -> check of the role's network tasks."""
    custom = client.CustomObjectsApi(api)
    for name in (ACME, GLOBEX):
        custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, tenant_body(name))
    try:
        for name in (ACME, GLOBEX):
            wait_ready(custom, name)
        runs = {
            "check": converge(workdir, with_test_tenants(), "--check", "--diff"),
            "apply": converge(workdir, with_test_tenants(), "--diff"),
            "reapply": converge(workdir, with_test_tenants(), "--diff"),
            "recheck": converge(workdir, with_test_tenants(), "--check", "--diff"),
        }
        yield runs
    finally:
        # The role's own pruning removes the test tenants' gateway egress (asserted in its test when it ran first).
        converge(workdir, topology_tenants(), check=False)
        for name in (ACME, GLOBEX):
            try:
                custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
            except client.exceptions.ApiException as err:
                if err.status != 404:
                    raise


@pytest.fixture(scope="module")
def namespace_labels(api, converged) -> dict[str, dict[str, str]]:
    core = client.CoreV1Api(api)
    return {name: dict(core.read_namespace(name).metadata.labels or {})
            for name in (ACME, GLOBEX, DNS_NAMESPACE, GATEWAY_NAMESPACE, MONITORING_NAMESPACE)}


@pytest.fixture(scope="module")
def live(converged, kubeconfig, namespace_labels, workdir) -> Reachability:
    """cyclonus's verdicts from the policies the lab API server holds."""
    return run_cyclonus(workdir, probe_model(namespace_labels), kubeconfig=kubeconfig,
                        namespaces=list(namespace_labels))


def exported_policies(api, namespaces) -> list[dict]:
    """The NetworkPolicies the API server holds in these namespaces, as plain objects."""
    networking = client.NetworkingV1Api(api)
    policies = []
    for namespace in namespaces:
        for item in networking.list_namespaced_network_policy(namespace).items:
            policy = api.sanitize_for_serialization(item)
            policy["metadata"] = {"name": policy["metadata"]["name"], "namespace": namespace}
            policies.append(policy | {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"})
    return policies


def write_policies(directory: pathlib.Path, policies: list[dict]) -> pathlib.Path:
    directory.mkdir()
    (directory / "policies.json").write_text(json.dumps(
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicyList", "items": policies}))
    return directory


# --------------------------------------------------------------------------------------------------------------
def test_role_converges_idempotently_with_honest_check_mode(converged, api):
    assert recap(converged["check"].stdout, REGION)["changed"] > 0
    assert recap(converged["apply"].stdout, REGION)["changed"] > 0
    assert recap(converged["reapply"].stdout, REGION)["changed"] == 0
    assert recap(converged["recheck"].stdout, REGION)["changed"] == 0

    networking = client.NetworkingV1Api(api)
    for tenant in (ACME, GLOBEX):
        names = {p.metadata.name for p in networking.list_namespaced_network_policy(tenant).items}
        assert names == OPERATOR_POLICIES | {GATEWAY_EGRESS}, names
    assert networking.read_namespaced_network_policy("meridian-tenant-dns", DNS_NAMESPACE)
    assert networking.read_namespaced_network_policy("meridian-tenant-gateway", GATEWAY_NAMESPACE)
    cilium = client.CustomObjectsApi(api).list_cluster_custom_object(
        "cilium.io", "v2", "ciliumclusterwidenetworkpolicies",
        label_selector="app.kubernetes.io/managed-by=meridian-policy")
    assert {item["metadata"]["name"] for item in cilium["items"]} == CILIUM_POLICIES


def test_acme_reaches_dns_the_gateway_and_itself_and_nothing_of_globex(live):
    acme_web, acme_worker = f"{ACME}/web", f"{ACME}/worker"
    dns, gateway, prometheus = f"{DNS_NAMESPACE}/coredns", f"{GATEWAY_NAMESPACE}/gateway", f"{MONITORING_NAMESPACE}/prometheus"
    for source in (acme_web, acme_worker):
        assert live.allowed(source, dns, 53, "UDP") and live.allowed(source, dns, 53, "TCP"), live.output
        assert live.allowed(source, gateway, 8080) and live.allowed(source, gateway, 8443)
        assert not live.allowed(source, dns, 9153), "tenants reach only the DNS port of the DNS pods"
        assert not live.allowed(source, gateway, 15021), "tenants reach only the gateway's listeners"
        assert not live.allowed(source, prometheus, 9090), "tenants write through the gateway, not to monitoring"
        for globex_pod in ("web", "worker"):
            assert not live.allowed(source, f"{GLOBEX}/{globex_pod}", 8080)
            assert not live.allowed(f"{GLOBEX}/{globex_pod}", source, 8080)
    assert live.allowed(acme_web, acme_worker, 8080) and live.allowed(acme_worker, acme_web, 8080)
    # The paths into a tenant: the gateway's routes and the monitoring scrape.
    assert live.allowed(gateway, acme_web, 8080) and live.allowed(prometheus, acme_web, 8080)
    assert not live.allowed(dns, acme_web, 8080), "no other platform pod reaches a tenant"


def test_twin_globex_reaches_its_own_pods_dns_and_the_gateway(live):
    globex_web, globex_worker = f"{GLOBEX}/web", f"{GLOBEX}/worker"
    assert live.allowed(globex_web, globex_worker, 8080) and live.allowed(globex_worker, globex_web, 8080)
    assert live.allowed(globex_web, f"{DNS_NAMESPACE}/coredns", 53, "UDP")
    assert live.allowed(globex_web, f"{GATEWAY_NAMESPACE}/gateway", 8443)


def test_twin_without_the_tenant_policies_cyclonus_shows_acme_reaching_globex(api, live, namespace_labels, workdir):
    """The same policies exported to files: as held, acme and globex are apart; without the tenants' policies, not."""
    policies = exported_policies(api, list(namespace_labels))
    model = probe_model(namespace_labels)
    as_held = run_cyclonus(workdir, model, policy_dir=write_policies(workdir / "as-held", policies))
    assert not as_held.allowed(f"{ACME}/web", f"{GLOBEX}/web", 8080)
    assert as_held.verdicts == live.verdicts, "the exported policies are the ones cyclonus read from the API server"

    without = [p for p in policies if p["metadata"]["namespace"] not in (ACME, GLOBEX)]
    opened = run_cyclonus(workdir, model, policy_dir=write_policies(workdir / "without-tenant-policies", without))
    assert opened.allowed(f"{ACME}/web", f"{GLOBEX}/web", 8080), opened.output


def test_twin_without_the_roles_gateway_egress_acme_loses_the_gateway(api, namespace_labels, workdir):
    """The gateway path is the role's doing: without its per-tenant egress, the operator's default-deny closes it."""
    policies = [p for p in exported_policies(api, list(namespace_labels))
                if not (p["metadata"]["namespace"] == ACME and p["metadata"]["name"] == GATEWAY_EGRESS)]
    closed = run_cyclonus(workdir, probe_model(namespace_labels), policy_dir=write_policies(workdir / "no-egress", policies))
    assert not closed.allowed(f"{ACME}/web", f"{GATEWAY_NAMESPACE}/gateway", 8080)
    assert closed.allowed(f"{GLOBEX}/web", f"{GATEWAY_NAMESPACE}/gateway", 8080)


# --------------------------------------------------------------------------------------------------------------
def cilium_policy(name: str, spec: dict) -> dict:
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "integration-test"}}, "spec": spec}


def test_cilium_schema_refuses_a_bad_field_and_accepts_the_roles_policies(api, converged):
    custom = client.CustomObjectsApi(api)
    held = {item["metadata"]["name"]: item for item in custom.list_cluster_custom_object(
        "cilium.io", "v2", "ciliumclusterwidenetworkpolicies",
        label_selector="app.kubernetes.io/managed-by=meridian-policy")["items"]}
    assert set(held) == CILIUM_POLICIES
    good = copy.deepcopy(held["meridian-tenant-egress-gateway"]["spec"])

    # Twin: the role's own spec under a new name passes the schema (a server-side dry run stores nothing).
    custom.create_cluster_custom_object("cilium.io", "v2", "ciliumclusterwidenetworkpolicies",
                                        cilium_policy(f"np-good-{RUN}", good), dry_run="All")

    bad_protocol = copy.deepcopy(good)
    bad_protocol["egress"][0]["toPorts"][0]["ports"][0]["protocol"] = "HTTP"  # not in the CRD's enum
    bad_selector = copy.deepcopy(good) | {"endpointSelector": "tenants"}  # an object in the CRD's schema
    unknown_field = copy.deepcopy(good) | {"egressAllowEverything": True}  # not a field of the CRD
    # 422: the schema refuses the value; 400: strict field validation refuses a field the schema does not have.
    for name, spec, status, named in (("protocol", bad_protocol, 422, "protocol"),
                                      ("selector", bad_selector, 422, "endpointSelector"),
                                      ("field", unknown_field, 400, "egressAllowEverything")):
        with pytest.raises(client.exceptions.ApiException) as refused:
            custom.create_cluster_custom_object("cilium.io", "v2", "ciliumclusterwidenetworkpolicies",
                                                cilium_policy(f"np-bad-{name}-{RUN}", spec), dry_run="All",
                                                field_validation="Strict")
        assert refused.value.status == status, (name, refused.value.body)
        assert named in refused.value.body, (name, refused.value.body)


def test_removed_tenant_loses_its_gateway_egress(api, converged, workdir):
    """Pruning by label: a run without globex removes its object and nothing else of the role's."""
    networking = client.NetworkingV1Api(api)
    without_globex = topology_tenants() + [{"name": ACME, "regions": [REGION]},
                                           {"name": GLOBEX, "regions": [REGION], "state": "absent"}]
    predicted = converge(workdir, without_globex, "--check")
    assert recap(predicted.stdout, REGION)["changed"] == 1
    assert networking.read_namespaced_network_policy(GATEWAY_EGRESS, GLOBEX)  # check mode changed nothing
    pruned = converge(workdir, without_globex)
    assert recap(pruned.stdout, REGION)["changed"] == 1
    assert GATEWAY_EGRESS not in {p.metadata.name for p in networking.list_namespaced_network_policy(GLOBEX).items}
    assert networking.read_namespaced_network_policy(GATEWAY_EGRESS, ACME)
    assert OPERATOR_POLICIES <= {p.metadata.name for p in networking.list_namespaced_network_policy(GLOBEX).items}


@pytest.mark.parametrize(("overrides", "field"), [
    ({"policy_cni": "calico"}, "policy_cni"),
    ({"policy_network_gateway_ports": [8080, 70000]}, "policy_network_gateway_ports"),
    ({"policy_network_gateway_ports": "8080"}, "policy_network_gateway_ports"),
    ({"policy_network_dns_pod_labels": {}}, "policy_network_dns_pod_labels"),
    ({"policy_network_gateway_pod_labels": {"istio": 1}}, "policy_network_gateway_pod_labels"),
    ({"policy_network_external_cidrs": ["10.0.0.0/33"]}, "policy_network_external_cidrs"),
    ({"policy_network_external_cidrs": ["everywhere"]}, "policy_network_external_cidrs"),
])
def test_bad_input_is_refused_before_any_change(lab, workdir, overrides, field):
    result = converge(workdir, topology_tenants(), check=False, **overrides)
    assert result.returncode != 0
    assert field in result.stdout
    assert "Network | " not in result.stdout, "no network task ran"
