#!/usr/bin/env python3
"""Time of the keycloak role for N tenants (default 50) against the lab's Keycloak: first run, re-run, offboarding.

The role runs as in production, through playbooks/platform.yml --tags keycloak on the lab inventory (both regions),
with keycloak_tenants set to N generated tenants (names bench-<run>-NN, half of them in both regions, half in one,
each with an owner and a viewer). Prints wall time, changed count and the HTTP requests keycloak_tenant reported
(its own api_requests; the role's read pass through keycloak_tenant_info, one call per tenant, is not in them);
asserts nothing about time. The realms are deleted at the end by the role itself (state: absent), also timed.

Usage: .venv/bin/python bench/keycloak_role.py [--tenants 50]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time
import uuid
from collections import Counter

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.ansible import run_ansible  # noqa: E402


def tenants(count: int, run: str) -> list[dict]:
    records = []
    for number in range(count):
        name = f"bench-{run}-{number:02d}"
        records.append({"name": name, "display_name": f"Bench tenant {number}",
                        "regions": ["us-east-1", "eu-west-1"] if number % 2 == 0 else ["eu-west-1"],
                        "home_region": "eu-west-1", "owners": [f"owner@{name}.example"],
                        "viewers": [f"viewer-{number:02d}"], "state": "present"})
    return records


def converge(records: list[dict], directory: pathlib.Path) -> dict:
    """One platform.yml --tags keycloak run over both lab regions; returns seconds, changed and API requests."""
    variables = directory / f"tenants-{uuid.uuid4().hex[:6]}.json"
    variables.write_text(json.dumps({"keycloak_tenants": records}))
    started = time.monotonic()
    completed = run_ansible("ansible-playbook", "playbooks/platform.yml", "-i", "inventories/lab", "--tags", "keycloak",
                            "-e", f"@{variables}", json_output=True, timeout=3600)
    seconds = time.monotonic() - started
    output = json.loads(completed.stdout)
    requests: Counter = Counter()
    for play in output["plays"]:
        for task in play["tasks"]:
            for result in task["hosts"].values():
                for item in result.get("results") or [result]:
                    requests.update(item.get("api_requests") or {})
    return {"seconds": round(seconds, 1), "changed": {host: stats["changed"] for host, stats in output["stats"].items()},
            "requests": dict(sorted(requests.items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=50)
    args = parser.parse_args()
    records = tenants(args.tenants, uuid.uuid4().hex[:4])
    with tempfile.TemporaryDirectory(dir=REPO / ".ansible") as directory:
        work = pathlib.Path(directory)
        rows = [("first run (creates)", converge(records, work)),
                ("re-run (no change)", converge(records, work))]
        rows.append(("offboarding (deletes)", converge([dict(r, state="absent") for r in records], work)))
    print(f"keycloak role, {args.tenants} tenants, lab Keycloak, playbooks/platform.yml --tags keycloak on both regions")
    print(f"{'run':<24}{'seconds':>9}{'per tenant':>12}  changed (tasks per host)   keycloak_tenant's HTTP requests")
    for label, row in rows:
        print(f"{label:<24}{row['seconds']:>9}{row['seconds'] / args.tenants:>12.2f}  "
              f"{json.dumps(row['changed']):<26}{json.dumps(row['requests'])}")


if __name__ == "__main__":
    main()
