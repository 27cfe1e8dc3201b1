#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vault_tenant
short_description: Manage a tenant's policy and Kubernetes auth role in Vault or OpenBao
version_added: 0.1.0
description:
  - 'Present: the ACL policy C(tenant-<tenant>) grants C(read) and C(list) on C(<kv_mount_path>/data/<tenant>/*) and
    C(<kv_mount_path>/metadata/<tenant>/*) and nothing else, and the role C(<tenant>) on the Kubernetes auth method at
    O(auth_mount_path) lets only the service account O(service_account) in O(kubernetes_namespace) log in, with tokens
    for O(audience), and hands out tokens with only that policy, valid for O(token_ttl) and at most O(token_max_ttl).'
  - 'Absent: removes the role (first, so no new token is handed out), then the policy. The tenant''s secrets stay
    unless O(purge_secrets=true).'
  - Reads the role and the policy (two requests) and writes only what differs; fields of the role this module does
    not manage are left as they are.
  - For many tenants of one auth mount, M(meridian.observability.vault_tenants) does the same in one call with
    batched reads.
  - O(kv_mount_path) must be a KV version 2 secrets engine (see M(meridian.observability.vault_secrets_engine)) and
    O(auth_mount_path) a Kubernetes auth method (see M(meridian.observability.vault_kubernetes_auth)).
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Check mode only reads; with O(purge_secrets=true) it lists the secrets that would be deleted.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
    details: The diff shows the policy text and the role's managed fields; secrets are only counted, never read.
  action_group:
    description: Use C(group/meridian.observability.vault) in C(module_defaults) to set defaults for this module.
    support: full
    membership: [meridian.observability.vault]
options:
  tenant:
    description:
      - Tenant id. A DNS-1123 label of at most 40 characters that is not reserved for the platform (for example
        C(vault), C(default), C(kube-*)).
    type: str
    required: true
  auth_mount_path:
    description: Path of the Kubernetes auth method the role belongs to, without C(auth/), for example C(kubernetes-us-east-1).
    type: str
    required: true
  kv_mount_path:
    description: Path of the KV version 2 secrets engine holding the tenants' folders, for example C(tenants).
    type: str
    required: true
  kubernetes_namespace:
    description: Namespace of the service account that may log in. Defaults to O(tenant).
    type: str
  service_account:
    description: Name of the service account that may log in.
    type: str
    default: workload
  audience:
    description: Audience (C(aud)) the service account token must carry to log in.
    type: str
    default: vault
  token_ttl:
    description: Lifetime of the tokens the role hands out, in seconds or as a duration such as C(15m).
    type: str
    default: 15m
  token_max_ttl:
    description: Longest lifetime of a token after renewals, in seconds or as a duration such as C(1h).
    type: str
    default: 1h
  state:
    description: Whether the tenant's policy and role exist.
    type: str
    choices: [present, absent]
    default: present
  purge_secrets:
    description:
      - With O(state=absent), also delete every secret under C(<kv_mount_path>/<tenant>/), with all its versions.
        This cannot be undone.
      - Ignored with O(state=present).
    type: bool
    default: false
extends_documentation_fragment:
  - meridian.observability.vault
seealso:
  - module: meridian.observability.vault_tenants
  - module: meridian.observability.vault_policy
  - module: meridian.observability.vault_kubernetes_auth
  - module: meridian.observability.vault_secrets_engine
author:
  - Meridian platform engineering (@meridian-platform)
"""

EXAMPLES = r"""
- name: Tenants of us-east-1
  module_defaults:
    group/meridian.observability.vault:
      url: https://vault.us-east-1.example.com:8200
      token: "{{ vault_admin_token }}"
  block:
    - name: Tenant acme reads tenants/acme/* with a token its workload service account logs in for
      meridian.observability.vault_tenant:
        tenant: acme
        auth_mount_path: kubernetes-us-east-1
        kv_mount_path: tenants
        token_ttl: 10m

    - name: Offboard globex and delete its secrets
      meridian.observability.vault_tenant:
        tenant: globex
        auth_mount_path: kubernetes-us-east-1
        kv_mount_path: tenants
        state: absent
        purge_secrets: true
"""

RETURN = r"""
tenant:
  description: The tenant id.
  returned: always
  type: str
  sample: acme
policy_name:
  description: Name of the tenant's ACL policy.
  returned: always
  type: str
  sample: tenant-acme
role_name:
  description: Name of the tenant's role on the Kubernetes auth method.
  returned: always
  type: str
  sample: acme
changed_parts:
  description: The parts that changed (or would change in check mode), out of C(policy), C(role) and C(secrets).
  returned: always
  type: list
  elements: str
  sample: [role]
secrets_deleted:
  description: Number of secrets deleted (or, in check mode, that would be deleted) with O(purge_secrets=true).
  returned: always
  type: int
  sample: 0
actions:
  description: The writes sent (or, in check mode, that would be sent), in order. Empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: [update role auth/kubernetes-us-east-1/role/acme (token_ttl)]
api_requests:
  description: Requests sent to Vault, as reads (GET, LIST) and writes (POST, PUT, DELETE).
  returned: always
  type: dict
  sample: {read: 2, write: 0}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meridian.observability.plugins.module_utils._vault.arguments import vault_tenant_argument_spec
from ansible_collections.meridian.observability.plugins.module_utils._vault.client import (
    HAS_HVAC,
    HVAC_IMPORT_ERROR,
    VaultClient,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.errors import VaultError
from ansible_collections.meridian.observability.plugins.module_utils._vault.service import VaultService
from ansible_collections.meridian.observability.plugins.module_utils._vault.tenant import TenantSpec


def main() -> None:
    module = AnsibleModule(argument_spec=vault_tenant_argument_spec(), supports_check_mode=True)
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib("hvac"), exception=HVAC_IMPORT_ERROR)
    client = None
    try:
        spec = TenantSpec.from_params(module.params)
        client = VaultClient.from_params(module.params)
        result = VaultService(client).ensure_tenant(
            spec, module.params["state"], purge_secrets=module.params["purge_secrets"],
            check_mode=module.check_mode, want_diff=module._diff)
    except VaultError as err:
        module.fail_json(msg=str(err), api_requests=client.api_requests if client else {}, **err.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
