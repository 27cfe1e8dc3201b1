"""The vault role against the lab's real OpenBao servers and API servers, one per region.

The lab's own tenants (acme in both regions, globex in eu-west-1) are converged the way an engineer does it:
playbooks/platform.yml --tags vault against inventories/lab. Logins are real: the lab API server issues the service
account's token (TokenRequest API) and OpenBao checks it with that API server (TokenReview, with the reviewer token
the role set up). Scenarios that change or remove things use tenants of this run only, passed to the role through a
small playbook against the same inventory (vault_tenants as extra vars), so the lab's tenants are never touched;
their namespaces and workload service accounts are made here, as the tenant operator would make them.
"""

from __future__ import annotations

import base64
import json
import pathlib
import re
import time
import uuid

import hvac
import hvac.exceptions
import pytest
import yaml

from tests.support.ansible import REPO, recap, role_refusals, run_ansible

pytestmark = pytest.mark.lab

HUB, SPOKE = "us-east-1", "eu-west-1"
KV_MOUNT, AUDIENCE, SERVICE_ACCOUNT = "tenants", "vault", "workload"  # the role's defaults
REVIEWER_NAMESPACE, REVIEWER = "vault-auth", "vault-token-reviewer"
TENANT_TASK = "Vault | Each tenant's policy and role; offboarded tenants lose theirs"
GONE_WITHIN = 60  # seconds a deleted service account's tokens may keep passing TokenReview (the informer's delay)


class Hidden(str):
    """A secret that test reports show as <hidden> (pytest prints fixture values and assertion operands)."""

    def __repr__(self) -> str:
        return "<hidden>"


def auth_mount(region: str) -> str:
    return f"kubernetes-{region}"


# ---------------------------------------------------------------------------------------------------------------
# Clients

@pytest.fixture(scope="module")
def kube(lab):
    """Per region: CoreV1Api from the lab's admin kubeconfig."""
    from kubernetes import client, config

    made, apis = {}, []
    for region in (HUB, SPOKE):
        api = config.new_client_from_config(config_file=lab["regions"][region]["kubernetes"]["kubeconfigs"]["admin"])
        apis.append(api)
        made[region] = client.CoreV1Api(api)
    yield made
    for api in apis:
        api.close()


@pytest.fixture(scope="module")
def root(lab):
    """Per region: an hvac client with OpenBao's root token."""
    return {region: hvac.Client(url=lab["regions"][region]["vault"]["addr"], token=lab["regions"][region]["vault"]["token"])
            for region in (HUB, SPOKE)}


def request_token(kube, region: str, namespace: str, service_account: str = SERVICE_ACCOUNT) -> Hidden:
    """A token for the service account, issued by the region's API server for audience vault."""
    from kubernetes import client

    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[AUDIENCE], expiration_seconds=600))
    return Hidden(kube[region].create_namespaced_service_account_token(service_account, namespace, request).status.token)


def login(lab, region: str, role: str, jwt: str) -> hvac.Client:
    """Log in at the region's Kubernetes auth mount; returns a client holding the new token (raises when refused)."""
    client = hvac.Client(url=lab["regions"][region]["vault"]["addr"])
    answer = client.auth.kubernetes.login(role, jwt, mount_point=auth_mount(region))
    client.token = answer["auth"]["client_token"]
    return client


def read(client: hvac.Client, path: str) -> dict:
    return client.secrets.kv.v2.read_secret_version(mount_point=KV_MOUNT, path=path, raise_on_deleted_version=True)["data"]["data"]


