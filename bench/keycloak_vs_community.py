#!/usr/bin/env python3
"""Wall time for N tenant realms (default 50): keycloak_tenant vs the same work through community.general.

Both sides build, per tenant, a realm with the same settings, the gateway and Grafana clients with the
tenant, audience and groups mappers, two realm roles, two groups and the group role mappings
(keycloak_tenant: one task; community.general: keycloak_realm, keycloak_client x2, keycloak_role x2,
keycloak_group x2, keycloak_realm_rolemapping x2). Each side runs twice: the first run creates, the
re-run should find nothing to do. Prints seconds, changed counts and the ratio; asserts nothing.
The realms are deleted afterwards.

Usage: .venv/bin/python bench/keycloak_vs_community.py [--tenants 50] [--url URL --password-file FILE]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from keycloak_requests import (  # noqa: E402  (sibling script)
    add_target_arguments,
    changed_tasks,
    community_tasks,
    delete_realms,
    keycloak_target,
    ours_tasks,
    playbook,
    run_playbook,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=50)
    add_target_arguments(parser)
    args = parser.parse_args()
    target = keycloak_target(args)
    suffix = uuid.uuid4().hex[:6]
    ours = [f"bench-o{index:02d}-{suffix}" for index in range(args.tenants)]
    theirs = [f"bench-c{index:02d}-{suffix}" for index in range(args.tenants)]
    results = {}
    try:
        for label, tasks in (("keycloak_tenant", ours_tasks(ours)), ("community.general", community_tasks(theirs))):
            for run in ("first run", "re-run"):
                seconds, output = run_playbook(playbook(tasks), target)
                results[(label, run)] = (seconds, changed_tasks(output))
                print(f"{label:18} {run:9} {seconds:8.1f} s  changed task results: {results[(label, run)][1]}", flush=True)
    finally:
        delete_realms(target, ours + theirs)
    print(f"\n{args.tenants} tenants against {target['url']} (one Ansible fork, loops):")
    print(f"{'':18} {'first run':>10} {'re-run':>10}")
    for label in ("keycloak_tenant", "community.general"):
        print(f"{label:18} {results[(label, 'first run')][0]:9.1f}s {results[(label, 're-run')][0]:9.1f}s")
    for run in ("first run", "re-run"):
        ratio = results[("community.general", run)][0] / results[("keycloak_tenant", run)][0]
        print(f"ratio community.general / keycloak_tenant, {run}: {ratio:.1f}x")


if __name__ == "__main__":
    main()
