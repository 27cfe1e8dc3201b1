"""The tests' own view of the lab's Keycloak through its admin API, independent of the code under test."""

from __future__ import annotations

import requests

TIMEOUT = 30


class KeycloakAdmin:
    """Admin API calls with a fresh token per call (master tokens live 60 s); ``keycloak`` is lab.json's entry."""

    def __init__(self, keycloak: dict) -> None:
        self.url = keycloak["url"]
        self.keycloak = keycloak

    def _headers(self) -> dict:
        response = requests.post(f"{self.url}/realms/{self.keycloak['admin_realm']}/protocol/openid-connect/token",
                                 data={"grant_type": "password", "client_id": self.keycloak["admin_client_id"],
                                       "username": self.keycloak["admin_username"],
                                       "password": self.keycloak["admin_password"]}, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        """``method`` on ``/admin/realms<path>``."""
        return requests.request(method, f"{self.url}/admin/realms{path}", headers=self._headers(), timeout=TIMEOUT,
                                **kwargs)

    def realm(self, name: str) -> dict | None:
        response = self.call("GET", f"/{name}")
        assert response.status_code in (200, 404), response.text
        return response.json() if response.status_code == 200 else None

    def delete_realm(self, name: str) -> None:
        assert self.call("DELETE", f"/{name}").status_code in (204, 404)