def ensure_workload(kube, region: str, namespace: str) -> None:
    """The namespace and workload service account the tenant operator makes for a tenant (kept when present)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    for create in (lambda: kube[region].create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace))),
                   lambda: kube[region].create_namespaced_service_account(
                       namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=SERVICE_ACCOUNT)))):
        try:
            create()
        except ApiException as err:
            if err.status != 409:
                raise


def delete_namespace(kube, region: str, namespace: str) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        kube[region].delete_namespace(namespace)
    except ApiException as err:
        if err.status != 404:
            raise


def policy_text(root, region: str, tenant: str) -> str | None:
    try:
        return root[region].sys.read_acl_policy(f"tenant-{tenant}")["data"]["policy"]
    except hvac.exceptions.InvalidPath:
        return None


def role(root, region: str, tenant: str) -> dict | None:
    try:
        return root[region].read(f"auth/{auth_mount(region)}/role/{tenant}")["data"]
    except hvac.exceptions.InvalidPath:
        return None
    except TypeError:  # hvac returns None for a 404 on a generic read
        return None


def secret_exists(root, region: str, path: str) -> bool:
    try:
        root[region].secrets.kv.v2.read_secret_metadata(mount_point=KV_MOUNT, path=path)
        return True
    except hvac.exceptions.InvalidPath:
        return False


def reviewer_jwt(kube, region: str) -> Hidden:
    secret = kube[region].read_namespaced_secret(REVIEWER, REVIEWER_NAMESPACE)
    return Hidden(base64.b64decode(secret.data["token"]).decode())


# ---------------------------------------------------------------------------------------------------------------
# Running the role

@pytest.fixture(scope="module")
def lab_converged(lab, lab_tenants):
    """The lab's own tenants converged in both regions with the real entry point; returns the first run."""
    return run_ansible("ansible-playbook", "playbooks/platform.yml", "-i", "inventories/lab", "--tags", "vault")


class RolePlay:
    """The role alone, against the lab inventory, with this run's tenants and variables passed as extra vars."""

    def __init__(self, directory: pathlib.Path, lab_dir: pathlib.Path) -> None:
        self.directory, self.lab_dir = directory, lab_dir
        self.playbook = directory / "vault.yml"
        self.playbook.write_text(yaml.safe_dump([{
            "name": "The vault role", "hosts": "all", "gather_facts": False,
            "roles": [{"role": "meridian.observability.vault"}]}], sort_keys=False))

    def run(self, region: str, variables: dict, *args: str, check: bool = True):
        extra = self.directory / f"vars-{uuid.uuid4().hex[:8]}.json"
        extra.write_text(json.dumps(variables))
        return run_ansible("ansible-playbook", str(self.playbook), "-i", str(REPO / "inventories" / "lab"), "-l", region,
                           "-e", f"@{extra}", *args, check=check)


@pytest.fixture(scope="module")
def play(lab, lab_runtime, tmp_path_factory):
    return RolePlay(tmp_path_factory.mktemp("vault-role"), lab_runtime.paths.root)


def tenant(name: str, region: str = SPOKE, **changes) -> dict:
    """A tenant record as the topology renders it (only the fields this role reads)."""
    return {"name": name, "regions": [region], "state": "present"} | changes


def delete_tenant_objects(root, region: str, name: str) -> None:
    """The tenant's role, policy and secrets, deleted with the root token (cleanup; offboarding is tested by the role)."""
    root[region].delete(f"auth/{auth_mount(region)}/role/{name}")
    root[region].sys.delete_acl_policy(f"tenant-{name}")
    pending = [f"{name}/"]
    while pending:
        folder = pending.pop()
        try:
            keys = root[region].secrets.kv.v2.list_secrets(mount_point=KV_MOUNT, path=folder)["data"]["keys"]
        except hvac.exceptions.InvalidPath:
            continue
        for key in keys:
            if key.endswith("/"):
                pending.append(folder + key)
            else:
                root[region].secrets.kv.v2.delete_metadata_and_all_versions(mount_point=KV_MOUNT, path=folder + key)


@pytest.fixture
def run_tenants(kube, root, play):
    """Names for tenants of this test in SPOKE; afterwards their Vault objects, secrets and namespaces are gone."""
    made: list[str] = []

    def make(label: str) -> str:
        name = f"t{uuid.uuid4().hex[:6]}-{label}"
        made.append(name)
        ensure_workload(kube, SPOKE, name)
        return name

    yield make
    for name in made:
        delete_tenant_objects(root, SPOKE, name)
        delete_namespace(kube, SPOKE, name)


# ---------------------------------------------------------------------------------------------------------------
# The lab's tenants, converged with the real entry point

def test_rerun_on_both_regions_changes_nothing(lab_converged):
    again = run_ansible("ansible-playbook", "playbooks/platform.yml", "-i", "inventories/lab", "--tags", "vault")
    for region in (HUB, SPOKE):
        counters = recap(again.stdout, region)
        assert (counters["changed"], counters["failed"]) == (0, 0), f"{region}: {counters}"


