# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options of the meridian.observability Vault/OpenBao modules (module_utils/_vault/arguments.py)."""

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Address of the Vault or OpenBao API, for example C(https://vault.example.com:8200).
      - When not given, the environment variable E(VAULT_ADDR), then E(BAO_ADDR), is used. One of them is required.
    type: str
  token:
    description:
      - Token the module acts with. Its policies must allow the paths the module reads and writes.
      - When not given, the environment variable E(VAULT_TOKEN), then E(BAO_TOKEN), is used. One of them is required.
      - Never returned or logged.
    type: str
  vault_namespace:
    description: Vault Enterprise namespace to work in (sent as C(X-Vault-Namespace)). Leave it out for OpenBao.
    type: str
  validate_certs:
    description: Verify the server's TLS certificate. Only turn off against a throw-away test server.
    type: bool
    default: true
  ca_cert:
    description: Path of a PEM file with the CA that signed the server's certificate, when it is not a system CA.
    type: path
  timeout:
    description: Seconds to wait for each HTTP answer.
    type: int
    default: 30
requirements:
  - hvac (Python library) on the host that runs the module
notes:
  - Set the connection options once for every module of the action group with C(module_defaults) and
    C(group/meridian.observability.vault).
  - Refused connections and answers 429, 502, 503 and 504 to reads and idempotent writes are retried three times
    with exponential backoff.
  - Works with OpenBao and HashiCorp Vault, which share this API.
"""
