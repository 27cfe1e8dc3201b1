"""The tenant gateway filters: one rule set, and the Istio and Envoy renderings that must agree on it."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meridian.observability.plugins.filter import gateway

KEYCLOAK = "http://127.0.0.1:18080"
UPSTREAMS = {
    "thanos_receive": {"host": "127.0.0.1", "port": 21291},
    "thanos_query": {"host": "127.0.0.1", "port": 21904},
    "loki_write": {"host": "127.0.0.1", "port": 21310},
    "loki_read": {"host": "loki-read.monitoring.svc.cluster.local", "port": 3100},
}
ISTIO = {"namespace": "istio-system", "mtls_mode": "STRICT", "upstreams": UPSTREAMS}
ENVOY = {"listen_port": 21880, "upstreams": UPSTREAMS}


def realm(name: str, **overrides) -> dict:
    facts = {"issuer": f"{KEYCLOAK}/realms/{name}",
             "jwks_uri": f"{KEYCLOAK}/realms/{name}/protocol/openid-connect/certs",
             "audience": "observability-gateway", "gateway_client_id": "observability-gateway",
             "tenant_claim": "tenant"}
    return facts | overrides


TENANTS = [
    {"name": "acme", "regions": ["us-east-1", "eu-west-1"], "state": "present"},
    {"name": "globex", "regions": ["eu-west-1"], "state": "present"},
    {"name": "initech", "regions": ["eu-west-1"], "state": "absent"},
    {"name": "umbrella", "regions": ["eu-west-1"]},  # state left out: present
]
REALMS = {name: realm(name) for name in ("acme", "globex", "umbrella")}


def rules(region: str = "eu-west-1", tenants=None, realms=None, headers=None) -> dict:
    return gateway.gateway_rules(TENANTS if tenants is None else tenants, region,
                                 REALMS if realms is None else realms, headers)


# --- what the Istio objects say --------------------------------------------------------------


def istio_view(objects: list[dict]) -> dict:
    """tenant -> (issuer, audiences, headers) from RequestAuthentications, checked against the AuthorizationPolicies."""
    view = {}
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    for request_auth in by_kind.get("RequestAuthentication", []):
        tenant = request_auth["metadata"]["labels"][gateway.TENANT_LABEL]
        (rule,) = request_auth["spec"]["jwtRules"]
        view[tenant] = {
            "issuer": rule["issuer"], "jwks": rule["jwksUri"], "audiences": sorted(rule["audiences"]),
            "headers": sorted((item["header"].lower(), item["claim"]) for item in rule["outputClaimToHeaders"]),
        }
    allow = {obj["metadata"]["labels"][gateway.TENANT_LABEL]: obj for obj in by_kind.get("AuthorizationPolicy", [])
             if obj["spec"]["action"] == "ALLOW"}
    assert set(allow) == set(view)
    for tenant, policy in allow.items():
        (rule,) = policy["spec"]["rules"]
        assert rule["from"][0]["source"]["requestPrincipals"] == [f"{view[tenant]['issuer']}/*"]
        assert rule["when"] == [{"key": "request.auth.claims[tenant]", "values": [tenant]}]
    return view


def envoy_view(config: dict) -> dict:
    """tenant -> (issuer, audiences, headers) from Envoy's jwt_authn providers, checked against its RBAC policies."""
    (listener,) = config["lds"]["resources"]
    filters = listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    by_name = {item["name"]: item["typed_config"] for item in filters}
    providers = by_name.get("envoy.filters.http.jwt_authn", {}).get("providers", {})
    clusters = {cluster["name"] for cluster in config["cds"]["resources"]}
    view = {}
    for tenant, provider in providers.items():
        assert provider["remote_jwks"]["http_uri"]["cluster"] in clusters
        view[tenant] = {
            "issuer": provider["issuer"], "jwks": provider["remote_jwks"]["http_uri"]["uri"],
            "audiences": sorted(provider["audiences"]),
            "headers": sorted((item["header_name"], item["claim_name"]) for item in provider["claim_to_headers"]),
        }
    policies = by_name["envoy.filters.http.rbac"]["rules"]["policies"]
    assert by_name["envoy.filters.http.rbac"]["rules"]["action"] == "ALLOW"
    assert set(policies) == {f"tenant-{tenant}" for tenant in view}
    for tenant, facts in view.items():
        matchers = [principal["sourced_metadata"]["metadata_matcher"]
                    for principal in policies[f"tenant-{tenant}"]["principals"][0]["and_ids"]["ids"]]
        required = {matcher["path"][1]["key"]: matcher["value"]["string_match"]["exact"] for matcher in matchers}
        assert required == {"iss": facts["issuer"], "tenant": tenant}
    return view


