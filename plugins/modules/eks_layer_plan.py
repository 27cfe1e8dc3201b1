#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: eks_layer_plan
short_description: Which kinds of a region's EKS layer differ from the desired state, in one read per object
version_added: 0.1.0
description:
  - Reads the IAM roles, the KMS key behind its alias, the network layer's private subnets, the cluster, its node
    groups and its OIDC provider (about thirteen reads, no write) and reports per kind whether anything differs
    from the desired state given in the same terms as the eks role's tasks.
  - The roles, key, cluster and OIDC provider are compared by the services of
    M(meridian.observability.iam_service_roles), M(meridian.observability.kms_aliased_key),
    M(meridian.observability.eks_cluster) and M(meridian.observability.iam_openid_connect_provider) in check mode;
    node groups on every attribute the eks role sets on them.
  - A kind that differs makes every later kind (in the order of RV(differs)) differ too.
  - Never changes anything, so it reports C(changed=false) and runs the same in check mode.
author:
  - Meridian Platform Engineering (@meridian-platform)
options:
  iam:
    description: The options of M(meridian.observability.iam_service_roles) (C(roles), C(purge_tags)); the first role is the cluster's, the second the nodes'.
    type: dict
    required: true
  kms:
    description: The options of M(meridian.observability.kms_aliased_key) (C(alias), C(description), C(enable_key_rotation), C(tags), C(purge_tags)).
    type: dict
    required: true
  private_subnet_filters:
    description: EC2 filters that find the cluster's subnets (the network layer's private subnets).
    type: dict
    required: true
  cluster:
    description:
      - The options of M(meridian.observability.eks_cluster) without C(role_arn), C(subnets) and
        C(secrets_kms_key_arn), which come from what was read (C(name), C(version), C(endpoint_public_access),
        C(endpoint_private_access), C(tags), C(purge_tags)).
    type: dict
    required: true
  nodegroups:
    description:
      - The node groups (C(name), C(min_size), C(max_size), C(desired_size), C(instance_types), optional C(disk_size),
        C(labels), C(tags), C(max_unavailable)); their role and subnets are the cluster's.
    type: list
    elements: dict
    required: true
  oidc:
    description: The options of M(meridian.observability.iam_openid_connect_provider) without C(url), which is the cluster's issuer.
    type: dict
    required: true
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
- name: Plan | Which kinds of the EKS layer differ
  meridian.observability.eks_layer_plan:
    iam: {roles: [], purge_tags: true}
    kms: {alias: alias/meridian-dev-us-east-1-eks-secrets, description: secrets, enable_key_rotation: true, tags: {}, purge_tags: true}
    private_subnet_filters: {"tag:meridian:layer": network, "tag:meridian:tier": private}
    cluster: {name: meridian-dev-us-east-1, version: "1.34", endpoint_public_access: false, endpoint_private_access: true, tags: {}, purge_tags: true}
    nodegroups: []
    oidc: {client_ids: [sts.amazonaws.com], thumbprints: [9e99a48a9960b14926bb7f3b02e22da2b0ab7280], tags: {}, purge_tags: true}
  register: eks_plan
"""

RETURN = r"""
differs:
  description: Per kind (C(iam), C(kms), C(cluster), C(nodegroups), C(oidc)), whether its task must run.
  returned: always
  type: dict
  sample: {iam: false, kms: false, cluster: false, nodegroups: false, oidc: false}
differing:
  description: The kinds that differ by themselves (not only because an earlier kind does), for the log.
  returned: always
  type: list
  elements: str
roles:
  description: As M(meridian.observability.iam_service_roles) returns them in check mode (C(name), C(arn), ...).
  returned: always
  type: list
  elements: dict
key_arn:
  description: ARN of the secrets key; empty when it does not exist.
  returned: always
  type: str
private_subnets:
  description: The private subnets found (C(subnet_id), C(cidr_block)).
  returned: always
  type: list
  elements: dict
cluster:
  description: The cluster as M(meridian.observability.eks_cluster) returns it; empty when absent.
  returned: always
  type: dict
nodegroups:
  description: The cluster's node groups as M(meridian.observability.eks_cluster) returns them.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.meridian.observability.plugins.module_utils._aws.plan import EksPlan
from ansible_collections.meridian.observability.plugins.module_utils._aws.plan import missing_keys

REQUIRED_KEYS = {
    "iam": ("roles",),
    "kms": ("alias", "description", "enable_key_rotation", "tags"),
    "cluster": ("name", "version", "endpoint_public_access", "endpoint_private_access", "tags"),
    "oidc": ("client_ids", "thumbprints", "tags"),
}


def main() -> None:
    argument_spec = dict(
        iam=dict(type="dict", required=True),
        kms=dict(type="dict", required=True),
        private_subnet_filters=dict(type="dict", required=True),
        cluster=dict(type="dict", required=True),
        nodegroups=dict(type="list", elements="dict", required=True),
        oidc=dict(type="dict", required=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    problems = missing_keys(module.params, REQUIRED_KEYS)
    if len(module.params["iam"].get("roles") or []) != 2:
        problems.append("iam.roles must list the cluster role, then the node role")
    if problems:
        module.fail_json(msg="; ".join(problems))
    retry = AWSRetry.jittered_backoff(retries=10)
    plan = EksPlan(*(module.client(service, retry_decorator=retry) for service in ("iam", "kms", "ec2", "eks")))
    try:
        result = plan.compare(module.params)
    except (AnsibleAWSError, ValueError) as error:
        if isinstance(error, ValueError):
            module.fail_json(msg=f"iam.roles: assume_role_policy_document is not a JSON policy: {error}")
        module.fail_json_aws_error(error)
    own = result.pop("own")
    result["cluster"] = camel_dict_to_snake_dict(result["cluster"], ignore_list=["tags"])
    result["nodegroups"] = [camel_dict_to_snake_dict(group, ignore_list=["tags", "labels"]) for group in result["nodegroups"]]
    module.exit_json(changed=False, differing=[kind for kind, differs in own.items() if differs], **result)


if __name__ == "__main__":
    main()
