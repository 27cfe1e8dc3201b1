#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iam_openid_connect_provider
short_description: Manage an IAM OpenID Connect identity provider
version_added: 0.1.0
description:
  - Ensures one IAM OIDC provider per issuer URL, with its client ids (audiences), thumbprints and tags, for
    example the issuer of an EKS cluster so that service accounts can assume IAM roles (IRSA).
  - amazon.aws and community.aws have no module for OIDC providers; this one follows their conventions.
author:
  - Meridian Platform Engineering (@meridian-platform)
options:
  url:
    description: Issuer URL; C(https://) is added when missing.
    type: str
    required: true
  client_ids:
    description: Audiences allowed to use the provider.
    type: list
    elements: str
    default: [sts.amazonaws.com]
  thumbprints:
    description:
      - SHA-1 thumbprints of the issuer's certificate chain. IAM no longer checks them for well-known issuers such
        as EKS, but older accounts require at least one.
      - Left as they are when omitted.
    type: list
    elements: str
  state:
    description: Whether the provider exists.
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
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Trust the cluster's issuer for IRSA
  meridian.observability.iam_openid_connect_provider:
    url: https://oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF
    thumbprints: [9e99a48a9960b14926bb7f3b02e22da2b0ab7280]
    tags:
      meridian:environment: dev
"""

RETURN = r"""
arn:
  description: ARN of the provider; empty when absent.
  returned: always
  type: str
  sample: arn:aws:iam::111111111111:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF
provider:
  description: The provider as IAM describes it (snake_case keys); empty when absent.
  returned: always
  type: dict
  contains:
    url:
      description: Issuer URL without the scheme.
      type: str
    client_id_list:
      description: Audiences.
      type: list
      elements: str
    thumbprint_list:
      description: Thumbprints.
      type: list
      elements: str
    tags:
      description: Tags of the provider.
      type: dict
"""

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.meridian.observability.plugins.module_utils._aws.common import TAGS_ARGUMENT_SPEC
from ansible_collections.meridian.observability.plugins.module_utils._aws.iam_oidc import OpenIdConnectProviderService


def main() -> None:
    argument_spec = dict(
        url=dict(type="str", required=True),
        client_ids=dict(type="list", elements="str", default=["sts.amazonaws.com"]),
        thumbprints=dict(type="list", elements="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    ) | TAGS_ARGUMENT_SPEC
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    service = OpenIdConnectProviderService(module.client("iam", retry_decorator=AWSRetry.jittered_backoff(retries=10)))
    try:
        result = service.ensure(module.params, check_mode=module.check_mode)
    except AnsibleAWSError as error:
        module.fail_json_aws_error(error)
    provider = {}
    if result["provider"]:
        raw = {key: value for key, value in result["provider"].items() if key != "ResponseMetadata"}
        provider = camel_dict_to_snake_dict(raw, ignore_list=["Tags"])
        provider["tags"] = boto3_tag_list_to_ansible_dict(raw.get("Tags", []))
    module.exit_json(changed=result["changed"], arn=result["arn"] or "", provider=provider)


if __name__ == "__main__":
    main()
