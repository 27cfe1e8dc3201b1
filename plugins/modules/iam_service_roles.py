#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iam_service_roles
short_description: Manage several IAM roles with their trust policy and managed policies in one call
version_added: 0.1.0
description:
  - Ensures each listed IAM role exists with its trust policy, description, exactly the listed managed policies and
    its tags. Two reads per role on a no-change run (GetRole, ListAttachedRolePolicies); amazon.aws.iam_role reads
    each twice and runs once per role.
  - Inline policies and instance profiles are not managed; delete roles with amazon.aws.iam_role.
author:
  - Meridian Platform Engineering (@meridian-platform)
options:
  roles:
    description: The roles, in the order the result lists them.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the role.
        type: str
        required: true
      description:
        description: Description of the role.
        type: str
        default: ''
      assume_role_policy_document:
        description: The trust policy, as a dict or JSON.
        type: raw
        required: true
      managed_policies:
        description: ARNs of the managed policies attached to the role; others are detached.
        type: list
        elements: str
        default: []
      tags:
        description: Tags of the role.
        type: dict
  purge_tags:
    description: Remove tags of a listed role that are not in its O(roles[].tags).
    type: bool
    default: true
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
    support: full
"""

EXAMPLES = r"""
- name: The EKS control plane's role
  meridian.observability.iam_service_roles:
    roles:
      - name: meridian-prod-us-east-1-eks-cluster
        assume_role_policy_document:
          Version: "2012-10-17"
          Statement: [{Effect: Allow, Principal: {Service: eks.amazonaws.com}, Action: sts:AssumeRole}]
        managed_policies: [arn:aws:iam::aws:policy/AmazonEKSClusterPolicy]
  register: roles
"""

RETURN = r"""
roles:
  description: One entry per listed role, in the order given; C(arn) is empty in check mode for a role still to be created.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the role.
      type: str
      sample: meridian-prod-us-east-1-eks-cluster
    arn:
      description: ARN of the role.
      type: str
      sample: arn:aws:iam::123456789012:role/meridian-prod-us-east-1-eks-cluster
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.meridian.observability.plugins.module_utils._aws.iam_roles import ServiceRoleService


def main() -> None:
    argument_spec = dict(
        roles=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            description=dict(type="str", default=""),
            assume_role_policy_document=dict(type="raw", required=True),
            managed_policies=dict(type="list", elements="str", default=[]),
            tags=dict(type="dict"),
        )),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    names = [role["name"] for role in module.params["roles"]]
    if len(set(names)) != len(names):
        module.fail_json(msg=f"roles: a role name is listed more than once ({names}).")
    service = ServiceRoleService(module.client("iam", retry_decorator=AWSRetry.jittered_backoff(retries=10)))
    try:
        result = service.ensure(module.params, check_mode=module.check_mode)
    except (AnsibleAWSError, ValueError) as error:
        if isinstance(error, ValueError):
            module.fail_json(msg=f"roles: assume_role_policy_document is not a JSON policy: {error}")
        module.fail_json_aws_error(error)
    module.exit_json(changed=result["changed"], roles=result["roles"], diff=result["diff"] if module._diff else {})


if __name__ == "__main__":
    main()