def test_both_renderings_carry_the_same_tenants_issuers_audiences_and_headers():
    rule_set = rules()
    istio = istio_view(gateway.istio_gateway_objects(rule_set, ISTIO))
    envoy = envoy_view(gateway.envoy_gateway_config(rule_set, ENVOY))
    assert istio == envoy
    assert sorted(istio) == ["acme", "globex", "umbrella"]
    assert istio["acme"] == {
        "issuer": f"{KEYCLOAK}/realms/acme",
        "jwks": f"{KEYCLOAK}/realms/acme/protocol/openid-connect/certs",
        "audiences": ["observability-gateway"],
        "headers": [("thanos-tenant", "tenant"), ("x-scope-orgid", "tenant")],
    }


def test_a_region_serves_only_its_present_tenants():
    assert [t["name"] for t in rules("us-east-1")["tenants"]] == ["acme"]
    assert rules("us-east-1")["removed"] == ["globex", "initech", "umbrella"]
    assert rules("eu-west-1")["removed"] == ["initech"]
    assert gateway.gateway_served_tenants(TENANTS, "eu-west-1") == ["acme", "globex", "umbrella"]


def test_routes_are_the_same_in_both_renderings():
    rule_set = rules()
    objects = gateway.istio_gateway_objects(rule_set, ISTIO)
    (virtual_service,) = [obj for obj in objects if obj["kind"] == "VirtualService"]
    istio_paths = {(next(iter(m["uri"].values())), route["route"][0]["destination"]["port"]["number"])
                   for route in virtual_service["spec"]["http"] for m in route["match"]}
    (listener,) = gateway.envoy_gateway_config(rule_set, ENVOY)["lds"]["resources"]
    routes = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    envoy_paths = {(next(iter(r["match"].values())), UPSTREAMS[r["route"]["cluster"]]["port"])
                   for r in routes if "route" in r}
    assert istio_paths == envoy_paths
    assert ("/api/v1/receive", 21291) in envoy_paths
    assert ("/loki/api/v1/push", 21310) in envoy_paths


def test_envoy_drops_client_tenant_headers_before_the_token_is_read():
    (listener,) = gateway.envoy_gateway_config(rules(), ENVOY)["lds"]["resources"]
    filters = listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    names = [item["name"] for item in filters]
    assert names == ["envoy.filters.http.header_mutation", "envoy.filters.http.jwt_authn",
                     "envoy.filters.http.rbac", "envoy.filters.http.router"]
    removed = [m["remove"] for m in filters[0]["typed_config"]["mutations"]["request_mutations"]]
    assert removed == ["thanos-tenant", "x-scope-orgid"]


def test_the_token_is_not_forwarded_unless_asked():
    providers = lambda cfg: cfg["lds"]["resources"][0]["filter_chains"][0]["filters"][0]["typed_config"][  # noqa: E731
        "http_filters"][1]["typed_config"]["providers"]
    assert not any(p["forward"] for p in providers(gateway.envoy_gateway_config(rules(), ENVOY)).values())
    forwarded = gateway.envoy_gateway_config(rules(), ENVOY | {"forward_token": True})
    assert all(p["forward"] for p in providers(forwarded).values())
    request_auth = [o for o in gateway.istio_gateway_objects(rules(), ISTIO) if o["kind"] == "RequestAuthentication"]
    assert all(o["spec"]["jwtRules"][0]["forwardOriginalToken"] is False for o in request_auth)


def test_no_tenants_lets_nothing_through():
    config = gateway.envoy_gateway_config(rules("ap-south-1"), ENVOY)
    filters = config["lds"]["resources"][0]["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    by_name = {item["name"]: item["typed_config"] for item in filters}
    assert "envoy.filters.http.jwt_authn" not in by_name
    assert by_name["envoy.filters.http.rbac"]["rules"] == {"action": "ALLOW", "policies": {}}
    objects = gateway.istio_gateway_objects(rules("ap-south-1"), ISTIO)
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "AuthorizationPolicy"] == [gateway.DENY_POLICY]


def test_mesh_objects():
    objects = gateway.istio_gateway_objects(rules(), ISTIO)
    (peer,) = [o for o in objects if o["kind"] == "PeerAuthentication"]
    assert peer["metadata"] == {"name": "default", "namespace": "istio-system", "labels": peer["metadata"]["labels"]}
    assert peer["spec"] == {"mtls": {"mode": "STRICT"}}
    (deny,) = [o for o in objects if o["metadata"]["name"] == gateway.DENY_POLICY]
    assert deny["spec"]["rules"] == [{"from": [{"source": {"notRequestPrincipals": ["*"]}}]}]
    (gw,) = [o for o in objects if o["kind"] == "Gateway"]
    assert gw["spec"]["servers"][0]["port"]["number"] == 80
    tls = gateway.istio_gateway_objects(rules(), ISTIO | {"tls_secret": "gateway-tls"})
    (gw,) = [o for o in tls if o["kind"] == "Gateway"]
    assert gw["spec"]["servers"][0]["tls"] == {"mode": "SIMPLE", "credentialName": "gateway-tls"}


