#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vault_policy
short_description: Manage an ACL policy in Vault or OpenBao
version_added: 0.1.0
description:
  - Ensures the ACL policy O(name) exists with the HCL text O(policy), or that it does not exist.
  - Reads the stored text first and writes only when it differs. Line endings and blank space at line ends and at
    the end of the text do not count as a difference; the text is stored normalised that way.
  - The server checks the HCL when it is written; a policy it cannot parse fails the task naming O(policy).
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Check mode only reads the stored policy. It cannot ask the server whether new HCL parses.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
    details: The diff is the policy text before and after.
  action_group:
    description: Use C(group/meridian.observability.vault) in C(module_defaults) to set defaults for this module.
    support: full
    membership: [meridian.observability.vault]
options:
  name:
    description:
      - Policy name. Lower-case letters, digits and C(-_.@+=), at most 128 characters (Vault lower-cases names).
      - The built-in C(root) policy cannot be managed; C(default) can be changed but not deleted.
    type: str
    required: true
  policy:
    description: The policy in HCL. Required with O(state=present).
    type: str
  state:
    description: Whether the policy exists.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - meridian.observability.vault
seealso:
  - module: meridian.observability.vault_tenant
author:
  - Meridian platform engineering (@meridian-platform)
"""

EXAMPLES = r"""
- name: Vault changes use one connection
  module_defaults:
    group/meridian.observability.vault:
      url: https://vault.example.com:8200
      token: "{{ vault_admin_token }}"
  block:
    - name: Read-only access to the shared platform secrets
      meridian.observability.vault_policy:
        name: platform-read
        policy: |
          path "platform/data/*" {
            capabilities = ["read", "list"]
          }

    - name: Remove a policy nobody uses any more
      meridian.observability.vault_policy:
        name: legacy-ci
        state: absent
"""

RETURN = r"""
name:
  description: The policy name.
  returned: always
  type: str
  sample: platform-read
exists:
  description: Whether the policy exists after the run (predicted in check mode).
  returned: always
  type: bool
  sample: true
actions:
  description: The writes sent (or, in check mode, that would be sent). Empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: [update policy platform-read (policy)]
api_requests:
  description: Requests sent to Vault, as reads (GET, LIST) and writes (POST, PUT, DELETE).
  returned: always
  type: dict
  sample: {read: 1, write: 0}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meridian.observability.plugins.module_utils._vault.arguments import vault_argument_spec
from ansible_collections.meridian.observability.plugins.module_utils._vault.client import (
    HAS_HVAC,
    HVAC_IMPORT_ERROR,
    VaultClient,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.errors import VaultError
from ansible_collections.meridian.observability.plugins.module_utils._vault.policy import policy_name
from ansible_collections.meridian.observability.plugins.module_utils._vault.service import VaultService

POLICY_SPEC = {
    "name": {"type": "str", "required": True},
    "policy": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}


def main() -> None:
    module = AnsibleModule(argument_spec={**vault_argument_spec(), **POLICY_SPEC}, supports_check_mode=True,
                           required_if=[("state", "present", ("policy",))])
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib("hvac"), exception=HVAC_IMPORT_ERROR)
    client = None
    try:
        name = policy_name(module.params["name"])
        client = VaultClient.from_params(module.params)
        result = VaultService(client).ensure_policy(name, module.params["policy"], module.params["state"],
                                                    check_mode=module.check_mode, want_diff=module._diff)
    except VaultError as err:
        module.fail_json(msg=str(err), api_requests=client.api_requests if client else {}, **err.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
