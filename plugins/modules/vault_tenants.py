#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vault_tenants
short_description: Manage the policies and Kubernetes auth roles of many tenants in Vault or OpenBao in one call
version_added: 0.2.0
description:
  - Does for every tenant in O(tenants) what M(meridian.observability.vault_tenant) does for one, in one module call
    with one connection, so a region's tenants converge in one task instead of one task per tenant.
  - 'Present: the ACL policy C(tenant-<name>) grants C(read) and C(list) on the tenant''s KV folder only, and the role
    C(<name>) on the Kubernetes auth method at O(auth_mount_path) lets only the tenant''s service account log in, with
    tokens for its audience, and hands out tokens with only that policy.'
  - 'Absent: removes the role (first, so no new token is handed out), then the policy. The tenant''s secrets stay
    unless its purge_secrets is true.'
  - Every tenant's input is checked before the first request; a bad value or a name listed twice fails naming its
    place in the list, for example C(tenants[3].name), and nothing is changed.
  - Reads are batched. One C(LIST) of the ACL policies and one of the roles on O(auth_mount_path) (and, when some
    tenant's secrets are purged, one of the tenant folders on O(kv_mount_path)) show which objects exist; then only
    the policies and roles that exist are read, one request each, to compare their content, so a policy or role
    changed by hand is put back. With tenants to keep, one read of C(sys/auth) checks that O(auth_mount_path) is a
    Kubernetes auth method before anything is written. A run with nothing to do sends no write.
  - Every tenant is planned before the first write; then each tenant's writes are sent in turn. When one fails, the
    message names the tenant and the write, and RV(tenants) lists the tenants converged before it; a re-run
    completes the rest.
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Check mode only reads; it returns the same RV(actions) a real run would send.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
    details:
      - The diff is a list with one entry per tenant that changes, headed C(tenant <name>), showing its policy text
        and its role's managed fields; tenants without a change have none.
      - Secrets are only counted, never read.
  action_group:
    description: Use C(group/meridian.observability.vault) in C(module_defaults) to set defaults for this module.
    support: full
    membership: [meridian.observability.vault]
options:
  tenants:
    description:
      - The tenants to converge. Each tenant's settings that are left out take the top-level option of the same name.
      - An empty list does nothing and sends no request.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Tenant id. A DNS-1123 label of at most 40 characters that is not reserved for the platform (for example
            C(vault), C(default), C(kube-*)). Each name may appear once.
        type: str
        required: true
      state:
        description: Whether the tenant's policy and role exist.
        type: str
        choices: [present, absent]
        default: present
      kubernetes_namespace:
        description: Namespace of the service account that may log in. Defaults to the tenant's O(tenants[].name).
        type: str
      service_account:
        description: This tenant's O(service_account).
        type: str
      audience:
        description: This tenant's O(audience).
        type: str
      token_ttl:
        description: This tenant's O(token_ttl).
        type: str
      token_max_ttl:
        description: This tenant's O(token_max_ttl).
        type: str
      purge_secrets:
        description: This tenant's O(purge_secrets).
        type: bool
  auth_mount_path:
    description: Path of the Kubernetes auth method the roles belong to, without C(auth/), for example C(kubernetes-us-east-1).
    type: str
    required: true
  kv_mount_path:
    description: Path of the KV version 2 secrets engine holding the tenants' folders, for example C(tenants).
    type: str
    required: true
  service_account:
    description: Name of the service account that may log in, for tenants that do not set their own.
    type: str
    default: workload
  audience:
    description: Audience (C(aud)) the service account token must carry to log in, for tenants that do not set their own.
    type: str
    default: vault
  token_ttl:
    description: Lifetime of the tokens the roles hand out, in seconds or as a duration such as C(15m).
    type: str
    default: 15m
  token_max_ttl:
    description: Longest lifetime of a token after renewals, in seconds or as a duration such as C(1h).
    type: str
    default: 1h
  purge_secrets:
    description:
      - For tenants with C(state=absent), also delete every secret under C(<kv_mount_path>/<name>/), with all its
        versions. This cannot be undone.
      - Ignored for tenants with C(state=present).
    type: bool
    default: false
extends_documentation_fragment:
  - meridian.observability.vault
seealso:
  - module: meridian.observability.vault_tenant
  - module: meridian.observability.vault_kubernetes_auth
  - module: meridian.observability.vault_secrets_engine
author:
  - Meridian platform engineering (@meridian-platform)
"""

EXAMPLES = r"""
- name: Policies and roles of every tenant of us-east-1 in one call; globex is offboarded and its secrets deleted
  meridian.observability.vault_tenants:
    url: https://vault.us-east-1.example.com:8200
    token: "{{ vault_admin_token }}"
    auth_mount_path: kubernetes-us-east-1
    kv_mount_path: tenants
    token_ttl: 15m
    tenants:
      - name: acme
      - name: initech
        token_ttl: 5m
      - name: globex
        state: absent
        purge_secrets: true
"""

RETURN = r"""
tenants:
  description:
    - Per tenant converged by this call, by name; what M(meridian.observability.vault_tenant) returns for it, and
      its own RV(actions).
    - After a failure, the tenants converged before the one that failed.
  returned: always
  type: dict
  sample:
    acme:
      changed: true
      state: present
      tenant: acme
      policy_name: tenant-acme
      role_name: acme
      changed_parts: [role]
      secrets_deleted: 0
      actions: [update role auth/kubernetes-us-east-1/role/acme (token_ttl)]
actions:
  description: Every write sent (or, in check mode, that would be sent), in order. Empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: [update role auth/kubernetes-us-east-1/role/acme (token_ttl), delete role auth/kubernetes-us-east-1/role/globex]
failed_tenant:
  description: The tenant whose read or write failed.
  returned: failure
  type: str
  sample: globex
api_requests:
  description: Requests sent to Vault, as reads (GET, LIST) and writes (POST, PUT, DELETE).
  returned: always
  type: dict
  sample: {read: 122, write: 0}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meridian.observability.plugins.module_utils._vault.arguments import (
    vault_tenants_argument_spec,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.client import (
    HAS_HVAC,
    HVAC_IMPORT_ERROR,
    VaultClient,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.errors import VaultError
from ansible_collections.meridian.observability.plugins.module_utils._vault.service import VaultService
from ansible_collections.meridian.observability.plugins.module_utils._vault.tenant import tenant_requests


def main() -> None:
    module = AnsibleModule(argument_spec=vault_tenants_argument_spec(), supports_check_mode=True)
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib("hvac"), exception=HVAC_IMPORT_ERROR)
    client = None
    try:
        requests = tenant_requests(module.params)
        client = VaultClient.from_params(module.params)
        result = VaultService(client).ensure_tenants(requests, check_mode=module.check_mode, want_diff=module._diff)
    except VaultError as err:
        details = {"tenants": {}, **err.details}
        module.fail_json(msg=str(err), api_requests=client.api_requests if client else {}, **details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
