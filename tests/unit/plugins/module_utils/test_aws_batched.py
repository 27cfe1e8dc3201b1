"""The AWS layer's one-call-per-kind services against moto in-process: create, re-run unchanged with one read,
check mode predicts without writing, drift repaired, refusals beside their accepted twins.

Reads and writes are counted by wrapping the client, so "one read on a no-change run" is asserted, not assumed.
"""

from __future__ import annotations

from collections import Counter

import boto3
import pytest
from moto import mock_aws

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.meridian.observability.plugins.module_utils._aws.eks import EksClusterService
from ansible_collections.meridian.observability.plugins.module_utils._aws.iam_roles import ServiceRoleService
from ansible_collections.meridian.observability.plugins.module_utils._aws.kms import AliasedKeyService
from ansible_collections.meridian.observability.plugins.module_utils._aws.vpc import RouteTableService
from ansible_collections.meridian.observability.plugins.module_utils._aws.vpc import SubnetService

READS = ("describe_", "list_", "get_", "search_")


class CountingClient:
    """A retrying boto3 client that counts the operations called through it, as reads and writes."""

    def __init__(self, service: str) -> None:
        raw = boto3.client(service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        self._client = RetryingBotoClientWrapper(raw, AWSRetry.jittered_backoff(retries=2))
        self.calls: Counter = Counter()

    def __getattr__(self, name: str):
        operation = getattr(self._client, name)

        def counted(*args, **kwargs):
            self.calls["read" if name.startswith(READS) else "write"] += 1
            return operation(*args, **kwargs)

        return counted

    def take(self) -> Counter:
        calls, self.calls = self.calls, Counter()
        return calls


@pytest.fixture
def aws():
    with mock_aws():
        yield


@pytest.fixture
def ec2(aws):
    return CountingClient("ec2")


@pytest.fixture
def vpc_id(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.64.0.0/16", aws_retry=True)["Vpc"]["VpcId"]
    ec2.take()
    return vpc


def subnet_params(vpc_id: str, **tags) -> dict:
    return {"vpc_id": vpc_id, "purge_tags": True, "subnets": [
        {"cidr": "10.64.0.0/20", "az": "us-east-1a", "map_public": True, "tags": {"Name": "public-a", **tags}},
        {"cidr": "10.64.16.0/20", "az": "us-east-1b", "map_public": True, "tags": {"Name": "public-b", **tags}},
        {"cidr": "10.64.32.0/20", "az": "us-east-1a", "map_public": False, "tags": {"Name": "private-a", **tags}},
    ]}


def test_subnets_are_created_then_a_rerun_is_one_read(ec2, vpc_id):
    service = SubnetService(ec2)
    predicted = service.ensure(subnet_params(vpc_id), check_mode=True)
    assert predicted["changed"] is True and [s["subnet_id"] for s in predicted["subnets"]] == ["", "", ""]
    assert ec2.take() == Counter(read=1)

    created = service.ensure(subnet_params(vpc_id), check_mode=False)
    assert created["changed"] is True
    found = {s["CidrBlock"]: s for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]}
    assert [found[s["cidr"]]["SubnetId"] for s in created["subnets"]] == [s["subnet_id"] for s in created["subnets"]]
    assert found["10.64.0.0/20"]["MapPublicIpOnLaunch"] is True and found["10.64.32.0/20"]["MapPublicIpOnLaunch"] is False
    assert {t["Key"]: t["Value"] for t in found["10.64.16.0/20"]["Tags"]} == {"Name": "public-b"}
    ec2.take()

    again = service.ensure(subnet_params(vpc_id), check_mode=False)
    assert again["changed"] is False and again["subnets"] == created["subnets"]
    assert ec2.take() == Counter(read=1)


def test_subnet_drift_is_predicted_then_repaired(ec2, vpc_id):
    service = SubnetService(ec2)
    created = service.ensure(subnet_params(vpc_id), check_mode=False)["subnets"]
    ec2.create_tags(Resources=[created[0]["subnet_id"]], Tags=[{"Key": "stray", "Value": "1"}], aws_retry=True)
    ec2.modify_subnet_attribute(SubnetId=created[2]["subnet_id"], MapPublicIpOnLaunch={"Value": True}, aws_retry=True)
    ec2.take()
    predicted = service.ensure(subnet_params(vpc_id), check_mode=True)
    assert predicted["changed"] is True and ec2.take() == Counter(read=1)
    assert predicted["diff"]["before"]["10.64.0.0/20"]["tags"] == {"Name": "public-a", "stray": "1"}
    assert predicted["diff"]["after"]["10.64.0.0/20"]["tags"] == {"Name": "public-a"}
    assert service.ensure(subnet_params(vpc_id), check_mode=False)["changed"] is True
    assert service.ensure(subnet_params(vpc_id), check_mode=False)["changed"] is False


def test_a_subnet_in_another_az_is_refused_before_any_write(ec2, vpc_id):
    ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.64.32.0/20", AvailabilityZone="us-east-1c", aws_retry=True)
    ec2.take()
    with pytest.raises(AnsibleAWSError, match=r"10\.64\.32\.0/20\) is in us-east-1c, not us-east-1a; a subnet cannot move"):
        SubnetService(ec2).ensure(subnet_params(vpc_id), check_mode=False)
    assert ec2.take() == Counter(read=1)
    # The twin: the same plan with that subnet in the AZ where it is converges.
    params = subnet_params(vpc_id)
    params["subnets"][2]["az"] = "us-east-1c"
    assert SubnetService(ec2).ensure(params, check_mode=False)["changed"] is True


@pytest.fixture
def network(ec2, vpc_id):
    subnets = SubnetService(ec2).ensure(subnet_params(vpc_id), check_mode=False)["subnets"]
    igw = ec2.create_internet_gateway(aws_retry=True)["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id, aws_retry=True)
    tgw = ec2.create_transit_gateway(Description="t", aws_retry=True)["TransitGateway"]["TransitGatewayId"]
    ec2.take()
    return {"vpc_id": vpc_id, "subnets": [s["subnet_id"] for s in subnets], "igw": igw, "tgw": tgw}


def table_params(network: dict, peers=("10.80.0.0/16",)) -> dict:
    peer_routes = [{"dest": cidr, "transit_gateway_id": network["tgw"]} for cidr in peers]
    return {"vpc_id": network["vpc_id"], "purge_tags": True, "route_tables": [
        {"tags": {"Name": "public", "tier": "public"}, "subnets": network["subnets"][:2],
         "routes": [{"dest": "0.0.0.0/0", "gateway_id": network["igw"]}] + peer_routes},
        {"tags": {"Name": "private", "tier": "private"}, "subnets": network["subnets"][2:], "routes": peer_routes},
    ]}


def routes_of(ec2, table_id: str) -> dict:
    table = ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"][0]
    return {route["DestinationCidrBlock"]: route.get("GatewayId") or route.get("TransitGatewayId")
            for route in table["Routes"] if route.get("GatewayId") != "local"}


def test_route_tables_are_created_then_a_rerun_is_one_read(ec2, network):
    service = RouteTableService(ec2)
    assert service.ensure(table_params(network), check_mode=True)["changed"] is True
    assert ec2.take() == Counter(read=1)
    created = service.ensure(table_params(network), check_mode=False)
    public, private = (table["route_table_id"] for table in created["route_tables"])
    assert routes_of(ec2, public) == {"0.0.0.0/0": network["igw"], "10.80.0.0/16": network["tgw"]}
    associated = ec2.describe_route_tables(RouteTableIds=[private])["RouteTables"][0]["Associations"]
    assert [a["SubnetId"] for a in associated] == network["subnets"][2:]
    ec2.take()
    again = service.ensure(table_params(network), check_mode=False)
    assert again["changed"] is False and again["route_tables"] == created["route_tables"]
    assert ec2.take() == Counter(read=1)


def test_route_changes_are_predicted_then_applied_and_local_routes_kept(ec2, network):
    service = RouteTableService(ec2)
    public = service.ensure(table_params(network), check_mode=False)["route_tables"][0]["route_table_id"]
    changed = table_params(network, peers=("10.96.0.0/16",))
    # A subnet moves from the public table to the private one.
    changed["route_tables"][0]["subnets"] = network["subnets"][:1]
    changed["route_tables"][1]["subnets"] = network["subnets"][1:]
    ec2.take()
    predicted = service.ensure(changed, check_mode=True)
    assert predicted["changed"] is True and ec2.take() == Counter(read=1)
    assert predicted["diff"]["before"]["public"]["routes"]["10.80.0.0/16"] == network["tgw"]
    assert "10.80.0.0/16" not in predicted["diff"]["after"]["public"]["routes"]
    assert service.ensure(changed, check_mode=False)["changed"] is True
    assert routes_of(ec2, public) == {"0.0.0.0/0": network["igw"], "10.96.0.0/16": network["tgw"]}
    table = ec2.describe_route_tables(RouteTableIds=[public])["RouteTables"][0]
    assert any(route.get("GatewayId") == "local" for route in table["Routes"])
    assert service.ensure(changed, check_mode=False)["changed"] is False


def test_two_tables_with_one_name_are_refused(ec2, network):
    for _ in range(2):
        ec2.create_route_table(VpcId=network["vpc_id"], aws_retry=True,
                               TagSpecifications=[{"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": "public"}]}])
    with pytest.raises(AnsibleAWSError, match="2 route tables in vpc-.* are named public"):
        RouteTableService(ec2).ensure(table_params(network), check_mode=False)


