#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: keycloak_tenant_info
short_description: Read a tenant's Keycloak realm, clients, protocol mappers, roles and groups
version_added: 0.1.0
description:
  - Returns the current state of the realm named after the tenant, as Keycloak reports it, with client secrets masked.
  - Returns RV(exists=false) and nothing else when the realm does not exist.
  - Sends only GET requests.
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
  action_group:
    description: Use C(group/meridian.observability.keycloak) in C(module_defaults) to set defaults for this module.
    support: full
    membership: [meridian.observability.keycloak]
options:
  name:
    description: Tenant id, also the realm name (a DNS-1123 label of at most 40 characters, not reserved).
    type: str
    required: true
extends_documentation_fragment:
  - meridian.observability.keycloak
seealso:
  - module: meridian.observability.keycloak_tenant
author:
  - Meridian platform engineering (@meridian-platform)
"""

EXAMPLES = r"""
- name: Read tenant acme's realm
  meridian.observability.keycloak_tenant_info:
    name: acme
    auth_keycloak_url: https://id.example.com
    auth_username: admin
    auth_password: "{{ keycloak_admin_password }}"
  register: acme_realm

- name: The tenant exists and carries the tenant claim
  ansible.builtin.assert:
    that:
      - acme_realm.exists
      - acme_realm.clients | map(attribute='protocolMappers') | flatten | selectattr('name', 'eq', 'tenant') | length == 2
"""

RETURN = r"""
name:
  description: Tenant id and realm name.
  returned: always
  type: str
  sample: acme
exists:
  description: Whether the realm exists.
  returned: always
  type: bool
  sample: true
realm:
  description: The realm's scalar settings as Keycloak returns them (lists, maps and the realm's id left out).
  returned: when RV(exists=true)
  type: dict
  sample: {realm: acme, displayName: ACME, sslRequired: external, bruteForceProtected: true, accessTokenLifespan: 300}
clients:
  description: The realm's clients except those Keycloak creates in every realm, sorted by client id.
  returned: when RV(exists=true)
  type: list
  elements: dict
  contains:
    clientId:
      description: Client id.
      type: str
    secret:
      description: C(********) when the client has a secret; the secret itself is never returned.
      type: str
    protocolMappers:
      description: The client's protocol mappers (name, protocol, protocolMapper, config), sorted by name.
      type: list
      elements: dict
roles:
  description: Realm roles except Keycloak's default ones, with description and whether they are composite.
  returned: when RV(exists=true)
  type: list
  elements: dict
  sample: [{name: acme-owner, description: "Owns tenant acme: reads and writes its data.", composite: false}]
groups:
  description: Top-level groups with their path, realm roles and member user names.
  returned: when RV(exists=true)
  type: list
  elements: dict
  sample: [{name: acme-owners, path: /acme-owners, realmRoles: [acme-owner], members: [ops@acme.example.com]}]
issuer_url:
  description: The realm's token issuer from its discovery document.
  returned: when RV(exists=true)
  type: str
  sample: https://id.example.com/realms/acme
jwks_url:
  description: URL of the realm's signing keys.
  returned: when RV(exists=true)
  type: str
  sample: https://id.example.com/realms/acme/protocol/openid-connect/certs
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meridian.observability.plugins.module_utils._keycloak.arguments import (
    keycloak_argument_spec,
    keycloak_module_kwargs,
)
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.client import KeycloakClient
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.errors import (
    KeycloakError,
    KeycloakInvalidInput,
)
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.service import TenantRealmService
from ansible_collections.meridian.observability.plugins.module_utils._topology.model import validate_tenant_name

INFO_SPEC = {
    "name": {"type": "str", "required": True},
}


def main() -> None:
    module = AnsibleModule(argument_spec={**keycloak_argument_spec(), **INFO_SPEC}, supports_check_mode=True,
                           **keycloak_module_kwargs())
    try:
        problems = [str(error) for error in validate_tenant_name(module.params["name"], "name")]
        if problems:
            raise KeycloakInvalidInput("invalid tenant: " + " ".join(problems), problems=problems)
        result = TenantRealmService(KeycloakClient.from_params(module.params)).describe(module.params["name"])
    except KeycloakError as err:
        module.fail_json(msg=str(err), **err.details)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