def test_version_changes_with_the_tenants_and_only_then():
    first = gateway.envoy_gateway_config(rules(), ENVOY)
    assert gateway.envoy_gateway_config(rules(), ENVOY)["version"] == first["version"]
    fewer = gateway.envoy_gateway_config(rules(tenants=TENANTS[:1]), ENVOY)
    assert fewer["version"] != first["version"]
    assert first["lds"]["version_info"] == first["version"]


def test_jwks_cluster_per_keycloak_and_dns_for_names():
    config = gateway.envoy_gateway_config(rules(), ENVOY)
    clusters = {c["name"]: c for c in config["cds"]["resources"]}
    assert set(clusters) == {"jwks-127.0.0.1-18080", *UPSTREAMS}
    assert clusters["jwks-127.0.0.1-18080"]["type"] == "STATIC"
    assert clusters["loki_read"]["type"] == "STRICT_DNS"
    https = {name: realm(name, issuer=f"https://id.example.com/realms/{name}",
                         jwks_uri=f"https://id.example.com/realms/{name}/certs") for name in REALMS}
    clusters = {c["name"]: c for c in gateway.envoy_gateway_config(rules(realms=https), ENVOY)["cds"]["resources"]}
    assert clusters["jwks-id.example.com-443"]["transport_socket"]["typed_config"]["sni"] == "id.example.com"


def test_stale_objects_are_only_ours_and_only_unserved_tenants():
    def obj(kind, name, labels):
        return {"apiVersion": "security.istio.io/v1", "kind": kind,
                "metadata": {"name": name, "namespace": "istio-system", "labels": labels}}

    ours = {"app.kubernetes.io/managed-by": "meridian.observability"}
    found = [
        obj("RequestAuthentication", "tenant-acme", ours | {gateway.TENANT_LABEL: "acme"}),
        obj("RequestAuthentication", "tenant-globex", ours | {gateway.TENANT_LABEL: "globex"}),
        obj("AuthorizationPolicy", "tenant-gone", ours | {gateway.TENANT_LABEL: "gone"}),
        obj("AuthorizationPolicy", "someone-elses", {gateway.TENANT_LABEL: "gone"}),
    ]
    stale = gateway.gateway_stale_objects(found, rules("us-east-1"))
    assert [(o["kind"], o["metadata"]["name"]) for o in stale] == [
        ("AuthorizationPolicy", "tenant-gone"), ("RequestAuthentication", "tenant-globex")]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"realms": {"acme": realm("acme"), "umbrella": realm("umbrella")}}, "tenant globex has no realm facts"),
    ({"realms": REALMS | {"globex": realm("globex", issuer="not-a-url")}}, "tenant globex: issuer"),
    ({"realms": REALMS | {"globex": realm("globex", jwks_uri="")}}, "tenant globex: jwks_uri"),
    ({"realms": REALMS | {"globex": realm("globex", audience="", gateway_client_id="")}}, "audience is empty"),
    ({"realms": REALMS | {"globex": realm("globex", tenant_claim="bad claim")}}, "tenant_claim"),
    ({"realms": REALMS | {"globex": realm("acme")}}, "share the issuer"),
    ({"tenants": TENANTS + [{"name": "acme", "regions": ["eu-west-1"]}]}, "tenant acme is listed twice"),
    ({"tenants": [{"name": "Acme", "regions": ["eu-west-1"]}]}, "tenants[0].name"),
    ({"tenants": [{"name": "acme", "regions": ["eu-west-1"], "state": "gone"}]}, "state is 'gone'"),
    ({"headers": ["THANOS TENANT"]}, "not a valid HTTP header name"),
    ({"headers": ["X-Scope-OrgID", "x-scope-orgid"]}, "name the same header twice"),
    ({"headers": []}, "headers is empty"),
    ({"realms": ["acme"]}, "realms must be a mapping"),
])
def test_bad_input_names_the_problem(kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        rules(**kwargs)


@pytest.mark.parametrize(("settings", "message"), [
    (ENVOY | {"upstreams": {k: v for k, v in UPSTREAMS.items() if k != "loki_read"}}, r"no entry for \['loki_read'\]"),
    (ENVOY | {"upstreams": UPSTREAMS | {"thanos_query": {"host": "x", "port": 0}}}, "not a usable address"),
    (ENVOY | {"listen_port": "eighty"}, "listen_port must be a port number"),
])
def test_bad_envoy_settings(settings, message):
    with pytest.raises(AnsibleFilterError, match=message):
        gateway.envoy_gateway_config(rules(), settings)


def test_renderers_refuse_anything_but_a_rule_set():
    with pytest.raises(AnsibleFilterError, match="output of meridian.observability.gateway_rules"):
        gateway.istio_gateway_objects({"tenants": []}, ISTIO)
