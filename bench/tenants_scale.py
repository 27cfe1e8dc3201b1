#!/usr/bin/env python3
"""N tenants (default 60) in both lab regions through tenants.yml: first run, two no-change re-runs, offboarding.

What it prints for each run: wall time, changed tasks, module executions (a looped task counts one per item), and the
requests that reached each system, split into reads and writes (signing in to Keycloak is neither), per tenant and
per managed object, and the slowest tasks. Requests are
counted on the wire, by forwarding proxies in this process that the run's endpoints point at (never by what a module
says about itself): Keycloak, each region's OpenBao, and each region's Kubernetes API server as the tenant role sees it
(the proxy presents the lab's admin client certificate upstream), the vault role's token-reviewer objects included
(Vault itself is still configured with the real API server's address). The lab's Thanos store is a pair of files per
region (no API to count).

The tenants are `s<run>-NN`, each in both regions with one owner, added to a copy of inventories/lab; at the end they
are offboarded through the same playbook (state: absent), so the lab is left as it was. Asserts nothing on time.

Usage: .venv/bin/python bench/tenants_scale.py [--tenants 60]
"""

from __future__ import annotations

import argparse
import datetime
import base64
import json
import pathlib
import shutil
import ssl
import sys
import tempfile
import time
import uuid
from collections import Counter

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.ansible import run_ansible  # noqa: E402
from tests.support.counting_proxy import CountingProxy, reads_and_writes  # noqa: E402

REGIONS = ("us-east-1", "eu-west-1")
# What the run converges per tenant, by system (see each module's documentation):
# Keycloak (once per environment): the realm, 2 clients with 3 protocol mappers each, 2 realm roles, 2 groups with
# their role mapping, the owner's user and its membership.
# OpenBao (per region): the tenant's policy and its Kubernetes auth role.
# Kubernetes (per region): the Tenant object; once per region for all tenants, the ConfigMap of Loki overrides and the
# vault role's token reviewer (namespace, service account, its binding, its token Secret).
MANAGED_PER_TENANT = {"keycloak": 1 + 2 + 6 + 2 + 2 + 2 + 1 + 1, "openbao": 2 * len(REGIONS), "kubernetes": 1 * len(REGIONS)}
MANAGED_PER_RUN = {"keycloak": 0, "openbao": 0, "kubernetes": (1 + 4) * len(REGIONS)}


def kubernetes_proxy(region: str, directory: pathlib.Path) -> tuple[CountingProxy, pathlib.Path]:
    """A proxy to the region's API server that authenticates as the lab's admin, and a kubeconfig pointing at it."""
    admin = yaml.safe_load((REPO / ".lab" / "kube" / region / "admin.kubeconfig").read_text())
    cluster, user = admin["clusters"][0]["cluster"], admin["users"][0]["user"]
    pki = directory / f"pki-{region}"
    pki.mkdir(mode=0o700)
    for name, key in (("ca.crt", "certificate-authority-data"), ("client.crt", "client-certificate-data"),
                      ("client.key", "client-key-data")):
        source = cluster if name == "ca.crt" else user
        (pki / name).write_bytes(base64.b64decode(source[key]))
    tls = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    tls.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    proxy = CountingProxy(cluster["server"], tls, name=f"kubernetes {region}")
    kubeconfig = directory / f"{region}.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "bench",
        "clusters": [{"name": "bench", "cluster": {"server": proxy.url}}],
        "users": [{"name": "bench", "user": {}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}]}))
    return proxy, kubeconfig


def inventory(directory: pathlib.Path, names: list[str], state: str, host_vars: dict[str, dict]) -> pathlib.Path:
    """inventories/lab with the bench tenants added to its topology and the endpoints pointed at the proxies."""
    target = directory / f"inventory-{state}"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    topology = yaml.safe_load((REPO / "inventories" / "lab" / "topology.yml").read_text())
    topology["tenants"] += [{"name": name, "regions": list(REGIONS), "home_region": REGIONS[0],
                             "owners": [f"owner@{name}.example"], "state": state} for name in names]
    (target / "topology.yml").write_text(yaml.safe_dump(topology, sort_keys=False))
    (target / "group_vars").symlink_to(REPO / "inventories" / "lab" / "group_vars")
    (target / "host_vars").mkdir()
    for region, variables in host_vars.items():
        (target / "host_vars" / f"{region}.yml").write_text(yaml.safe_dump(variables))
    return target


