#!/usr/bin/env python3
"""Time from `git push` to Argo CD's `Synced` in the lab, and to the changed object in the API server.

Each sample commits a change of one tenant's Loki ingestion rate to the lab's GitOps repository (the tree the
argocd role pushed; run `make demo` or the role first), pushes it, and measures on the hub's Application
`lab-<region>-loki`: the time until its sync revision is the pushed commit and it is Synced, and the time until
the region's ConfigMap `loki-runtime-overrides` holds the new value. Two modes:

- refresh: the push is followed by the annotation `argocd.argoproj.io/refresh=normal` (what a git webhook does);
- poll: nothing but the push; Argo CD finds the commit when the repo server's cached branch head expires and the
  controller's reconciliation comes round (`timeout.reconciliation` in argocd-cm, the lab sets it short).

The argocd role runs at the end and puts the topology's values back (by a commit of its own). Prints numbers;
asserts nothing on time.

Usage: .venv/bin/python bench/argocd_sync.py [--samples 5] [--poll-samples 1] [--region eu-west-1]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.ansible import run_ansible  # noqa: E402

GROUP, VERSION, NAMESPACE = "argoproj.io", "v1alpha1", "argocd"


def git(*args: str, cwd: pathlib.Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--poll-samples", type=int, default=1)
    parser.add_argument("--region", default="eu-west-1")
    parser.add_argument("--timeout", type=float, default=420)
    options = parser.parse_args(argv)

    from kubernetes import client, config

    lab = json.loads((REPO / ".lab" / "lab.json").read_text())
    hub = lab["argocd"]["control_region"]
    hub_api = config.new_client_from_config(config_file=lab["regions"][hub]["kubernetes"]["kubeconfigs"]["admin"])
    region_api = config.new_client_from_config(config_file=lab["regions"][options.region]["kubernetes"]["kubeconfigs"]["admin"])
    custom, core = client.CustomObjectsApi(hub_api), client.CoreV1Api(region_api)
    application = f"lab-{options.region}-loki"
    values = f"k8s-manifests/environments/lab/{options.region}/platform/loki/values.yaml"

    def stored_limit(tenant: str):
        data = core.read_namespaced_config_map("loki-runtime-overrides", "meridian-observability").data["overrides.yaml"]
        return yaml.safe_load(data)["overrides"][tenant].get("ingestion_rate_mb")

    results = {"refresh": [], "poll": []}
    with tempfile.TemporaryDirectory() as scratch:
        checkout = pathlib.Path(scratch) / "checkout"
        git("clone", "--quiet", "--branch", "main", lab["argocd"]["git_dir"], str(checkout))
        plan = [("refresh", n) for n in range(options.samples)] + [("poll", n) for n in range(options.poll_samples)]
        for mode, number in plan:
            git("pull", "--quiet", "--ff-only", cwd=checkout)
            documents = list(yaml.safe_load_all((checkout / values).read_text()))
            overrides_document = next(d for d in documents if d and d["metadata"]["name"] == "loki-runtime-overrides")
            overrides = yaml.safe_load(overrides_document["data"]["overrides.yaml"])
            tenant = sorted(overrides["overrides"])[0]
            value = 900 + number + (50 if mode == "poll" else 0)
            overrides["overrides"][tenant]["ingestion_rate_mb"] = value
            overrides_document["data"]["overrides.yaml"] = yaml.safe_dump(overrides, sort_keys=True)
            (checkout / values).write_text(yaml.safe_dump_all(documents, sort_keys=False))
            git("-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "--quiet", "-am",
                f"bench: {tenant} Loki ingestion rate {value} MB/s", cwd=checkout)
            head = git("rev-parse", "HEAD", cwd=checkout)
            started = time.monotonic()
            git("push", "--quiet", "origin", "HEAD:main", cwd=checkout)
            if mode == "refresh":
                custom.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "applications", application,
                                                      {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}})
            synced_at = applied_at = None
            while time.monotonic() - started < options.timeout and (synced_at is None or applied_at is None):
                status = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "applications", application)
                sync = status.get("status", {}).get("sync", {})
                if synced_at is None and sync.get("status") == "Synced" and head in (sync.get("revisions") or [sync.get("revision")]):
                    synced_at = time.monotonic() - started
                if applied_at is None and stored_limit(tenant) == value:
                    applied_at = time.monotonic() - started
                time.sleep(0.1)
            results[mode].append((synced_at, applied_at))
            print(f"{mode} sample {number + 1}: Synced at the pushed commit after "
                  f"{'%.1f s' % synced_at if synced_at is not None else 'timeout'}, object changed after "
                  f"{'%.1f s' % applied_at if applied_at is not None else 'timeout'}", flush=True)

    for mode, samples in results.items():
        synced = [s for s, _ in samples if s is not None]
        applied = [a for _, a in samples if a is not None]
        if samples:
            print(f"{mode}: {len(samples)} samples; push -> Synced median {statistics.median(synced):.1f} s, max "
                  f"{max(synced):.1f} s; push -> object median {statistics.median(applied):.1f} s"
                  if synced and applied else f"{mode}: {len(samples)} samples, some timed out")

    started = time.monotonic()
    run_ansible("ansible-playbook", "playbooks/platform.yml", "-i", "inventories/lab", "--tags", "argocd")
    print(f"argocd role put the topology's values back in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
