"""The AWS layer's plan (ec2_network_plan, eks_layer_plan's comparisons) against moto in-process.

A converged network is reported unchanged in one read per kind and no write; a hand change to one object makes
its kind, and every later kind, differ while the earlier kinds stay unchanged; an empty region differs in every
kind. Reads and writes are counted through the client (test_aws_batched.CountingClient).
"""

from __future__ import annotations

from collections import Counter

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._aws.plan import NETWORK_KINDS
from ansible_collections.meridian.observability.plugins.module_utils._aws.plan import NetworkPlan
from ansible_collections.meridian.observability.plugins.module_utils._aws.plan import _nodegroup_differs
from ansible_collections.meridian.observability.plugins.module_utils._aws.plan import missing_keys
from ansible_collections.meridian.observability.plugins.module_utils._aws.plan import resolve_route_tables
from ansible_collections.meridian.observability.plugins.module_utils._aws.vpc import RouteTableService
from ansible_collections.meridian.observability.plugins.module_utils._aws.vpc import SubnetService
from ansible_collections.meridian.observability.plugins.module_utils._aws.vpc import VpcService

from test_aws_batched import CountingClient  # noqa: E402  (pytest puts this directory on sys.path)

OWNER = {"meridian:environment": "unit", "meridian:layer": "network"}
FILTERS = {f"tag:{key}": value for key, value in OWNER.items()}
NAMED = OWNER | {"Name": "net"}


def desired() -> dict:
    peer = {"dest": "10.65.0.0/16", "target": "transit_gateway"}
    return {
        "vpc": {"filters": FILTERS, "cidr_block": "10.64.0.0/16", "dns_support": True, "dns_hostnames": True,
                "tags": NAMED, "purge_tags": True},
        "subnets": [{"cidr": "10.64.0.0/20", "az": "us-east-1a", "map_public": True, "tags": OWNER | {"Name": "public-a"}},
                    {"cidr": "10.64.16.0/20", "az": "us-east-1a", "map_public": False, "tags": OWNER | {"Name": "private-a"}},
                    {"cidr": "10.64.32.0/20", "az": "us-east-1a", "map_public": False, "tags": OWNER | {"Name": "intra-a"}}],
        "gateways": {"internet_gateway_tags": NAMED, "nat_azs": ["a"], "eip_filters": FILTERS | {"tag:meridian:tier": "nat"},
                     "nat_gateway_filters": FILTERS | {"state": ["pending", "available"]}},
        "transit_gateway": {"filters": FILTERS | {"state": ["pending", "available", "modifying"]}, "tags": NAMED,
                            "attachment_subnets": ["10.64.32.0/20"], "attachment_dns_support": True, "attachment_tags": NAMED},
        "route_tables": [
            {"tags": OWNER | {"Name": "net-public"}, "subnets": ["10.64.0.0/20"],
             "routes": [{"dest": "0.0.0.0/0", "target": "internet_gateway"}, peer]},
            {"tags": OWNER | {"Name": "net-private-a"}, "subnets": ["10.64.16.0/20"],
             "routes": [{"dest": "0.0.0.0/0", "target": "nat_gateway:a"}, peer]},
            {"tags": OWNER | {"Name": "net-intra"}, "subnets": ["10.64.32.0/20"], "routes": [peer]},
        ],
    }


def _tags(tags: dict) -> list[dict]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


@pytest.fixture
def ec2(aws):
    return CountingClient("ec2")


@pytest.fixture
def aws():
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def converged(ec2) -> dict:
    """The desired network built the way the role builds it (its services, and the calls amazon.aws makes)."""
    params = desired()
    vpc_id = VpcService(ec2).ensure(params["vpc"], check_mode=False)["vpc"]["VpcId"]
    subnets = SubnetService(ec2).ensure({"vpc_id": vpc_id, "subnets": params["subnets"]}, check_mode=False)["subnets"]
    subnet_ids = {subnet["cidr"]: subnet["subnet_id"] for subnet in subnets}
    igw = ec2.create_internet_gateway(TagSpecifications=[{"ResourceType": "internet-gateway", "Tags": _tags(NAMED)}],
                                      aws_retry=True)["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id, aws_retry=True)
    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": _tags(
        OWNER | {"meridian:tier": "nat", "meridian:az": "a"})}], aws_retry=True)["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=subnet_ids["10.64.0.0/20"], AllocationId=eip, TagSpecifications=[
        {"ResourceType": "natgateway", "Tags": _tags(OWNER | {"meridian:az": "a"})}], aws_retry=True)["NatGateway"]["NatGatewayId"]
    tgw = ec2.create_transit_gateway(Description="net", TagSpecifications=[{"ResourceType": "transit-gateway", "Tags": _tags(NAMED)}],
                                     aws_retry=True)["TransitGateway"]["TransitGatewayId"]
    ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw, VpcId=vpc_id, SubnetIds=[subnet_ids["10.64.32.0/20"]],
                                              Options={"DnsSupport": "enable"}, aws_retry=True)
    attachment = ec2.describe_transit_gateway_vpc_attachments(aws_retry=True)["TransitGatewayVpcAttachments"][0]
    # moto drops the tags given at creation (the role's second pass tags it); tagged here the same way.
    ec2.create_tags(Resources=[attachment["TransitGatewayAttachmentId"]], Tags=_tags(NAMED), aws_retry=True)
    targets = {"internet_gateway": igw, "nat_gateway:a": nat, "transit_gateway": tgw}
    RouteTableService(ec2).ensure({"vpc_id": vpc_id, "route_tables": resolve_route_tables(params["route_tables"], subnet_ids, targets)},
                                  check_mode=False)
    ec2.take()
    return {"vpc_id": vpc_id, "subnet_ids": subnet_ids, "igw": igw, "nat": nat, "tgw": tgw}


