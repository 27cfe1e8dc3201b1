"""A tenant's client of a lab region's gateway, and the Keycloak admin calls that set one up.

Shared by `make demo` (lab/demo_isolation.py), bench/gateway.py and the end-to-end tests:

- `KeycloakAdmin`: the lab Keycloak's admin API (client secrets, throwaway clients and their mappers);
- `client_credentials_token`: what a tenant's Prometheus does with `remote_write.oauth2`;
- `RegionGateway`: remote write, queries and logs requests through the region's Envoy, and the same
  straight to Thanos (receive and a tenancy-enforcing query), to see where a series really landed.

Secrets (the admin password, client secrets, tokens) stay in memory: no function prints or logs one,
and error messages carry HTTP statuses, never bodies that could echo a credential.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import requests

from lab import remote_write
from lab.state import LabPaths

TIMEOUT = 30
TENANT_CLAIM = "tenant"
GATEWAY_CLIENT_ID = "observability-gateway"


class GatewayClientError(Exception):
    """A call to Keycloak, the gateway or Thanos did not answer as expected."""


def load_lab(paths: LabPaths | None = None) -> dict:
    """The running lab's description (.lab/lab.json, written by `python -m lab up`)."""
    lab_json = (paths or LabPaths.default()).lab_json
    try:
        return json.loads(Path(lab_json).read_text())
    except FileNotFoundError:
        raise GatewayClientError(f"{lab_json} does not exist: start the lab first (make lab-up).") from None


def token_endpoint(keycloak_url: str, realm: str) -> str:
    return f"{keycloak_url.rstrip('/')}/realms/{realm}/protocol/openid-connect/token"


def client_credentials_token(keycloak_url: str, realm: str, client_id: str, secret: str) -> str:
    """An access token of ``client_id`` in ``realm`` by the client-credentials grant."""
    response = requests.post(token_endpoint(keycloak_url, realm),
                             data={"grant_type": "client_credentials", "client_id": client_id,
                                   "client_secret": secret}, timeout=TIMEOUT)
    if response.status_code != 200:
        raise GatewayClientError(f"no token for client {client_id} of realm {realm}: HTTP {response.status_code}")
    return response.json()["access_token"]


def token_claims(token: str) -> dict:
    """The payload of a JWT, decoded without verifying it (to read exp, iss, the tenant claim)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def tampered(token: str) -> str:
    """``token`` with one byte of its signature changed; header and payload stay intact."""
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return ".".join((header, payload, base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()))


class KeycloakAdmin:
    """The lab Keycloak's admin REST API, with the admin credentials from lab.json."""

    def __init__(self, url: str, admin_realm: str, username: str, password: str, client_id: str = "admin-cli"):
        self.url = url.rstrip("/")
        self._login = {"grant_type": "password", "client_id": client_id, "username": username, "password": password}
        self._admin_realm = admin_realm
        self._token: tuple[str, float] | None = None

    @classmethod
    def from_lab(cls, lab: Mapping) -> KeycloakAdmin:
        keycloak = lab["keycloak"]
        return cls(keycloak["url"], keycloak["admin_realm"], keycloak["admin_username"], keycloak["admin_password"],
                   keycloak.get("admin_client_id", "admin-cli"))

    def _bearer(self) -> str:
        if self._token is None or time.monotonic() > self._token[1]:
            response = requests.post(token_endpoint(self.url, self._admin_realm), data=self._login, timeout=TIMEOUT)
            if response.status_code != 200:
                raise GatewayClientError(f"Keycloak refused the lab's admin credentials: HTTP {response.status_code}")
            body = response.json()
            # Renewed well before it expires, so a long test never sends a stale admin token.
            self._token = (body["access_token"], time.monotonic() + max(body.get("expires_in", 60) - 20, 5))
        return self._token[0]

    def request(self, method: str, path: str, *, body: object = None,
                expect: Iterable[int] = (200,)) -> requests.Response:
        response = requests.request(method, f"{self.url}/admin/realms{path}", json=body, timeout=TIMEOUT,
                                    headers={"Authorization": f"Bearer {self._bearer()}"})
        if response.status_code not in tuple(expect):
            raise GatewayClientError(f"Keycloak admin {method} {path}: HTTP {response.status_code}")
        return response

    def realm_exists(self, realm: str) -> bool:
        return self.request("GET", f"/{realm}", expect=(200, 404)).status_code == 200

    def client(self, realm: str, client_id: str) -> dict | None:
        found = self.request("GET", f"/{realm}/clients?clientId={client_id}").json()
        return next((client for client in found if client.get("clientId") == client_id), None)

    def client_secret(self, realm: str, client_id: str = GATEWAY_CLIENT_ID) -> str:
        client = self.client(realm, client_id)
        if client is None:
            raise GatewayClientError(f"realm {realm} has no client {client_id}")
        return self.request("GET", f"/{realm}/clients/{client['id']}/client-secret").json()["value"]

    def create_machine_client(self, realm: str, client_id: str, *, audience: str = GATEWAY_CLIENT_ID,
                              tenant: str | None = None, token_lifespan: int | None = None) -> tuple[str, str]:
        """A confidential client-credentials client; (its internal id, its secret).

        It always carries the gateway audience; the tenant claim only when ``tenant`` is given, so a
        test can make a token that is valid for the realm but names no tenant.
        """
        secret = uuid.uuid4().hex
        representation = {
            "clientId": client_id, "enabled": True, "protocol": "openid-connect", "publicClient": False,
            "clientAuthenticatorType": "client-secret", "secret": secret, "standardFlowEnabled": False,
            "directAccessGrantsEnabled": False, "serviceAccountsEnabled": True,
            "protocolMappers": [audience_mapper(audience)] + ([tenant_mapper(tenant)] if tenant else []),
        }
        if token_lifespan is not None:
            representation["attributes"] = {"access.token.lifespan": str(token_lifespan)}
        self.request("POST", f"/{realm}/clients", body=representation, expect=(201,))
        client = self.client(realm, client_id)
        return client["id"], secret

    def add_mapper(self, realm: str, internal_id: str, mapper: Mapping) -> None:
        self.request("POST", f"/{realm}/clients/{internal_id}/protocol-mappers/models", body=dict(mapper),
                     expect=(201,))

    def delete_client(self, realm: str, internal_id: str) -> None:
        self.request("DELETE", f"/{realm}/clients/{internal_id}", expect=(204, 404))


