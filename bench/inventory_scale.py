"""Benchmark: ansible-inventory --list over 1,000 tenants x 3 regions against 3 tenants. Prints numbers, asserts nothing.

Both topologies are written to a temporary directory in the shape of inventories/lab/topology.yml (its environment,
network and regions, plus a third region), alternating between the lab's two tenant shapes and placements: acme
(every optional field set, in its home region and the next one) and globex (the minimum, in its home region only),
home regions taking turns. --placement every-region puts every tenant in all three regions instead (the worst case:
ansible-inventory prints each region host's tenants, so its output triples). Each is listed with
`.venv/bin/ansible-inventory -i <dir> --list` several times, alternating small and big so load on the machine hits
both alike; the medians of wall time and of CPU time (user + sys of the command, steadier on a busy machine) and their
differences are printed. Issue 14 asks for a wall-time difference of at most 2 s.

--profile also prints cProfile's top entries (by cumulative time) of the plugin's parse of the big topology,
in this process, through Ansible's own InventoryManager.

Usage: .venv/bin/python bench/inventory_scale.py [--tenants 1000] [--runs 5] [--placement lab|every-region] [--profile]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import os
import pathlib
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
ANSIBLE_INVENTORY = pathlib.Path(sys.executable).parent / "ansible-inventory"
LAB_TOPOLOGY = REPO / "inventories" / "lab" / "topology.yml"
# The lab has two regions; the measurement has three.
THIRD_REGION = "ap-southeast-1"
SMALL_TENANTS = 3


def topology_document(tenant_count: int, placement: str) -> dict:
    """The lab topology with a third region and ``tenant_count`` tenants placed as ``placement`` says."""
    document = yaml.safe_load(LAB_TOPOLOGY.read_text())
    spoke = next(region for region in document["regions"].values() if region["role"] == "spoke")
    document["regions"][THIRD_REGION] = {**copy.deepcopy(spoke), "index": len(document["regions"])}
    region_names = list(document["regions"])
    shapes = document["tenants"]
    tenants = []
    for number in range(tenant_count):
        shape = shapes[number % len(shapes)]
        tenant = copy.deepcopy(shape)
        tenant["name"] = f"{tenant['name']}-{number:04d}"
        tenant["display_name"] = f"{tenant['display_name']} {number}"
        home = number % len(region_names)
        if placement == "every-region":
            tenant["regions"] = region_names[home:] + region_names[:home]
        else:
            tenant["regions"] = [region_names[(home + offset) % len(region_names)] for offset in range(len(shape["regions"]))]
        tenant["home_region"] = tenant["regions"][0]
        tenants.append(tenant)
    document["tenants"] = tenants
    return document


def write_inventory(directory: pathlib.Path, tenant_count: int, placement: str) -> pathlib.Path:
    directory.mkdir()
    (directory / "topology.yml").write_text(yaml.safe_dump(topology_document(tenant_count, placement), sort_keys=False))
    return directory


def environment() -> dict:
    return dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_HOME=str(REPO / ".ansible"),
                ANSIBLE_LOCAL_TEMP=str(REPO / ".ansible" / "tmp"), ANSIBLE_NOCOLOR="1")


def list_once(inventory: pathlib.Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of one `ansible-inventory --list` and the size of what it printed."""
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(inventory), "--list"], cwd=REPO, env=environment(),
                               capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise SystemExit(f"ansible-inventory -i {inventory} --list failed:\n{completed.stdout}\n{completed.stderr}")
    cpu = (children_after.ru_utime - children_before.ru_utime) + (children_after.ru_stime - children_before.ru_stime)
    return elapsed, cpu, len(completed.stdout)


def profile_parse(inventory: pathlib.Path, top: int) -> str:
    """cProfile of InventoryManager reading ``inventory`` (the plugin's parse and Ansible around it)."""
    os.environ.update(environment())
    sys.path.insert(0, str(REPO / "collections"))
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader()
    profiler = cProfile.Profile()
    profiler.enable()
    manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    profiler.disable()
    assert manager.hosts, f"no hosts parsed from {inventory}"
    report = io.StringIO()
    pstats.Stats(profiler, stream=report).sort_stats("cumulative").print_stats(top)
    return report.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--placement", choices=("lab", "every-region"), default="lab",
                        help="lab: acme-shaped tenants in two regions, globex-shaped in one; every-region: all in all three")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile top 10 of the big parse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inventory-bench-") as scratch:
        topologies = {"small": (SMALL_TENANTS, write_inventory(pathlib.Path(scratch) / "small", SMALL_TENANTS, args.placement)),
                      "big": (args.tenants, write_inventory(pathlib.Path(scratch) / "big", args.tenants, args.placement))}
        wall: dict[str, list[float]] = {"small": [], "big": []}
        cpu: dict[str, list[float]] = {"small": [], "big": []}
        sizes = {}
        for _ in range(args.runs):
            for label, (_count, inventory) in topologies.items():
                elapsed, cpu_seconds, sizes[label] = list_once(inventory)
                wall[label].append(elapsed)
                cpu[label].append(cpu_seconds)
        print(f"ansible-inventory --list, {args.runs} runs each, 3 regions, placement {args.placement}")
        print(f"{'topology':14} {'median s':>9} {'min s':>7} {'max s':>7} {'median cpu s':>13} {'output bytes':>13}")
        for label, (count, _inventory) in topologies.items():
            print(f"{f'{count} tenants':14} {statistics.median(wall[label]):9.2f} {min(wall[label]):7.2f} "
                  f"{max(wall[label]):7.2f} {statistics.median(cpu[label]):13.2f} {sizes[label]:13d}")
        wall_difference = statistics.median(wall["big"]) - statistics.median(wall["small"])
        cpu_difference = statistics.median(cpu["big"]) - statistics.median(cpu["small"])
        print(f"difference of medians: {wall_difference:.2f} s wall, {cpu_difference:.2f} s cpu (issue 14 target: at most 2 s)")
        if args.profile:
            print(f"\ncProfile of parsing {args.tenants} tenants (top 10, cumulative):")
            print(profile_parse(topologies["big"][1], 10))


if __name__ == "__main__":
    main()
