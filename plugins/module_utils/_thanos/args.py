# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument spec shared by thanos_tenant and thanos_tenant_info; documented by the meridian.observability.thanos fragment."""

from __future__ import annotations

STORE_ARGUMENT_SPEC = {
    "hashrings_path": {"type": "path"},
    "limits_path": {"type": "path"},
    "configmap_namespace": {"type": "str"},
    "configmap_name": {"type": "str"},
    "hashrings_key": {"type": "str", "default": "hashrings.json", "no_log": False},
    "limits_key": {"type": "str", "default": "limits.yaml", "no_log": False},
    "kubeconfig": {"type": "path"},
    "context": {"type": "str"},
    "host": {"type": "str"},
    "api_key": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["cert_file"]},
    "client_key": {"type": "path", "aliases": ["key_file"], "no_log": False},
}

KUBERNETES_OPTIONS = ("kubeconfig", "context", "host", "api_key", "validate_certs", "ca_cert", "client_cert", "client_key")

STORE_MUTUALLY_EXCLUSIVE = [("hashrings_path", "configmap_name")] + [
    ("hashrings_path", option) for option in KUBERNETES_OPTIONS]
STORE_REQUIRED_ONE_OF = [("hashrings_path", "configmap_name")]
STORE_REQUIRED_TOGETHER = [("hashrings_path", "limits_path"), ("configmap_name", "configmap_namespace")]


def store_argument_spec() -> dict:
    """A fresh copy, so a module may extend it."""
    return {name: dict(spec) for name, spec in STORE_ARGUMENT_SPEC.items()}