def test_kms_key_by_alias_three_reads_when_unchanged(aws):
    kms = CountingClient("kms")
    service = AliasedKeyService(kms)
    params = {"alias": "alias/meridian-bench-eks-secrets", "description": "secrets", "enable_key_rotation": True,
              "tags": {"meridian:layer": "eks"}, "purge_tags": True}
    assert service.ensure(params, check_mode=True)["changed"] is True
    assert kms.take() == Counter(read=1)
    created = service.ensure(params, check_mode=False)
    assert created["changed"] is True and created["key"]["Arn"].startswith("arn:aws:kms:us-east-1:")
    assert kms.get_key_rotation_status(KeyId=created["key"]["KeyId"])["KeyRotationEnabled"] is True
    kms.take()
    again = service.ensure(params, check_mode=False)
    assert again["changed"] is False and again["key"]["Arn"] == created["key"]["Arn"]
    assert kms.take() == Counter(read=3)
    retagged = dict(params, tags={"meridian:layer": "eks", "owner": "platform"}, description="other")
    assert service.ensure(retagged, check_mode=True)["diff"]["after"]["tags"] == retagged["tags"]
    assert kms.take()["write"] == 0
    assert service.ensure(retagged, check_mode=False)["changed"] is True
    assert service.ensure(retagged, check_mode=False)["changed"] is False


