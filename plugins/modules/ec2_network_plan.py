#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_network_plan
short_description: Which kinds of a region's network differ from the desired state, in one read per kind
version_added: 0.1.0
description:
  - Reads the VPC found by its tags, its subnets, internet gateway, NAT gateways and their Elastic IPs, the Transit
    Gateway with its VPC attachment, and the route tables (about ten reads, no write), and reports per kind whether
    anything differs from the desired state given in the same terms as the network role's tasks.
  - The VPC, subnets and route tables are compared by the services of M(meridian.observability.ec2_vpc_tagged),
    M(meridian.observability.ec2_vpc_subnets) and M(meridian.observability.ec2_vpc_route_tables) in check mode; the
    gateways, Transit Gateway and attachment on every attribute the network role sets on them.
  - A kind that differs makes every later kind (in the order of RV(differs)) differ too, because its objects may get
    new ids that the later kinds refer to.
  - Never changes anything, so it reports C(changed=false) and runs the same in check mode.
author:
  - Meridian Platform Engineering (@meridian-platform)
options:
  vpc:
    description: The options of M(meridian.observability.ec2_vpc_tagged) (C(filters), C(cidr_block), C(dns_support), C(dns_hostnames), C(tags)).
    type: dict
    required: true
  subnets:
    description: The O(meridian.observability.ec2_vpc_subnets#module:subnets) list (C(cidr), C(az), C(map_public), C(tags)).
    type: list
    elements: dict
    required: true
  gateways:
    description:
      - C(internet_gateway_tags), the tags of the VPC's internet gateway; C(nat_azs), the AZ suffixes that have a NAT
        gateway; C(eip_filters) and C(nat_gateway_filters), the filters that find the NAT gateways' Elastic IPs and the
        NAT gateways (tagged C(meridian:az)).
    type: dict
    required: true
  transit_gateway:
    description:
      - C(filters) that find the region's Transit Gateway and its C(tags); C(attachment_subnets) (CIDRs),
        C(attachment_dns_support) and C(attachment_tags) of its VPC attachment.
    type: dict
    required: true
  route_tables:
    description:
      - The route tables as O(meridian.observability.ec2_vpc_route_tables#module:route_tables) takes them, except that
        C(subnets) are CIDRs and each route has C(dest) and a symbolic C(target) (C(internet_gateway),
        C(nat_gateway:<az>) or C(transit_gateway)) instead of an id.
    type: list
    elements: dict
    required: true
  peering:
    description:
      - A spoke's peering with the hub, as the network role's peering tasks set it up; omitted for the hub.
      - C(hub_region); C(hub_filters) that find the hub's Transit Gateway there; C(tags) of the peering (both sides);
        C(peer_cidrs), the VPC ranges the spoke's gateway routes over the peering; C(vpc_cidr), the range the hub's
        gateway routes back.
    type: dict
attributes:
  check_mode:
    description: Reads only, in check mode as in a normal run.
    support: full
  diff_mode:
    description: Returns no diff; the per-kind modules that run for a differing kind do.
    support: none
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Plan | Which kinds of the network differ
  meridian.observability.ec2_network_plan:
    vpc: {filters: {"tag:meridian:region": us-east-1}, cidr_block: 10.64.0.0/16, dns_support: true, dns_hostnames: true, tags: {Name: net}}
    subnets: [{cidr: 10.64.0.0/20, az: us-east-1a, map_public: true, tags: {Name: net-public-a}}]
    gateways: {internet_gateway_tags: {Name: net}, nat_azs: [a], eip_filters: {"tag:meridian:tier": nat}, nat_gateway_filters: {"tag:Name": net-nat-a}}
    transit_gateway: {filters: {"tag:Name": net}, tags: {Name: net}, attachment_subnets: [], attachment_dns_support: true, attachment_tags: {Name: net}}
    route_tables: [{tags: {Name: net-public}, subnets: [10.64.0.0/20], routes: [{dest: 0.0.0.0/0, target: internet_gateway}]}]
  register: network_plan
"""

RETURN = r"""
differs:
  description:
    - Per kind (C(vpc), C(subnets), C(gateways), C(transit_gateway), C(route_tables), C(peering)), whether its tasks must
      run. C(peering) is false without O(peering).
  returned: always
  type: dict
  sample: {vpc: false, subnets: false, gateways: false, transit_gateway: false, route_tables: true, peering: true}
differing:
  description: The kinds that differ by themselves (not only because an earlier kind does), for the log.
  returned: always
  type: list
  elements: str
  sample: [route_tables]
vpc_id:
  description: The VPC's id; empty when it does not exist.
  returned: always
  type: str
subnets:
  description: As M(meridian.observability.ec2_vpc_subnets) returns them (C(cidr), C(subnet_id), C(az)).
  returned: always
  type: list
  elements: dict
internet_gateway_id:
  description: The internet gateway attached to the VPC; empty when there is none.
  returned: always
  type: str
eip_by_az:
  description: The NAT gateways' Elastic IP allocation ids by AZ suffix.
  returned: always
  type: dict
nat_gateway_by_az:
  description: The NAT gateway ids by AZ suffix.
  returned: always
  type: dict
transit_gateway:
  description: C(transit_gateway_id) and C(association_default_route_table_id) of the region's Transit Gateway; empty when none.
  returned: always
  type: dict
transit_gateway_attachment_id:
  description: The VPC attachment's id; empty when there is none.
  returned: always
  type: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.meridian.observability.plugins.module_utils._aws.plan import NetworkPlan
from ansible_collections.meridian.observability.plugins.module_utils._aws.plan import missing_keys

REQUIRED_KEYS = {
    "vpc": ("filters", "cidr_block", "dns_support", "dns_hostnames", "tags"),
    "gateways": ("internet_gateway_tags", "nat_azs", "eip_filters", "nat_gateway_filters"),
    "transit_gateway": ("filters", "tags", "attachment_subnets", "attachment_dns_support", "attachment_tags"),
    "peering": ("hub_region", "hub_filters", "tags", "peer_cidrs", "vpc_cidr"),
}


def main() -> None:
    argument_spec = dict(
        vpc=dict(type="dict", required=True),
        subnets=dict(type="list", elements="dict", required=True),
        gateways=dict(type="dict", required=True),
        transit_gateway=dict(type="dict", required=True),
        route_tables=dict(type="list", elements="dict", required=True),
        peering=dict(type="dict"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    problems = missing_keys(module.params, {option: keys for option, keys in REQUIRED_KEYS.items()
                                            if option != "peering" or module.params["peering"]})
    if problems:
        module.fail_json(msg="; ".join(problems))
    retry = AWSRetry.jittered_backoff(retries=10)
    peering = module.params["peering"]
    plan = NetworkPlan(module.client("ec2", retry_decorator=retry),
                       module.client("ec2", retry_decorator=retry, region=peering["hub_region"]) if peering else None)
    try:
        result = plan.compare(dict(module.params, vpc=dict(module.params["vpc"], purge_tags=True)))
    except AnsibleAWSError as error:
        module.fail_json_aws_error(error)
    own = result.pop("own")
    module.exit_json(changed=False, differing=[kind for kind, differs in own.items() if differs], **result)


if __name__ == "__main__":
    main()
