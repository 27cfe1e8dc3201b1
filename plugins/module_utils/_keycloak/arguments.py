# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection options every Keycloak module shares; documented by the doc fragment meridian.observability.keycloak.

The option names are the ones community.general's keycloak modules use, so one
``module_defaults: group/meridian.observability.keycloak:`` block (or an existing
one written for community.general) sets the credentials once.
"""

from __future__ import annotations


def keycloak_argument_spec() -> dict:
    """Argument spec of the connection options; keep in step with plugins/doc_fragments/keycloak.py."""
    return {
        "auth_keycloak_url": {"type": "str", "required": True, "no_log": False},
        "auth_realm": {"type": "str", "default": "master", "no_log": False},
        "auth_client_id": {"type": "str", "default": "admin-cli", "no_log": False},
        "auth_client_secret": {"type": "str", "no_log": True},
        "auth_username": {"type": "str", "no_log": False},
        "auth_password": {"type": "str", "no_log": True},
        "token": {"type": "str", "no_log": True},
        "validate_certs": {"type": "bool", "default": True},
        "connection_timeout": {"type": "int", "default": 10},
        "http_agent": {"type": "str", "default": "meridian.observability"},
    }


def keycloak_module_kwargs() -> dict:
    """AnsibleModule keyword arguments that go with keycloak_argument_spec()."""
    return {
        "required_together": [("auth_username", "auth_password")],
        "required_one_of": [("token", "auth_username", "auth_client_secret")],
        "mutually_exclusive": [("token", "auth_username"), ("token", "auth_client_secret")],
    }
