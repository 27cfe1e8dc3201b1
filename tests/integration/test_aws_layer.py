"""The AWS layer (network and eks roles, destroy.yml) against the lab's moto, two regions, end to end.

The module fixture converges us-east-1 (hub) then eu-west-1 (spoke) with site.yml --tags network,eks and tears
both down at the end, so the tests do not depend on what ran before. MERIDIAN_AWS_ENDPOINT_URL points the runs at
another moto server (for example one started with MOTO_IAM_LOAD_MANAGED_POLICIES=true, which the eks role needs).
The no-change run's API calls are counted by a forwarding proxy (tests/support/aws_calls.py).
"""

from __future__ import annotations

import functools
import os
import pathlib
import shutil
import socket
import subprocess
import threading
import time

import pytest
import yaml

from tests.support.ansible import REPO
from tests.support.ansible import recap
from tests.support.ansible import run_ansible
from tests.support.aws import region_vars
from tests.support.aws import tag_filters
from tests.support.aws_calls import CountingProxy

pytestmark = pytest.mark.lab

HUB, SPOKE = "us-east-1", "eu-west-1"
LIVE_PEERING = {"initiatingRequest", "pendingAcceptance", "pending", "available", "modifying"}


@pytest.fixture(scope="module")
def endpoint(lab) -> str:
    return os.environ.get("MERIDIAN_AWS_ENDPOINT_URL") or lab["aws"]["endpoint"]


@pytest.fixture(scope="module")
def aws_client(lab, endpoint):
    """boto3 clients for the endpoint the playbooks use (the conftest's aws_client always means the lab's moto)."""
    import boto3

    def make(service: str, region: str):
        return boto3.client(service, region_name=region, endpoint_url=endpoint,
                            aws_access_key_id=lab["aws"]["aws_access_key_id"], aws_secret_access_key=lab["aws"]["aws_secret_access_key"])

    return make


@functools.cache
def lab_region(region: str) -> dict:
    """The lab inventory's variables of a region: the resource prefix, ownership tags and cluster the roles use."""
    return region_vars("inventories/lab", region)


def ours(region: str) -> list[dict]:
    """EC2 filters for the resources the AWS layer tags as the lab's, in ``region``."""
    return tag_filters(lab_region(region)["meridian_ownership_tags"])


def playbook(endpoint: str, *args: str, check: bool = True, inventory: str = "inventories/lab") -> subprocess.CompletedProcess:
    return run_ansible("ansible-playbook", "-i", inventory, "-e", f"meridian_aws_endpoint_url={endpoint}", *args,
                       check=check, timeout=3600)


def converge(endpoint: str, region: str, *extra: str) -> tuple[dict[str, int], float]:
    started = time.monotonic()
    result = playbook(endpoint, "playbooks/site.yml", "-l", region, "--tags", "network,eks", *extra)
    return recap(result.stdout, region), time.monotonic() - started


