# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection options every Vault module shares; documented by the doc fragment meridian.observability.vault.

Both Vault's and OpenBao's environment variables are honoured, so a shell set up for either CLI works as is.
"""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback


def vault_argument_spec() -> dict:
    """Argument spec of the connection options; keep in step with plugins/doc_fragments/vault.py."""
    return {
        "url": {"type": "str", "no_log": False, "fallback": (env_fallback, ["VAULT_ADDR", "BAO_ADDR"])},
        "token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["VAULT_TOKEN", "BAO_TOKEN"])},
        "vault_namespace": {"type": "str"},
        "validate_certs": {"type": "bool", "default": True},
        "ca_cert": {"type": "path"},
        "timeout": {"type": "int", "default": 30},
    }
