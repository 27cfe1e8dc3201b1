#!/usr/bin/env python3
"""The AWS layer (network + eks roles) for one region: first run and no-change re-run, wall time and AWS API calls.

Acceptance of issue 14 item 3: the re-run takes at most 25 % of the first run's wall time, reads at most 1.2 times
per managed object and writes nothing.

Isolation: the bench starts its own moto server (fresh state, MOTO_IAM_LOAD_MANAGED_POLICIES=true as in the lab) on
a free port, so it neither sees nor changes the lab's AWS state and needs no lab lock. The inventory is a copy of
inventories/lab with the environment renamed `bench`, so even the names and tags differ from the lab's.

Counting: a forwarding proxy in this process stands between the playbooks and moto and records every request's
service and action (query and JSON protocols name it in the body or X-Amz-Target, EKS's REST protocol by method and
path). Describe*/List*/Get*/Search* calls (and EKS GETs) are reads; sts:AssumeRole is the session (one per role
run); everything else is a write. Managed objects are counted in moto after the first run: every object the two
roles create (VPC, subnets, route tables, their non-local routes and subnet associations, gateways, Elastic IPs,
the Transit Gateway and its attachment, IAM roles and their policy attachments, the KMS key and alias, the cluster,
node groups and OIDC provider). Prints numbers; asserts nothing on time.

Usage: .venv/bin/python bench/aws_layer.py [--region us-east-1]
  --region eu-west-1 converges the hub (us-east-1) first, unmeasured, so the spoke's peering is measured too.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.ansible import recap  # noqa: E402
from tests.support.ansible import run_ansible  # noqa: E402
from tests.support.aws_calls import CountingProxy  # noqa: E402

HUB = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_moto(log: pathlib.Path) -> tuple[subprocess.Popen, str]:
    """A private moto server with fresh state, configured as the lab's (lab/services/moto.py)."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    with log.open("w") as output:
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=output, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                break
        except OSError:
            time.sleep(0.3)
    else:
        server.terminate()
        raise SystemExit(f"moto did not start on {url}; see {log}")
    # moto loads the AWS managed policies on the first IAM/STS request (tens of seconds on a busy machine): done
    # here, unmeasured and uncounted, so the first run is timed as it would run against AWS.
    import boto3

    boto3.client("iam", region_name=HUB, endpoint_url=url, **CREDENTIALS).get_policy(
        PolicyArn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy")
    return server, url


def bench_inventory(directory: pathlib.Path) -> pathlib.Path:
    """inventories/lab with the environment renamed, so names and tags are the bench's own."""
    inventory = directory / "inventory"
    shutil.copytree(REPO / "inventories/lab/group_vars", inventory / "group_vars")
    topology = yaml.safe_load((REPO / "inventories/lab/topology.yml").read_text())
    topology["environment"]["name"] = "bench"
    topology["environment"]["aws_role_arn"] = "arn:aws:iam::123456789012:role/meridian-bench-deployer"
    (inventory / "topology.yml").write_text(yaml.safe_dump(topology, sort_keys=False))
    return inventory


def converge(inventory: pathlib.Path, region: str, extra: dict, proxy: CountingProxy, *args: str) -> dict:
    playbook = inventory.parent / "aws_layer.yml"
    proxy.take()
    started = time.monotonic()
    completed = run_ansible("ansible-playbook", str(playbook), "-i", str(inventory), "-l", region,
                            "-e", json.dumps(extra), *args, timeout=3600)
    seconds = time.monotonic() - started
    actions, kinds = proxy.take()
    return {"seconds": seconds, "recap": recap(completed.stdout, region), "actions": actions, "kinds": kinds}


def managed_objects(endpoint: str, region: str, cluster: str, prefix: str) -> Counter:
    """What the two roles manage in ``region``, counted in moto (read through boto3, not through the proxy)."""
    import boto3

    def client(service: str):
        return boto3.client(service, region_name=region, endpoint_url=endpoint, **CREDENTIALS)

    ec2, found = client("ec2"), Counter()
    mine = [{"Name": "tag:meridian:environment", "Values": ["bench"]}, {"Name": "tag:meridian:region", "Values": [region]}]
    found["vpc"] = len(ec2.describe_vpcs(Filters=mine)["Vpcs"])
    found["subnet"] = len(ec2.describe_subnets(Filters=mine)["Subnets"])
    tables = ec2.describe_route_tables(Filters=mine)["RouteTables"]
    found["route table"] = len(tables)
    found["route"] = sum(1 for table in tables for route in table["Routes"] if route.get("GatewayId") != "local")
    found["route table association"] = sum(len(table["Associations"]) for table in tables)
    found["internet gateway"] = len(ec2.describe_internet_gateways(Filters=mine)["InternetGateways"])
    found["elastic ip"] = len(ec2.describe_addresses(Filters=mine)["Addresses"])
    found["nat gateway"] = sum(1 for nat in ec2.describe_nat_gateways(Filters=mine)["NatGateways"] if nat["State"] == "available")
    found["transit gateway"] = len(ec2.describe_transit_gateways(Filters=mine)["TransitGateways"])
    found["transit gateway vpc attachment"] = len(ec2.describe_transit_gateway_vpc_attachments(Filters=mine)
                                                  ["TransitGatewayVpcAttachments"])
    found["transit gateway peering"] = sum(
        1 for attachment in ec2.describe_transit_gateway_peering_attachments(Filters=mine)["TransitGatewayPeeringAttachments"]
        if attachment["State"] == "available" and attachment.get("RequesterTgwInfo", {}).get("TransitGatewayId"))
    iam = client("iam")
    roles = [role["RoleName"] for role in iam.list_roles()["Roles"] if role["RoleName"].startswith(prefix + "-eks-")]
    found["iam role"] = len(roles)
    found["iam role policy attachment"] = sum(len(iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"])
                                              for role in roles)
    found["oidc provider"] = sum(1 for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
                                 if "eks" in provider["Arn"] or region in provider["Arn"])
    kms = client("kms")
    aliases = [alias for alias in kms.list_aliases()["Aliases"] if alias["AliasName"] == f"alias/{prefix}-eks-secrets"]
    found["kms key"] = found["kms alias"] = len(aliases)
    eks = client("eks")
    clusters = [name for name in eks.list_clusters()["clusters"] if name == cluster]
    found["eks cluster"] = len(clusters)
    found["eks node group"] = sum(len(eks.list_nodegroups(clusterName=name)["nodegroups"]) for name in clusters)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default=HUB, help="the region measured (a spoke converges the hub first)")
    args = parser.parse_args()
    (REPO / ".ansible").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=REPO / ".ansible") as directory:
        work = pathlib.Path(directory)
        server, moto_url = start_moto(work / "moto.log")
        try:
            with CountingProxy(moto_url) as proxy:
                inventory = bench_inventory(work)
                (work / "aws_layer.yml").write_text(yaml.safe_dump([
                    {"ansible.builtin.import_playbook": str(REPO / "playbooks/network.yml")},
                    {"ansible.builtin.import_playbook": str(REPO / "playbooks/eks.yml")},
                ]))
                extra = {"meridian_aws_endpoint_url": proxy.url, "meridian_lab_dir": str(REPO / ".lab"),
                         "eks_kubeconfig_path": str(work / "kube" / "{{ inventory_hostname }}" / "eks.kubeconfig")}
                if args.region != HUB:
                    converge(inventory, HUB, extra, proxy)
                rows = [("first run", converge(inventory, args.region, extra, proxy)),
                        ("no-change re-run", converge(inventory, args.region, extra, proxy)),
                        ("check --diff re-run", converge(inventory, args.region, extra, proxy, "--check", "--diff"))]
                cluster = json.loads(run_ansible("ansible-inventory", "-i", str(inventory), "--host", args.region,
                                                 "-e", json.dumps(extra)).stdout)["meridian_cluster"]["name"]
            objects = managed_objects(moto_url, args.region, cluster, f"meridian-bench-{args.region}")
        finally:
            server.terminate()
            server.wait(timeout=30)
    total_objects = sum(objects.values())
    print(f"network + eks roles, {args.region}, fresh private moto, environment 'bench'")
    print(f"{'run':<22}{'seconds':>9}{'changed':>9}{'reads':>7}{'writes':>8}{'session':>9}")
    for label, row in rows:
        print(f"{label:<22}{row['seconds']:>9.1f}{row['recap']['changed']:>9}{row['kinds']['read']:>7}"
              f"{row['kinds']['write']:>8}{row['kinds']['session']:>9}")
    first, rerun = rows[0][1], rows[1][1]
    print(f"managed objects: {total_objects} ({', '.join(f'{count} {kind}' for kind, count in objects.items() if count)})")
    print(f"re-run / first run wall time: {rerun['seconds'] / first['seconds']:.0%} (target <= 25 %); "
          f"reads per managed object on the re-run: {rerun['kinds']['read'] / total_objects:.2f} (target <= 1.2); "
          f"writes on the re-run: {rerun['kinds']['write']} (target 0)")
    print("re-run calls by action: " + ", ".join(f"{action} {count}" for action, count in sorted(rerun["actions"].items())))


if __name__ == "__main__":
    main()
