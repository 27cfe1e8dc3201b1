#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kms_aliased_key
short_description: Manage a symmetric KMS key found by its alias, in three reads
version_added: 0.1.0
description:
  - Ensures a customer managed symmetric encryption key behind O(alias), enabled, with its description, automatic
    rotation and tags. A key scheduled for deletion is restored (its deletion cancelled, the key enabled again).
  - A no-change run reads DescribeKey (by the alias), GetKeyRotationStatus and ListResourceTags, nothing else;
    amazon.aws.kms_key also reads aliases, grants and policies, several times. Key policies and grants are not
    managed here (the account's default key policy applies); delete a key with amazon.aws.kms_key.
author:
  - Meridian Platform Engineering (@meridian-platform)
options:
  alias:
    description: The alias, with or without the C(alias/) prefix; identifies the key.
    type: str
    required: true
  description:
    description: Description of the key.
    type: str
    required: true
  enable_key_rotation:
    description: Yearly automatic rotation of the key material.
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
- name: The key that envelope-encrypts a cluster's secrets
  meridian.observability.kms_aliased_key:
    alias: alias/meridian-prod-us-east-1-eks-secrets
    description: Kubernetes secrets of meridian-prod-us-east-1
    tags: {meridian:layer: eks}
  register: key
"""

RETURN = r"""
key_arn:
  description: ARN of the key; empty in check mode when the key is still to be created.
  returned: always
  type: str
  sample: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
key_id:
  description: Id of the key; empty in check mode when the key is still to be created.
  returned: always
  type: str
  sample: 1234abcd-12ab-34cd-56ef-1234567890ab
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.meridian.observability.plugins.module_utils._aws.common import TAGS_ARGUMENT_SPEC
from ansible_collections.meridian.observability.plugins.module_utils._aws.kms import AliasedKeyService


def main() -> None:
    argument_spec = dict(
        alias=dict(type="str", required=True),
        description=dict(type="str", required=True),
        enable_key_rotation=dict(type="bool", default=True),
    ) | TAGS_ARGUMENT_SPEC
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    service = AliasedKeyService(module.client("kms", retry_decorator=AWSRetry.jittered_backoff(retries=10)))
    try:
        result = service.ensure(module.params, check_mode=module.check_mode)
    except AnsibleAWSError as error:
        module.fail_json_aws_error(error)
    key = result["key"] or {}
    module.exit_json(changed=result["changed"], key_arn=key.get("Arn", ""), key_id=key.get("KeyId", ""),
                     diff=result["diff"] if module._diff else {})


if __name__ == "__main__":
    main()
