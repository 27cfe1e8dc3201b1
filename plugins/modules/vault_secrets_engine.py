#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vault_secrets_engine
short_description: Manage a secrets engine mount in Vault or OpenBao
version_added: 0.1.0
description:
  - Ensures a secrets engine of type O(engine_type) is mounted at O(path), or that nothing is mounted there.
  - Manages the type, O(description) when given, and the O(options) given; options the server keeps that are not
    given are left alone. A changed description or option is applied by tuning the mount, never by remounting.
  - A mount of another type at O(path) fails the task and is left as it is, because disabling a mount deletes
    everything stored under it.
  - O(state=absent) disables the mount, which deletes every secret under it.
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Check mode reads the list of mounts once and sends nothing else.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
    details: The diff shows the type, the description and the managed options.
  action_group:
    description: Use C(group/meridian.observability.vault) in C(module_defaults) to set defaults for this module.
    support: full
    membership: [meridian.observability.vault]
options:
  path:
    description: Mount path without leading or trailing C(/), for example C(tenants).
    type: str
    required: true
  engine_type:
    description:
      - 'Secrets engine type, for example C(kv), C(transit) or C(pki). C(kv-v2) is short for C(kv) with
        O(options) C({version: "2"}).'
      - Required with O(state=present). With O(state=absent), when given, a mount of another type is not disabled.
    type: str
  options:
    description: 'Engine options, for example C({version: "2"}) for a KV version 2 engine. Values are sent as strings.'
    type: dict
    default: {}
  description:
    description: Human-readable description of the mount. Left as it is when not given.
    type: str
  state:
    description: Whether the mount exists.
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
- name: The tenants' KV version 2 engine
  meridian.observability.vault_secrets_engine:
    url: https://vault.example.com:8200
    token: "{{ vault_admin_token }}"
    path: tenants
    engine_type: kv
    options:
      version: "2"
    description: Tenant secrets, one folder per tenant

- name: Remove an engine nobody uses (its secrets are deleted with it)
  meridian.observability.vault_secrets_engine:
    path: scratch
    engine_type: kv
    state: absent
"""

RETURN = r"""
path:
  description: The mount path, without slashes at either end.
  returned: always
  type: str
  sample: tenants
engine_type:
  description: Type of the engine at O(path) after the run (predicted in check mode).
  returned: always
  type: str
  sample: kv
exists:
  description: Whether a mount exists at O(path) after the run (predicted in check mode).
  returned: always
  type: bool
  sample: true
actions:
  description: The writes sent (or, in check mode, that would be sent). Empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: [update secrets engine tenants (description)]
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
from ansible_collections.meridian.observability.plugins.module_utils._vault.mounts import secrets_engine_spec
from ansible_collections.meridian.observability.plugins.module_utils._vault.plan import mount_path
from ansible_collections.meridian.observability.plugins.module_utils._vault.service import VaultService

ENGINE_SPEC = {
    "path": {"type": "str", "required": True},
    "engine_type": {"type": "str"},
    "options": {"type": "dict", "default": {}},
    "description": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}


def main() -> None:
    module = AnsibleModule(argument_spec={**vault_argument_spec(), **ENGINE_SPEC}, supports_check_mode=True,
                           required_if=[("state", "present", ("engine_type",))])
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib("hvac"), exception=HVAC_IMPORT_ERROR)
    client = None
    params = module.params
    try:
        spec = secrets_engine_spec(mount_path(params["path"], "path"), params["engine_type"], params["options"],
                                   params["description"])
        client = VaultClient.from_params(params)
        result = VaultService(client).ensure_secrets_engine(spec, params["state"], check_mode=module.check_mode,
                                                            want_diff=module._diff)
    except VaultError as err:
        module.fail_json(msg=str(err), api_requests=client.api_requests if client else {}, **err.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