def audience_mapper(audience: str) -> dict:
    return {"name": "gateway-audience", "protocol": "openid-connect", "protocolMapper": "oidc-audience-mapper",
            "config": {"included.client.audience": audience, "access.token.claim": "true",
                       "id.token.claim": "false"}}


def tenant_mapper(tenant: str) -> dict:
    return {"name": "tenant", "protocol": "openid-connect", "protocolMapper": "oidc-hardcoded-claim-mapper",
            "config": {"claim.name": TENANT_CLAIM, "claim.value": tenant, "jsonType.label": "String",
                       "access.token.claim": "true", "id.token.claim": "false"}}


class RegionGateway:
    """One lab region's gateway and the Thanos behind it."""

    def __init__(self, lab: Mapping, region: str) -> None:
        info = lab["regions"][region]
        self.region = region
        self.url = info["envoy"]["gateway_url"]
        self.thanos = info["thanos"]
        self.remote_write_url = f"{self.url}/api/v1/receive"

    @staticmethod
    def headers(token: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def write(self, labels: Mapping[str, str], value: float = 1.0, *, token: str | None = None,
              headers: Mapping[str, str] | None = None) -> int:
        """One sample through the gateway's remote-write route; the HTTP status."""
        status, _ = remote_write.push(self.remote_write_url, [(labels, [(value, remote_write.now_ms())])],
                                      headers=self.headers(token, headers))
        return status

    def write_direct(self, labels: Mapping[str, str], tenant: str, value: float = 1.0) -> int:
        """One sample straight to Thanos receive as ``tenant`` (what the gateway must stop clients doing)."""
        status, _ = remote_write.push(self.thanos["remote_write_url"], [(labels, [(value, remote_write.now_ms())])],
                                      headers={self.thanos["tenant_header"]: tenant})
        return status

    def query(self, promql: str, *, token: str | None = None,
              headers: Mapping[str, str] | None = None) -> tuple[int, list[dict]]:
        """An instant query through the gateway; (HTTP status, result vector, empty unless 200)."""
        response = requests.get(f"{self.url}/api/v1/query", params={"query": promql},
                                headers=self.headers(token, headers), timeout=TIMEOUT)
        if response.status_code != 200:
            return response.status_code, []
        return 200, response.json()["data"]["result"]

    def stored(self, promql: str, tenant: str) -> list[dict]:
        """What Thanos holds for ``tenant``, queried directly (not through the gateway)."""
        response = requests.get(f"{self.thanos['query_url']}/api/v1/query", params={"query": promql},
                                headers={self.thanos["tenant_header"]: tenant}, timeout=TIMEOUT)
        if response.status_code != 200:
            raise GatewayClientError(f"thanos query in {self.region} as {tenant}: HTTP {response.status_code}")
        return response.json()["data"]["result"]

    def wait_stored(self, promql: str, tenant: str, timeout: float = 30) -> list[dict]:
        """``stored`` once it is non-empty, or the empty result after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.stored(promql, tenant)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.5)

    def logs(self, path: str = "/loki/api/v1/push", *, token: str | None = None,
             headers: Mapping[str, str] | None = None) -> requests.Response:
        """A logs request through the gateway; a 200 body is the logs upstream's echo of what it received."""
        method = "POST" if path.endswith("/push") else "GET"
        return requests.request(method, f"{self.url}{path}", data=b"{}" if method == "POST" else None,
                                headers=self.headers(token, headers), timeout=TIMEOUT)
