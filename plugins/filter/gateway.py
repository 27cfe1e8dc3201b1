# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tenant gateway: one rule set from the topology and the realm facts, two renderings.

``gateway_rules`` normalises the tenants a region serves (issuer, JWKS, audiences, the
claim and the headers it fills) and the routes. ``istio_gateway_objects`` turns that rule
set into the Istio objects a real cluster gets; ``envoy_gateway_config`` into the LDS and
CDS resources of a plain Envoy (the lab's gateway). Both read only the rule set, so the
two can not disagree on which tenants, issuers, audiences and headers exist.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

from ansible_collections.meridian.observability.plugins.module_utils._common.tenant_name import tenant_name_problem

MANAGED_BY = {"app.kubernetes.io/managed-by": "meridian.observability"}
COMPONENT_LABEL = "app.kubernetes.io/component"
COMPONENT = "tenant-gateway"
TENANT_LABEL = "observability.meridian.io/tenant"
DENY_POLICY = "require-tenant-token"
JWT_METADATA_KEY = "jwt_payload"
DEFAULT_HEADERS = ("THANOS-TENANT", "X-Scope-OrgID")
HEADER_NAME = re.compile(r"^[A-Za-z0-9][-_A-Za-z0-9]*$")
CLAIM_NAME = re.compile(r"^[A-Za-z_][-_.A-Za-z0-9]*$")

#: The API the gateway exposes: route name -> (upstream, [(match kind, path)]). Upstream keys are the
#: names of the settings' ``upstreams`` entries. Thanos: remote write to receive, the query API to query;
#: Loki: push to its write path, the query API to its read path.
ROUTES = (
    ("thanos-remote-write", "thanos_receive", (("exact", "/api/v1/receive"),)),
    ("thanos-query", "thanos_query", (("prefix", "/api/v1/query"), ("exact", "/api/v1/series"),
                                      ("exact", "/api/v1/labels"), ("prefix", "/api/v1/label/"),
                                      ("exact", "/api/v1/metadata"))),
    ("loki-push", "loki_write", (("exact", "/loki/api/v1/push"),)),
    ("loki-query", "loki_read", (("prefix", "/loki/api/v1/query"), ("prefix", "/loki/api/v1/label"),
                                 ("exact", "/loki/api/v1/series"))),
)
UPSTREAMS = tuple(sorted({route[1] for route in ROUTES}))


def _fail(message: str) -> AnsibleFilterError:
    return AnsibleFilterError(message)


def _url(value, where: str) -> str:
    text = str(value or "")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(f"{where} is {text!r}; it must be an absolute http(s) URL. "
                    "Fix: check the realm facts of the keycloak layer (meridian_tenant_realms).")
    return text


def gateway_served_tenants(tenants, region):
    """Names of the tenants ``region`` serves: present (the default state) and listing the region."""
    return sorted(tenant["name"] for tenant in tenants or []
                  if isinstance(tenant, dict) and tenant.get("name")
                  and tenant.get("state", "present") == "present" and region in (tenant.get("regions") or []))


def gateway_rules(tenants, region, realms, headers=None):
    """The normalised rule set of ``region``: tenants it serves, with their realm, and tenants to remove.

    ``tenants`` is the topology's tenant list (name, state, regions); ``realms`` maps tenant name to its
    realm facts (issuer, jwks_uri, audience or gateway_client_id, tenant_claim). A tenant is served when it
    is present and lists ``region``; every other tenant's objects are removed. A served tenant without
    realm facts is an error naming it.
    """
    if not isinstance(tenants, list):
        raise _fail(f"gateway_rules: tenants must be a list, got {type(tenants).__name__}.")
    if not isinstance(realms, dict):
        raise _fail(f"gateway_rules: realms must be a mapping of tenant name to realm facts, got "
                    f"{type(realms).__name__}.")
    header_names = list(headers) if headers is not None else list(DEFAULT_HEADERS)
    if not header_names:
        raise _fail("gateway_rules: headers is empty; list the headers the tenant claim fills "
                    f"(for example {list(DEFAULT_HEADERS)}).")
    for header in header_names:
        if not isinstance(header, str) or not HEADER_NAME.match(header):
            raise _fail(f"gateway_rules: header {header!r} is not a valid HTTP header name.")
    if len({header.lower() for header in header_names}) != len(header_names):
        raise _fail(f"gateway_rules: headers {header_names} name the same header twice.")

    served, removed, seen = [], [], set()
    for position, tenant in enumerate(tenants):
        name = tenant.get("name") if isinstance(tenant, dict) else None
        problem = tenant_name_problem(name)
        if problem:
            raise _fail(f"gateway_rules: tenants[{position}].name: {problem}")
        if name in seen:
            raise _fail(f"gateway_rules: tenant {name} is listed twice. Fix: keep one entry.")
        seen.add(name)
        state = tenant.get("state", "present")
        if state not in ("present", "absent"):
            raise _fail(f"gateway_rules: tenant {name}: state is {state!r}; use present or absent.")
        if state == "absent" or region not in (tenant.get("regions") or []):
            removed.append(name)
            continue
        realm = realms.get(name)
        if not isinstance(realm, dict) or not realm:
            raise _fail(f"gateway_rules: tenant {name} has no realm facts (issuer, JWKS URL, audience). "
                        "Fix: converge the keycloak layer for it first (playbooks/platform.yml --tags keycloak).")
        served.append(_tenant_rule(name, realm, header_names))

    issuers = {}
    for rule in served:
        if rule["issuer"] in issuers:
            raise _fail(f"gateway_rules: tenants {issuers[rule['issuer']]} and {rule['name']} share the issuer "
                        f"{rule['issuer']}; each tenant needs its own realm.")
        issuers[rule["issuer"]] = rule["name"]
    served.sort(key=lambda rule: rule["name"])
    return {
        "region": region,
        "headers": header_names,
        "tenants": served,
        "removed": sorted(removed),
        "routes": [{"name": name, "upstream": upstream,
                    "match": [{kind: path} for kind, path in matches]}
                   for name, upstream, matches in ROUTES],
    }


def _tenant_rule(name: str, realm: dict, header_names: list) -> dict:
    where = f"realm facts of tenant {name}"
    issuer = _url(realm.get("issuer"), f"{where}: issuer")
    jwks_uri = _url(realm.get("jwks_uri") or realm.get("jwks_url"), f"{where}: jwks_uri")
    audience = realm.get("audience") or realm.get("gateway_client_id")
    audiences = audience if isinstance(audience, list) else [audience]
    if not audiences or not all(isinstance(item, str) and item for item in audiences):
        raise _fail(f"gateway_rules: {where}: audience is empty; it must be the gateway client id "
                    "(for example observability-gateway).")
    claim = realm.get("tenant_claim", "tenant")
    if not isinstance(claim, str) or not CLAIM_NAME.match(claim):
        raise _fail(f"gateway_rules: {where}: tenant_claim {claim!r} is not a claim name.")
    return {
        "name": name,
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "audiences": sorted(set(audiences)),
        "claim": claim,
        "claim_to_headers": [{"header": header, "claim": claim} for header in header_names],
    }


def _check_rules(rules, caller: str) -> None:
    if not isinstance(rules, dict) or not {"tenants", "headers", "routes"} <= set(rules):
        raise _fail(f"{caller}: the input must be the output of meridian.observability.gateway_rules.")


def _upstreams(settings: dict, caller: str) -> dict:
    upstreams = settings.get("upstreams") or {}
    missing = [key for key in UPSTREAMS if key not in upstreams]
    if missing:
        raise _fail(f"{caller}: upstreams has no entry for {missing}; each needs host and port.")
    result = {}
    for key in UPSTREAMS:
        entry = upstreams[key]
        try:
            port = int(entry["port"])
            host = str(entry["host"])
        except (KeyError, TypeError, ValueError):
            raise _fail(f"{caller}: upstreams.{key} must have a host and a numeric port, got {entry!r}.") from None
        if not host or not 0 < port < 65536:
            raise _fail(f"{caller}: upstreams.{key} = {host}:{port} is not a usable address.")
        result[key] = {"host": host, "port": port}
    return result


# --- rendering 1: Istio ------------------------------------------------------------------------


def istio_gateway_objects(rules, settings):
    """The Istio objects (and the namespace) for ``rules``, in apply order.

    ``settings``: namespace, mtls_mode, gateway_name, gateway_hosts, gateway_selector (labels of the
    ingress gateway pods), tls_secret (optional: HTTPS on 443 when set, HTTP on 80 otherwise), upstreams
    (thanos_receive, thanos_query, loki_write, loki_read: host and port).
    """
    _check_rules(rules, "istio_gateway_objects")
    namespace = settings["namespace"]
    selector = dict(settings.get("gateway_selector") or {"istio": "ingressgateway"})
    gateway_name = settings.get("gateway_name", "observability-gateway")
    hosts = list(settings.get("gateway_hosts") or ["*"])
    upstreams = _upstreams(settings, "istio_gateway_objects")

    def metadata(name, tenant=None):
        labels = dict(MANAGED_BY) | {COMPONENT_LABEL: COMPONENT}
        if tenant:
            labels[TENANT_LABEL] = tenant
        return {"name": name, "namespace": namespace, "labels": labels}

    if settings.get("tls_secret"):
        server = {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": hosts,
                  "tls": {"mode": "SIMPLE", "credentialName": settings["tls_secret"]}}
    else:
        server = {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": hosts}
    objects = [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": namespace, "labels": dict(MANAGED_BY)}},
        # PeerAuthentication named "default" in the root namespace applies to the whole mesh.
        {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
         "metadata": metadata("default"), "spec": {"mtls": {"mode": settings.get("mtls_mode", "STRICT")}}},
        {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": metadata(gateway_name),
         "spec": {"selector": selector, "servers": [server]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": metadata(gateway_name),
         "spec": {"hosts": hosts, "gateways": [gateway_name], "http": [
             {"name": route["name"],
              "match": [{"uri": match} for match in route["match"]],
              "route": [{"destination": {"host": upstreams[route["upstream"]]["host"],
                                         "port": {"number": upstreams[route["upstream"]]["port"]}}}]}
             for route in rules["routes"]]}},
        # A request that carries no verified token is refused whatever else matches.
        {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": metadata(DENY_POLICY),
         "spec": {"selector": {"matchLabels": selector}, "action": "DENY",
                  "rules": [{"from": [{"source": {"notRequestPrincipals": ["*"]}}]}]}},
    ]
    for tenant in rules["tenants"]:
        name = f"tenant-{tenant['name']}"
        objects.append({
            "apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
            "metadata": metadata(name, tenant["name"]),
            "spec": {"selector": {"matchLabels": selector}, "jwtRules": [{
                "issuer": tenant["issuer"],
                "jwksUri": tenant["jwks_uri"],
                "audiences": list(tenant["audiences"]),
                "forwardOriginalToken": False,
                "outputClaimToHeaders": [{"header": item["header"], "claim": item["claim"]}
                                         for item in tenant["claim_to_headers"]],
            }]},
        })
        # ALLOW only a token of this tenant's realm whose tenant claim names this tenant; with any ALLOW
        # policy present, a request matching none of them is denied.
        objects.append({
            "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": metadata(name, tenant["name"]),
            "spec": {"selector": {"matchLabels": selector}, "action": "ALLOW", "rules": [{
                "from": [{"source": {"requestPrincipals": [f"{tenant['issuer']}/*"]}}],
                "when": [{"key": f"request.auth.claims[{tenant['claim']}]", "values": [tenant["name"]]}],
            }]},
        })
    return objects


def gateway_stale_objects(objects, rules):
    """Of the tenant objects read from the cluster, those of tenants ``rules`` does not serve (to delete).

    Only objects carrying this collection's managed-by label and a tenant label qualify, so nothing
    another tool made is ever touched. Returns minimal definitions (apiVersion, kind, name, namespace).
    """
    _check_rules(rules, "gateway_stale_objects")
    served = {tenant["name"] for tenant in rules["tenants"]}
    stale = []
    for item in objects or []:
        metadata = item.get("metadata") or {}
        labels = metadata.get("labels") or {}
        tenant = labels.get(TENANT_LABEL)
        if labels.get("app.kubernetes.io/managed-by") != MANAGED_BY["app.kubernetes.io/managed-by"] or not tenant:
            continue
        if tenant not in served:
            stale.append({"apiVersion": item["apiVersion"], "kind": item["kind"],
                          "metadata": {"name": metadata["name"], "namespace": metadata.get("namespace")}})
    return sorted(stale, key=lambda obj: (obj["kind"], obj["metadata"]["name"]))


# --- rendering 2: Envoy ------------------------------------------------------------------------

_TYPE = "type.googleapis.com/envoy."
LISTENER_TYPE = _TYPE + "config.listener.v3.Listener"
CLUSTER_TYPE = _TYPE + "config.cluster.v3.Cluster"


def _cluster(name: str, host: str, port: int, tls_sni: str | None = None) -> dict:
    try:
        ipaddress.ip_address(host)
        discovery = "STATIC"
    except ValueError:
        discovery = "STRICT_DNS"
    cluster = {
        "@type": CLUSTER_TYPE, "name": name, "type": discovery, "connect_timeout": "2s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}]}]},
    }
    if tls_sni:
        cluster["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": _TYPE + "extensions.transport_sockets.tls.v3.UpstreamTlsContext", "sni": tls_sni}}
    return cluster


def _jwks_cluster_name(uri: str) -> tuple[str, str, int, bool]:
    parts = urlsplit(uri)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    name = f"jwks-{parts.hostname}-{port}".replace(":", "-")
    return name, parts.hostname, port, tls


def envoy_gateway_config(rules, settings):
    """LDS and CDS discovery responses (for filesystem xDS) of the gateway for ``rules``.

    ``settings``: listen_address, listen_port, upstreams (as for istio_gateway_objects), forward_token
    (default false: the upstream never sees the caller's token), jwks_cache_seconds (default 300).
    Returns ``{lds, cds, version}``; ``version`` (a hash of listener and clusters) is the LDS
    ``version_info``, which Envoy's /config_dump reports once it has loaded the file.
    """
    _check_rules(rules, "envoy_gateway_config")
    upstreams = _upstreams(settings, "envoy_gateway_config")
    try:
        listen_port = int(settings["listen_port"])
    except (KeyError, TypeError, ValueError):
        raise _fail("envoy_gateway_config: listen_port must be a port number.") from None
    listen_address = str(settings.get("listen_address", "127.0.0.1"))
    forward = bool(settings.get("forward_token", False))
    cache_seconds = int(settings.get("jwks_cache_seconds", 300))

    clusters = {key: _cluster(key, value["host"], value["port"]) for key, value in upstreams.items()}
    providers = {}
    rbac_policies = {}
    for tenant in rules["tenants"]:
        cluster_name, host, port, tls = _jwks_cluster_name(tenant["jwks_uri"])
        clusters.setdefault(cluster_name, _cluster(cluster_name, host, port, host if tls else None))
        providers[tenant["name"]] = {
            "issuer": tenant["issuer"],
            "audiences": list(tenant["audiences"]),
            "remote_jwks": {"http_uri": {"uri": tenant["jwks_uri"], "cluster": cluster_name, "timeout": "5s"},
                            "cache_duration": f"{cache_seconds}s"},
            "forward": forward,
            "payload_in_metadata": JWT_METADATA_KEY,
            "claim_to_headers": [{"header_name": item["header"].lower(), "claim_name": item["claim"]}
                                 for item in tenant["claim_to_headers"]],
        }

        def payload_is(key: str, value: str) -> dict:
            # Dynamic metadata that jwt_authn wrote (payload_in_metadata) for the verified token.
            return {"sourced_metadata": {"metadata_matcher": {
                "filter": "envoy.filters.http.jwt_authn",
                "path": [{"key": JWT_METADATA_KEY}, {"key": key}],
                "value": {"string_match": {"exact": value}}}}}

        # The same rule as the tenant's AuthorizationPolicy: a verified token of this realm whose
        # tenant claim names this tenant.
        rbac_policies[f"tenant-{tenant['name']}"] = {
            "permissions": [{"any": True}],
            "principals": [{"and_ids": {"ids": [
                payload_is("iss", tenant["issuer"]),
                payload_is(tenant["claim"], tenant["name"]),
            ]}}],
        }

    http_filters = [{
        # Before anything reads them: a client never chooses its tenant header, only the verified claim does.
        "name": "envoy.filters.http.header_mutation",
        "typed_config": {"@type": _TYPE + "extensions.filters.http.header_mutation.v3.HeaderMutation",
                         "mutations": {"request_mutations": [{"remove": header.lower()}
                                                             for header in rules["headers"]]}},
    }]
    if providers:
        http_filters.append({
            "name": "envoy.filters.http.jwt_authn",
            "typed_config": {"@type": _TYPE + "extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                             "providers": providers,
                             "rules": [{"match": {"prefix": "/"}, "requires": (
                                 {"provider_name": next(iter(providers))} if len(providers) == 1 else
                                 {"requires_any": {"requirements": [{"provider_name": name}
                                                                    for name in providers]}})}]},
        })
    # ALLOW with no policy denies everything: a region without tenants lets nothing through.
    http_filters.append({
        "name": "envoy.filters.http.rbac",
        "typed_config": {"@type": _TYPE + "extensions.filters.http.rbac.v3.RBAC",
                         "rules": {"action": "ALLOW", "policies": rbac_policies}},
    })
    http_filters.append({"name": "envoy.filters.http.router",
                         "typed_config": {"@type": _TYPE + "extensions.filters.http.router.v3.Router"}})

    routes = []
    for route in rules["routes"]:
        for match in route["match"]:
            kind, path = next(iter(match.items()))
            routes.append({"name": route["name"], "match": {"path" if kind == "exact" else "prefix": path},
                           "route": {"cluster": route["upstream"], "timeout": "60s"}})
    routes.append({"name": "not-found", "match": {"prefix": "/"},
                   "direct_response": {"status": 404, "body": {"inline_string": "no such route on the gateway\n"}}})

    listener = {
        "@type": LISTENER_TYPE, "name": "gateway",
        "address": {"socket_address": {"address": listen_address, "port_value": listen_port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": _TYPE + "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "gateway",
                "route_config": {"name": "gateway", "virtual_hosts": [
                    {"name": "gateway", "domains": ["*"], "routes": routes}]},
                "http_filters": http_filters,
            },
        }]}],
    }
    cluster_list = [clusters[name] for name in sorted(clusters)]
    # The listener's version covers the clusters too, so any change shows as a new LDS version in
    # Envoy's /config_dump (an unchanged CDS file may keep its old version there).
    cds_version = _digest(cluster_list)
    version = _digest([listener, cluster_list])
    return {
        "version": version,
        "lds": {"version_info": version, "resources": [listener]},
        "cds": {"version_info": cds_version, "resources": copy.deepcopy(cluster_list)},
    }


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


class FilterModule:
    """Tenant gateway filters."""

    def filters(self):
        return {
            "gateway_rules": gateway_rules,
            "gateway_served_tenants": gateway_served_tenants,
            "gateway_stale_objects": gateway_stale_objects,
            "istio_gateway_objects": istio_gateway_objects,
            "envoy_gateway_config": envoy_gateway_config,
        }
