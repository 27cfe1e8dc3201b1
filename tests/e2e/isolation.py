"""Helpers of the isolation matrix: the topology's served tenants, converging the layers, and where a series landed."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from lab.gateway_client import RegionGateway
from tests.support.ansible import REPO, run_ansible
from tests.support.gateway import Gateway

INVENTORY = REPO / "inventories" / "lab"
LAB_DIR = REPO / ".lab"
REGIONS = ("us-east-1", "eu-west-1")
METRIC = "e2e_isolation_samples"
# Where Thanos puts a series that arrives without a tenant header: a stray write would land here.
DEFAULT_TENANT = "default-tenant"
ACME, GLOBEX = "acme", "globex"


def served_tenants(topology_file: Path) -> dict[str, set[str]]:
    """Region -> the tenants its gateway serves: present tenants that list the region."""
    topology = yaml.safe_load(topology_file.read_text())
    served: dict[str, set[str]] = {region: set() for region in topology["regions"]}
    for tenant in topology.get("tenants", []):
        if tenant.get("state", "present") == "present":
            for region in tenant["regions"]:
                served[region].add(tenant["name"])
    return served


def converge(inventory: Path, *, layers: Iterable[str] = ("keycloak", "istio", "tenant")) -> None:
    """Converge ``layers`` of ``inventory`` in every region, keycloak first and on its own.

    The istio layer reads each served tenant's realm, which must exist by then. The lab directory is passed
    explicitly so that a copy of the inventory elsewhere still finds the lab's servers and credentials.
    """
    for layer in layers:
        playbook = "playbooks/tenants.yml" if layer == "tenant" else "playbooks/platform.yml"
        run_ansible("ansible-playbook", playbook, "-i", str(inventory), "--tags", layer,
                    "-e", f"meridian_lab_dir={LAB_DIR}", timeout=1200)


def wait_for_gateways(lab: dict, served: dict[str, set[str]]) -> None:
    """Each region's Envoy serves exactly the tenants ``served`` lists (its jwt_authn providers)."""
    for region in REGIONS:
        providers = Gateway(lab, region).wait_for_providers(served[region], timeout=60)
        assert set(providers) == served[region], (
            f"envoy-{region} serves {sorted(providers)}, the topology says {sorted(served[region])}")


def selector(run_id: str, case: str) -> str:
    return f'{METRIC}{{run="{run_id}",case="{case}"}}'


def labels(run_id: str, case: str) -> dict[str, str]:
    return {"__name__": METRIC, "run": run_id, "case": case}


def tenants_holding(gateway: RegionGateway, promql: str, tenants: Iterable[str]) -> dict[str, list[str]]:
    """Tenant id -> the tenant_id labels of what Thanos holds for ``promql`` under it (only tenants holding any).

    Always asks for the default tenant too, where a write without a tenant header would land.
    """
    found = {}
    for tenant in sorted(set(tenants) | {DEFAULT_TENANT}):
        result = gateway.stored(promql, tenant)
        if result:
            found[tenant] = [series["metric"].get("tenant_id", "") for series in result]
    return found
