"""`site.yml -i inventories/dev -l eu-west-1 --check --tags network,eks`, with the dev account's AWS played by the lab's moto.

Check mode must run on the limited region only and create nothing: afterwards no resource tagged for dev exists.
Only the AWS layers run: dev's Kubernetes, Vault and Keycloak do not exist here (the later layers' check mode is
tested against the lab by their own tests).
"""

from __future__ import annotations

import re

import boto3
import pytest
import yaml

from tests.support.ansible import run_ansible
from tests.support.aws import region_vars
from tests.support.aws import tag_filters

pytestmark = pytest.mark.lab
REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(scope="module")
def dev():
    """The dev inventory's view of eu-west-1: the role to assume and the environment tag every resource carries."""
    return region_vars("inventories/dev", "eu-west-1")


def _dev_session(dev: dict, endpoint: str, region: str):
    sts = boto3.client("sts", endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    credentials = sts.assume_role(RoleArn=dev["meridian_environment"]["aws_role_arn"], RoleSessionName="check-mode-test")["Credentials"]
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"], region_name=region)


def _dev_resources(dev: dict, endpoint: str, region: str) -> list[str]:
    # Described resource by resource: moto keeps a deleted resource's tags in DescribeTags.
    ec2 = _dev_session(dev, endpoint, region).client("ec2", endpoint_url=endpoint)
    environment = tag_filters({"meridian:environment": dev["meridian_ownership_tags"]["meridian:environment"]})
    found = [vpc["VpcId"] for vpc in ec2.describe_vpcs(Filters=environment)["Vpcs"]]
    found += [subnet["SubnetId"] for subnet in ec2.describe_subnets(Filters=environment)["Subnets"]]
    found += [gateway["TransitGatewayId"] for gateway in ec2.describe_transit_gateways(Filters=environment)["TransitGateways"]
              if gateway["State"] not in ("deleted", "deleting")]
    found += [gateway["InternetGatewayId"] for gateway in ec2.describe_internet_gateways(Filters=environment)["InternetGateways"]]
    return sorted(found)


def test_the_probe_sees_resources_tagged_for_dev(lab, dev):
    """Guards the test below: a dev-tagged VPC in the dev account is found by _dev_resources."""
    endpoint = lab["aws"]["endpoint"]
    ec2 = _dev_session(dev, endpoint, "eu-west-1").client("ec2", endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.200.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "meridian:environment", "Value": "dev"}]}])["Vpc"]["VpcId"]
    try:
        assert vpc in _dev_resources(dev, endpoint, "eu-west-1")
        assert vpc not in _dev_resources(dev, endpoint, "us-east-1")
    finally:
        ec2.delete_vpc(VpcId=vpc)
    assert vpc not in _dev_resources(dev, endpoint, "eu-west-1")


def test_dev_check_mode_runs_only_on_the_limited_region_and_creates_nothing(lab, dev):
    endpoint = lab["aws"]["endpoint"]
    before = {region: _dev_resources(dev, endpoint, region) for region in REGIONS}
    # Every AWS layer takes its endpoint and credentials from the aws_session role, so they are given once.
    extra = {"aws_session_endpoint_url": endpoint, "aws_session_base_credentials": {"access_key": "testing", "secret_key": "testing"}}
    result = run_ansible("ansible-playbook", "playbooks/site.yml", "-i", "inventories/dev", "-l", "eu-west-1", "--check",
                         "--tags", "network,eks", "-e", yaml.safe_dump(extra, default_flow_style=True).strip(), check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    recap = result.stdout[result.stdout.index("PLAY RECAP"):]
    assert re.search(r"^eu-west-1\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", recap, re.M)
    assert "us-east-1" not in recap and "[us-east-1]" not in result.stdout
    # Honest check mode: it predicts the creates on a new region ...
    assert re.search(r"^eu-west-1\s+: ok=\d+\s+changed=[1-9]", recap, re.M), recap
    # ... and makes none of them.
    after = {region: _dev_resources(dev, endpoint, region) for region in REGIONS}
    assert after == before
