#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_transit_gateway_route
short_description: Manage a static route in a Transit Gateway route table
version_added: 0.1.0
description:
  - Creates, replaces or deletes one static route of a Transit Gateway route table, pointing at an attachment
    (a VPC, a peering) or dropping traffic (blackhole).
  - Routes have no tags of their own; find the route table and the attachment by their tags first.
  - amazon.aws and community.aws have no module for Transit Gateway routes; this one follows their conventions.
author:
  - Meridian Platform Engineering (@meridian-platform)
options:
  route_table_id:
    description: The Transit Gateway route table.
    type: str
    required: true
  destination_cidr_block:
    description: The destination of the route (exact match).
    type: str
    required: true
  transit_gateway_attachment_id:
    description: Where the route sends traffic. Required when O(state=present) and O(blackhole=false).
    type: str
  blackhole:
    description: Drop traffic to O(destination_cidr_block) instead of forwarding it.
    type: bool
    default: false
  state:
    description: Whether the route exists.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Can run in check mode and return the changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Send the hub's VPC range over the peering attachment
  meridian.observability.ec2_transit_gateway_route:
    region: eu-west-1
    route_table_id: tgw-rtb-0123456789abcdef0
    destination_cidr_block: 10.64.0.0/16
    transit_gateway_attachment_id: tgw-attach-0123456789abcdef0

- name: Remove it
  meridian.observability.ec2_transit_gateway_route:
    region: eu-west-1
    route_table_id: tgw-rtb-0123456789abcdef0
    destination_cidr_block: 10.64.0.0/16
    state: absent
"""

RETURN = r"""
route:
  description: The route after this run; empty when absent (or, in check mode, the route before the change).
  returned: always
  type: dict
  contains:
    destination_cidr_block:
      description: Destination of the route.
      type: str
      sample: 10.64.0.0/16
    state:
      description: C(active) or C(blackhole).
      type: str
      sample: active
    type:
      description: Always C(static) for routes this module manages.
      type: str
      sample: static
"""

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.meridian.observability.plugins.module_utils._aws.transit_gateway import TransitGatewayRouteService


def main() -> None:
    argument_spec = dict(
        route_table_id=dict(type="str", required=True),
        destination_cidr_block=dict(type="str", required=True),
        transit_gateway_attachment_id=dict(type="str"),
        blackhole=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
    )
    params = module.params
    if params["state"] == "present" and not params["blackhole"] and not params["transit_gateway_attachment_id"]:
        module.fail_json(msg="transit_gateway_attachment_id is required when state=present and blackhole=false")
    service = TransitGatewayRouteService(module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(retries=10)))
    try:
        result = service.ensure(params, check_mode=module.check_mode)
    except AnsibleAWSError as error:
        module.fail_json_aws_error(error)
    if not result.get("target_reported", True):
        module.warn(f"The endpoint did not report the attachment of the route to {params['destination_cidr_block']}; left as it is.")
    module.exit_json(changed=result["changed"], route=camel_dict_to_snake_dict(result["route"] or {}))


if __name__ == "__main__":
    main()
