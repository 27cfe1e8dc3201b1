"""moto stands in for AWS in every region: state is kept per region, as in AWS."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.lab

CIDRS = {"us-east-1": "10.231.0.0/16", "eu-west-1": "10.232.0.0/16"}


def _tagged_vpcs(client, tag_value: str) -> set[str]:
    response = client.describe_vpcs(Filters=[{"Name": "tag:lab-test", "Values": [tag_value]}])
    return {vpc["VpcId"] for vpc in response["Vpcs"]}


def test_vpc_is_visible_only_in_its_region(aws_client, unique):
    clients = {region: aws_client("ec2", region) for region in CIDRS}
    created: dict[str, str] = {}
    try:
        for region, cidr in CIDRS.items():
            response = clients[region].create_vpc(
                CidrBlock=cidr,
                TagSpecifications=[{
                    "ResourceType": "vpc",
                    "Tags": [{"Key": "lab-test", "Value": unique}],
                }],
            )
            assert response["Vpc"]["CidrBlock"] == cidr
            created[region] = response["Vpc"]["VpcId"]

        for region, client in clients.items():
            assert _tagged_vpcs(client, unique) == {created[region]}

        # Asking one region for the other region's VPC by id is an error, as in AWS.
        with pytest.raises(ClientError) as err:
            clients["eu-west-1"].describe_vpcs(VpcIds=[created["us-east-1"]])
        assert err.value.response["Error"]["Code"] == "InvalidVpcID.NotFound"
    finally:
        for region, vpc_id in created.items():
            clients[region].delete_vpc(VpcId=vpc_id)

    for client in clients.values():
        assert _tagged_vpcs(client, unique) == set()


def test_availability_zones_belong_to_the_region(aws_client):
    for region in CIDRS:
        zones = aws_client("ec2", region).describe_availability_zones()["AvailabilityZones"]
        assert zones, f"moto returned no zones for {region}"
        assert {zone["RegionName"] for zone in zones} == {region}
        assert all(zone["ZoneName"].startswith(region) for zone in zones)
