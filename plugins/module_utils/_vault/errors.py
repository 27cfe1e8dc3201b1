# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors for the Vault layers; only a module's main() turns them into fail_json."""

from __future__ import annotations


class VaultError(Exception):
    """Base error. ``details`` are extra, JSON-safe fields for the module result (never secrets)."""

    def __init__(self, message: str, **details) -> None:
        super().__init__(message)
        self.details = {key: value for key, value in details.items() if value is not None}


class VaultInvalidInput(VaultError):
    """The module parameters describe something Vault (or this collection) would not accept."""


class VaultUnreachable(VaultError):
    """No HTTP answer from Vault: connection refused, DNS, TLS or timeout."""


class VaultForbidden(VaultError):
    """Vault refused the token (401/403): it is invalid, expired, or its policies do not allow the call."""


class VaultNotFound(VaultError):
    """A Vault object or route does not exist (404); the client turns it into None where absence is normal."""


class VaultConflict(VaultError):
    """The path is taken by something else, such as a mount of another type, and the module will not replace it."""


class KubernetesIssuerUnavailable(VaultError):
    """The API server's OIDC discovery document could not be read or names no issuer."""
