#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vault_kubernetes_auth
short_description: Manage a Kubernetes auth method and its configuration in Vault or OpenBao
version_added: 0.1.0
description:
  - Ensures the C(kubernetes) auth method is enabled at O(mount_path) and that C(auth/<mount_path>/config) points at
    one cluster's API server, or (O(state=absent)) that the auth method is disabled, with all its roles.
  - The server reviews each login's service account token with that API server's TokenReview API, authenticating as
    O(token_reviewer_jwt). That service account needs the C(system:auth-delegator) cluster role.
  - The server never returns O(token_reviewer_jwt), so it cannot be compared. It is sent whenever the configuration is
    written, which happens when the configuration does not exist yet, when another field differs, when the server has
    no reviewer JWT (or has one and none is given), and on every run with O(update_token_reviewer_jwt=always).
  - A write replaces the whole configuration. Without O(token_reviewer_jwt), the server has none and each login's
    own token calls TokenReview, so every workload service account then needs C(system:auth-delegator).
  - An auth method of another type at O(mount_path) fails the task and is left as it is.
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Check mode reads the auth method list and the configuration and sends nothing else.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
    details:
      - The diff shows the mount and the configuration fields. The reviewer JWT shows only as C((set)),
        C((not set)) or C((replaced)), never its value.
  action_group:
    description: Use C(group/meridian.observability.vault) in C(module_defaults) to set defaults for this module.
    support: full
    membership: [meridian.observability.vault]
options:
  mount_path:
    description: Path of the auth method without C(auth/), for example C(kubernetes-us-east-1). One per cluster.
    type: str
    required: true
  description:
    description: Human-readable description of the auth method. Left as it is when not given.
    type: str
  kubernetes_host:
    description:
      - URL of the cluster's API server as the Vault server reaches it, for example C(https://10.0.0.1:443).
      - Required with O(state=present).
    type: str
  kubernetes_ca_cert:
    description:
      - PEM text (not a path) of the CA that signed the API server's certificate.
      - Required for an C(https) O(kubernetes_host) when O(disable_local_ca_jwt=true).
    type: str
  token_reviewer_jwt:
    description:
      - Service account token the server uses to call TokenReview. Never returned, logged or shown in a diff.
    type: str
  update_token_reviewer_jwt:
    description:
      - C(on_create) sends O(token_reviewer_jwt) only when the configuration is written anyway (see above), so a run
        with nothing else to do reports no change. C(always) writes the configuration with it on every run (use it to
        rotate a short-lived token); the task then always reports a change.
    type: str
    choices: [on_create, always]
    default: on_create
  issuer:
    description:
      - Issuer (C(iss)) of the cluster's service account tokens. When given, the server checks every login token's
        issuer against it; when not, the issuer is not checked.
      - Mutually exclusive with O(discover_issuer).
    type: str
  discover_issuer:
    description:
      - Read the issuer from the API server's OIDC discovery document (O(kubernetes_host) followed by
        C(/.well-known/openid-configuration)) with O(token_reviewer_jwt), verified with O(kubernetes_ca_cert), and use
        it as O(issuer). The read runs in check mode too, so the issuer is compared there as well.
      - When the document cannot be read or names no issuer, the module fails naming the URL and changes nothing.
    type: bool
    default: false
  disable_local_ca_jwt:
    description:
      - Do not fall back to the CA certificate and token of a pod the server runs in. Keep C(true) unless the Vault
        server runs as a pod of this very cluster.
    type: bool
    default: true
  state:
    description: Whether the auth method exists.
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
- name: Kubernetes auth for the us-east-1 cluster
  meridian.observability.vault_kubernetes_auth:
    url: https://vault.example.com:8200
    token: "{{ vault_admin_token }}"
    mount_path: kubernetes-us-east-1
    description: Workloads of the us-east-1 cluster
    kubernetes_host: https://10.0.0.1:443
    kubernetes_ca_cert: "{{ lookup('ansible.builtin.file', 'files/us-east-1-ca.crt') }}"
    token_reviewer_jwt: "{{ reviewer_token }}"
    issuer: https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE

