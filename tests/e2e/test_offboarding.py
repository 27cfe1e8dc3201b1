"""An offboarded tenant's token is refused after the next converge.

A copy of the lab inventory gains a throwaway tenant in both regions; after converging the keycloak and istio
layers its token writes through both gateways (the twin). Then the copy sets the tenant to `state: absent`, the
same layers converge again, and the very token that worked is refused everywhere: its realm is gone and no
gateway trusts its issuer any more. The copy's other tenants are the lab's, so the gateways end up serving
exactly the lab topology's tenants again.
"""

from __future__ import annotations

import shutil
import uuid

import pytest
import yaml

from lab.gateway_client import GATEWAY_CLIENT_ID, RegionGateway, client_credentials_token, token_claims
from tests.e2e.isolation import ACME, GLOBEX, INVENTORY, REGIONS, converge, labels, selector, tenants_holding
from tests.e2e.isolation import wait_for_gateways

pytestmark = pytest.mark.lab

LAYERS = ("keycloak", "istio")


def write_topology(inventory, tenant: str, state: str) -> None:
    topology_file = inventory / "topology.yml"
    topology = yaml.safe_load(topology_file.read_text())
    topology["tenants"] = [entry for entry in topology["tenants"] if entry["name"] != tenant] + [{
        "name": tenant, "display_name": "End-to-end offboarding", "state": state, "regions": list(REGIONS),
        "home_region": REGIONS[0], "owners": [f"owner@{tenant}.example"],
        "quotas": {"cpu": "1", "memory": "1Gi", "pods": 10}}]
    topology_file.write_text(yaml.safe_dump(topology, sort_keys=False))


def test_offboarded_tenants_token_is_refused_after_the_next_converge(lab, served, keycloak_admin, tmp_path, run_id):
    tenant = f"e2e-off-{uuid.uuid4().hex[:6]}"
    inventory = tmp_path / "lab"
    shutil.copytree(INVENTORY, inventory)
    gateways = [RegionGateway(lab, region) for region in REGIONS]
    offboarded = False
    write_topology(inventory, tenant, "present")
    try:
        converge(inventory, layers=LAYERS)
        wait_for_gateways(lab, {region: served[region] | {tenant} for region in REGIONS})
        token = client_credentials_token(lab["keycloak"]["url"], tenant, GATEWAY_CLIENT_ID,
                                         keycloak_admin.client_secret(tenant))
        assert token_claims(token)["tenant"] == tenant
        for gateway in gateways:  # the twin: while onboarded, the token writes under its tenant
            case = f"onboarded-{gateway.region}"
            assert gateway.write(labels(run_id, case), token=token) in (200, 204)
            assert [s["metric"]["tenant_id"] for s in gateway.wait_stored(selector(run_id, case), tenant)] == [tenant]

        write_topology(inventory, tenant, "absent")
        converge(inventory, layers=LAYERS)
        offboarded = True
        wait_for_gateways(lab, served)

        assert not keycloak_admin.realm_exists(tenant)
        for gateway in gateways:
            case = f"offboarded-{gateway.region}"
            assert gateway.write(labels(run_id, case), token=token) == 401
            assert gateway.query(selector(run_id, f"onboarded-{gateway.region}"), token=token)[0] == 401
            assert tenants_holding(gateway, selector(run_id, case), [tenant, ACME, GLOBEX]) == {}
    finally:
        if not offboarded:  # leave no throwaway realm or gateway rule behind
            write_topology(inventory, tenant, "absent")
            converge(inventory, layers=LAYERS)
