"""Draw the architecture of one environment from its topology file: `make diagram`.

The picture is computed from the same model the inventory plugin uses, so the CIDRs, regions and
tenant placement it shows are the ones Ansible will build.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import yaml  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.meridian.observability.plugins.module_utils._topology.model import (  # noqa: E402
    build_topology,
    region_hostvars,
)

# The hub's Argo CD syncs every region; the hub also answers the global query across regions.
HUB_ONLY_COMPONENTS = [
    ("Argo CD", "app-of-apps per region, git -> both clusters"),
    ("global query", "Thanos query over every region, tenancy enforced"),
]
PLATFORM_COMPONENTS = [
    ("Prometheus", "remote-write through the gateway"),
    ("Thanos", "receive (hashring, limits), query, store, compactor"),
    ("S3 bucket", "the region's Thanos blocks"),
    ("Loki + Fluent Bit", "per-tenant limits, X-Scope-OrgID"),
    ("Grafana", "one organization per tenant"),
    ("Istio", "STRICT mTLS, JWT per tenant realm"),
    ("Vault auth", "policy + role per tenant"),
    ("Gatekeeper", "tenant labels, registries, default-deny"),
    ("tenant operator", "Tenant CR -> namespaces, quotas, RBAC"),
]
COLOURS = {"hub": "#dbe9f6", "spoke": "#e3f1e0", "vpc": "#ffffff", "eks": "#fff4dc", "tgw": "#f6d9d9", "tenant": "#efe4f7", "global": "#f0f0f0"}


def box(axes, x, y, width, height, colour, edge="#333333", linewidth=1.2, radius=0.6):
    axes.add_patch(FancyBboxPatch((x, y), width, height, boxstyle=f"round,pad=0,rounding_size={radius}",
                                  facecolor=colour, edgecolor=edge, linewidth=linewidth))


def draw_region(axes, x, y, hostvars):
    width, height = 46, 66
    role = hostvars["meridian_region_role"]
    plan = hostvars["meridian_cidr_plan"]
    box(axes, x, y, width, height, COLOURS[role], linewidth=2)
    axes.text(x + 1.5, y + height - 3, f"{hostvars['meridian_region']}  ({role})", fontsize=15, fontweight="bold", va="center")

    # VPC with its subnets per AZ
    vpc_y = y + 37
    box(axes, x + 1.5, vpc_y, width - 3, 23, COLOURS["vpc"])
    axes.text(x + 3, vpc_y + 20.5, f"VPC {plan['vpc_cidr']}", fontsize=12, fontweight="bold", va="center")
    axes.text(x + 3, vpc_y + 18, f"NAT: {hostvars['meridian_nat_gateways']}", fontsize=9, va="center", color="#555555")
    rows = [("AZ", "private", "public", "intra")] + [
        (letter, plan["subnets"]["private"][letter], plan["subnets"]["public"][letter], plan["subnets"]["intra"][letter])
        for letter in plan["azs"]
    ]
    for row_number, row in enumerate(rows):
        row_y = vpc_y + 15 - row_number * 2.6
        weight = "bold" if row_number == 0 else "normal"
        for column, (offset, text) in enumerate(zip((3, 7, 20, 32), row)):
            axes.text(x + offset, row_y, text, fontsize=9, fontfamily="monospace", fontweight=weight, va="center")

    # EKS cluster with the platform layers
    eks_y = y + 5
    box(axes, x + 1.5, eks_y, width - 3, 30.5, COLOURS["eks"])
    cluster = hostvars["meridian_cluster"]
    axes.text(x + 3, eks_y + 28, f"EKS {cluster['name']}  (k8s {cluster['version']})", fontsize=11, fontweight="bold", va="center")
    groups = ", ".join(f"{group['name']} {group['min_size']}-{group['max_size']}x {group['instance_types'][0]}" for group in cluster["node_groups"])
    axes.text(x + 3, eks_y + 25.7, f"node groups: {groups}", fontsize=8.5, va="center", color="#555555")
    components = (HUB_ONLY_COMPONENTS if role == "hub" else [("(Argo CD)", "synced by the hub's Argo CD")]) + PLATFORM_COMPONENTS
    for number, (name, detail) in enumerate(components):
        component_y = eks_y + 22.6 - number * 2.0
        axes.text(x + 3.5, component_y, name, fontsize=9, fontweight="bold", va="center")
        axes.text(x + 16, component_y, detail, fontsize=8.5, va="center")

    # Tenants placed here
    tenants = hostvars["meridian_tenants"]
    tenant_x = x + 1.5
    axes.text(x + 1.5, y + 3, "tenants:", fontsize=9, fontweight="bold", va="center")
    tenant_x = x + 9
    for tenant in tenants:
        label = tenant["name"] + (" (home)" if tenant["home_region"] == hostvars["meridian_region"] else "")
        label_width = 1.0 + 0.95 * len(label)
        box(axes, tenant_x, y + 1.6, label_width, 2.8, COLOURS["tenant"], radius=0.4)
        axes.text(tenant_x + 0.5, y + 3, label, fontsize=9, va="center")
        tenant_x += label_width + 1
    return width, height


def draw(topology, output: pathlib.Path) -> None:
    regions = sorted(topology["regions"], key=lambda name: (topology["regions"][name]["role"] != "hub", topology["regions"][name]["index"]))
    figure_width = 8 + 52 * len(regions)
    figure, axes = plt.subplots(figsize=(figure_width / 4, 100 / 4), dpi=80)
    axes.set_xlim(0, figure_width)
    axes.set_ylim(0, 100)
    axes.axis("off")
    environment = topology["environment"]
    axes.text(2, 97, f"meridian.observability — environment '{environment['name']}' (account {environment['aws_account_id']})",
              fontsize=17, fontweight="bold", va="center")
    axes.text(2, 94, f"supernet {topology['network']['supernet']}, /{topology['network']['region_prefix']} per region;  "
                     f"external ranges: " + ", ".join(f"{entry['name']} {entry['cidr']}" for entry in topology["network"]["external_ranges"]),
              fontsize=11, va="center", color="#444444")

    # Global identity: one Keycloak, a realm per tenant; the GitOps repository the argocd role pushes to
    box(axes, 2, 85, figure_width - 4, 6, COLOURS["global"])
    axes.text(4, 86.3, "GitOps repository: the argocd role renders the topology into k8s-manifests/environments/<env>/ and "
                       "pushes; the hub's Argo CD syncs each region's root app-of-apps (nothing else applies workloads)",
              fontsize=10, va="center", color="#444444")
    realms = ", ".join(tenant["name"] for tenant in topology["tenants"])
    axes.text(4, 89, f"Keycloak (global): one realm per tenant — {realms};  tokens carry the 'tenant' claim that the gateway "
                     "turns into THANOS-TENANT / X-Scope-OrgID", fontsize=11, va="center")

    tgw_centres = {}
    for position, name in enumerate(regions):
        x = 4 + position * 52
        draw_region(axes, x, 4, region_hostvars(topology, name))
        tgw_x, tgw_y = x + 12, 74
        box(axes, tgw_x, tgw_y, 22, 5, COLOURS["tgw"], radius=0.5)
        axes.text(tgw_x + 11, tgw_y + 2.5, f"Transit Gateway {name}", fontsize=10, fontweight="bold", ha="center", va="center")
        axes.add_patch(FancyArrowPatch((tgw_x + 11, tgw_y), (tgw_x + 11, 64.5), arrowstyle="-", linewidth=1.5, color="#a33"))
        axes.text(tgw_x + 12, 72, "VPC attachment (intra subnets)", fontsize=8, va="center", color="#a33")
        tgw_centres[name] = (tgw_x, tgw_y + 2.5)

    hub = topology["hub"]
    for name in regions:
        if name == hub:
            continue
        start = (tgw_centres[hub][0] + 22, tgw_centres[hub][1])
        end = (tgw_centres[name][0], tgw_centres[name][1])
        axes.add_patch(FancyArrowPatch(start, end, arrowstyle="<|-|>", mutation_scale=18, linewidth=2.2, color="#a33"))
        axes.text((start[0] + end[0]) / 2, start[1] + 1.8, "TGW peering (hub-and-spoke)", fontsize=10, ha="center", color="#a33", fontweight="bold")
        peer_routes = f"static routes {topology['regions'][hub]['cidr_plan']['vpc_cidr']} <-> {topology['regions'][name]['cidr_plan']['vpc_cidr']}"
        axes.text((start[0] + end[0]) / 2, start[1] - 1.8, peer_routes, fontsize=9, ha="center", color="#a33")

    output.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata keeps the SVG byte-stable, so regenerating an unchanged topology shows no diff.
    figure.savefig(output.with_suffix(".svg"), bbox_inches="tight", metadata={"Date": None, "Creator": "meridian.observability"})
    figure.savefig(output.with_suffix(".png"), bbox_inches="tight", metadata={"Software": "meridian.observability"})
    plt.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inventory", default="inventories/dev", help="inventory directory holding topology.yml")
    parser.add_argument("--output", default="docs/architecture", help="output path without extension")
    arguments = parser.parse_args(argv)
    document = yaml.safe_load((pathlib.Path(arguments.inventory) / "topology.yml").read_text())
    draw(build_topology(document, source=arguments.inventory), pathlib.Path(arguments.output))
    print(f"wrote {arguments.output}.svg and {arguments.output}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
