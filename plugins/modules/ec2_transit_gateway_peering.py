#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_transit_gateway_peering
short_description: Request, accept, tag and delete a Transit Gateway peering attachment
version_added: 0.1.0
description:
  - Ensures one peering attachment between a local Transit Gateway (in O(region)) and a peer Transit Gateway
    (in O(peer_region)). The attachment is found by the pair of gateway ids in either direction, so running the
    module again, or from the other side, never creates a second peering.
  - With O(accept=true) the module also accepts the request in the peer region, using the same credentials, and
    puts the same tags on the peer side (each side of a peering keeps its own tags in AWS).
  - amazon.aws and community.aws have no module for peering attachments; this one follows their conventions.
author:
  - Meridian Platform Engineering (@meridian-platform)
options:
  transit_gateway_id:
    description: The local (requesting) Transit Gateway, in O(region).
    type: str
    required: true
  peer_transit_gateway_id:
    description: The peer (accepting) Transit Gateway, in O(peer_region).
    type: str
    required: true
  peer_region:
    description: Region of the peer Transit Gateway.
    type: str
    required: true
  peer_account_id:
    description: Account that owns the peer Transit Gateway. Required when O(state=present).
    type: str
  accept:
    description:
      - Accept the request in O(peer_region) (the credentials must be allowed to do so there).
      - With V(false) the attachment stays C(pendingAcceptance) until the peer account accepts it.
    type: bool
    default: true
  state:
    description: Whether the peering exists.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: Wait until the attachment is C(available) (or C(deleted) when O(state=absent)).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for a state change.
    type: int
    default: 600
attributes:
  check_mode:
    description: Can run in check mode and return the changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
notes:
  - Routes over the peering are static; see M(meridian.observability.ec2_transit_gateway_route).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Peer the eu-west-1 gateway with the hub in us-east-1 and accept on the hub side
  meridian.observability.ec2_transit_gateway_peering:
    region: eu-west-1
    transit_gateway_id: tgw-0123456789abcdef0
    peer_transit_gateway_id: tgw-0fedcba9876543210
    peer_region: us-east-1
    peer_account_id: "123456789012"
    tags:
      meridian:environment: dev
      meridian:region: eu-west-1

- name: Remove the peering (from either side)
  meridian.observability.ec2_transit_gateway_peering:
    region: eu-west-1
    transit_gateway_id: tgw-0123456789abcdef0
    peer_transit_gateway_id: tgw-0fedcba9876543210
    peer_region: us-east-1
    state: absent
"""

RETURN = r"""
transit_gateway_peering_attachment:
  description: The attachment as the local region describes it; empty when absent.
  returned: always
  type: dict
  contains:
    transit_gateway_attachment_id:
      description: Id of the attachment (the same in both regions).
      type: str
      sample: tgw-attach-0123456789abcdef0
    state:
      description: State of the attachment.
      type: str
      sample: available
    requester_tgw_info:
      description: Owner, region and gateway of the requesting side.
      type: dict
    accepter_tgw_info:
      description: Owner, region and gateway of the accepting side.
      type: dict
    tags:
      description: Tags of the local side.
      type: dict
accepter_state:
  description: State of the attachment in the peer region after this run, when O(accept=true).
  returned: when O(accept=true) and O(state=present)
  type: str
  sample: available
"""

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.meridian.observability.plugins.module_utils._aws.common import TAGS_ARGUMENT_SPEC
from ansible_collections.meridian.observability.plugins.module_utils._aws.transit_gateway import TransitGatewayPeeringService


def _describe(attachment: dict | None) -> dict:
    if not attachment:
        return {}
    described = camel_dict_to_snake_dict(attachment, ignore_list=["Tags"])
    described["tags"] = boto3_tag_list_to_ansible_dict(attachment.get("Tags", []))
    return described


def main() -> None:
    argument_spec = dict(
        transit_gateway_id=dict(type="str", required=True),
        peer_transit_gateway_id=dict(type="str", required=True),
        peer_region=dict(type="str", required=True),
        peer_account_id=dict(type="str"),
        accept=dict(type="bool", default=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    ) | TAGS_ARGUMENT_SPEC
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ["peer_account_id"])],
        supports_check_mode=True,
    )
    retry = AWSRetry.jittered_backoff(retries=10)
    requester = module.client("ec2", retry_decorator=retry)
    present = module.params["state"] == "present"
    accepter = module.client("ec2", retry_decorator=retry, region=module.params["peer_region"]) if present and module.params["accept"] else None
    service = TransitGatewayPeeringService(requester, accepter, wait_timeout=module.params["wait_timeout"])
    try:
        if present:
            result = service.ensure_present(module.params, check_mode=module.check_mode)
        else:
            result = service.ensure_absent(module.params, check_mode=module.check_mode)
    except AnsibleAWSError as error:
        module.fail_json_aws_error(error)
    output = dict(changed=result["changed"], transit_gateway_peering_attachment=_describe(result["attachment"]))
    if present and module.params["accept"]:
        output["accepter_state"] = result["accepter_state"]
    module.exit_json(**output)


if __name__ == "__main__":
    main()
