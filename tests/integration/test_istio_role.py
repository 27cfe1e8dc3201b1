"""The istio role against the lab: objects validated by the real API server and its Istio CRDs, the lab Envoy
reloading the same rules without a restart, and a first gateway check with real Keycloak tokens and Thanos.

The test's tenants have their own realms (made here with keycloak_tenant) and their Istio objects go to a namespace
of their own; the lab topology's tenants stay in the tenant list (with their realm facts from Keycloak's URL
layout), so the region's Envoy keeps serving them. The offboarding test removes the test tenants again.
"""

from __future__ import annotations

import json
import pathlib
import uuid

import pytest
import yaml

from tests.support.ansible import REPO, recap, run_ansible
from tests.support.gateway import Gateway, ensure_realm, realm_facts, realm_token

pytestmark = pytest.mark.lab

RUN = uuid.uuid4().hex[:6]
TENANT_A = f"it-gw-a-{RUN}"  # served in both regions
TENANT_B = f"it-gw-b-{RUN}"  # served in eu-west-1 only
NAMESPACE = f"istio-it-{RUN}"
REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(scope="module")
def keycloak(lab) -> dict:
    return lab["keycloak"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("istio-role")


@pytest.fixture(scope="module")
def realms(lab, keycloak, workdir):
    """The test tenants' realms (with gateway client secrets), deleted afterwards."""
    made = {name: ensure_realm(workdir, keycloak, name) for name in (TENANT_A, TENANT_B)}
    yield made
    for name in made:
        ensure_realm(workdir, keycloak, name, state="absent")


def topology_tenants() -> list[dict]:
    document = yaml.safe_load((REPO / "inventories" / "lab" / "topology.yml").read_text())
    return [{"name": t["name"], "regions": t["regions"], "state": t.get("state", "present")}
            for t in document["tenants"]]


def role_vars(keycloak: dict, realms: dict, *, with_test_tenants: bool = True, **overrides) -> dict:
    tenants = topology_tenants()
    facts = {t["name"]: {"issuer": f"{keycloak['url']}/realms/{t['name']}",
                         "jwks_uri": f"{keycloak['url']}/realms/{t['name']}/protocol/openid-connect/certs",
                         "audience": "observability-gateway"} for t in tenants}
    if with_test_tenants:
        tenants += [{"name": TENANT_A, "regions": list(REGIONS)}, {"name": TENANT_B, "regions": ["eu-west-1"]}]
        facts |= {name: realm_facts(realm) for name, realm in realms.items()}
    else:
        tenants += [{"name": name, "regions": list(REGIONS), "state": "absent"} for name in realms]
    return {"istio_tenants": tenants, "istio_tenant_realms": facts, "istio_namespace": NAMESPACE,
            "istio_read_realm_facts": False} | overrides


def converge(workdir: pathlib.Path, variables: dict, *args: str, check: bool = True):
    playbook = workdir / "istio.yml"
    playbook.write_text(yaml.safe_dump([{"name": "istio layer", "hosts": "all", "gather_facts": False,
                                         "roles": ["meridian.observability.istio"]}]))
    extra = workdir / f"vars-{uuid.uuid4().hex[:6]}.json"
    extra.write_text(json.dumps(variables))
    return run_ansible("ansible-playbook", str(playbook), "-i", "inventories/lab", "-e", f"@{extra}", *args,
                       check=check, timeout=900)


def changed(result, hosts=REGIONS) -> dict[str, int]:
    return {host: recap(result.stdout, host)["changed"] for host in hosts}


@pytest.fixture(scope="module")
def kube(lab):
    """Module-scoped factory: an admin ApiClient per region (closed at the end)."""
    from kubernetes import config

    clients = {}

    def make(region: str, user: str = "admin"):
        if (region, user) not in clients:
            path = lab["regions"][region]["kubernetes"]["kubeconfigs"][user]
            clients[region, user] = config.new_client_from_config(config_file=path)
        return clients[region, user]

    yield make
    for api_client in clients.values():
        api_client.close()


@pytest.fixture(scope="module")
def converged(lab, keycloak, realms, workdir, kube):
    """check -> apply -> apply -> check, recording each run; the namespace is deleted afterwards."""
    gateways = {region: Gateway(lab, region) for region in REGIONS}
    pids = {region: gateway.pid() for region, gateway in gateways.items()}
    variables = role_vars(keycloak, realms)
    runs = {
        "check": converge(workdir, variables, "--check", "--diff"),
        "apply": converge(workdir, variables, "--diff"),
    }
    # The re-runs render Envoy's files into a directory of their own: the lab's Envoy directories are one per
    # region and any other converge running at the same time (another test, make demo) rewrites them.
    envoy_dirs = workdir / "envoy"
    envoy_dirs.mkdir()
    isolated = variables | {"istio_lab_envoy_config_dir": str(envoy_dirs) + "/{{ inventory_hostname }}",
                            "istio_lab_envoy_admin_url": ""}
    for region in REGIONS:
        (envoy_dirs / region).mkdir()
    runs |= {
        "first_files": converge(workdir, isolated),
        "again": converge(workdir, isolated),
        "check_again": converge(workdir, isolated, "--check"),
    }
    yield {"runs": runs, "gateways": gateways, "pids_before": pids, "variables": variables}
    from kubernetes import client

    for region in REGIONS:
        core = client.CoreV1Api(kube(region))
        try:
            core.delete_namespace(NAMESPACE)
        except client.exceptions.ApiException as err:
            assert err.status == 404


def istio_objects(kube, region: str, plural: str, group: str = "security.istio.io") -> dict[str, dict]:
    from kubernetes import client

    api = client.CustomObjectsApi(kube(region, "admin"))
    items = api.list_namespaced_custom_object(group, "v1", NAMESPACE, plural)["items"]
    return {item["metadata"]["name"]: item for item in items}


# --- the API server validates and stores the objects ---------------------------------------------


def test_check_mode_predicts_then_apply_then_nothing_left_to_do(converged):
    runs = converged["runs"]
    assert all(count > 0 for count in changed(runs["check"]).values()), "check mode predicted no change"
    assert all(count > 0 for count in changed(runs["apply"]).values())
    assert changed(runs["first_files"]) == {"us-east-1": 2, "eu-west-1": 2}  # lds.yaml and cds.yaml, nothing else
    assert changed(runs["again"]) == {"us-east-1": 0, "eu-west-1": 0}
    assert changed(runs["check_again"]) == {"us-east-1": 0, "eu-west-1": 0}
    assert "--- before" in runs["apply"].stdout or "+++ after" in runs["apply"].stdout, "no diff shown"


def test_objects_are_stored_per_region_with_the_tenant_realms(converged, kube, realms):
    for region, served in (("us-east-1", {"acme", TENANT_A}), ("eu-west-1", {"acme", "globex", TENANT_A, TENANT_B})):
        request_auth = istio_objects(kube, region, "requestauthentications")
        assert set(request_auth) == {f"tenant-{name}" for name in served}
        rule = request_auth[f"tenant-{TENANT_A}"]["spec"]["jwtRules"][0]
        assert rule["issuer"] == realms[TENANT_A]["issuer_url"]
        assert rule["jwksUri"] == realms[TENANT_A]["jwks_url"]
        assert rule["audiences"] == ["observability-gateway"]
        assert rule["outputClaimToHeaders"] == [{"header": "THANOS-TENANT", "claim": "tenant"},
                                                {"header": "X-Scope-OrgID", "claim": "tenant"}]
        policies = istio_objects(kube, region, "authorizationpolicies")
        assert set(policies) == {f"tenant-{name}" for name in served} | {"require-tenant-token"}
        assert policies[f"tenant-{TENANT_A}"]["spec"]["rules"][0]["when"] == [
            {"key": "request.auth.claims[tenant]", "values": [TENANT_A]}]
        assert istio_objects(kube, region, "peerauthentications")["default"]["spec"] == {"mtls": {"mode": "STRICT"}}
        assert set(istio_objects(kube, region, "virtualservices", "networking.istio.io")) == {"observability-gateway"}


def test_the_api_server_rejects_an_invalid_request_authentication(converged, kube):
    """The CRDs carry their schemas: an empty issuer, a non-http JWKS URL and a bad header name are refused (422)."""
    from kubernetes import client

    api = client.CustomObjectsApi(kube("us-east-1", "admin"))
    bad = {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
           "metadata": {"name": "invalid", "namespace": NAMESPACE},
           "spec": {"jwtRules": [{"issuer": "", "jwksUri": "ftp://keys.example.com",
                                  "outputClaimToHeaders": [{"header": "THANOS TENANT", "claim": "tenant"}]}]}}
    with pytest.raises(client.exceptions.ApiException) as raised:
        api.create_namespaced_custom_object("security.istio.io", "v1", NAMESPACE, "requestauthentications", bad)
    assert raised.value.status == 422
    message = json.loads(raised.value.body)["message"]
    assert "issuer" in message and "url must have scheme http:// or https://" in message and "header" in message
    # The positive twin: the same object made valid is accepted (server-side dry run, nothing stored).
    good = bad | {"spec": {"jwtRules": [{"issuer": "https://id.example.com/realms/x",
                                         "jwksUri": "https://id.example.com/realms/x/certs",
                                         "outputClaimToHeaders": [{"header": "THANOS-TENANT", "claim": "tenant"}]}]}}
    api.create_namespaced_custom_object("security.istio.io", "v1", NAMESPACE, "requestauthentications", good,
                                        dry_run="All")


# --- the lab Envoy: same rules, reloaded without a restart ---------------------------------------


def test_envoy_loaded_the_tenants_without_a_restart(converged, realms):
    for region, served in (("us-east-1", {"acme", TENANT_A}), ("eu-west-1", {"acme", "globex", TENANT_A, TENANT_B})):
        gateway = converged["gateways"][region]
        providers = gateway.wait_for_providers(served)
        assert set(providers) == served
        assert providers[TENANT_A]["issuer"] == realms[TENANT_A]["issuer_url"]
        assert providers[TENANT_A]["audiences"] == ["observability-gateway"]
        assert gateway.pid() == converged["pids_before"][region], f"envoy-{region} was restarted"


def test_a_real_token_writes_through_the_gateway_under_its_tenant(converged, keycloak, realms):
    gateway = converged["gateways"]["eu-west-1"]
    token = realm_token(keycloak, realms[TENANT_A], TENANT_A)
    metric, run = "gateway_it_samples", uuid.uuid4().hex[:10]
    labels = {"__name__": metric, "run": run}

    status, body = gateway.remote_write(labels, 7.0, token=token, headers={"THANOS-TENANT": TENANT_B})
    assert status == 200, body
    promql = f'{metric}{{run="{run}"}}'
    stored = gateway.wait_for_series(promql, TENANT_A)
    assert [series["metric"]["tenant_id"] for series in stored] == [TENANT_A]
    # The forged header chose nothing: neither the named tenant nor the default tenant got the series.
    assert gateway.thanos_series(promql, TENANT_B) == []
    assert gateway.thanos_series(promql, None) == []
    # Querying through the gateway with the same token sees it; the header again changes nothing.
    response = gateway.query(promql, token=token, headers={"THANOS-TENANT": TENANT_B})
    assert response.status_code == 200, response.text
    assert [s["metric"]["tenant_id"] for s in response.json()["data"]["result"]] == [TENANT_A]


def test_without_a_token_the_gateway_answers_401_and_stores_nothing(converged):
    gateway = converged["gateways"]["eu-west-1"]
    metric, run = "gateway_it_samples", uuid.uuid4().hex[:10]
    status, body = gateway.remote_write({"__name__": metric, "run": run}, headers={"THANOS-TENANT": TENANT_A})
    assert status == 401, body
    assert gateway.query(f'{metric}{{run="{run}"}}').status_code == 401
    promql = f'{metric}{{run="{run}"}}'
    assert gateway.thanos_series(promql, TENANT_A) == [] and gateway.thanos_series(promql, None) == []


def test_logs_upstream_gets_the_tenant_from_the_token_not_the_client(converged, keycloak, realms):
    gateway = converged["gateways"]["eu-west-1"]
    token = realm_token(keycloak, realms[TENANT_B], TENANT_B)
    response = gateway.logs(token=token, headers={"X-Scope-OrgID": TENANT_A, "THANOS-TENANT": TENANT_A})
    assert response.status_code == 200, response.text
    received = response.json()["headers"]
    assert received["x-scope-orgid"] == [TENANT_B]
    assert received["thanos-tenant"] == [TENANT_B]
    assert "authorization" not in received, "the caller's token was forwarded upstream"
    assert gateway.logs(headers={"X-Scope-OrgID": TENANT_B}).status_code == 401


def test_a_tenant_not_served_in_the_region_is_refused_there(converged, keycloak, realms):
    gateway = converged["gateways"]["us-east-1"]
    token = realm_token(keycloak, realms[TENANT_B], TENANT_B)
    status, _ = gateway.remote_write({"__name__": "gateway_it_samples", "run": "elsewhere"}, token=token)
    assert status == 401  # us-east-1 trusts no realm of TENANT_B: its issuer is unknown there


# --- bad input changes nothing; offboarding removes the rules ------------------------------------


def test_missing_realm_facts_fail_naming_the_tenant_before_any_change(converged, keycloak, realms, workdir):
    gateway = converged["gateways"]["eu-west-1"]
    before = gateway.listener_version()
    variables = role_vars(keycloak, realms)
    del variables["istio_tenant_realms"][TENANT_B]
    result = converge(workdir, variables, "-l", "eu-west-1", check=False)
    assert result.returncode != 0
    assert f"No realm facts for tenant(s) {TENANT_B} in eu-west-1" in result.stdout
    assert recap(result.stdout, "eu-west-1")["changed"] == 0
    assert gateway.listener_version() == before


def test_a_bad_envoy_directory_fails_before_any_change(converged, keycloak, realms, workdir):
    variables = role_vars(keycloak, realms, istio_lab_envoy_config_dir=str(workdir / "no-such-dir"))
    result = converge(workdir, variables, "-l", "us-east-1", check=False)
    assert result.returncode != 0
    assert "istio_lab_envoy_config_dir" in result.stdout and "must be an existing" in result.stdout
    assert recap(result.stdout, "us-east-1")["changed"] == 0


def test_offboarding_removes_the_rules_and_the_token_is_refused(converged, keycloak, realms, workdir, kube):
    token = realm_token(keycloak, realms[TENANT_A], TENANT_A)
    result = converge(workdir, role_vars(keycloak, realms, with_test_tenants=False))
    assert all(count > 0 for count in changed(result).values())
    for region in REGIONS:
        gateway = converged["gateways"][region]
        assert TENANT_A not in gateway.wait_for_providers(set(topology_served(region)))
        assert not {f"tenant-{TENANT_A}", f"tenant-{TENANT_B}"} & set(
            istio_objects(kube, region, "requestauthentications"))
        assert not {f"tenant-{TENANT_A}", f"tenant-{TENANT_B}"} & set(
            istio_objects(kube, region, "authorizationpolicies"))
        status, _ = gateway.remote_write({"__name__": "gateway_it_samples", "run": "offboarded"}, token=token)
        assert status == 401
        assert gateway.pid() == converged["pids_before"][region]


def topology_served(region: str) -> list[str]:
    return [t["name"] for t in topology_tenants() if t["state"] == "present" and region in t["regions"]]
