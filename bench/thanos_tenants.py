"""Benchmark: 60 tenants through thanos_tenants (one call) and thanos_tenant (a loop), file store. Prints numbers.

Measures, on fresh copies of a hashrings file (one tenant hashring plus a catch-all) and an empty limits file:
  1. the service in-process (no Ansible), one ensure() per tenant and one ensure_tenants() for all: first run and
     re-run, with the store's reads and writes counted;
  2. ansible-playbook with one task looping thanos_tenant over the tenants, and with one thanos_tenants task:
     first run and re-run wall time.
Asserts nothing.

Usage: .venv/bin/python bench/thanos_tenants.py [--tenants 60]
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
LIMITS = {"request": {"series_limit": 1000, "samples_limit": 10000}, "head_series_limit": 0}


class CountingFileStore(FileStore):
    """The file store, counting the service's reads and writes of it (all calls share the class counters)."""

    reads = 0
    writes = 0

    def read(self):
        CountingFileStore.reads += 1
        return super().read()

    def write(self, snapshot, changes):
        CountingFileStore.writes += len(changes)
        super().write(snapshot, changes)


def fresh_files(directory: pathlib.Path) -> tuple:
    hashrings = directory / "hashrings.json"
    limits = directory / "limits.yaml"
    hashrings.write_text(json.dumps([{"hashring": "bench", "tenants": ["seed"], "endpoints": [NODE]},
                                     {"hashring": "default", "endpoints": [NODE]}], indent=2))
    limits.write_text("write:\n  default:\n    request:\n      series_limit: 0\n  tenants: {}\n")
    return str(hashrings), str(limits)


def in_process(directory: pathlib.Path, tenants: list, batched: bool) -> dict:
    hashrings, limits = fresh_files(directory)
    times = {}
    for label in ("first", "rerun"):
        CountingFileStore.reads = CountingFileStore.writes = 0
        started = time.perf_counter()
        if batched:
            result = TenantService(CountingFileStore(hashrings, limits)).ensure_tenants(
                [{"name": name, "limits": LIMITS} for name in tenants], {"hashring": "bench"})
            changed = sum(entry["changed"] for entry in result["tenants"].values())
        else:
            changed = sum(TenantService(CountingFileStore(hashrings, limits)).ensure(
                {"name": name, "state": "present", "hashring": "bench", "limits": LIMITS})["changed"] for name in tenants)
        times[label] = (time.perf_counter() - started, changed, CountingFileStore.reads, CountingFileStore.writes)
    return times


def through_ansible(directory: pathlib.Path, tenants: list, batched: bool) -> dict:
    hashrings, limits = fresh_files(directory)
    if batched:
        task = {"name": "Tenants with limits, one call", "meridian.observability.thanos_tenants": {
            "hashring": "bench", "tenants": [{"name": name, "limits": LIMITS} for name in tenants],
            "hashrings_path": hashrings, "limits_path": limits}}
    else:
        task = {"name": "Tenants with limits", "loop": tenants, "meridian.observability.thanos_tenant": {
            "name": "{{ item }}", "hashring": "bench", "limits": LIMITS,
            "hashrings_path": hashrings, "limits_path": limits}}
    times = {}
    for label in ("first", "rerun"):
        started = time.perf_counter()
        results, completed = run_tasks(directory, [task])
        elapsed = time.perf_counter() - started
        if completed.returncode != 0:
            raise SystemExit(f"ansible-playbook failed:\n{completed.stdout}\n{completed.stderr}")
        if batched:
            changed = sum(1 for entry in results[0]["tenants"].values() if entry["changed"])
        else:
            changed = sum(1 for item in results[0]["results"] if item["changed"])
        times[label] = (elapsed, changed, None, None)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=60)
    args = parser.parse_args()
    tenants = [f"bench-{n:03d}" for n in range(args.tenants)]
    with tempfile.TemporaryDirectory(prefix="thanos-bench-") as scratch:
        scratch = pathlib.Path(scratch)
        results = {}
        for path, runner, batched in (("service, ensure per tenant", in_process, False),
                                      ("service, ensure_tenants", in_process, True),
                                      ("playbook, thanos_tenant loop", through_ansible, False),
                                      ("playbook, thanos_tenants", through_ansible, True)):
            directory = scratch / str(len(results))
            directory.mkdir()
            results[path] = runner(directory, tenants, batched)
    print(f"{args.tenants} tenants, file store")
    print(f"{'path':30} {'run':6} {'seconds':>8} {'per tenant ms':>14} {'changed':>8} {'reads':>6} {'writes':>7}")
    for path, runs in results.items():
        for label, (seconds, changed, reads, writes) in runs.items():
            print(f"{path:30} {label:6} {seconds:8.2f} {1000 * seconds / args.tenants:14.1f} {changed:8d} "
                  f"{'-' if reads is None else reads:>6} {'-' if writes is None else writes:>7}")


if __name__ == "__main__":
    main()
