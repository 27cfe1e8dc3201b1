"""`site.yml -i inventories/dev -l eu-west-1 --check`, with the dev account's AWS played by the lab's moto.

Check mode must run on the limited region only and create nothing: afterwards no resource tagged for dev exists.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import boto3
import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab


def _dev_session(endpoint: str, region: str):
    topology = yaml.safe_load((REPO / "inventories" / "dev" / "topology.yml").read_text())
    sts = boto3.client("sts", endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    credentials = sts.assume_role(RoleArn=topology["environment"]["aws_role_arn"], RoleSessionName="check-mode-test")["Credentials"]
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"], region_name=region)


def _dev_resources(endpoint: str, region: str) -> list[str]:
    # Described resource by resource: moto keeps a deleted resource's tags in DescribeTags.
    ec2 = _dev_session(endpoint, region).client("ec2", endpoint_url=endpoint)
    dev = [{"Name": "tag:meridian:environment", "Values": ["dev"]}]
    found = [vpc["VpcId"] for vpc in ec2.describe_vpcs(Filters=dev)["Vpcs"]]
    found += [subnet["SubnetId"] for subnet in ec2.describe_subnets(Filters=dev)["Subnets"]]
    found += [gateway["TransitGatewayId"] for gateway in ec2.describe_transit_gateways(Filters=dev)["TransitGateways"]
              if gateway["State"] not in ("deleted", "deleting")]
    found += [gateway["InternetGatewayId"] for gateway in ec2.describe_internet_gateways(Filters=dev)["InternetGateways"]]
    return sorted(found)


def test_the_probe_sees_resources_tagged_for_dev(lab):
    """Guards the test below: a dev-tagged VPC in the dev account is found by _dev_resources."""
    endpoint = lab["aws"]["endpoint"]
    ec2 = _dev_session(endpoint, "eu-west-1").client("ec2", endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.200.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "meridian:environment", "Value": "dev"}]}])["Vpc"]["VpcId"]
    try:
        assert vpc in _dev_resources(endpoint, "eu-west-1")
        assert vpc not in _dev_resources(endpoint, "us-east-1")
    finally:
        ec2.delete_vpc(VpcId=vpc)
    assert vpc not in _dev_resources(endpoint, "eu-west-1")


def test_dev_check_mode_runs_only_on_the_limited_region_and_creates_nothing(lab):
    endpoint = lab["aws"]["endpoint"]
    before = {region: _dev_resources(endpoint, region) for region in ("us-east-1", "eu-west-1")}
    extra = {
        "network_aws_endpoint_url": endpoint, "eks_aws_endpoint_url": endpoint,
        "network_aws_base_credentials": {"access_key": "testing", "secret_key": "testing"},
        "eks_aws_base_credentials": {"access_key": "testing", "secret_key": "testing"},
    }
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "playbooks/site.yml", "-i", "inventories/dev",
         "-l", "eu-west-1", "--check", "-e", yaml.safe_dump(extra, default_flow_style=True).strip()],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    recap = result.stdout[result.stdout.index("PLAY RECAP"):]
    assert re.search(r"^eu-west-1\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", recap, re.M)
    assert "us-east-1" not in recap and "[us-east-1]" not in result.stdout
    # Honest check mode: it predicts the creates on a new region ...
    assert re.search(r"^eu-west-1\s+: ok=\d+\s+changed=[1-9]", recap, re.M), recap
    # ... and makes none of them.
    after = {region: _dev_resources(endpoint, region) for region in ("us-east-1", "eu-west-1")}
    assert after == before
