"""`make demo`'s isolation table: each tenant writes and reads through each region's gateway, and forges a header.

    python -m lab.demo_isolation [--inventory inventories/lab]

After the keycloak and istio layers converged, every present tenant of the topology gets a token from its realm
(client credentials of the gateway client, as its Prometheus would) and, in each lab region:
  - writes one series labelled writer=<tenant> through the gateway;
  - writes one series labelled writer=<tenant>-forging-<other> with the header THANOS-TENANT: <other>;
  - queries through the gateway, again forging THANOS-TENANT: <other>, and lists the writers it sees.
A request without a token is tried too. Thanos is then asked directly where the forged series landed.
Prints one row per tenant and region; exits 1 when any tenant sees another's series, a forged series lands
anywhere but under its token's tenant, or a request without a token is accepted.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

import yaml

from lab.gateway_client import (GATEWAY_CLIENT_ID, GatewayClientError, KeycloakAdmin, RegionGateway,
                                client_credentials_token, load_lab)
from lab.state import REPO_ROOT

METRIC = "meridian_demo_isolation_samples"
ACCEPTED = (200, 204)


def present_tenants(topology_file: Path) -> dict[str, list[str]]:
    """Tenant -> its regions, for the topology's present tenants."""
    topology = yaml.safe_load(topology_file.read_text())
    return {tenant["name"]: list(tenant["regions"]) for tenant in topology.get("tenants", [])
            if tenant.get("state", "present") == "present"}


def writers(result: list[dict]) -> list[str]:
    return sorted({series["metric"].get("writer", "?") for series in result})


def run(inventory: Path, out=print) -> int:
    lab = load_lab()
    tenants = present_tenants(inventory / "topology.yml")
    regions = [region for region in lab["regions"]]
    admin = KeycloakAdmin.from_lab(lab)
    keycloak_url = lab["keycloak"]["url"]
    try:
        secrets = {tenant: admin.client_secret(tenant) for tenant in tenants}
    except GatewayClientError as err:
        out(f"demo_isolation: {err}. Converge the keycloak layer first (make demo does).")
        return 1
    run_id = uuid.uuid4().hex[:8]
    everything = f'{METRIC}{{run="{run_id}"}}'
    problems: list[str] = []
    rows: list[tuple[str, ...]] = []

    def other(tenant: str) -> str:
        names = sorted(tenants)
        return names[(names.index(tenant) + 1) % len(names)] if len(names) > 1 else "someone-else"

    for region in regions:
        gateway = RegionGateway(lab, region)
        # Anonymous first: refused, and later found under no tenant.
        anonymous = gateway.write({"__name__": METRIC, "run": run_id, "writer": "anonymous"},
                                  headers={"THANOS-TENANT": sorted(tenants)[0]})
        if anonymous != 401:
            problems.append(f"{region}: a write without a token got HTTP {anonymous}, not 401")
        statuses = {}
        for tenant in sorted(tenants):
            token = client_credentials_token(keycloak_url, tenant, GATEWAY_CLIENT_ID, secrets[tenant])
            forged = {"THANOS-TENANT": other(tenant)}
            statuses[tenant] = (
                gateway.write({"__name__": METRIC, "run": run_id, "writer": tenant}, token=token),
                gateway.write({"__name__": METRIC, "run": run_id, "writer": f"{tenant}-forging-{other(tenant)}"},
                              token=token, headers=forged))
            served = region in tenants[tenant]
            expected = ACCEPTED if served else (401,)
            if statuses[tenant][0] not in expected or statuses[tenant][1] not in expected:
                problems.append(f"{region}: {tenant}'s writes got HTTP {statuses[tenant]}, expected "
                                f"{'200' if served else '401 (the tenant does not live here)'}")
        for tenant in sorted(tenants):
            token = client_credentials_token(keycloak_url, tenant, GATEWAY_CLIENT_ID, secrets[tenant])
            if region in tenants[tenant]:
                gateway.wait_stored(f'{METRIC}{{run="{run_id}",writer="{tenant}"}}', tenant, timeout=30)
            status, seen = gateway.query(everything, token=token, headers={"THANOS-TENANT": other(tenant)})
            seen_writers = writers(seen)
            foreign = [writer for writer in seen_writers if writer != tenant and not writer.startswith(f"{tenant}-")]
            if foreign:
                problems.append(f"{region}: {tenant} sees series written by {', '.join(foreign)}")
            if region in tenants[tenant] and tenant not in seen_writers:
                problems.append(f"{region}: {tenant} does not see its own series (query HTTP {status})")
            forged_series = f'{METRIC}{{run="{run_id}",writer="{tenant}-forging-{other(tenant)}"}}'
            landed = [holder for holder in sorted(tenants) + ["default-tenant"] if gateway.stored(forged_series, holder)]
            if landed not in ([tenant], []) or (region in tenants[tenant] and landed != [tenant]):
                problems.append(f"{region}: {tenant}'s forged series landed under {landed or 'no tenant'}")
            rows.append((tenant, region, "yes" if region in tenants[tenant] else "no", _status(statuses[tenant][0]),
                         f"{_status(statuses[tenant][1])} -> under {', '.join(landed) or 'nobody'}",
                         _status(status), ", ".join(seen_writers) or "-"))
        strays = [holder for holder in sorted(tenants) + ["default-tenant"]
                  if gateway.stored(f'{METRIC}{{run="{run_id}",writer="anonymous"}}', holder)]
        if strays:
            problems.append(f"{region}: the write without a token landed under {strays}")
        rows.append(("(no token)", region, "-", _status(anonymous), "-", "-", "-"))

    global_rows = global_view(lab, tenants, everything, problems)

    header = ("TENANT", "REGION", "LIVES HERE", "WRITE", "WRITE WITH FORGED THANOS-TENANT", "QUERY (FORGED HEADER)", "SEES SERIES OF")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    out(f"== tenant isolation through each region's gateway (run {run_id})")
    for row in [header, *rows]:
        out("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    out("== the global view: the hub's query over both regions, as each tenant (what the hub's gateway forwards)")
    for tenant, regions_seen, writers_seen in global_rows:
        out(f"  {tenant:<12} series from {regions_seen or '-'}; written by {writers_seen or '-'}")
    if problems:
        out("ISOLATION BROKEN:")
        for problem in problems:
            out(f"  - {problem}")
        return 1
    out("isolation holds: each tenant sees only its own series; forged headers and missing tokens change nothing")
    return 0


