#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: eks_cluster
short_description: Manage an EKS cluster with secrets encryption, endpoint access and tags
version_added: 0.1.0
description:
  - Creates an EKS cluster whose Kubernetes secrets are encrypted with a KMS key, and keeps its endpoint access
    and tags in line on later runs.
  - C(community.aws.eks_cluster) sets neither secrets encryption nor endpoint access and cannot purge tags; this
    module fills that gap in the amazon.aws style.
  - Changes EKS cannot make in place (a version upgrade, another secrets key, other subnets) fail with a message
    that says so.
author:
  - Meridian Platform Engineering (@meridian-platform)
options:
  name:
    description: Name of the cluster.
    type: str
    required: true
  version:
    description: Kubernetes minor version, such as C(1.34). Required when O(state=present).
    type: str
  role_arn:
    description: IAM role the EKS control plane assumes. Required when O(state=present).
    type: str
  subnets:
    description: Subnets of the control plane's network interfaces. Required when O(state=present).
    type: list
    elements: str
  security_groups:
    description: Extra security groups for the control plane's network interfaces.
    type: list
    elements: str
    default: []
  endpoint_public_access:
    description: Whether the API server endpoint is reachable from the internet.
    type: bool
    default: false
  endpoint_private_access:
    description: Whether the API server endpoint is reachable from inside the VPC.
    type: bool
    default: true
  secrets_kms_key_arn:
    description: KMS key that envelope-encrypts Kubernetes secrets. Cannot be changed once set.
    type: str
  state:
    description: Whether the cluster exists. Deleting requires that it has no node groups left.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: Wait until the cluster is C(ACTIVE) (or gone when O(state=absent)).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1800
  describe_nodegroups:
    description:
      - Also return the cluster's node groups (RV(nodegroups)), so a role needs no second task (and no second
        DescribeCluster) to read them. Only with O(state=present).
    type: bool
    default: false
  nodegroups_deleted_before:
    description:
      - With O(state=absent) in check mode, node groups that an earlier task of the same run deletes (they still
        exist in a check run). Without it, a check run of a destroy would predict a failure that the real run does
        not have. Ignored outside check mode, where the node groups must really be gone.
    type: list
    elements: str
    default: []
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
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A private cluster with encrypted secrets
  meridian.observability.eks_cluster:
    name: meridian-dev-eu-west-1
    version: "1.34"
    role_arn: arn:aws:iam::111111111111:role/meridian-dev-eu-west-1-eks-cluster
    subnets: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
    secrets_kms_key_arn: arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
    tags:
      meridian:environment: dev
"""

RETURN = r"""
cluster:
  description: The cluster as EKS describes it (snake_case keys; tags kept as they are); empty when absent.
  returned: always
  type: dict
  contains:
    arn:
      description: ARN of the cluster.
      type: str
    endpoint:
      description: URL of the API server.
      type: str
      sample: https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com
    certificate_authority:
      description: Base64 CA bundle of the API server, under C(data).
      type: dict
    identity:
      description: The cluster's OIDC issuer, under C(oidc.issuer), for IRSA.
      type: dict
    status:
      description: C(CREATING), C(ACTIVE), ...
      type: str
      sample: ACTIVE
    version:
      description: Kubernetes version.
      type: str
      sample: "1.34"
    tags:
      description: Tags of the cluster.
      type: dict
nodegroups:
  description:
    - With O(describe_nodegroups), the cluster's node groups sorted by name (snake_case keys; tags and labels kept as
      they are), as M(meridian.observability.eks_cluster_info) returns them; otherwise empty.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.meridian.observability.plugins.module_utils._aws.common import TAGS_ARGUMENT_SPEC
from ansible_collections.meridian.observability.plugins.module_utils._aws.eks import EksClusterService
from ansible_collections.meridian.observability.plugins.module_utils._aws.eks import describe_nodegroups


def main() -> None:
    argument_spec = dict(
        name=dict(type="str", required=True),
        version=dict(type="str"),
        role_arn=dict(type="str"),
        subnets=dict(type="list", elements="str"),
        security_groups=dict(type="list", elements="str", default=[]),
        endpoint_public_access=dict(type="bool", default=False),
        endpoint_private_access=dict(type="bool", default=True),
        secrets_kms_key_arn=dict(type="str", no_log=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        nodegroups_deleted_before=dict(type="list", elements="str", default=[]),
        describe_nodegroups=dict(type="bool", default=False),
    ) | TAGS_ARGUMENT_SPEC
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ["version", "role_arn", "subnets"])],
        supports_check_mode=True,
    )
    service = EksClusterService(module.client("eks", retry_decorator=AWSRetry.jittered_backoff(retries=10)),
                                wait_timeout=module.params["wait_timeout"])
    try:
        if module.params["state"] == "present":
            result = service.ensure_present(module.params, check_mode=module.check_mode)
        else:
            result = service.ensure_absent(module.params, check_mode=module.check_mode)
    except AnsibleAWSError as error:
        module.fail_json_aws_error(error)
    nodegroups = []
    if module.params["describe_nodegroups"] and result["cluster"] and module.params["state"] == "present":
        try:
            nodegroups = describe_nodegroups(service.client, module.params["name"])
        except AnsibleAWSError as error:
            module.fail_json_aws_error(error)
    cluster = camel_dict_to_snake_dict(result["cluster"] or {}, ignore_list=["tags"])
    module.exit_json(changed=result["changed"], cluster=cluster,
                     nodegroups=[camel_dict_to_snake_dict(group, ignore_list=["tags", "labels"]) for group in nodegroups])


if __name__ == "__main__":
    main()
