#!/usr/bin/env python3
"""Time of the keycloak role for N tenants (default 50) against the lab's Keycloak: first run, re-run, offboarding.

The role runs as in production, through playbooks/platform.yml --tags keycloak on the lab inventory (both regions),
with keycloak_tenants set to N generated tenants (names bench-<run>-NN, half of them in both regions, half in one,
each with an owner and a viewer). The role converges every realm through one keycloak_tenants call. Prints wall
time, changed count and the HTTP requests Keycloak received (through the
counting proxy of bench/keycloak_requests.py, so the role's credentials probe is counted too), with reads per
tenant; asserts nothing about time. The realms are deleted at the end by the role itself (state: absent), also timed.

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

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.ansible import run_ansible  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from keycloak_requests import CountingProxy, keycloak_target  # noqa: E402  (sibling script)


def tenants(count: int, run: str) -> list[dict]:
    records = []
    for number in range(count):
        name = f"bench-{run}-{number:02d}"
        records.append({"name": name, "display_name": f"Bench tenant {number}",
                        "regions": ["us-east-1", "eu-west-1"] if number % 2 == 0 else ["eu-west-1"],
                        "home_region": "eu-west-1", "owners": [f"owner@{name}.example"],
                        "viewers": [f"viewer-{number:02d}"], "state": "present"})
    return records


def converge(records: list[dict], directory: pathlib.Path, proxy: CountingProxy) -> dict:
    """One platform.yml --tags keycloak run over both lab regions, Keycloak behind ``proxy``; returns seconds, changed
    per host and the requests Keycloak received by kind."""
    variables = directory / f"tenants-{uuid.uuid4().hex[:6]}.json"
    variables.write_text(json.dumps({"keycloak_tenants": records, "keycloak_url": proxy.url}))
    started = time.monotonic()
    completed = run_ansible("ansible-playbook", "playbooks/platform.yml", "-i", "inventories/lab", "--tags", "keycloak",
                            "-e", f"@{variables}", json_output=True, timeout=3600)
    seconds = time.monotonic() - started
    output = json.loads(completed.stdout)
    return {"seconds": round(seconds, 1), "changed": {host: stats["changed"] for host, stats in output["stats"].items()},
            "requests": dict(sorted(proxy.take().items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=50)
    args = parser.parse_args()
    records = tenants(args.tenants, uuid.uuid4().hex[:4])
    proxy = CountingProxy(keycloak_target(argparse.Namespace(url=None))["url"])
    try:
        with tempfile.TemporaryDirectory(dir=REPO / ".ansible") as directory:
            work = pathlib.Path(directory)
            rows = [("first run (creates)", converge(records, work, proxy)),
                    ("re-run (no change)", converge(records, work, proxy))]
            rows.append(("offboarding (deletes)", converge([dict(r, state="absent") for r in records], work, proxy)))
    finally:
        proxy.close()
    print(f"keycloak role, {args.tenants} tenants, lab Keycloak, playbooks/platform.yml --tags keycloak on both regions")
    print(f"{'run':<24}{'seconds':>9}{'per tenant':>12}{'GET/tenant':>12}  changed (tasks per host)   "
          "HTTP requests Keycloak received")
    for label, row in rows:
        print(f"{label:<24}{row['seconds']:>9}{row['seconds'] / args.tenants:>12.2f}"
              f"{row['requests'].get('GET', 0) / args.tenants:>12.2f}  "
              f"{json.dumps(row['changed']):<26}{json.dumps(row['requests'])}")


if __name__ == "__main__":
    main()