def test_cluster_side_is_the_reviewer_with_auth_delegator(lab_converged, kube, lab):
    from kubernetes import client

    api = client.RbacAuthorizationV1Api(kube[SPOKE].api_client)
    binding = api.read_cluster_role_binding(f"{REVIEWER_NAMESPACE}-{REVIEWER}-auth-delegator")
    assert binding.role_ref.name == "system:auth-delegator"
    assert [(s.kind, s.namespace, s.name) for s in binding.subjects] == [("ServiceAccount", REVIEWER_NAMESPACE, REVIEWER)]
    secret = kube[SPOKE].read_namespaced_secret(REVIEWER, REVIEWER_NAMESPACE)
    assert secret.type == "kubernetes.io/service-account-token"
    assert secret.metadata.annotations["kubernetes.io/service-account.name"] == REVIEWER


def binding_patches(kube, region: str) -> int:
    """PATCH requests the region's API server has answered for ClusterRoleBindings, from its own metrics."""
    api_client = kube[region].api_client
    response = api_client.call_api("GET", f"{api_client.configuration.host}/metrics")
    text = response.read().decode()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("apiserver_request_total{") and 'resource="clusterrolebindings"' in line
               and 'verb="PATCH"' in line and 'dry_run=""' in line)


def test_the_reviewer_binding_is_written_only_when_it_differs(lab_converged, kube):
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(kube[SPOKE].api_client)
    name = f"{REVIEWER_NAMESPACE}-{REVIEWER}-auth-delegator"
    entry_point = ("ansible-playbook", "playbooks/platform.yml", "-i", "inventories/lab", "--tags", "vault", "-l", SPOKE)
    # Unchanged: no write (kubernetes.core alone PATCHed the binding on every run, its subjects being a list it
    # cannot merge).
    before = binding_patches(kube, SPOKE)
    assert recap(run_ansible(*entry_point).stdout, SPOKE)["changed"] == 0
    assert binding_patches(kube, SPOKE) == before

    # Its twin: a binding changed by hand is predicted in check mode, left alone there, and repaired by a run.
    rbac.patch_cluster_role_binding(name, {"subjects": [
        {"kind": "ServiceAccount", "name": "intruder", "namespace": REVIEWER_NAMESPACE}]})
    predicted = run_ansible(*entry_point, "--check", "--diff")
    assert recap(predicted.stdout, SPOKE)["changed"] == 1
    assert [s.name for s in rbac.read_cluster_role_binding(name).subjects] == ["intruder"]
    run_ansible(*entry_point)
    assert [(s.kind, s.namespace, s.name) for s in rbac.read_cluster_role_binding(name).subjects] == [
        ("ServiceAccount", REVIEWER_NAMESPACE, REVIEWER)]


def test_auth_mount_points_at_its_own_region(lab_converged, root, lab):
    for region in (HUB, SPOKE):
        config = root[region].read(f"auth/{auth_mount(region)}/config")["data"]
        assert config["kubernetes_host"] == lab["regions"][region]["kubernetes"]["api_server"]
        assert config["issuer"] == lab["regions"][region]["kubernetes"]["service_account_issuer"]
        assert config["token_reviewer_jwt_set"] is True
        assert config["kubernetes_ca_cert"].startswith("-----BEGIN CERTIFICATE-----")
        assert root[region].sys.list_auth_methods()["data"][f"{auth_mount(region)}/"]["type"] == "kubernetes"


@pytest.fixture
def lab_secrets(lab_converged, root):
    """A secret of acme's and one of globex's in SPOKE, and one of acme's in HUB, deleted afterwards."""
    run = uuid.uuid4().hex[:8]
    made = {(SPOKE, "acme"): Hidden(uuid.uuid4().hex), (SPOKE, "globex"): Hidden(uuid.uuid4().hex),
            (HUB, "acme"): Hidden(uuid.uuid4().hex)}
    for (region, name), value in made.items():
        root[region].secrets.kv.v2.create_or_update_secret(mount_point=KV_MOUNT, path=f"{name}/test-{run}",
                                                           secret={"value": value})
    yield run, made
    for region, name in made:
        root[region].secrets.kv.v2.delete_metadata_and_all_versions(mount_point=KV_MOUNT, path=f"{name}/test-{run}")