def destroy(endpoint: str, region: str, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    return playbook(endpoint, "playbooks/destroy.yml", "-l", region, *extra, check=check)


def tagged_leftovers(aws_client, endpoint_region: str) -> list[str]:
    """Every live resource in the region that carries our tags and that region's tag."""
    ec2 = aws_client("ec2", endpoint_region)
    mine = ours(endpoint_region)
    found = [vpc["VpcId"] for vpc in ec2.describe_vpcs(Filters=mine)["Vpcs"]]
    found += [subnet["SubnetId"] for subnet in ec2.describe_subnets(Filters=mine)["Subnets"]]
    found += [table["RouteTableId"] for table in ec2.describe_route_tables(Filters=mine)["RouteTables"]]
    found += [igw["InternetGatewayId"] for igw in ec2.describe_internet_gateways(Filters=mine)["InternetGateways"]]
    found += [nat["NatGatewayId"] for nat in ec2.describe_nat_gateways(Filters=mine)["NatGateways"] if nat["State"] in ("pending", "available")]
    found += [eip["AllocationId"] for eip in ec2.describe_addresses(Filters=mine)["Addresses"]]
    found += [tgw["TransitGatewayId"] for tgw in ec2.describe_transit_gateways(Filters=mine)["TransitGateways"]
              if tgw["State"] not in ("deleting", "deleted")]
    found += [a["TransitGatewayAttachmentId"] for a in ec2.describe_transit_gateway_peering_attachments(Filters=mine)
              ["TransitGatewayPeeringAttachments"] if a["State"] in LIVE_PEERING]
    eks = aws_client("eks", endpoint_region)
    found += [name for name in eks.list_clusters()["clusters"] if name == lab_region(endpoint_region)["meridian_cluster"]["name"]]
    return found


def live_peerings(aws_client, region: str) -> list[dict]:
    attachments = aws_client("ec2", region).describe_transit_gateway_peering_attachments()["TransitGatewayPeeringAttachments"]
    return [a for a in attachments if a.get("RequesterTgwInfo", {}).get("TransitGatewayId") and a["State"] in LIVE_PEERING]


@pytest.fixture(scope="module")
def converged(lab, endpoint, aws_client):
    """Both regions converged (hub first); both destroyed again afterwards. A region the shared lab already holds
    (converged by an earlier site.yml run) is taken as it is; one with nothing of ours must be created."""
    timings = {}
    for region in (HUB, SPOKE):
        fresh = not tagged_leftovers(aws_client, region)
        counts, seconds = converge(endpoint, region)
        assert counts["failed"] == 0 and (counts["changed"] > 0 or not fresh), (region, fresh, counts)
        timings[region] = seconds
    yield timings
    destroy(endpoint, SPOKE, "-e", f"destroy_region={SPOKE}")
    destroy(endpoint, HUB, "-e", f"destroy_region={HUB}")


def test_second_run_changes_nothing(converged, endpoint, capsys):
    """Unchanged, and proved so by the API calls too: the run goes through a counting proxy and writes nothing."""
    second, calls = {}, {}
    with CountingProxy(endpoint) as proxy:
        for region in (HUB, SPOKE):
            counts, seconds = converge(proxy.url, region)
            assert counts["changed"] == 0 and counts["failed"] == 0, (region, counts)
            second[region] = seconds
            actions, kinds = proxy.take()
            calls[region] = kinds
            assert kinds["write"] == 0, (region, actions)
            # About 40 managed objects per region (bench/aws_layer.py counts them): at most 1.2 reads each; the spoke
            # also reads the hub's gateway, the peering on both sides and two routes.
            assert kinds["read"] <= 60, (region, actions)
    with capsys.disabled():
        print(f"\nAWS layer: first run {converged}, second run {second} (seconds); no-change API calls {calls}")


def test_destroy_in_check_mode_predicts_without_failing_or_removing(converged, endpoint, aws_client):
    """The destroy entry points in check mode with node groups present (a check run used to fail on them)."""
    before = sorted(tagged_leftovers(aws_client, SPOKE))
    result = destroy(endpoint, SPOKE, "-e", f"destroy_region={SPOKE}", "--check")
    counts = recap(result.stdout, SPOKE)
    assert counts["failed"] == 0 and counts["changed"] > 0, counts
    assert sorted(tagged_leftovers(aws_client, SPOKE)) == before


def test_check_mode_predicts_no_change(converged, endpoint):
    for region in (HUB, SPOKE):
        counts, _ = converge(endpoint, region, "--check")
        assert counts["changed"] == 0 and counts["failed"] == 0, (region, counts)


def test_a_hand_change_is_shown_and_repaired_by_the_next_run(converged, endpoint, aws_client):
    """The plan-first path still repairs drift: a deleted default route and a hand tag on the internet gateway make
    their kinds' tasks run, print their diff and put both back (the network play only: the cheapest run that shows it)."""
    ec2 = aws_client("ec2", HUB)
    public = next(table for table in ec2.describe_route_tables(Filters=ours(HUB))["RouteTables"]
                  if {"Key": "meridian:tier", "Value": "public"} in table["Tags"])
    igw = ec2.describe_internet_gateways(Filters=ours(HUB))["InternetGateways"][0]["InternetGatewayId"]
    ec2.delete_route(RouteTableId=public["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    ec2.create_tags(Resources=[igw], Tags=[{"Key": "owner", "Value": "by-hand"}])
    result = playbook(endpoint, "playbooks/site.yml", "-l", HUB, "--tags", "network", "--diff")
    counts = recap(result.stdout, HUB)
    assert counts["failed"] == 0 and counts["changed"] == 2, counts  # the internet gateway's tags and the route table
    assert f"0.0.0.0/0: {igw}" in result.stdout  # the route table's diff
    public = ec2.describe_route_tables(RouteTableIds=[public["RouteTableId"]])["RouteTables"][0]
    assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw} in [
        {key: route[key] for key in ("DestinationCidrBlock", "GatewayId") if key in route} for route in public["Routes"]]
    tags = ec2.describe_internet_gateways(InternetGatewayIds=[igw])["InternetGateways"][0]["Tags"]
    assert "owner" not in {tag["Key"] for tag in tags}


def test_peering_is_available_in_both_regions(converged, aws_client):
    spoke_side = live_peerings(aws_client, SPOKE)
    hub_side = live_peerings(aws_client, HUB)
    assert [a["State"] for a in spoke_side] == ["available"]
    assert [a["TransitGatewayAttachmentId"] for a in hub_side] == [spoke_side[0]["TransitGatewayAttachmentId"]]
    assert spoke_side[0]["AccepterTgwInfo"]["Region"] == HUB


def test_destroy_refuses_without_the_repeated_region(converged, endpoint, aws_client):
    for extra in ([], ["-e", f"destroy_region={HUB}"]):
        result = destroy(endpoint, SPOKE, *extra, check=False)
        assert result.returncode != 0
        assert "destroy.yml removes a whole region" in result.stdout
    result = playbook(endpoint, "playbooks/destroy.yml", "-e", f"destroy_region={SPOKE}", check=False)  # no -l
    assert result.returncode != 0
    assert tagged_leftovers(aws_client, SPOKE), "a refused destroy removed something"


def test_destroy_spoke_leaves_nothing_tagged_and_the_hub_untouched(converged, endpoint, aws_client):
    hub_before = set(tagged_leftovers(aws_client, HUB))
    peering = live_peerings(aws_client, SPOKE)[0]["TransitGatewayAttachmentId"]
    destroy(endpoint, SPOKE, "-e", f"destroy_region={SPOKE}")
    try:
        # KMS keys are not listed: AWS keeps a deleted key 7 days (PendingDeletion), and moto 5.2 cannot schedule
        # the deletion through amazon.aws (see roles/eks/tasks/destroy.yml).
        assert tagged_leftovers(aws_client, SPOKE) == []
        assert live_peerings(aws_client, SPOKE) == [] and live_peerings(aws_client, HUB) == []
        # The hub keeps everything of its own; only the spoke's peering (listed there too) is gone.
        assert set(tagged_leftovers(aws_client, HUB)) == hub_before - {peering}
        assert lab_region(HUB)["meridian_cluster"]["name"] in tagged_leftovers(aws_client, HUB)
        hub_tgw = aws_client("ec2", HUB).describe_transit_gateways(Filters=ours(HUB))
        table = hub_tgw["TransitGateways"][0]["Options"]["AssociationDefaultRouteTableId"]
        routes = aws_client("ec2", HUB).search_transit_gateway_routes(
            TransitGatewayRouteTableId=table, Filters=[{"Name": "type", "Values": ["static"]}])["Routes"]
        assert [route["DestinationCidrBlock"] for route in routes] == [], "the hub still routes to the destroyed spoke"
    finally:
        counts, _ = converge(endpoint, SPOKE)  # back to converged, whatever the assertions said
        assert counts["failed"] == 0
    assert [a["State"] for a in live_peerings(aws_client, SPOKE)] == ["available"]


class _Recorder:
    """A TCP listener standing in for the AWS endpoint: it counts connections and answers none."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.server.close()


def _bad_inventory(tmp_path: pathlib.Path, change) -> str:
    document = yaml.safe_load((REPO / "inventories/lab/topology.yml").read_text())
    change(document)
    target = tmp_path / "inventory"
    target.mkdir()
    (target / "topology.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    shutil.copytree(REPO / "inventories/lab/group_vars", target / "group_vars")
    return str(target)


@pytest.mark.parametrize(("case", "change", "extra", "expected"), [
    ("overlapping CIDR", lambda d: d["regions"]["eu-west-1"].update(index=0), [], "index 0 is already used"),
    ("more AZs than the plan has room for", lambda d: d["regions"]["eu-west-1"].update(azs=list("abcdefghi")), [], "azs"),
    ("no hub", lambda d: d["regions"]["us-east-1"].update(role="spoke"), [], "hub"),
    ("missing CIDR", lambda d: None, ["-e", '{"network_cidr_plan": {"azs": ["a"], "subnets": {}}}'], "network_cidr_plan is incomplete"),
    ("access key without its secret", lambda d: None, ["-e", '{"aws_session_base_credentials": {"access_key": "AKIAEXAMPLE"}}'],
     "aws_session_base_credentials may hold access_key and secret_key (together)"),
])
def test_bad_input_fails_before_any_aws_call(lab, tmp_path, case, change, extra, expected):
    recorder = _Recorder()
    try:
        inventory = _bad_inventory(tmp_path, change)
        result = playbook(f"http://127.0.0.1:{recorder.port}", "playbooks/site.yml", "-l", SPOKE, "--tags", "network,eks",
                          *extra, check=False, inventory=inventory)
    finally:
        recorder.close()
    assert result.returncode != 0, case
    assert expected in result.stdout + result.stderr, (case, (result.stdout + result.stderr)[-3000:])
    assert recorder.connections == 0, f"{case}: {recorder.connections} connection(s) reached the AWS endpoint"
