"""Benchmark: 50 tenants through meridian.observability.thanos_tenant (file store). Prints numbers, asserts nothing.

Measures, on fresh copies of a hashrings file (one tenant hashring plus a catch-all) and an empty limits file:
  1. the service in-process (TenantService over FileStore, no Ansible): first run and re-run;
  2. ansible-playbook with one task looping over the 50 tenants: first run and re-run wall time.

Usage: .venv/bin/python bench/thanos_tenants.py [--tenants 50]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO))

from ansible_collections.meridian.observability.plugins.module_utils._thanos.service import TenantService  # noqa: E402
from ansible_collections.meridian.observability.plugins.module_utils._thanos.store import FileStore  # noqa: E402
from tests.support.ansible import run_tasks  # noqa: E402

NODE = {"address": "127.0.0.1:10901", "capnproto_address": "127.0.0.1:19391"}
def fresh_files(directory: pathlib.Path) -> tuple:
    hashrings = directory / "hashrings.json"
    limits = directory / "limits.yaml"
    hashrings.write_text(json.dumps([{"hashring": "bench", "tenants": ["seed"], "endpoints": [NODE]},
                                     {"hashring": "default", "endpoints": [NODE]}], indent=2))
    limits.write_text("write:\n  default:\n    request:\n      series_limit: 0\n  tenants: {}\n")
    return str(hashrings), str(limits)


def in_process(directory: pathlib.Path, tenants: list) -> dict:
    hashrings, limits = fresh_files(directory)
    times = {}
    for label in ("first", "rerun"):
        started = time.perf_counter()
        changed = 0
        for name in tenants:
            result = TenantService(FileStore(hashrings, limits)).ensure({
                "name": name, "state": "present", "hashring": "bench",
                "limits": {"request": {"series_limit": 1000, "samples_limit": 10000}, "head_series_limit": 0}})
            changed += result["changed"]
        times[label] = (time.perf_counter() - started, changed)
    return times


def through_ansible(directory: pathlib.Path, tenants: list) -> dict:
    hashrings, limits = fresh_files(directory)
    task = {"name": "Tenants with limits", "loop": tenants, "meridian.observability.thanos_tenant": {
        "name": "{{ item }}", "hashring": "bench",
        "limits": {"request": {"series_limit": 1000, "samples_limit": 10000}, "head_series_limit": 0},
        "hashrings_path": hashrings, "limits_path": limits}}
    times = {}
    for label in ("first", "rerun"):
        started = time.perf_counter()
        results, completed = run_tasks(directory, [task])
        elapsed = time.perf_counter() - started
        if completed.returncode != 0:
            raise SystemExit(f"ansible-playbook failed:\n{completed.stdout}\n{completed.stderr}")
        changed = sum(1 for item in results[0]["results"] if item["changed"])
        times[label] = (elapsed, changed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=50)
    args = parser.parse_args()
    tenants = [f"bench-{n:03d}" for n in range(args.tenants)]
    with tempfile.TemporaryDirectory(prefix="thanos-bench-") as scratch:
        scratch = pathlib.Path(scratch)
        (scratch / "python").mkdir()
        (scratch / "ansible").mkdir()
        results = {"service in-process": in_process(scratch / "python", tenants),
                   "ansible-playbook loop": through_ansible(scratch / "ansible", tenants)}
    print(f"{args.tenants} tenants, file store")
    print(f"{'path':24} {'run':6} {'seconds':>8} {'per tenant ms':>14} {'changed':>8}")
    for path, runs in results.items():
        for label, (seconds, changed) in runs.items():
            print(f"{path:24} {label:6} {seconds:8.2f} {1000 * seconds / args.tenants:14.1f} {changed:8d}")


if __name__ == "__main__":
    main()