def test_acme_reads_its_secret_and_is_denied_globex_path_and_role(lab, kube, lab_secrets):
    run, values = lab_secrets
    acme_token = request_token(kube, SPOKE, "acme")
    acme = login(lab, SPOKE, "acme", acme_token)
    assert read(acme, f"acme/test-{run}") == {"value": values[(SPOKE, "acme")]}
    with pytest.raises(hvac.exceptions.Forbidden):
        read(acme, f"globex/test-{run}")
    # Nor may it write its own path: the policy grants read and list only.
    with pytest.raises(hvac.exceptions.Forbidden):
        acme.secrets.kv.v2.create_or_update_secret(mount_point=KV_MOUNT, path=f"acme/test-{run}", secret={"value": "x"})
    # acme's token cannot log in to globex's role ...
    with pytest.raises(hvac.exceptions.Forbidden):
        login(lab, SPOKE, "globex", acme_token)
    # ... while globex's own token can, and reads globex's secret (the twin).
    globex = login(lab, SPOKE, "globex", request_token(kube, SPOKE, "globex"))
    assert read(globex, f"globex/test-{run}") == {"value": values[(SPOKE, "globex")]}


def test_token_from_the_other_regions_api_server_is_denied(lab, kube, lab_secrets):
    run, values = lab_secrets
    hub_token = request_token(kube, HUB, "acme")
    # eu-west-1's OpenBao asks eu-west-1's API server, which did not sign this token.
    with pytest.raises(hvac.exceptions.Forbidden):
        login(lab, SPOKE, "acme", hub_token)
    # The twin: the same token logs in at its own region's mount and reads acme's secret there.
    assert read(login(lab, HUB, "acme", hub_token), f"acme/test-{run}") == {"value": values[(HUB, "acme")]}


def test_audience_other_than_vault_is_denied(lab, kube, lab_converged):
    from kubernetes import client

    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=["not-vault"], expiration_seconds=600))
    token = Hidden(kube[SPOKE].create_namespaced_service_account_token(SERVICE_ACCOUNT, "acme", request).status.token)
    with pytest.raises((hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest)):
        login(lab, SPOKE, "acme", token)
    login(lab, SPOKE, "acme", request_token(kube, SPOKE, "acme"))  # the twin: audience vault passes


def test_workload_pod_template_is_accepted_by_the_api_server(lab_converged, kube):
    from kubernetes import client

    document = yaml.safe_load((REPO / "k8s-manifests" / "tenants" / "workload-pod-template.yaml").read_text())
    annotations = document["spec"]["template"]["metadata"]["annotations"]
    assert annotations["vault.hashicorp.com/role"] == document["metadata"]["namespace"]
    assert annotations["vault.hashicorp.com/auth-path"] == f"auth/{auth_mount(HUB)}"
    assert document["spec"]["template"]["spec"]["serviceAccountName"] == SERVICE_ACCOUNT
    apps = client.AppsV1Api(kube[HUB].api_client)
    stored = apps.create_namespaced_deployment(document["metadata"]["namespace"], document, dry_run="All")
    assert stored.spec.template.metadata.annotations["vault.hashicorp.com/agent-inject"] == "true"


# ---------------------------------------------------------------------------------------------------------------
# This run's tenants, through the role alone

def test_deleted_service_account_token_stops_working(lab, kube, root, play, run_tenants):
    name = run_tenants("gone")
    play.run(SPOKE, {"vault_tenants": [tenant(name)]})
    token = request_token(kube, SPOKE, name)
    login(lab, SPOKE, name, token)  # the twin: before the deletion the token works
    kube[SPOKE].delete_namespaced_service_account(SERVICE_ACCOUNT, name)
    deadline = time.monotonic() + GONE_WITHIN
    while True:
        try:
            login(lab, SPOKE, name, token)
        except hvac.exceptions.Forbidden:
            break
        assert time.monotonic() < deadline, f"the deleted service account's token still logs in after {GONE_WITHIN} s"
        time.sleep(1)