def test_converged_then_hand_changes_make_their_kind_and_every_later_kind_differ(ec2, converged):
    """One converged network (built once: the costly part) reported unchanged in one read per kind, then changed by
    hand one object at a time."""
    plan = NetworkPlan(ec2).compare(desired())
    assert plan["differs"] == dict.fromkeys(NETWORK_KINDS, False), plan["own"]
    assert ec2.take() == Counter(read=10)  # VPC (3), subnets, internet gateway, addresses, NAT, TGW, attachment, route tables
    assert plan["vpc_id"] == converged["vpc_id"] and plan["internet_gateway_id"] == converged["igw"]
    assert plan["nat_gateway_by_az"] == {"a": converged["nat"]}
    assert plan["transit_gateway"]["transit_gateway_id"] == converged["tgw"]
    assert {subnet["cidr"]: subnet["subnet_id"] for subnet in plan["subnets"]} == converged["subnet_ids"]

    tables = ec2.describe_route_tables(Filters=[{"Name": "tag:Name", "Values": ["net-public"]}], aws_retry=True)["RouteTables"]
    ec2.delete_route(RouteTableId=tables[0]["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", aws_retry=True)
    ec2.take()
    plan = NetworkPlan(ec2).compare(desired())
    assert plan["own"] == dict.fromkeys(NETWORK_KINDS, False) | {"route_tables": True}
    assert plan["differs"] == plan["own"] | {"peering": True}  # a later kind: its tasks run too (a spoke's peering)
    assert ec2.take()["write"] == 0

    ec2.create_tags(Resources=[converged["tgw"]], Tags=[{"Key": "owner", "Value": "by-hand"}], aws_retry=True)
    plan = NetworkPlan(ec2).compare(desired())
    assert [kind for kind, differs in plan["own"].items() if differs] == ["transit_gateway", "route_tables"]

    ec2.create_tags(Resources=[converged["igw"]], Tags=[{"Key": "owner", "Value": "by-hand"}], aws_retry=True)
    plan = NetworkPlan(ec2).compare(desired())
    assert [kind for kind, differs in plan["own"].items() if differs] == ["gateways", "transit_gateway", "route_tables"]
    assert plan["differs"] == {"vpc": False, "subnets": False, "gateways": True, "transit_gateway": True, "route_tables": True,
                               "peering": True}

    ec2.create_tags(Resources=[converged["subnet_ids"]["10.64.16.0/20"]], Tags=[{"Key": "Name", "Value": "by-hand"}], aws_retry=True)
    plan = NetworkPlan(ec2).compare(desired())
    assert plan["own"]["subnets"] is True and plan["own"]["vpc"] is False
    assert plan["differs"] == dict.fromkeys(NETWORK_KINDS, True) | {"vpc": False}


def test_an_empty_region_differs_in_every_kind_without_a_write(ec2, aws):
    plan = NetworkPlan(ec2).compare(desired())
    assert plan["differs"] == dict.fromkeys(NETWORK_KINDS, True)
    assert plan["vpc_id"] == "" and ec2.take() == Counter(read=1)


def test_routes_to_a_target_that_does_not_exist_yet_are_left_out():
    resolved = resolve_route_tables(desired()["route_tables"], {"10.64.0.0/20": "subnet-1"}, {"internet_gateway": "igw-1"})
    assert resolved[0] == {"tags": OWNER | {"Name": "net-public"}, "subnets": ["subnet-1"],
                           "routes": [{"dest": "0.0.0.0/0", "gateway_id": "igw-1"}]}
    assert resolved[1]["routes"] == [] and resolved[1]["subnets"] == []


NODEGROUP = {"name": "system", "min_size": 1, "max_size": 3, "desired_size": 2, "instance_types": ["m6i.large"],
             "disk_size": None, "labels": {"meridian.io/node-group": "system"}, "tags": {"Name": "c-system"},
             "max_unavailable": 1, "node_role": "arn:aws:iam::1:role/node", "subnets": ["subnet-1"]}
DESCRIBED = {"scalingConfig": {"minSize": 1, "maxSize": 3, "desiredSize": 2}, "instanceTypes": ["m6i.large"],
             "nodeRole": "arn:aws:iam::1:role/node", "subnets": ["subnet-1"], "labels": {"meridian.io/node-group": "system"},
             "tags": {"Name": "c-system"}}


@pytest.mark.parametrize("change", [
    {"scalingConfig": {"minSize": 1, "maxSize": 3, "desiredSize": 3}},
    {"instanceTypes": ["m6i.xlarge"]},
    {"labels": {}},
    {"tags": {"Name": "c-system", "owner": "by-hand"}},
    {"updateConfig": {"maxUnavailable": 2}},
], ids=["scaling", "instance types", "labels", "extra tag", "update config"])
def test_a_node_group_differs_in_each_attribute_the_role_sets(change):
    assert _nodegroup_differs(DESCRIBED | change, NODEGROUP) is True


def test_a_node_group_as_planned_does_not_differ_with_or_without_update_config():
    assert _nodegroup_differs(DESCRIBED, NODEGROUP) is False
    assert _nodegroup_differs(DESCRIBED | {"updateConfig": {"maxUnavailable": 1}}, NODEGROUP) is False
    assert _nodegroup_differs(None, NODEGROUP) is True


def test_missing_keys_name_the_option_and_keys():
    assert missing_keys({"vpc": {"filters": {}}, "gateways": None}, {"vpc": ("filters", "cidr_block"), "gateways": ("nat_azs",)}) == [
        "vpc lacks cidr_block", "gateways lacks nat_azs"]
    assert missing_keys({"vpc": {"filters": {}, "cidr_block": "10.0.0.0/16"}}, {"vpc": ("filters", "cidr_block")}) == []
