# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by thanos_tenant, thanos_tenants and thanos_tenant_info.

The store options are documented by the meridian.observability.thanos fragment; the Kubernetes connection
options are kubernetes.core's own (AUTH_ARG_SPEC, documented by its k8s_auth_options fragment), so they
are named, typed and read from K8S_AUTH_* variables exactly as in kubernetes.core.k8s.
"""

from __future__ import annotations

import copy

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

STORE_ARGUMENT_SPEC = {
    "hashrings_path": {"type": "path"},
    "limits_path": {"type": "path"},
    "configmap_namespace": {"type": "str"},
    "configmap_name": {"type": "str"},
    "hashrings_key": {"type": "str", "default": "hashrings.json", "no_log": False},
    "limits_key": {"type": "str", "default": "limits.yaml", "no_log": False},
    **copy.deepcopy(AUTH_ARG_SPEC),
}

# The options that only make sense for the ConfigMap store.
KUBERNETES_OPTIONS = tuple(AUTH_ARG_SPEC)

STORE_MUTUALLY_EXCLUSIVE = [("hashrings_path", "configmap_name")] + [
    ("hashrings_path", option) for option in KUBERNETES_OPTIONS]
STORE_REQUIRED_ONE_OF = [("hashrings_path", "configmap_name")]
STORE_REQUIRED_TOGETHER = [("hashrings_path", "limits_path"), ("configmap_name", "configmap_namespace")]


def store_argument_spec() -> dict:
    """A fresh copy, so a module may extend it."""
    return copy.deepcopy(STORE_ARGUMENT_SPEC)


# One tenant's options: the whole of thanos_tenant, and each element of thanos_tenants' ``tenants``.
HASHRING_ENDPOINTS_SPEC = {
    "type": "list",
    "elements": "dict",
    "options": {
        "address": {"type": "str", "required": True},
        "capnproto_address": {"type": "str"},
        "az": {"type": "str"},
    },
}
LIMITS_SPEC = {
    "type": "dict",
    "options": {
        "head_series_limit": {"type": "int"},
        "request": {
            "type": "dict",
            "options": {
                "size_bytes_limit": {"type": "int"},
                "series_limit": {"type": "int"},
                "samples_limit": {"type": "int"},
            },
        },
    },
}


def tenant_argument_spec() -> dict:
    """name, state, hashring, hashring_endpoints and limits of one tenant (a fresh copy)."""
    return {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "hashring": {"type": "str"},
        "hashring_endpoints": copy.deepcopy(HASHRING_ENDPOINTS_SPEC),
        "limits": copy.deepcopy(LIMITS_SPEC),
    }