def test_check_mode_predicts_a_ttl_change_and_changes_nothing(lab, kube, root, play, run_tenants):
    name = run_tenants("check")
    play.run(SPOKE, {"vault_tenants": [tenant(name)]})
    assert role(root, SPOKE, name)["token_ttl"] == 900
    changed = {"vault_tenants": [tenant(name)], "vault_token_ttl": "5m", "vault_token_max_ttl": "30m"}

    predicted = play.run(SPOKE, changed, "--check", "--diff")
    assert recap(predicted.stdout, SPOKE)["changed"] >= 1
    # One task for every tenant; its diff names the tenant and shows the new TTLs.
    assert predicted.stdout.count(f"TASK [meridian.observability.vault : {TENANT_TASK}") == 1
    section = predicted.stdout[predicted.stdout.index(TENANT_TASK):]
    # It is the role's last task: its output ends at the next task or at the recap.
    section = section[:section.find("TASK [", 1) if "TASK [" in section[1:] else section.index("PLAY RECAP")]
    assert f"--- before: tenant {name}" in section and f"changed: [{SPOKE}]" in section
    assert re.search(r"^-\s+token_ttl: 900$", section, re.M) and re.search(r"^\+\s+token_ttl: 300$", section, re.M)
    assert role(root, SPOKE, name)["token_ttl"] == 900, "check mode changed the role"

    applied = play.run(SPOKE, changed)
    assert recap(applied.stdout, SPOKE)["changed"] >= 1
    assert (role(root, SPOKE, name)["token_ttl"], role(root, SPOKE, name)["token_max_ttl"]) == (300, 1800)
    again = play.run(SPOKE, changed)
    assert recap(again.stdout, SPOKE)["changed"] == 0
    # A login now gets the shorter TTL.
    assert 0 < login(lab, SPOKE, name, request_token(kube, SPOKE, name)).auth.token.lookup_self()["data"]["ttl"] <= 300


def test_offboarding_removes_policy_and_role_and_keeps_secrets_unless_purged(lab, kube, root, play, run_tenants):
    name = run_tenants("off")
    play.run(SPOKE, {"vault_tenants": [tenant(name)]})
    root[SPOKE].secrets.kv.v2.create_or_update_secret(mount_point=KV_MOUNT, path=f"{name}/config", secret={"k": "v"})
    token = request_token(kube, SPOKE, name)
    assert policy_text(root, SPOKE, name) and role(root, SPOKE, name)  # the twin: present before offboarding
    assert read(login(lab, SPOKE, name, token), f"{name}/config") == {"k": "v"}

    play.run(SPOKE, {"vault_tenants": [tenant(name, state="absent")]})
    assert policy_text(root, SPOKE, name) is None
    assert role(root, SPOKE, name) is None
    with pytest.raises((hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest)):
        login(lab, SPOKE, name, token)
    assert secret_exists(root, SPOKE, f"{name}/config"), "offboarding without the purge flag deleted the secrets"
    assert recap(play.run(SPOKE, {"vault_tenants": [tenant(name, state="absent")]}).stdout, SPOKE)["changed"] == 0

    play.run(SPOKE, {"vault_tenants": [tenant(name, state="absent")], "vault_purge_offboarded_secrets": True})
    assert not secret_exists(root, SPOKE, f"{name}/config")


def test_vvv_output_shows_no_token_jwt_or_secret_value(lab, kube, root, play, run_tenants):
    name = run_tenants("vvv")
    value = Hidden(uuid.uuid4().hex)
    runs = [play.run(SPOKE, {"vault_tenants": [tenant(name)]}, "-vvv", "--diff")]
    root[SPOKE].secrets.kv.v2.create_or_update_secret(mount_point=KV_MOUNT, path=f"{name}/config", secret={"value": value})
    runs.append(play.run(SPOKE, {"vault_tenants": [tenant(name)], "vault_token_ttl": "10m"}, "-vvv", "--diff", "--check"))
    runs.append(play.run(SPOKE, {"vault_tenants": [tenant(name, state="absent")], "vault_purge_offboarded_secrets": True},
                         "-vvv", "--diff"))
    secrets = {"the reviewer JWT": reviewer_jwt(kube, SPOKE), "the tenant's secret value": value,
               "the root token": Hidden(lab["regions"][SPOKE]["vault"]["token"])}
    for number, completed in enumerate(runs, start=1):
        output = completed.stdout + completed.stderr
        for what, secret in secrets.items():
            assert secret not in output, f"{what} appears in the -vvv output of run {number}"
    assert "ESTABLISH LOCAL CONNECTION" in runs[0].stdout, "not a -vvv run"


# ---------------------------------------------------------------------------------------------------------------
# Bad inputs: refused by the preflight, before anything is created in OpenBao or the cluster

