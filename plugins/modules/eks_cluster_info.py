#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: eks_cluster_info
short_description: Describe an EKS cluster and its managed node groups
version_added: 0.1.0
description:
  - Describes a cluster (empty when it does not exist) and its managed node groups.
  - community.aws has no info module for EKS; this one follows the amazon.aws conventions.
author:
  - Meridian Platform Engineering (@meridian-platform)
options:
  cluster_name:
    description: Name of the cluster.
    type: str
    required: true
  nodegroup_names:
    description: Only these node groups (those that exist); all when omitted.
    type: list
    elements: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    description: Can run in check mode and return the changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: The region's cluster and its node groups
  meridian.observability.eks_cluster_info:
    cluster_name: meridian-dev-eu-west-1
  register: node_groups
"""

RETURN = r"""
cluster:
  description: The cluster as EKS describes it (snake_case keys; tags kept as they are); empty when absent.
  returned: always
  type: dict
  contains:
    endpoint:
      description: URL of the API server.
      type: str
    identity:
      description: The cluster's OIDC issuer, under C(oidc.issuer).
      type: dict
    tags:
      description: Tags of the cluster.
      type: dict
nodegroups:
  description: The node groups, sorted by name (snake_case keys; tags and labels kept as they are).
  returned: always
  type: list
  elements: dict
  contains:
    nodegroup_name:
      description: Name of the node group.
      type: str
      sample: system
    status:
      description: C(CREATING), C(ACTIVE), ...
      type: str
      sample: ACTIVE
    scaling_config:
      description: C(min_size), C(max_size) and C(desired_size).
      type: dict
    update_config:
      description: Rolling update settings; AWS always returns them (the moto test server omits them).
      type: dict
    instance_types:
      description: Instance types of the node group.
      type: list
      elements: str
"""

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.meridian.observability.plugins.module_utils._aws.eks import EksClusterService
from ansible_collections.meridian.observability.plugins.module_utils._aws.eks import describe_nodegroups


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(cluster_name=dict(type="str", required=True), nodegroup_names=dict(type="list", elements="str")),
        supports_check_mode=True,
    )
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff(retries=10))
    try:
        cluster = EksClusterService(client).describe(module.params["cluster_name"]) or {}
        groups = []
        if cluster:
            groups = describe_nodegroups(client, module.params["cluster_name"], module.params["nodegroup_names"])
    except AnsibleAWSError as error:
        module.fail_json_aws_error(error)
    module.exit_json(
        changed=False,
        cluster=camel_dict_to_snake_dict(cluster, ignore_list=["tags"]),
        nodegroups=[camel_dict_to_snake_dict(group, ignore_list=["tags", "labels"]) for group in groups],
    )


if __name__ == "__main__":
    main()
