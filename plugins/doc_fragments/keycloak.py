# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options of the meridian.observability Keycloak modules (module_utils/_keycloak/arguments.py)."""

    DOCUMENTATION = r"""
options:
  auth_keycloak_url:
    description:
      - Base URL of Keycloak, for example C(https://id.example.com). Keycloak before version 17 needs the C(/auth) suffix.
      - The tenant's issuer URL is derived from it when Keycloak cannot be asked (check mode before the realm exists).
    type: str
    required: true
  auth_realm:
    description: Realm the admin credentials belong to.
    type: str
    default: master
  auth_client_id:
    description: OpenID Connect client used to obtain the admin token.
    type: str
    default: admin-cli
  auth_client_secret:
    description:
      - Secret of O(auth_client_id). Without O(auth_username) the token is obtained with the client credentials grant,
        so the client's service account needs the admin rights.
    type: str
  auth_username:
    description: Admin user name for the password grant. Needs O(auth_password).
    type: str
  auth_password:
    description: Password of O(auth_username).
    type: str
  token:
    description:
      - A ready admin access token (bearer). Used as given, never refreshed. Mutually exclusive with O(auth_username)
        and O(auth_client_secret).
    type: str
  validate_certs:
    description: Verify Keycloak's TLS certificate. Only turn off against a throw-away test server.
    type: bool
    default: true
  connection_timeout:
    description: Seconds to wait for each HTTP answer from Keycloak.
    type: int
    default: 10
  http_agent:
    description: User-Agent header sent to Keycloak.
    type: str
    default: meridian.observability
notes:
  - One of O(token), O(auth_username) (with O(auth_password)) or O(auth_client_secret) is required.
  - The connection options have the names community.general's keycloak modules use. Set them once for every module of
    the action group with C(module_defaults) and C(group/meridian.observability.keycloak).
  - Requests that Keycloak answers with 429 or 5xx, and refused connections, are retried up to four times with jittered
    exponential backoff. A POST is repeated only after a 429 or 503, which guarantee it was not applied.
"""