def global_view(lab: dict, tenants: dict[str, list[str]], promql: str, problems: list[str]) -> list[tuple[str, str, str]]:
    """Each tenant's series through the global query: from every region it lives in, and nobody else's."""
    import requests

    rows = []
    header = next(iter(lab["regions"].values()))["thanos"]["tenant_header"]
    for tenant in sorted(tenants):
        response = requests.get(f"{lab['thanos_query_global']}/api/v1/query", params={"query": promql},
                                headers={header: tenant}, timeout=10)
        if response.status_code != 200:
            problems.append(f"global query as {tenant}: HTTP {response.status_code}")
            rows.append((tenant, "", ""))
            continue
        result = response.json()["data"]["result"]
        regions_seen = sorted({series["metric"].get("region", "?") for series in result})
        seen = writers(result)
        foreign = [writer for writer in seen if writer != tenant and not writer.startswith(f"{tenant}-")]
        if foreign:
            problems.append(f"global query: {tenant} sees series written by {', '.join(foreign)}")
        if regions_seen != sorted(tenants[tenant]):
            problems.append(f"global query: {tenant} sees series from {regions_seen}, lives in {sorted(tenants[tenant])}")
        rows.append((tenant, ", ".join(regions_seen), ", ".join(seen)))
    return rows


def _status(code: int) -> str:
    return {200: "200 ok", 204: "204 ok", 401: "401 refused", 403: "403 refused"}.get(code, f"HTTP {code}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.demo_isolation", description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=REPO_ROOT / "inventories" / "lab",
                        help="the topology inventory whose tenants to try (default: inventories/lab)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        code = run(args.inventory)
    except GatewayClientError as err:
        print(f"demo_isolation: {err}", file=sys.stderr)
        code = 1
    print(f"({time.monotonic() - started:.1f}s)")
    sys.exit(code)


if __name__ == "__main__":
    main()
