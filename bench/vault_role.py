#!/usr/bin/env python3
"""Time of the vault role for N tenants (default 50) in one lab region: first run, re-run, offboarding; and the
OpenBao API requests per tenant and per managed object (each tenant's policy and role) on the no-change re-run.

The role runs alone (a one-role playbook against inventories/lab, -l eu-west-1) with vault_tenants set to N
generated tenants (bench-<run>-NN); it converges them all in one vault_tenants call, whose reads are batched (one
LIST of the policies, one of the roles, then one GET per existing object). Requests are counted two ways: what the
Vault modules report (their
api_requests), and what actually reached OpenBao, counted by a small forwarding proxy on 127.0.0.1 that the role's
vault_addr points at. (OpenBao 2.x refuses to enable an audit device through the API, so a file audit device, the
other honest count, would need the lab server's configuration changed.) Prints numbers; asserts nothing on time.
The tenants are offboarded at the end by the role itself (state: absent, secrets purged), also timed.

Usage: .venv/bin/python bench/vault_role.py [--tenants 50] [--region eu-west-1]
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

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.ansible import run_ansible  # noqa: E402
from tests.support.counting_proxy import CountingProxy  # noqa: E402


def tenants(count: int, run: str, region: str, state: str = "present") -> list[dict]:
    return [{"name": f"bench-{run}-{number:02d}", "regions": [region], "state": state} for number in range(count)]


def converge(playbook: pathlib.Path, region: str, variables: dict, directory: pathlib.Path, proxy: CountingProxy) -> dict:
    """One run of the role; returns seconds, changed tasks, the modules' api_requests and the proxy's count."""
    path = directory / f"vars-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(variables | {"vault_addr": proxy.url}))
    proxy.take()
    started = time.monotonic()
    completed = run_ansible("ansible-playbook", str(playbook), "-i", "inventories/lab", "-l", region, "-e", f"@{path}",
                            json_output=True, timeout=3600)
    seconds = time.monotonic() - started
    output = json.loads(completed.stdout)
    reported: Counter = Counter()
    for play in output["plays"]:
        for task in play["tasks"]:
            for result in task["hosts"].values():
                for item in result.get("results") or [result]:
                    if isinstance(item, dict):
                        reported.update(item.get("api_requests") or {})
    return {"seconds": round(seconds, 1), "changed": output["stats"][region]["changed"],
            "reported": dict(sorted(reported.items())), "proxied": dict(sorted(proxy.take().items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--region", default="eu-west-1")
    args = parser.parse_args()
    lab = json.loads((REPO / ".lab" / "lab.json").read_text())
    proxy = CountingProxy(lab["regions"][args.region]["vault"]["addr"])
    run = uuid.uuid4().hex[:4]
    present = {"vault_tenants": tenants(args.tenants, run, args.region)}
    absent = {"vault_tenants": tenants(args.tenants, run, args.region, "absent"), "vault_purge_offboarded_secrets": True}
    (REPO / ".ansible").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=REPO / ".ansible") as directory:
        work = pathlib.Path(directory)
        playbook = work / "vault.yml"
        playbook.write_text(yaml.safe_dump([{"name": "The vault role", "hosts": "all", "gather_facts": False,
                                             "roles": [{"role": "meridian.observability.vault"}]}]))
        rows = [("first run (creates)", converge(playbook, args.region, present, work, proxy)),
                ("re-run (no change)", converge(playbook, args.region, present, work, proxy)),
                ("offboarding (deletes)", converge(playbook, args.region, absent, work, proxy))]
    proxy.shutdown()
    print(f"vault role, {args.tenants} tenants in {args.region}, lab OpenBao, one-role playbook -l {args.region}")
    print(f"{'run':<24}{'seconds':>9}{'per tenant':>12}{'changed':>9}  requests reaching OpenBao                 modules' api_requests")
    for label, row in rows:
        print(f"{label:<24}{row['seconds']:>9}{row['seconds'] / args.tenants:>12.2f}{row['changed']:>9}  "
              f"{json.dumps(row['proxied']):<42}{json.dumps(row['reported'])}")
    rerun = rows[1][1]
    proxied = sum(rerun["proxied"].values())
    writes = sum(count for method, count in rerun["proxied"].items() if method not in ("GET", "LIST"))
    print(f"no-change re-run: {proxied / args.tenants:.2f} OpenBao requests per tenant, "
          f"{proxied / (2 * args.tenants):.2f} per managed object (a policy and a role per tenant), {writes} writes "
          f"(all of the run, mounts included; {proxied} in total), "
          f"{sum(rerun['reported'].values()) / args.tenants:.2f} per tenant as the modules report them")


if __name__ == "__main__":
    main()