BAD_INPUTS = [
    ("vault_addr not a URL", {"vault_addr": "vault.example.com:8200"}, "vault_addr"),
    ("empty token", {"vault_token": ""}, "vault_token"),
    ("auth mount with a leading slash", {"vault_auth_mount": "/kubernetes"}, "vault_auth_mount"),
    ("auth mount with the auth/ prefix", {"vault_auth_mount": "auth/kubernetes"}, "vault_auth_mount"),
    ("reserved KV mount", {"vault_kv_mount": "sys"}, "vault_kv_mount"),
    ("KV mount with a space", {"vault_kv_mount": "tenant secrets"}, "vault_kv_mount"),
    ("TTL not a duration", {"vault_token_ttl": "fifteen minutes"}, "vault_token_ttl"),
    ("max TTL below TTL", {"vault_token_ttl": "2h", "vault_token_max_ttl": "1h"}, "vault_token_max_ttl"),
    ("tenant with a bad name", {"vault_tenants": [tenant("Acme_Corp")]}, "vault_tenants"),
    ("duplicate tenant", {"vault_tenants": [tenant("{unique}-dup"), tenant("{unique}-dup")]}, "more than once"),
    ("unknown region in a tenant", {"vault_tenants": [tenant("{unique}-reg", regions=[SPOKE, "ap-south-9"])]}, "unknown region ap-south-9"),
    ("tenant not in this region", {"vault_tenants": [tenant("{unique}-elsewhere", regions=[HUB])]}, f"does not list {SPOKE}"),
    ("tenant state neither present nor absent", {"vault_tenants": [tenant("{unique}-st", state="gone")]}, ".state"),
    ("audience with a comma", {"vault_token_audience": "vault,other"}, "vault_token_audience"),
    ("reviewer namespace not a DNS label", {"vault_reviewer_namespace": "Vault_Auth"}, "vault_reviewer_namespace"),
    ("kubernetes host not https", {"vault_kubernetes_host": "http://127.0.0.1:22443"}, "vault_kubernetes_host"),
]


def test_bad_input_is_refused_before_any_change(lab, kube, root, tmp_path, lab_converged):
    """Every bad input in ONE ansible-playbook process (a play per case, its refusal recorded), then the twin."""
    unique = uuid.uuid4().hex[:6]
    # Unique places for everything the role would create, so "nothing was created" can be checked exactly.
    places = {"vault_auth_mount": f"bad-{unique}-auth", "vault_kv_mount": f"bad-{unique}-kv",
              "vault_reviewer_namespace": f"bad-{unique}-ns"}
    cases = []
    for case, variables, _ in BAD_INPUTS:
        merged = places | json.loads(json.dumps(variables).replace("{unique}", f"t{unique}"))
        merged.setdefault("vault_tenants", [tenant(f"t{unique}-ok")])
        cases.append((case, merged))
    # The twin: valid input through the whole role (the lab's own places and tenants, already converged).
    cases.append(("twin: valid input", {}))
    mounts_before = set(root[SPOKE].sys.list_mounted_secrets_engines()["data"])
    auths_before = set(root[SPOKE].sys.list_auth_methods()["data"])
    outcomes = role_refusals(tmp_path, "meridian.observability.vault", cases, host=SPOKE)
    for (case, _, named), outcome in zip(BAD_INPUTS, outcomes):
        assert outcome["refused"], f"{case}: the role was not refused"
        assert outcome["task"].startswith("Preflight |"), f"{case}: refused by {outcome['task']!r}, after the preflight"
        # The failed result as JSON text: a loop's failure carries each item's message in its results.
        assert named in outcome["result"], f"{case}: the message does not name {named!r}: {outcome['result'][:2000]}"
    assert outcomes[-1] == {"refused": False}, f"the twin was refused: {outcomes[-1]}"
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as missing:
        kube[SPOKE].read_namespace(places["vault_reviewer_namespace"])
    assert missing.value.status == 404
    # Compared with the state before the run (a reserved name such as sys/ exists anyway; other tests add mounts).
    assert f"{places['vault_kv_mount']}/" not in set(root[SPOKE].sys.list_mounted_secrets_engines()["data"]) - mounts_before
    assert f"{places['vault_auth_mount']}/" not in set(root[SPOKE].sys.list_auth_methods()["data"]) - auths_before
    for _, merged in cases[:-1]:
        for record in merged["vault_tenants"]:
            if isinstance(record.get("name"), str):
                assert policy_text(root, SPOKE, record["name"]) is None
