#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: keycloak_tenant
short_description: Manage a tenant's Keycloak realm, its OIDC clients, tenant claim, groups and users
version_added: 0.1.0
description:
  - Ensures a realm named after the tenant exists with everything the observability platform needs from it, or that
    it does not exist.
  - 'The realm: C(sslRequired) from O(ssl_required), brute-force protection (on by default), the token and session
    lifespans.'
  - Two confidential OpenID Connect clients. The gateway client (O(gateway_client_id)) has only the client credentials
    grant, for machine clients such as Prometheus C(remote_write). The Grafana client (O(grafana_client_id)) has the
    authorization code flow with O(redirect_uris).
  - 'Both clients carry three protocol mappers: C(tenant), a hard-coded claim C(tenant) whose value is the tenant id;
    C(gateway-audience), which puts O(gateway_client_id) into C(aud) so the gateway accepts tokens of either client;
    and C(groups), the user''s group names in the claim C(groups).'
  - 'Realm roles C(<tenant>-owner) (reads and writes the tenant''s data) and C(<tenant>-viewer) (reads it), granted by
    the groups C(<tenant>-owners) and C(<tenant>-viewers).'
  - Users from O(users), O(owners) and O(viewers). The members of the two groups are exactly the users listed for
    them; other members are removed. Users are never deleted.
  - Reads before it writes and sends nothing when the realm already matches. A new realm is created in one request.
  - O(state=absent) deletes the realm with everything in it.
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Check mode sends only GET requests and reports exactly the writes a real run would send.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
    details: The diff shows the managed fields only; passwords show as a mask and client secrets never appear.
  action_group:
    description: Use C(group/meridian.observability.keycloak) in C(module_defaults) to set defaults for this module.
    support: full
    membership: [meridian.observability.keycloak]
