#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_vpc_tagged
short_description: Manage the one VPC found by its tags, in three reads
version_added: 0.1.0
description:
  - Finds the VPC by O(filters) (tag filters; one DescribeVpcs call), creates it when none matches, and keeps its
    DNS attributes and tags in line. A no-change run reads DescribeVpcs once and DescribeVpcAttribute once per DNS
    attribute; amazon.aws.ec2_vpc_net_info and amazon.aws.ec2_vpc_net together read about five times as much.
  - Several VPCs matching O(filters), or one whose CIDR is not O(cidr_block), are refused before any change, because
    a VPC's CIDR never moves.
author:
  - Meridian Platform Engineering (@meridian-platform)
options:
  filters:
    description: EC2 filters (such as C(tag:meridian:region)) that match this VPC and no other.
    type: dict
    required: true
  cidr_block:
    description: The VPC's primary IPv4 CIDR.
    type: str
    required: true
  dns_support:
    description: Amazon DNS resolution in the VPC.
    type: bool
    default: true
  dns_hostnames:
    description: DNS hostnames for instances with public addresses.
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
attributes:
  check_mode:
    description: Can run in check mode and return the changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
"""

EXAMPLES = r"""
- name: The region's VPC
  meridian.observability.ec2_vpc_tagged:
    filters: {"tag:meridian:environment": prod, "tag:meridian:region": us-east-1}
    cidr_block: 10.64.0.0/16
    tags: {Name: meridian-prod-us-east-1, meridian:environment: prod, meridian:region: us-east-1}
  register: vpc
"""

RETURN = r"""
vpc_id:
  description: Id of the VPC; empty in check mode when it is still to be created.
  returned: always
  type: str
  sample: vpc-0123456789abcdef0
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.meridian.observability.plugins.module_utils._aws.common import TAGS_ARGUMENT_SPEC
from ansible_collections.meridian.observability.plugins.module_utils._aws.vpc import VpcService


def main() -> None:
    argument_spec = dict(
        filters=dict(type="dict", required=True),
        cidr_block=dict(type="str", required=True),
        dns_support=dict(type="bool", default=True),
        dns_hostnames=dict(type="bool", default=True),
    ) | TAGS_ARGUMENT_SPEC
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    if not module.params["filters"]:
        module.fail_json(msg="filters is empty: it would match every VPC of the region; give the tags that identify this one.")
    service = VpcService(module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(retries=10)))
    try:
        result = service.ensure(module.params, check_mode=module.check_mode)
    except AnsibleAWSError as error:
        module.fail_json_aws_error(error)
    module.exit_json(changed=result["changed"], vpc_id=(result["vpc"] or {}).get("VpcId", ""),
                     diff=result["diff"] if module._diff else {})


if __name__ == "__main__":
    main()