def module_executions(output: dict) -> tuple[Counter, Counter]:
    """Module runs by action (a looped task counts once per item; skipped tasks and items do not), and the seconds
    each task took, by its name."""
    counts: Counter = Counter()
    seconds: Counter = Counter()
    for play in output["plays"]:
        for task in play["tasks"]:
            duration = task["task"].get("duration") or {}
            if duration.get("start") and duration.get("end"):
                seconds[task["task"]["name"]] += (datetime.datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
                                                  - datetime.datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
                                                  ).total_seconds()
            for result in task["hosts"].values():
                items = result.get("results") if isinstance(result.get("results"), list) else [result]
                counts[result.get("action") or "?"] += sum(
                    1 for item in items if isinstance(item, dict) and not item.get("skipped"))
    return counts, seconds


def run(inventory_dir: pathlib.Path, proxies: list[CountingProxy]) -> dict:
    for proxy in proxies:
        proxy.take()
    started = time.monotonic()
    completed = run_ansible("ansible-playbook", "playbooks/tenants.yml", "-i", str(inventory_dir),
                            json_output=True, timeout=3600)
    seconds = time.monotonic() - started
    output = json.loads(completed.stdout)
    requests: dict[str, Counter] = {}
    for proxy in proxies:
        requests.setdefault(proxy.name.split()[0], Counter()).update(proxy.take())
    modules, task_seconds = module_executions(output)
    return {"seconds": round(seconds, 1), "changed": sum(stats["changed"] for stats in output["stats"].values()),
            "modules": modules, "task_seconds": task_seconds, "requests": requests}


def describe(label: str, row: dict, tenants: int) -> None:
    modules = row["modules"]
    print(f"\n{label}: {row['seconds']} s, changed={row['changed']}, {sum(modules.values())} module executions "
          f"({sum(modules.values()) / tenants:.2f} per tenant)")
    for action, count in sorted(modules.items(), key=lambda pair: (-pair[1], pair[0])):
        print(f"    {count:>5}  {action}")
    print("    slowest tasks (seconds, both regions):")
    for name, spent in row["task_seconds"].most_common(8):
        print(f"    {spent:>7.1f}  {name}")
    print(f"    {'system':<12}{'reads':>7}{'writes':>8}{'reads/tenant':>14}{'reads/object':>14}{'managed objects':>17}")
    for system, counts in sorted(row["requests"].items()):
        reads, writes = reads_and_writes(counts)
        managed = MANAGED_PER_TENANT[system] * tenants + MANAGED_PER_RUN[system]
        print(f"    {system:<12}{reads:>7}{writes:>8}{reads / tenants:>14.2f}{reads / managed:>14.2f}{managed:>17}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=60)
    args = parser.parse_args()
    lab = json.loads((REPO / ".lab" / "lab.json").read_text())
    run_id = uuid.uuid4().hex[:4]
    names = [f"s{run_id}-{number:02d}" for number in range(args.tenants)]
    (REPO / ".ansible").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=REPO / ".ansible") as temporary:
        directory = pathlib.Path(temporary)
        keycloak = CountingProxy(lab["keycloak"]["url"], name="keycloak")
        proxies, host_vars = [keycloak], {}
        for region in REGIONS:
            vault = CountingProxy(lab["regions"][region]["vault"]["addr"], name=f"openbao {region}")
            kubernetes, kubeconfig = kubernetes_proxy(region, directory)
            proxies += [vault, kubernetes]
            # The vault role would configure Vault with its kubeconfig's server: it is given the real one.
            real_server = lab["regions"][region]["kubernetes"]["api_server"]
            host_vars[region] = {"meridian_lab_dir": str(REPO / ".lab"), "meridian_keycloak_url": keycloak.url,
                                 "meridian_vault_addr": vault.url, "tenant_kubeconfig": str(kubeconfig),
                                 "vault_kubeconfig": str(kubeconfig), "vault_kubernetes_host": real_server}
        present = inventory(directory, names, "present", host_vars)
        # Two no-change re-runs: the first after onboarding is also Keycloak's first read of each new realm, which it
        # loads into its cache then (about 1 s per realm on 2 cores, as after a restart of Keycloak); the second is
        # what every later run costs.
        rows = [("first run (onboards)", run(present, proxies)),
                ("no-change re-run (Keycloak's first read of the new realms)", run(present, proxies)),
                ("second no-change re-run", run(present, proxies))]
        rows.append(("offboarding (state: absent)", run(inventory(directory, names, "absent", host_vars), proxies)))
    print(f"playbooks/tenants.yml, {args.tenants} tenants x {len(REGIONS)} regions (plus the lab's own 2 tenants), lab "
          f"servers; requests counted on the wire")
    for label, row in rows:
        describe(label, row, args.tenants)


if __name__ == "__main__":
    main()