options:
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
    description: The realm's display name. Defaults to O(name).
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
      - A person not in O(users) and not yet in the realm is created without credentials (e-mail addresses also become
        the user's e-mail), to sign in through an identity provider or a password reset.
    type: list
    elements: str
    default: []
  viewers:
    description: Like O(owners), for the group C(<tenant>-viewers).
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
    description: Seconds a single sign-on session may be idle. At most O(sso_session_max_lifespan).
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
        description: Disable a user for good after O(brute_force_protection.failure_factor) failures.
        type: bool
        default: false
      failure_factor:
        description: Login failures before a user is locked out.
        type: int
        default: 30
      wait_increment_seconds:
        description: Seconds a lockout lasts, added for every further O(brute_force_protection.failure_factor) failures.
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
          - Password, set when the user is created (or on every run with O(update_password=always)). Never returned
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
  return_client_secret:
    description:
      - Return the secrets of both clients as RV(gateway_client_secret) and RV(grafana_client_secret).
      - They never appear in the diff or RV(end_state). Set C(no_log) on the task so callbacks do not print them.
    type: bool
    default: false
extends_documentation_fragment:
  - meridian.observability.keycloak
seealso:
  - module: meridian.observability.keycloak_tenant_info
author:
  - Meridian platform engineering (@meridian-platform)
"""

EXAMPLES = r"""
- name: Tenant realms use the same Keycloak credentials
  module_defaults:
    group/meridian.observability.keycloak:
      auth_keycloak_url: https://id.example.com
      auth_username: admin
      auth_password: "{{ keycloak_admin_password }}"
  block:
    - name: Realm, clients, mappers and groups for tenant acme
      meridian.observability.keycloak_tenant:
        name: acme
        display_name: ACME Corporation
        redirect_uris:
          - https://grafana.acme.example.com/login/generic_oauth
        owners: [ops@acme.example.com]
        viewers: [dev@acme.example.com]
        access_token_lifespan: 600
        brute_force_protection:
          failure_factor: 10
      register: acme_realm

    - name: A break-glass user with a password
      meridian.observability.keycloak_tenant:
        name: acme
        users:
          - username: acme-breakglass
            email: breakglass@acme.example.com
            first_name: Break
            last_name: Glass
            password: "{{ acme_breakglass_password }}"
            groups: [owners]
        owners: [ops@acme.example.com]
        viewers: [dev@acme.example.com]

    - name: Gateway client secret for the remote_write configuration
      meridian.observability.keycloak_tenant:
        name: acme
        owners: [ops@acme.example.com]
        viewers: [dev@acme.example.com]
        return_client_secret: true
      register: acme_clients
      no_log: true

    - name: Remove tenant old-tenant
      meridian.observability.keycloak_tenant:
        name: old-tenant
        state: absent
"""

RETURN = r"""
name:
  description: Tenant id and realm name.
  returned: always
  type: str
  sample: acme
exists:
  description: Whether the realm exists after the run (in check mode, whether it exists already).
  returned: always
  type: bool
  sample: true
issuer_url:
  description: The realm's token issuer (C(iss)), from Keycloak's discovery document when the realm exists.
  returned: when O(state=present)
  type: str
  sample: https://id.example.com/realms/acme
jwks_url:
  description: URL of the realm's signing keys, for Istio C(RequestAuthentication) and the gateway.
  returned: when O(state=present)
  type: str
  sample: https://id.example.com/realms/acme/protocol/openid-connect/certs
gateway_client_id:
  description: Client id of the gateway client.
  returned: when O(state=present)
  type: str
  sample: observability-gateway
grafana_client_id:
  description: Client id of the Grafana client.
  returned: when O(state=present)
  type: str
  sample: grafana
audience:
  description: Audience (C(aud)) every tenant token carries; the gateway and Istio check it.
  returned: when O(state=present)
  type: str
  sample: observability-gateway
tenant_claim:
  description: Name of the access-token claim holding the tenant id.
  returned: when O(state=present)
  type: str
  sample: tenant
groups_claim:
  description: Name of the claim holding the user's group names.
  returned: when O(state=present)
  type: str
  sample: groups
groups:
  description: Names of the tenant's groups by kind.
  returned: when O(state=present)
  type: dict
  sample: {owners: acme-owners, viewers: acme-viewers}
roles:
  description: Names of the tenant's realm roles by kind.
  returned: when O(state=present)
  type: dict
  sample: {owner: acme-owner, viewer: acme-viewer}
actions:
  description: The writes sent (or, in check mode, that would be sent), in order. Empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: [update realm settings accessTokenLifespan, add user ops@acme.example.com to group acme-owners]
end_state:
  description:
    - The managed part of the realm after the run (predicted in check mode), in the shape of the diff.
    - A password about to be set shows as C(********); client secrets are never included.
  returned: when O(state=present)
  type: dict
  contains:
    realm:
      description: Managed realm settings.
      type: dict
    clients:
      description: The two clients by client id, with their protocol mappers by name.
      type: dict
    roles:
      description: The two realm roles by name.
      type: dict
    groups:
      description: The two groups by name, with their realm roles and members.
      type: dict
    users:
      description: Managed fields of the declared users, by user name.
      type: dict
api_requests:
  description: HTTP requests sent to Keycloak by kind (C(token) for the admin token grant, otherwise the method).
  returned: always
  type: dict
  sample: {token: 1, GET: 8}
gateway_client_secret:
  description: Secret of the gateway client. Mark the task C(no_log).
  returned: when O(return_client_secret=true) and the client exists (not in check mode for a new client)
  type: str
grafana_client_secret:
  description: Secret of the Grafana client. Mark the task C(no_log).
  returned: when O(return_client_secret=true) and the client exists (not in check mode for a new client)
  type: str
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
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.tenant import TenantSpec

TENANT_SPEC = {
    **tenant_argument_spec(),
    "return_client_secret": {"type": "bool", "default": False},
}


def main() -> None:
    module = AnsibleModule(argument_spec={**keycloak_argument_spec(), **TENANT_SPEC}, supports_check_mode=True,
                           **keycloak_module_kwargs())
    client = None
    try:
        spec = TenantSpec.from_params(module.params)
        client = KeycloakClient.from_params(module.params)
        result = TenantRealmService(client).ensure(
            spec, state=module.params["state"], check_mode=module.check_mode, want_diff=module._diff,
            return_client_secret=module.params["return_client_secret"])
    except KeycloakError as err:
        requests = dict(client.request_counts) if client is not None else {}
        module.fail_json(msg=str(err), api_requests=requests, **err.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