def test_iam_roles_two_reads_each_when_unchanged(aws):
    iam = CountingClient("iam")
    service = ServiceRoleService(iam)
    trust = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    policy = iam.create_policy(PolicyName="p1", PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}')["Policy"]["Arn"]
    params = {"purge_tags": True, "roles": [
        {"name": "cluster", "description": "control plane", "assume_role_policy_document": trust,
         "managed_policies": [policy], "tags": {"meridian:layer": "eks"}},
        {"name": "node", "description": "nodes", "assume_role_policy_document": trust, "managed_policies": [], "tags": {}},
    ]}
    iam.take()
    predicted = service.ensure(params, check_mode=True)
    assert predicted["changed"] is True and [role["arn"] for role in predicted["roles"]] == ["", ""]
    assert iam.take() == Counter(read=2)
    created = service.ensure(params, check_mode=False)
    assert created["roles"][0]["arn"].endswith(":role/cluster")
    iam.take()
    assert service.ensure(params, check_mode=False)["changed"] is False
    assert iam.take() == Counter(read=4)
    detached = {"purge_tags": True, "roles": [dict(params["roles"][0], managed_policies=[])]}
    diff = service.ensure(detached, check_mode=True)["diff"]
    assert diff["before"]["cluster"]["managed_policies"] == [policy] and diff["after"]["cluster"]["managed_policies"] == []
    assert service.ensure(detached, check_mode=False)["changed"] is True
    assert iam.list_attached_role_policies(RoleName="cluster")["AttachedPolicies"] == []


def test_cluster_delete_in_check_mode_counts_node_groups_the_run_deletes_first(aws):
    ec2 = CountingClient("ec2")
    subnet = ec2.create_subnet(VpcId=ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"], CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    eks = CountingClient("eks")
    eks.create_cluster(name="c", version="1.34", roleArn="arn:aws:iam::123456789012:role/r", resourcesVpcConfig={"subnetIds": [subnet]})
    eks.create_nodegroup(clusterName="c", nodegroupName="system", subnets=[subnet], nodeRole="arn:aws:iam::123456789012:role/n")
    service = EksClusterService(eks, wait_timeout=5, delay=0)
    with pytest.raises(AnsibleAWSError, match=r"still has node groups \['system'\]"):
        service.ensure_absent({"name": "c", "wait": False}, check_mode=True)
    predicted = service.ensure_absent({"name": "c", "wait": False, "nodegroups_deleted_before": ["system"]}, check_mode=True)
    assert predicted["changed"] is True and eks.describe_cluster(name="c")["cluster"]["name"] == "c"
    # Outside check mode the list is no excuse: the node group must really be gone.
    with pytest.raises(AnsibleAWSError, match="still has node groups"):
        service.ensure_absent({"name": "c", "wait": False, "nodegroups_deleted_before": ["system"]}, check_mode=False)


def test_vpc_found_by_tags_is_created_then_three_reads(ec2):
    from ansible_collections.meridian.observability.plugins.module_utils._aws.vpc import VpcService

    service = VpcService(ec2)
    params = {"filters": {"tag:meridian:region": "us-east-1"}, "cidr_block": "10.64.0.0/16", "dns_support": True,
              "dns_hostnames": True, "tags": {"Name": "meridian-bench", "meridian:region": "us-east-1"}, "purge_tags": True}
    ec2.take()
    assert service.ensure(params, check_mode=True)["changed"] is True and ec2.take() == Counter(read=1)
    created = service.ensure(params, check_mode=False)["vpc"]["VpcId"]
    assert ec2.describe_vpc_attribute(VpcId=created, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"] is True
    ec2.take()
    again = service.ensure(params, check_mode=False)
    assert again["changed"] is False and again["vpc"]["VpcId"] == created and ec2.take() == Counter(read=3)
    # Another CIDR for the same tags is refused before any write; the twin with the real CIDR above converged.
    with pytest.raises(AnsibleAWSError, match=r"do not match the plan's single VPC 10\.65\.0\.0/16\. A region's CIDR never moves"):
        service.ensure(dict(params, cidr_block="10.65.0.0/16"), check_mode=False)
    assert ec2.take() == Counter(read=1)
