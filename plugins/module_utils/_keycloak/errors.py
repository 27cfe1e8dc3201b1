# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors for the Keycloak layers; only a module's main() turns them into fail_json."""

from __future__ import annotations


class KeycloakError(Exception):
    """Base error. ``details`` are extra, JSON-safe fields for the module result (never secrets)."""

    def __init__(self, message: str, **details) -> None:
        super().__init__(message)
        self.details = {key: value for key, value in details.items() if value is not None}


class KeycloakInvalidInput(KeycloakError):
    """The module parameters describe a tenant Keycloak (or this collection) would not accept."""


class KeycloakUnreachable(KeycloakError):
    """No HTTP answer from Keycloak: connection refused, DNS, TLS or timeout."""


class KeycloakAuthError(KeycloakError):
    """Keycloak rejected the admin credentials or the admin token (bad password, unknown client, 401)."""


class KeycloakForbidden(KeycloakError):
    """The admin account authenticated but lacks the rights for a call (403)."""


class KeycloakNotFound(KeycloakError):
    """A Keycloak object does not exist (404); the client turns it into None where absence is normal."""


class KeycloakConflict(KeycloakError):
    """Keycloak refused a create because the object already exists (409), usually a concurrent change."""


class KeycloakForeignRealm(KeycloakError):
    """A realm named after a tenant exists but is not the tenant's (no tenant claim on its gateway client).

    Raised before any write; ``foreign_realms`` in the details names them.
    """
