"""Keycloak: a realm made through the admin REST API issues verifiable tokens."""

from __future__ import annotations

import secrets

import jwt
import pytest
import requests

pytestmark = pytest.mark.lab

TIMEOUT = 30


@pytest.fixture(scope="module")
def keycloak_admin(lab):
    """(base URL, requests session authorised as the bootstrap admin)."""
    keycloak = lab["keycloak"]
    response = requests.post(
        f"{keycloak['url']}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": keycloak["admin_client_id"],
            "username": keycloak["admin_username"],
            "password": keycloak["admin_password"],
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    yield keycloak["url"], session
    session.close()


@pytest.fixture
def realm(keycloak_admin, unique):
    url, session = keycloak_admin
    name = f"lab-test-{unique}"
    response = session.post(f"{url}/admin/realms", json={"realm": name, "enabled": True},
                            timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    yield name
    assert session.delete(f"{url}/admin/realms/{name}", timeout=TIMEOUT).status_code == 204


def test_realm_issues_client_credentials_token(lab, keycloak_admin, realm):
    url, session = keycloak_admin
    client_secret = secrets.token_urlsafe(24)
    response = session.post(
        f"{url}/admin/realms/{realm}/clients",
        json={
            "clientId": "metrics-writer",
            "enabled": True,
            "publicClient": False,
            "serviceAccountsEnabled": True,
            "standardFlowEnabled": False,
            "directAccessGrantsEnabled": False,
            "clientAuthenticatorType": "client-secret",
            "secret": client_secret,
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text

    discovery = requests.get(f"{url}/realms/{realm}/.well-known/openid-configuration",
                             timeout=TIMEOUT).json()
    assert discovery["issuer"] == f"{lab['keycloak']['issuer_base']}/{realm}"

    token_response = requests.post(
        discovery["token_endpoint"],
        data={"grant_type": "client_credentials", "client_id": "metrics-writer",
              "client_secret": client_secret},
        timeout=TIMEOUT,
    )
    assert token_response.status_code == 200, token_response.text
    access_token = token_response.json()["access_token"]

    # Verify the signature with the realm's published keys, not just decode.
    signing_key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(access_token)
    claims = jwt.decode(access_token, signing_key.key, algorithms=["RS256"],
                        issuer=discovery["issuer"], options={"verify_aud": False})
    assert claims["iss"] == discovery["issuer"]
    assert claims["azp"] == "metrics-writer"

    wrong = requests.post(
        discovery["token_endpoint"],
        data={"grant_type": "client_credentials", "client_id": "metrics-writer",
              "client_secret": "not-the-secret"},
        timeout=TIMEOUT,
    )
    assert wrong.status_code == 401


def test_token_from_one_realm_does_not_verify_for_another(keycloak_admin, realm, unique):
    url, session = keycloak_admin
    other = f"lab-test-{unique}-other"
    assert session.post(f"{url}/admin/realms", json={"realm": other, "enabled": True},
                        timeout=TIMEOUT).status_code == 201
    try:
        client_secret = secrets.token_urlsafe(24)
        assert session.post(
            f"{url}/admin/realms/{realm}/clients",
            json={"clientId": "svc", "publicClient": False, "serviceAccountsEnabled": True,
                  "standardFlowEnabled": False, "secret": client_secret},
            timeout=TIMEOUT,
        ).status_code == 201
        token = requests.post(
            f"{url}/realms/{realm}/protocol/openid-connect/token",
            data={"grant_type": "client_credentials", "client_id": "svc",
                  "client_secret": client_secret},
            timeout=TIMEOUT,
        ).json()["access_token"]
        other_keys = jwt.PyJWKClient(f"{url}/realms/{other}/protocol/openid-connect/certs")
        with pytest.raises(jwt.PyJWKClientError):
            other_keys.get_signing_key_from_jwt(token)  # no key with that kid in the other realm
    finally:
        session.delete(f"{url}/admin/realms/{other}", timeout=TIMEOUT)
