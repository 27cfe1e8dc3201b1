"""End-to-end fixtures: the lab inventory's identity, gateway and tenant layers converged, then tenants' tokens.

Everything here talks to the real lab: Keycloak (realms and tokens), each region's Envoy (the gateway the istio
role configures) and Thanos (receive behind the gateway, and a tenancy-enforcing query to see where a series
landed). Series carry a label unique to this test session, so no test depends on what an earlier run left behind.
"""

from __future__ import annotations

import os
import uuid

import pytest

from lab.gateway_client import GATEWAY_CLIENT_ID, KeycloakAdmin, RegionGateway, client_credentials_token
from tests.e2e.isolation import ACME, GLOBEX, INVENTORY, REGIONS, converge, served_tenants, wait_for_gateways
from tests.integration.conftest import lab, lab_runtime  # noqa: F401 - the shared lab fixtures, reused here


@pytest.fixture(scope="session")
def served(lab) -> dict[str, set[str]]:  # noqa: F811 - the imported fixture, requested by name
    """The lab inventory converged (keycloak, istio, tenant layers); region -> tenants its gateway serves."""
    served = served_tenants(INVENTORY / "topology.yml")
    assert served == {"us-east-1": {ACME}, "eu-west-1": {ACME, GLOBEX}}, (
        f"the matrix is written for acme in both regions and globex in eu-west-1 only; the topology serves {served}")
    # MERIDIAN_E2E_CONVERGED=1 skips the converge when it was just run by hand (while iterating on a test); the
    # gateways must still serve exactly the topology's tenants.
    if os.environ.get("MERIDIAN_E2E_CONVERGED") != "1":
        converge(INVENTORY)
    wait_for_gateways(lab, served)
    return served


@pytest.fixture(scope="session")
def keycloak_admin(lab) -> KeycloakAdmin:  # noqa: F811
    return KeycloakAdmin.from_lab(lab)


@pytest.fixture(scope="session")
def token_of(lab, keycloak_admin, served):  # noqa: F811
    """Factory: a fresh access token of ``tenant``'s gateway client (client credentials, as Prometheus gets one)."""
    secrets: dict[str, str] = {}

    def token(tenant: str) -> str:
        if tenant not in secrets:
            secrets[tenant] = keycloak_admin.client_secret(tenant)
        return client_credentials_token(lab["keycloak"]["url"], tenant, GATEWAY_CLIENT_ID, secrets[tenant])

    return token


@pytest.fixture(scope="session")
def run_id() -> str:
    """The value of the `run` label on every series this session writes."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(params=REGIONS)
def region(request) -> str:
    """Run a test once per lab region."""
    return request.param


@pytest.fixture
def gateway(lab, region, served) -> RegionGateway:  # noqa: F811
    """The region's gateway, after the session's converge."""
    return RegionGateway(lab, region)
