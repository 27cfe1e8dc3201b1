#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: keycloak_tenants
short_description: Manage the Keycloak realms of many tenants in one call
version_added: 0.2.0
description:
  - Does what M(meridian.observability.keycloak_tenant) does, for every entry of O(tenants) in one module run, with one
    admin token. Present tenants get or keep their realm, clients, tenant claim, groups and users; absent ones lose it.
  - Every entry is validated before the first request; a bad or repeated entry fails the call, naming it by its
    position (for example C(tenants[3].name)), and nothing is changed.
  - Every tenant's realm is read before the first write. A realm named after a tenant that this collection did not
    make (its gateway client carries no C(tenant) claim with the tenant's name) stops the call with nothing changed,
    unless the entry sets O(tenants[].adopt).
  - A run with nothing to change sends only reads, about six per tenant (realm, clients, roles, groups, the members
    of each group) plus one discovery document for all of them.
  - With more than ten tenants the realms are read in one request that lists every realm the account may see instead
    of one request per tenant, so about five reads per tenant plus two. A tenant whose realm the list does not show in
    full is still read alone.
  - Tenants are converged in the order given. When a write fails, the message names the tenant and the step, and
    RV(tenants) holds the tenants converged before it; running again completes the rest.
  - Use M(meridian.observability.keycloak_tenant) to loop yourself, one tenant per task.
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Check mode sends only GET requests and reports exactly the writes a real run would send.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
    details:
      - The diff is a list with one entry per tenant that changes, its headers naming the tenant.
      - Managed fields only; passwords show as a mask and client secrets never appear.
  action_group:
    description: Use C(group/meridian.observability.keycloak) in C(module_defaults) to set defaults for this module.
    support: full
    membership: [meridian.observability.keycloak]
options:
  tenants:
    description:
      - The tenants, each with the options of M(meridian.observability.keycloak_tenant) (without its
        O(meridian.observability.keycloak_tenant#module:return_client_secret)) plus O(tenants[].adopt).
      - A name may appear only once.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Tenant id, also the realm name. A DNS-1123 label of at most 40 characters that is not reserved for the
            platform (for example C(master), C(default), C(kube-*)).
        type: str
        required: true
      state:
        description: Whether the tenant's realm exists.
        type: str
        choices: [present, absent]
        default: present
      display_name:
        description: The realm's display name. Defaults to O(tenants[].name).
        type: str
      gateway_client_id:
        description: Client id of the observability gateway's confidential client; also the audience of every tenant token.
        type: str
        default: observability-gateway
      grafana_client_id:
        description: Client id of Grafana's confidential client.
        type: str
        default: grafana
      redirect_uris:
        description: Absolute redirect URIs of the Grafana client, for example C(https://grafana.example.com/login/generic_oauth).
        type: list
        elements: str
        default: []
      owners:
        description:
          - User names or e-mail addresses of the tenant's owners; they are made the members of C(<tenant>-owners).
          - A person not in O(tenants[].users) and not yet in the realm is created without credentials (e-mail addresses also become
            the user's e-mail), to sign in through an identity provider or a password reset.
        type: list
        elements: str
        default: []
      viewers:
        description: Like O(tenants[].owners), for the group C(<tenant>-viewers).
        type: list
        elements: str
        default: []
      ssl_required:
        description: When Keycloak requires TLS for the realm's endpoints (C(external) exempts private addresses).
        type: str
        choices: [external, all, none]
        default: external
      access_token_lifespan:
        description: Seconds an access token stays valid.
        type: int
        default: 300
      sso_session_idle_timeout:
        description: Seconds a single sign-on session may be idle. At most O(tenants[].sso_session_max_lifespan).
        type: int
        default: 1800
      sso_session_max_lifespan:
        description: Seconds a single sign-on session may last.
        type: int
        default: 36000
      brute_force_protection:
        description: Brute-force detection for the realm's logins. The defaults are Keycloak's, with protection on.
        type: dict
        suboptions:
          enabled:
            description: Detect brute-force attacks.
            type: bool
            default: true
          permanent_lockout:
            description: Disable a user for good after O(tenants[].brute_force_protection.failure_factor) failures.
            type: bool
            default: false
          failure_factor:
            description: Login failures before a user is locked out.
            type: int
            default: 30
          wait_increment_seconds:
            description: Seconds a lockout lasts, added for every further O(tenants[].brute_force_protection.failure_factor) failures.
            type: int
            default: 60
          max_failure_wait_seconds:
            description: Longest temporary lockout, in seconds.
            type: int
            default: 900
          minimum_quick_login_wait_seconds:
            description: Lockout, in seconds, after failures that follow each other too quickly.
            type: int
            default: 60
          quick_login_check_milliseconds:
            description: Two failures closer than this many milliseconds count as too quick.
            type: int
            default: 1000
          max_delta_time_seconds:
            description: Seconds after which the failure count is reset.
            type: int
            default: 43200
      users:
        description:
          - Users of the realm. Created when missing; the fields given are kept as given. Fields left out are not managed.
        type: list
        elements: dict
        default: []
        suboptions:
          username:
            description: User name; Keycloak stores it in lower case.
            type: str
            required: true
          email:
            description: E-mail address; Keycloak stores it in lower case.
            type: str
          first_name:
            description: First name.
            type: str
          last_name:
            description: Last name.
            type: str
          enabled:
            description: Whether the user may sign in.
            type: bool
            default: true
          email_verified:
            description: Whether the e-mail address counts as verified.
            type: bool
          password:
            description:
              - Password, set when the user is created (or on every run with O(tenants[].update_password=always)). Never returned
                or shown in a diff. Leave it out for users who sign in through an identity provider.
            type: str
          groups:
            description: Tenant groups the user belongs to, by kind.
            type: list
            elements: str
            choices: [owners, viewers]
            default: []
      update_password:
        description:
          - C(on_create) sets passwords only for new users. C(always) resets them on every run, which always reports a
            change because Keycloak cannot tell whether a password differs.
        type: str
        choices: [on_create, always]
        default: on_create
      adopt:
        description:
          - Take over an existing realm named after the tenant although this collection did not make it (its gateway
            client carries no C(tenant) claim with the tenant's name). Without this, such a realm stops the whole call
            before any change, for present and absent tenants alike.
        type: bool
        default: false
  return_client_secret:
    description:
      - Return the secrets of both clients of every present tenant in RV(client_secrets).
      - They never appear in the diff or RV(tenants). Set C(no_log) on the task so callbacks do not print them.
    type: bool
    default: false
extends_documentation_fragment:
  - meridian.observability.keycloak
seealso:
  - module: meridian.observability.keycloak_tenant
  - module: meridian.observability.keycloak_tenant_info
author:
  - Meridian platform engineering (@meridian-platform)
"""

EXAMPLES = r"""
- name: Realms of every tenant in one call
  meridian.observability.keycloak_tenants:
    auth_keycloak_url: https://id.example.com
    auth_username: admin
    auth_password: "{{ keycloak_admin_password }}"
    tenants:
      - name: acme
        display_name: ACME Corporation
        owners: [ops@acme.example.com]
        viewers: [dev@acme.example.com]
        redirect_uris: [https://grafana.acme.example.com/login/generic_oauth]
      - name: globex
        owners: [sre@globex.example.com]
        access_token_lifespan: 600
      - name: old-tenant
        state: absent
  register: realms

- name: Acme's token issuer
  ansible.builtin.debug:
    msg: "{{ realms.tenants.acme.issuer_url }}"

- name: Gateway client secrets of every tenant, for machine clients
  meridian.observability.keycloak_tenants:
    auth_keycloak_url: https://id.example.com
    auth_username: admin
    auth_password: "{{ keycloak_admin_password }}"
    tenants:
      - name: acme
        owners: [ops@acme.example.com]
        viewers: [dev@acme.example.com]
        redirect_uris: [https://grafana.acme.example.com/login/generic_oauth]
    return_client_secret: true
  register: secrets
  no_log: true
"""

RETURN = r"""
tenants:
  description:
    - Result of each tenant by name, as M(meridian.observability.keycloak_tenant) returns it (C(changed), C(actions),
      C(exists), and for present tenants C(issuer_url), C(jwks_url), C(gateway_client_id), C(grafana_client_id),
      C(audience), C(tenant_claim), C(groups_claim), C(groups), C(roles) and C(end_state)), without secrets.
    - When the call fails while writing, the tenants converged before the failing one.
  returned: always
  type: dict
  sample:
    acme:
      changed: true
      actions: [create realm acme with clients observability-gateway and grafana, roles, groups and 2 user(s)]
      name: acme
      exists: true
      issuer_url: https://id.example.com/realms/acme
      jwks_url: https://id.example.com/realms/acme/protocol/openid-connect/certs
    old-tenant: {changed: false, actions: [], name: old-tenant, exists: false}
client_secrets:
  description:
    - Secrets of the present tenants' clients by tenant name (C(gateway_client_secret), C(grafana_client_secret)).
      Mark the task C(no_log).
    - A client created in check mode has no secret yet.
  returned: when O(return_client_secret=true)
  type: dict
foreign_realms:
  description: Realms that exist but are not the tenants' (see O(tenants[].adopt)); the call changed nothing.
  returned: on that failure
  type: list
  elements: str
tenant:
  description: The tenant whose read or write failed.
  returned: on failure while reading or writing
  type: str
api_requests:
  description: HTTP requests sent to Keycloak by kind (C(token) for the admin token grant, otherwise the method).
  returned: always
  type: dict
  sample: {token: 1, GET: 361}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meridian.observability.plugins.module_utils._keycloak.arguments import (
    keycloak_argument_spec,
    keycloak_module_kwargs,
    tenant_argument_spec,
)
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.client import KeycloakClient
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.errors import KeycloakError
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.service import TenantRealmService
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.tenant import requests_from_params

TENANTS_SPEC = {
    "tenants": {"type": "list", "elements": "dict", "required": True,
                "options": {**tenant_argument_spec(), "adopt": {"type": "bool", "default": False}}},
    "return_client_secret": {"type": "bool", "default": False},
}


def main() -> None:
    module = AnsibleModule(argument_spec={**keycloak_argument_spec(), **TENANTS_SPEC}, supports_check_mode=True,
                           **keycloak_module_kwargs())
    client = None
    try:
        requests = requests_from_params(module.params["tenants"])
        client = KeycloakClient.from_params(module.params)
        result = TenantRealmService(client).ensure_many(
            requests, check_mode=module.check_mode, want_diff=module._diff,
            return_client_secret=module.params["return_client_secret"])
    except KeycloakError as err:
        requests_sent = dict(client.request_counts) if client is not None else {}
        module.fail_json(msg=str(err), api_requests=requests_sent, **err.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
