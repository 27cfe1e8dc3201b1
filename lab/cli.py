"""Command line: python -m lab {up,down,status,start,stop,env,ports,tool-path}."""

from __future__ import annotations

import argparse
import json
import sys
import time

from lab.services import LabError
from lab.runtime import Lab
from lab.tools import tool_path
from lab.topology import port_table, service_names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    parser.add_argument(
        "--timeout-scale", type=float, default=None,
        help="multiply every readiness timeout (env MERIDIAN_LAB_TIMEOUT_SCALE; default 1)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start or reuse every service; write .lab/lab.json")
    down = commands.add_parser("down", help="stop every service the lab started")
    down.add_argument("--purge", action="store_true", help="also delete the state directory")
    status = commands.add_parser("status", help="table of services and their state")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.add_argument("--check", action="store_true",
                        help="exit 1 unless every service is healthy")
    for name, text in (("start", "start services (and what they depend on)"),
                       ("stop", "stop services")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("services", nargs="+", metavar="SERVICE", choices=service_names())
    commands.add_parser("env", help="print shell exports for the lab's endpoints")
    commands.add_parser("ports", help="print the fixed port table")
    tool = commands.add_parser("tool-path", help="print the absolute path of a cached lab binary (builds nothing)")
    tool.add_argument("binary", help="e.g. gator, opa, cyclonus, promtool, bao")
    return parser


def _print_status(rows: list[dict]) -> None:
    header = ("SERVICE", "REGION", "ENDPOINT", "STATE", "PID", "RSS MiB")
    table = [header] + [
        (r["service"], r["region"], r["endpoint"], r["state"],
         str(r["pid"] or "-"), f"{r['rss_mib']:.0f}" if r["pid"] else "-")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    running = [r for r in rows if r["pid"]]
    total = sum(r["rss_mib"] for r in running)
    healthy = sum(r["state"] == "healthy" for r in rows)
    print(f"{healthy}/{len(rows)} healthy; resident memory of running services: {total:.0f} MiB")


def _print_crd_status(lab: Lab, rows: list[dict]) -> None:
    """One line per region: the policy CRDs `lab up` installs (lab/crds.py), Established / shipped."""
    from lab.crds import cluster_crd_status

    for row in rows:
        if not row["service"].startswith("kube-apiserver-"):
            continue
        region = row["region"]
        if row["state"] != "healthy":
            print(f"crds {region}: unknown, the API server is {row['state']}")
            continue
        try:
            status = cluster_crd_status(str(lab.paths.kubeconfig(region, "admin")))
        except LabError as err:
            print(f"crds {region}: unknown, {err}")
            continue
        counts = ", ".join(f"{component} {have}/{ships}" for component, (have, ships) in status.items())
        complete = all(have == ships and ships for have, ships in status.values())
        print(f"crds {region}: {counts} Established" + ("" if complete else " (run make lab-up)"))


def _print_argocd_status(lab: Lab, rows: list[dict]) -> None:
    """One line: the Applications the lab's Argo CD (hub region) manages, and how many are Synced."""
    from lab.services.argocd import application_summary
    from lab.topology import HUB_REGION

    states = {row["service"]: row["state"] for row in rows}
    controller = states.get("argocd-application-controller", "stopped")
    if states.get(f"kube-apiserver-{HUB_REGION}") != "healthy":
        print(f"argocd: unknown, the {HUB_REGION} API server is not healthy")
        return
    try:
        total, synced = application_summary(str(lab.paths.kubeconfig(HUB_REGION, "admin")))
    except LabError as err:
        print(f"argocd: unknown, {err}")
        return
    print(f"argocd: {total} Applications ({synced} Synced); controller {controller}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "tool-path":  # reads only the build cache: no lab state, nothing built
        try:
            print(tool_path(args.binary))
        except LabError as err:
            print(f"lab: error: {err}", file=sys.stderr)
            return 1
        return 0
    lab = Lab(timeout_scale=args.timeout_scale)
    try:
        if args.command == "up":
            started = time.monotonic()
            lab.up()
            print(f"lab: up in {time.monotonic() - started:.1f}s; "
                  f"endpoints in {lab.paths.lab_json}, exports in {lab.paths.lab_env}")
        elif args.command == "start":
            lab.up(args.services)
        elif args.command == "stop":
            lab.stop(args.services)
        elif args.command == "down":
            results = lab.down(purge=args.purge)
            if not any(outcome != "not running" for _, outcome in results):
                print("lab: nothing was running")
        elif args.command == "status":
            rows = lab.status()
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                _print_status(rows)
                _print_crd_status(lab, rows)
                _print_argocd_status(lab, rows)
            if args.check and any(r["state"] != "healthy" for r in rows):
                return 1
        elif args.command == "env":
            lab.prepare()
            sys.stdout.write(lab.paths.lab_env.read_text())
        elif args.command == "ports":
            for service, purpose, port in port_table():
                print(f"{service:<10} {purpose:<28} {port}")
    except LabError as err:
        print(f"lab: error: {err}", file=sys.stderr)
        return 1
    return 0
