#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_vpc_route_tables
short_description: Manage all the route tables of a VPC in one call
version_added: 0.1.0
description:
  - Ensures every listed route table of a VPC (found by its C(Name) tag) exists with its tags, routes and
    associated subnets, from one DescribeRouteTables call for the whole VPC.
  - Only what differs is written; a no-change run is that one read.
  - Routes EC2 adds itself (the local route, propagated routes) are never touched. A subnet associated with another
    table of the VPC is moved to the table that lists it.
  - Tables of the VPC that are not listed are left alone (deleting one is destroy.yml's job).
  - amazon.aws.ec2_vpc_route_table manages one table per call and reads it several times; this module follows its
    conventions for one VPC's whole set.
author:
  - Meridian Platform Engineering (@meridian-platform)
options:
  vpc_id:
    description: The VPC.
    type: str
    required: true
  route_tables:
    description: The route tables, in the order the result lists them.
    type: list
    elements: dict
    required: true
    suboptions:
      tags:
        description: Tags of the table; C(Name) is required and identifies the table within the VPC.
        type: dict
        required: true
      subnets:
        description: Subnet ids associated with the table.
        type: list
        elements: str
        default: []
      routes:
        description: Routes of the table, each with exactly one target.
        type: list
        elements: dict
        default: []
        suboptions:
          dest:
            description: Destination CIDR.
            type: str
            required: true
          gateway_id:
            description: An internet gateway.
            type: str
          nat_gateway_id:
            description: A NAT gateway.
            type: str
          transit_gateway_id:
            description: A Transit Gateway.
            type: str
      purge_routes:
        description: Delete routes of the table that are not listed (never the local or propagated ones).
        type: bool
        default: true
      purge_subnets:
        description: Disassociate subnets that no listed table names.
        type: bool
        default: true
  purge_tags:
    description: Remove tags of a listed table that are not in its O(route_tables[].tags).
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
- name: A public and a private route table
  meridian.observability.ec2_vpc_route_tables:
    vpc_id: vpc-0123456789abcdef0
    route_tables:
      - tags: {Name: public}
        subnets: [subnet-0123456789abcdef0]
        routes: [{dest: 0.0.0.0/0, gateway_id: igw-0123456789abcdef0}]
      - tags: {Name: private-a}
        subnets: [subnet-0123456789abcdef1]
        routes: [{dest: 0.0.0.0/0, nat_gateway_id: nat-0123456789abcdef0}]
"""

RETURN = r"""
route_tables:
  description:
    - One entry per listed table, in the order given. In check mode a table still to be created has an empty
      C(route_table_id).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The table's C(Name) tag.
      type: str
      sample: public
    route_table_id:
      description: Its id.
      type: str
      sample: rtb-0123456789abcdef0
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.meridian.observability.plugins.module_utils._aws.vpc import ROUTE_TARGETS
from ansible_collections.meridian.observability.plugins.module_utils._aws.vpc import RouteTableService


def main() -> None:
    route_spec = dict(
        dest=dict(type="str", required=True),
        gateway_id=dict(type="str"),
        nat_gateway_id=dict(type="str"),
        transit_gateway_id=dict(type="str"),
    )
    argument_spec = dict(
        vpc_id=dict(type="str", required=True),
        route_tables=dict(type="list", elements="dict", required=True, options=dict(
            tags=dict(type="dict", required=True),
            subnets=dict(type="list", elements="str", default=[]),
            routes=dict(type="list", elements="dict", default=[], options=route_spec,
                        required_one_of=[list(ROUTE_TARGETS)], mutually_exclusive=[list(ROUTE_TARGETS)]),
            purge_routes=dict(type="bool", default=True),
            purge_subnets=dict(type="bool", default=True),
        )),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    names = [(table["tags"] or {}).get("Name") for table in module.params["route_tables"]]
    if not all(names) or len(set(names)) != len(names):
        module.fail_json(msg=f"route_tables: every table needs its own tags.Name (got {names}); it is how a table is found again.")
    service = RouteTableService(module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(retries=10)))
    try:
        result = service.ensure(module.params, check_mode=module.check_mode)
    except AnsibleAWSError as error:
        module.fail_json_aws_error(error)
    module.exit_json(changed=result["changed"], route_tables=result["route_tables"], diff=result["diff"] if module._diff else {})


if __name__ == "__main__":
    main()
