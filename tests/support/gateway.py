"""Talking to a lab region's tenant gateway (Envoy) the way a tenant's Prometheus or Grafana would.

Reusable by any test of the gateway: realms and tokens from Keycloak, remote write and queries through the
gateway, the same straight to Thanos (to see where a series really landed), the logs upstream's echo of the
headers it received, and Envoy's own view (PID, /config_dump) to tell a reload from a restart.
"""

from __future__ import annotations

import json
import pathlib
import time
import uuid
from collections.abc import Mapping

import requests

from lab import remote_write
from tests.support.ansible import run_tasks

TIMEOUT = 30
JWT_AUTHN = "envoy.filters.http.jwt_authn"
KEYCLOAK_PASSWORD_ENV = "GATEWAY_TEST_KEYCLOAK_ADMIN_PASSWORD"


# --- Keycloak: realms and tokens -------------------------------------------------------------------


def ensure_realm(directory: pathlib.Path, keycloak: Mapping, tenant: str, *, state: str = "present") -> dict:
    """Create (or delete, state=absent) the tenant's realm with the keycloak_tenant module; its result.

    With state=present the result holds issuer_url, jwks_url, audience, gateway_client_id and
    gateway_client_secret (the secret never leaves the test process).
    """
    defaults = {"auth_keycloak_url": keycloak["url"], "auth_realm": keycloak["admin_realm"],
                "auth_username": keycloak["admin_username"],
                "auth_password": "{{ lookup('ansible.builtin.env', '%s') }}" % KEYCLOAK_PASSWORD_ENV}
    args = {"name": tenant, "state": state}
    if state == "present":
        args["return_client_secret"] = True
    # No no_log: it would hide the result from the json callback too. The output is captured, never printed.
    results, completed = run_tasks(
        directory, [{"name": f"realm {tenant}", "meridian.observability.keycloak_tenant": args}],
        module_defaults={"group/meridian.observability.keycloak": defaults},
        env={KEYCLOAK_PASSWORD_ENV: keycloak["admin_password"]}, timeout=180)
    result = results[0]
    assert not result.get("failed"), f"keycloak_tenant {tenant} failed (rc {completed.returncode})"
    return result


def realm_facts(realm: Mapping) -> dict:
    """The keycloak_tenant result in the shape of the keycloak layer's meridian_tenant_realms entries."""
    return {"issuer": realm["issuer_url"], "jwks_uri": realm["jwks_url"], "audience": realm["audience"],
            "gateway_client_id": realm["gateway_client_id"], "tenant_claim": realm.get("tenant_claim", "tenant")}


def client_token(keycloak: Mapping, tenant: str, client_id: str, secret: str) -> str:
    """An access token of the tenant realm's client, by the client-credentials grant (what Prometheus' oauth2 does)."""
    response = requests.post(f"{keycloak['url']}/realms/{tenant}/protocol/openid-connect/token",
                             data={"grant_type": "client_credentials", "client_id": client_id,
                                   "client_secret": secret}, timeout=TIMEOUT)
    assert response.status_code == 200, f"token for {tenant}: HTTP {response.status_code}"
    return response.json()["access_token"]


def realm_token(keycloak: Mapping, realm: Mapping, tenant: str) -> str:
    return client_token(keycloak, tenant, realm["gateway_client_id"], realm["gateway_client_secret"])


# --- the gateway ------------------------------------------------------------------------------------


class Gateway:
    """One lab region's gateway: the Envoy listener, its admin API, and the upstreams behind it."""

    def __init__(self, lab: Mapping, region: str) -> None:
        info = lab["regions"][region]
        self.region = region
        self.url = info["envoy"]["gateway_url"]
        self.admin_url = info["envoy"]["admin_url"]
        self.config_dir = pathlib.Path(info["envoy"]["config_dir"])
        self.logs_upstream_url = info["envoy"]["logs_upstream_url"]
        self.thanos = info["thanos"]
        self.pid_file = pathlib.Path(lab["services"][f"envoy-{region}"]["pid_file"])

    # Envoy's own view
    def pid(self) -> int:
        return json.loads(self.pid_file.read_text())["pid"]

    def config_dump(self) -> dict:
        response = requests.get(f"{self.admin_url}/config_dump", timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()

    def listener_version(self) -> str:
        for config in self.config_dump()["configs"]:
            if config["@type"].endswith("ListenersConfigDump"):
                return config.get("version_info", "")
        return ""

    def providers(self) -> dict[str, dict]:
        """The active listener's jwt_authn providers by name (empty when no tenant is served)."""
        for config in self.config_dump()["configs"]:
            if not config["@type"].endswith("ListenersConfigDump"):
                continue
            for listener in config.get("dynamic_listeners", []):
                for chain in listener["active_state"]["listener"]["filter_chains"]:
                    for network_filter in chain["filters"]:
                        for http_filter in network_filter["typed_config"].get("http_filters", []):
                            if http_filter["name"] == JWT_AUTHN:
                                return http_filter["typed_config"].get("providers", {})
        return {}

    def wait_for_providers(self, wanted: set[str], timeout: float = 30) -> dict[str, dict]:
        deadline = time.monotonic() + timeout
        while True:
            providers = self.providers()
            if set(providers) == wanted or time.monotonic() > deadline:
                return providers
            time.sleep(0.2)

    # requests through the gateway
    @staticmethod
    def _headers(token: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def remote_write(self, labels: Mapping[str, str], value: float = 1.0, *, token: str | None = None,
                     headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """One sample through the gateway's /api/v1/receive; (HTTP status, body)."""
        return remote_write.push(f"{self.url}/api/v1/receive", [(labels, [(value, remote_write.now_ms())])],
                                 headers=self._headers(token, headers))

    def query(self, promql: str, *, token: str | None = None,
              headers: Mapping[str, str] | None = None) -> requests.Response:
        return requests.get(f"{self.url}/api/v1/query", params={"query": promql},
                            headers=self._headers(token, headers), timeout=TIMEOUT)

    def logs(self, path: str = "/loki/api/v1/push", *, token: str | None = None,
             headers: Mapping[str, str] | None = None) -> requests.Response:
        """A logs request through the gateway; a 200 body is the logs upstream's echo of what it received."""
        method = "POST" if path.endswith("/push") else "GET"
        return requests.request(method, f"{self.url}{path}", data=b"{}" if method == "POST" else None,
                                headers=self._headers(token, headers), timeout=TIMEOUT)

    # the truth behind the gateway
    def thanos_series(self, promql: str, tenant: str | None) -> list[dict]:
        """Query Thanos directly as ``tenant`` (None = the default tenant)."""
        headers = {self.thanos["tenant_header"]: tenant} if tenant else {}
        response = requests.get(f"{self.thanos['query_url']}/api/v1/query", params={"query": promql},
                                headers=headers, timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()["data"]["result"]

    def wait_for_series(self, promql: str, tenant: str | None, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            result = self.thanos_series(promql, tenant)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(1)


def unique_metric(prefix: str = "gateway_test") -> tuple[str, str]:
    """A metric name and a run label value no other test run uses."""
    return f"{prefix}_samples", uuid.uuid4().hex[:10]
