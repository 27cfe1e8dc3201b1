"""Benchmark: 50 Tenants through the lab's tenant operator in one region. Prints numbers, asserts nothing.

Measures, against the running lab (python -m lab up, or at least tenant-operator-<region>):
  1. time to Ready: from creating 50 Tenants (as fast as the API takes them) until each has
     Ready=True for its generation; median, 90th percentile and the last one;
  2. the operator's API requests per Tenant on a no-change resync, by verb, read from the
     operator's liveness endpoint (the last resync's per-Tenant counts), and how many writes;
  3. the operator's resident memory with the 50 Tenants;
  4. the tenant role's Ready wait on a run with nothing to do: one LIST of the Tenants by label (what
     roles/tenant/tasks/onboard.yml sends per poll since it waits for all tenants at once) against one GET
     per Tenant (what its per-tenant loop sent before), both as request counts and seconds.
The 50 Tenants are deleted at the end (their namespaces go through garbage collection).

Usage: .venv/bin/python bench/tenant_operator.py [--region us-east-1] [--tenants 50]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time
import urllib.request
import uuid

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kubernetes import client, config  # noqa: E402

from lab import process  # noqa: E402
from lab.process import PidRecord  # noqa: E402
from lab.runtime import Lab  # noqa: E402

GROUP, VERSION, PLURAL = "observability.meridian.io", "v1alpha1", "tenants"


def tenant(name: str) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Tenant",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "bench"}},
            "spec": {"displayName": name, "owners": [f"owner@{name}.example"], "viewers": [],
                     "quotas": {"cpu": "4", "memory": "8Gi", "pods": 50}}}


def ready_generation(obj: dict) -> bool:
    status = obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
    return ready.get("status") == "True" and status.get("observedGeneration") == obj["metadata"]["generation"]


def resync_stats(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())["resync"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--tenants", type=int, default=50)
    args = parser.parse_args()

    lab = Lab(out=lambda line: None)
    service = lab.service(f"tenant-operator-{args.region}")
    lab.up([service.name])
    api_client = config.new_client_from_config(config_file=str(lab.paths.kubeconfig(args.region, "admin")))
    custom = client.CustomObjectsApi(api_client)
    run = uuid.uuid4().hex[:6]
    names = [f"bench-{run}-{index:03d}" for index in range(args.tenants)]
    ready_after: dict[str, float] = {}
    try:
        started = time.monotonic()
        for name in names:
            custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, tenant(name))
        created_in = time.monotonic() - started
        while len(ready_after) < len(names):
            if time.monotonic() - started > 600:
                raise SystemExit(f"only {len(ready_after)} of {len(names)} Ready after 600 s")
            listed = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
            for obj in listed:
                name = obj["metadata"]["name"]
                if name in names and name not in ready_after and ready_generation(obj):
                    ready_after[name] = time.monotonic() - started
            time.sleep(0.1)
        times = sorted(ready_after.values())
        print(f"{args.region}: created {len(names)} Tenants in {created_in:.2f} s")
        print(f"time to Ready: median {statistics.median(times):.2f} s, "
              f"p90 {times[int(len(times) * 0.9) - 1]:.2f} s, all {times[-1]:.2f} s "
              f"({len(names) / times[-1]:.1f} Tenants/s)")

        # Two resyncs later the last one started after every Tenant was Ready and saw no change.
        first = resync_stats(service.endpoint())["completed"]
        while (stats := resync_stats(service.endpoint()))["completed"] < first + 2:
            time.sleep(1)
        last = stats["last"]
        ours = {name: entry for name, entry in last["per_tenant"].items() if name in names}
        verbs: dict[str, int] = {}
        for entry in ours.values():
            for verb, count in entry["requests"].items():
                verbs[verb] = verbs.get(verb, 0) + count
        writes = sum(entry["writes"] for entry in ours.values())
        per_tenant = {verb: count / len(ours) for verb, count in verbs.items()}
        print(f"no-change resync #{last['number']}: {last['tenants']} Tenants in {last['duration_seconds']:.2f} s, "
              f"{sum(last['list_requests'].values())} LIST of Tenants; per Tenant {per_tenant}; "
              f"writes for the {len(ours)} bench Tenants: {writes}")
        started = time.monotonic()
        listed = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, label_selector="app.kubernetes.io/managed-by=bench")
        list_seconds = time.monotonic() - started
        started = time.monotonic()
        for name in names:
            custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
        get_seconds = time.monotonic() - started
        print(f"the role's Ready check of {len(names)} Ready Tenants: 1 LIST by label ({len(listed['items'])} items) "
              f"{list_seconds:.3f} s; {len(names)} GETs {get_seconds:.3f} s")
        record = PidRecord.read(lab.paths.pid(service.name))
        if record is not None and process.is_alive(record):
            rss = sum(process.rss_kib(pid) for pid in process.group_members(record.pid)) / 1024
            print(f"operator resident memory with {last['tenants']} Tenants: {rss:.0f} MiB")
    finally:
        for name in names:
            try:
                custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
            except client.exceptions.ApiException as err:
                if err.status != 404:
                    raise
        api_client.close()
        print(f"deleted the {len(names)} bench Tenants (namespaces follow through garbage collection)")


if __name__ == "__main__":
    main()
