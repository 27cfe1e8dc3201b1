"""The AWS gap services against moto in-process: create, converge again unchanged, check mode, delete."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.meridian.observability.plugins.module_utils._aws.eks import EksClusterService
from ansible_collections.meridian.observability.plugins.module_utils._aws.iam_oidc import OpenIdConnectProviderService
from ansible_collections.meridian.observability.plugins.module_utils._aws.transit_gateway import TransitGatewayPeeringService
from ansible_collections.meridian.observability.plugins.module_utils._aws.transit_gateway import TransitGatewayRouteService

ACCOUNT = "123456789012"


def client(service: str, region: str = "us-east-1"):
    raw = boto3.client(service, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    return RetryingBotoClientWrapper(raw, AWSRetry.jittered_backoff(retries=2))


@pytest.fixture
def aws():
    with mock_aws():
        yield


@pytest.fixture
def gateways(aws):
    hub = client("ec2", "us-east-1").create_transit_gateway(Description="hub", aws_retry=True)["TransitGateway"]
    spoke = client("ec2", "eu-west-1").create_transit_gateway(Description="spoke", aws_retry=True)["TransitGateway"]
    return hub, spoke


def peering_params(hub, spoke, **extra):
    params = {"transit_gateway_id": spoke["TransitGatewayId"], "peer_transit_gateway_id": hub["TransitGatewayId"],
              "peer_region": "us-east-1", "peer_account_id": ACCOUNT, "tags": {"meridian:region": "eu-west-1"},
              "purge_tags": True, "wait": True}
    params.update(extra)
    return params


def test_peering_is_requested_accepted_and_then_unchanged(gateways):
    hub, spoke = gateways
    service = TransitGatewayPeeringService(client("ec2", "eu-west-1"), client("ec2", "us-east-1"), wait_timeout=5, delay=0)
    assert service.ensure_present(peering_params(hub, spoke), check_mode=True)["changed"] is True
    assert service.find(client("ec2", "eu-west-1"), spoke["TransitGatewayId"], hub["TransitGatewayId"]) is None

    first = service.ensure_present(peering_params(hub, spoke), check_mode=False)
    assert first["changed"] is True
    assert first["attachment"]["State"] == "available" and first["accepter_state"] == "available"

    again = service.ensure_present(peering_params(hub, spoke), check_mode=False)
    assert again["changed"] is False
    assert again["attachment"]["TransitGatewayAttachmentId"] == first["attachment"]["TransitGatewayAttachmentId"]
    # Requested from the other side, it is still the same peering.
    reverse = TransitGatewayPeeringService(client("ec2", "us-east-1"))
    assert reverse.find(client("ec2", "us-east-1"), hub["TransitGatewayId"], spoke["TransitGatewayId"]) is not None


def test_peering_delete_in_check_mode_changes_nothing_then_deletes(gateways):
    hub, spoke = gateways
    service = TransitGatewayPeeringService(client("ec2", "eu-west-1"), client("ec2", "us-east-1"), wait_timeout=5, delay=0)
    service.ensure_present(peering_params(hub, spoke), check_mode=False)
    assert service.ensure_absent(peering_params(hub, spoke), check_mode=True)["changed"] is True
    assert service.find(client("ec2", "eu-west-1"), spoke["TransitGatewayId"], hub["TransitGatewayId"]) is not None
    assert service.ensure_absent(peering_params(hub, spoke), check_mode=False)["changed"] is True
    assert service.ensure_absent(peering_params(hub, spoke), check_mode=False)["changed"] is False


def test_static_route_is_created_once_and_removed(gateways):
    hub, _ = gateways
    table = hub["Options"]["AssociationDefaultRouteTableId"]
    service = TransitGatewayRouteService(client("ec2", "us-east-1"))
    params = {"route_table_id": table, "destination_cidr_block": "10.113.0.0/16",
              "transit_gateway_attachment_id": "tgw-attach-0123456789abcdef0", "state": "present", "blackhole": False}
    assert service.ensure(params, check_mode=True)["changed"] is True
    assert service.find(table, "10.113.0.0/16") is None
    assert service.ensure(params, check_mode=False)["changed"] is True
    assert service.ensure(params, check_mode=False)["changed"] is False
    assert service.ensure(dict(params, state="absent"), check_mode=False)["changed"] is True
    assert service.find(table, "10.113.0.0/16") is None


def test_oidc_provider_converges_tags_and_thumbprints(aws):
    service = OpenIdConnectProviderService(client("iam"))
    params = {"url": "oidc.eks.eu-west-1.amazonaws.com/id/ABC", "client_ids": ["sts.amazonaws.com"],
              "thumbprints": ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"], "tags": {"meridian:layer": "eks"},
              "purge_tags": True, "state": "present"}
    created = service.ensure(params, check_mode=False)
    assert created["changed"] is True and created["arn"].endswith("oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC")
    assert service.ensure(params, check_mode=False)["changed"] is False
    retagged = dict(params, tags={"meridian:layer": "eks", "owner": "platform"})
    assert service.ensure(retagged, check_mode=True)["changed"] is True
    assert service.ensure(retagged, check_mode=False)["changed"] is True
    assert service.ensure(retagged, check_mode=False)["changed"] is False
    assert service.ensure(dict(params, state="absent"), check_mode=False)["changed"] is True
    assert service.find(params["url"]) is None


def test_cluster_is_created_encrypted_and_refuses_an_upgrade(aws):
    subnets = [client("ec2").create_subnet(VpcId=client("ec2").create_vpc(CidrBlock="10.0.0.0/16", aws_retry=True)["Vpc"]["VpcId"],
                                           CidrBlock="10.0.0.0/24", aws_retry=True)["Subnet"]["SubnetId"]]
    service = EksClusterService(client("eks"), wait_timeout=5, delay=0)
    params = {"name": "meridian-lab-us-east-1", "version": "1.34", "role_arn": f"arn:aws:iam::{ACCOUNT}:role/cluster",
              "subnets": subnets, "security_groups": [], "endpoint_public_access": False, "endpoint_private_access": True,
              "secrets_kms_key_arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234", "tags": {"meridian:layer": "eks"},
              "purge_tags": True, "wait": True}
    created = service.ensure_present(params, check_mode=False)
    assert created["changed"] is True
    assert created["cluster"]["encryptionConfig"][0]["provider"]["keyArn"].endswith("key/1234")
    assert service.ensure_present(params, check_mode=False)["changed"] is False
    with pytest.raises(AnsibleAWSError, match="upgrades are a separate"):
        service.ensure_present(dict(params, version="1.35"), check_mode=True)


def test_an_aws_error_names_the_action_and_keeps_the_botocore_cause(aws):
    """What fail_json_aws_error shows: our description, then AWS's own code and message (from the cause)."""
    service = EksClusterService(client("eks"), wait_timeout=5, delay=0)
    params = {"name": "meridian-lab-us-east-1", "version": "1.34", "role_arn": "not-an-arn", "subnets": ["subnet-1"],
              "security_groups": [], "endpoint_public_access": False, "endpoint_private_access": True, "wait": False}
    with pytest.raises(AnsibleAWSError) as raised:
        service.ensure_present(params, check_mode=False)
    assert raised.value.message == "Failed to create cluster meridian-lab-us-east-1"
    assert raised.value.exception.response["Error"]["Code"] == "InvalidParameterException"
    assert str(raised.value).startswith("Failed to create cluster meridian-lab-us-east-1: An error occurred (InvalidParameterException)")


def test_a_missing_cluster_is_none_not_an_error(aws):
    service = EksClusterService(client("eks"), wait_timeout=5, delay=0)
    assert service.describe("meridian-lab-us-east-1") is None
    assert service.ensure_absent({"name": "meridian-lab-us-east-1", "wait": True}, check_mode=False)["changed"] is False
