#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_vpc_subnets
short_description: Manage all the subnets of a VPC in one call
version_added: 0.1.0
description:
  - Ensures every listed subnet of a VPC (identified by its CIDR) exists in its availability zone with its tags
    and public IP mapping, from one DescribeSubnets call for the whole VPC.
  - Only what differs is written; a no-change run is that one read.
  - Subnets of the VPC that are not listed are left alone. A listed CIDR that exists in another availability zone
    is refused (a subnet cannot move).
  - amazon.aws.ec2_vpc_subnet manages one subnet per call and reads it several times; this module follows its
    conventions for one VPC's whole set.
author:
  - Meridian Platform Engineering (@meridian-platform)
options:
  vpc_id:
    description: The VPC.
    type: str
    required: true
  subnets:
    description: The subnets, in the order the result lists them.
    type: list
    elements: dict
    required: true
    suboptions:
      cidr:
        description: IPv4 range of the subnet; identifies it within the VPC.
        type: str
        required: true
      az:
        description: Availability zone, such as C(us-east-1a).
        type: str
        required: true
      map_public:
        description: Give instances launched here a public IPv4 address.
        type: bool
        default: false
      tags:
        description: Tags of the subnet.
        type: dict
        default: {}
  purge_tags:
    description: Remove tags of a listed subnet that are not in its O(subnets[].tags).
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check mode and return the changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Public and private subnets in two AZs
  meridian.observability.ec2_vpc_subnets:
    vpc_id: vpc-0123456789abcdef0
    subnets:
      - {cidr: 10.64.0.0/20, az: us-east-1a, map_public: true, tags: {Name: public-a}}
      - {cidr: 10.64.16.0/20, az: us-east-1b, map_public: true, tags: {Name: public-b}}
      - {cidr: 10.64.32.0/20, az: us-east-1a, tags: {Name: private-a}}
      - {cidr: 10.64.48.0/20, az: us-east-1b, tags: {Name: private-b}}
  register: subnets
"""

RETURN = r"""
subnets:
  description:
    - One entry per listed subnet, in the order given. In check mode a subnet still to be created has an empty
      C(subnet_id).
  returned: always
  type: list
  elements: dict
  contains:
    cidr:
      description: The subnet's CIDR.
      type: str
      sample: 10.64.0.0/20
    subnet_id:
      description: Its id.
      type: str
      sample: subnet-0123456789abcdef0
    az:
      description: Its availability zone.
      type: str
      sample: us-east-1a
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.meridian.observability.plugins.module_utils._aws.vpc import SubnetService


def main() -> None:
    argument_spec = dict(
        vpc_id=dict(type="str", required=True),
        subnets=dict(type="list", elements="dict", required=True, options=dict(
            cidr=dict(type="str", required=True),
            az=dict(type="str", required=True),
            map_public=dict(type="bool", default=False),
            tags=dict(type="dict", default={}),
        )),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    cidrs = [subnet["cidr"] for subnet in module.params["subnets"]]
    duplicates = sorted({cidr for cidr in cidrs if cidrs.count(cidr) > 1})
    if duplicates:
        module.fail_json(msg=f"subnets: CIDR {', '.join(duplicates)} is listed more than once; each subnet needs its own range.")
    service = SubnetService(module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(retries=10)))
    try:
        result = service.ensure(module.params, check_mode=module.check_mode)
    except AnsibleAWSError as error:
        module.fail_json_aws_error(error)
    module.exit_json(changed=result["changed"], subnets=result["subnets"], diff=result["diff"] if module._diff else {})


if __name__ == "__main__":
    main()
