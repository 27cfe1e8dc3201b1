# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection options every Keycloak module shares; documented by the doc fragment meridian.observability.keycloak.

The option names are the ones community.general's keycloak modules use, so one
``module_defaults: group/meridian.observability.keycloak:`` block (or an existing
one written for community.general) sets the credentials once.
"""

from __future__ import annotations

from .tenant import BRUTE_FORCE_DEFAULTS, LIFESPAN_DEFAULTS


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


def tenant_argument_spec() -> dict:
    """Options describing one tenant's realm: keycloak_tenant's own, and each entry of keycloak_tenants' ``tenants``.

    Documented twice (keycloak_tenant's options, keycloak_tenants' tenants suboptions); the unit tests check that
    both documentations agree with this spec.
    """
    brute_force_options = {
        option: {"type": "bool" if isinstance(default, bool) else "int", "default": default}
        for option, default in BRUTE_FORCE_DEFAULTS.items()
    }
    user_options = {
        "username": {"type": "str", "required": True},
        "email": {"type": "str"},
        "first_name": {"type": "str"},
        "last_name": {"type": "str"},
        "enabled": {"type": "bool", "default": True},
        "email_verified": {"type": "bool"},
        "password": {"type": "str", "no_log": True},
        "groups": {"type": "list", "elements": "str", "choices": ["owners", "viewers"], "default": []},
    }
    return {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "display_name": {"type": "str"},
        "gateway_client_id": {"type": "str", "default": "observability-gateway"},
        "grafana_client_id": {"type": "str", "default": "grafana"},
        "redirect_uris": {"type": "list", "elements": "str", "default": []},
        "owners": {"type": "list", "elements": "str", "default": []},
        "viewers": {"type": "list", "elements": "str", "default": []},
        "ssl_required": {"type": "str", "choices": ["external", "all", "none"], "default": "external"},
        # Lifespans are durations, not secrets; the name only sounds like one.
        **{option: {"type": "int", "default": default, "no_log": False} for option, default in LIFESPAN_DEFAULTS.items()},
        "brute_force_protection": {"type": "dict", "options": brute_force_options, "apply_defaults": True},
        "users": {"type": "list", "elements": "dict", "default": [], "options": user_options},
        "update_password": {"type": "str", "choices": ["on_create", "always"], "default": "on_create"},
    }