- name: Retire the cluster's auth method (its roles go with it)
  meridian.observability.vault_kubernetes_auth:
    mount_path: kubernetes-old
    state: absent
"""

RETURN = r"""
mount_path:
  description: The auth method's path, without slashes at either end.
  returned: always
  type: str
  sample: kubernetes-us-east-1
exists:
  description: Whether the auth method exists after the run (predicted in check mode).
  returned: always
  type: bool
  sample: true
actions:
  description: The writes sent (or, in check mode, that would be sent), in order. Empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: [write auth/kubernetes-us-east-1/config (kubernetes_host, token_reviewer_jwt)]
api_requests:
  description: Requests sent to Vault, as reads (GET, LIST) and writes (POST, PUT, DELETE).
  returned: always
  type: dict
  sample: {read: 2, write: 0}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meridian.observability.plugins.module_utils._vault.arguments import vault_argument_spec
from ansible_collections.meridian.observability.plugins.module_utils._vault.client import (
    HAS_HVAC,
    HVAC_IMPORT_ERROR,
    VaultClient,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.errors import VaultError, VaultInvalidInput
from ansible_collections.meridian.observability.plugins.module_utils._vault.issuer_discovery import discover_issuer
from ansible_collections.meridian.observability.plugins.module_utils._vault.kubernetes_auth import (
    kubernetes_config_spec,
)
from ansible_collections.meridian.observability.plugins.module_utils._vault.plan import mount_path
from ansible_collections.meridian.observability.plugins.module_utils._vault.service import VaultService

KUBERNETES_AUTH_SPEC = {
    "mount_path": {"type": "str", "required": True},
    "description": {"type": "str"},
    "kubernetes_host": {"type": "str"},
    "kubernetes_ca_cert": {"type": "str"},
    "token_reviewer_jwt": {"type": "str", "no_log": True},
    "update_token_reviewer_jwt": {"type": "str", "choices": ["on_create", "always"], "default": "on_create",
                                  "no_log": False},
    "issuer": {"type": "str"},
    "discover_issuer": {"type": "bool", "default": False},
    "disable_local_ca_jwt": {"type": "bool", "default": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}


def main() -> None:
    module = AnsibleModule(argument_spec={**vault_argument_spec(), **KUBERNETES_AUTH_SPEC}, supports_check_mode=True,
                           required_if=[("state", "present", ("kubernetes_host",))])
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib("hvac"), exception=HVAC_IMPORT_ERROR)
    client = None
    params = module.params
    try:
        path = mount_path(params["mount_path"], "mount_path")
        config = None
        if params["state"] == "present":
            if params["discover_issuer"] and params["issuer"]:
                raise VaultInvalidInput("issuer and discover_issuer: give the issuer or have it discovered, not both.",
                                        field="discover_issuer")
            config = kubernetes_config_spec(params["kubernetes_host"], params["kubernetes_ca_cert"], params["issuer"],
                                            params["disable_local_ca_jwt"])
            if params["discover_issuer"]:
                # Host and CA are validated above, before this first request.
                issuer = discover_issuer(config["kubernetes_host"], config["kubernetes_ca_cert"],
                                         params["token_reviewer_jwt"], timeout=params["timeout"] or 10)
                config = kubernetes_config_spec(params["kubernetes_host"], params["kubernetes_ca_cert"], issuer,
                                                params["disable_local_ca_jwt"])
        client = VaultClient.from_params(params)
        result = VaultService(client).ensure_kubernetes_auth(
            path, params["description"], config, params["token_reviewer_jwt"], params["update_token_reviewer_jwt"],
            params["state"], check_mode=module.check_mode, want_diff=module._diff)
    except VaultError as err:
        module.fail_json(msg=str(err), api_requests=client.api_requests if client else {}, **err.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
