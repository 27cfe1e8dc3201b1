# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plans for the Kubernetes auth method's config and roles. Plain Python, no I/O.

A write to auth/<mount>/config replaces the whole config: a field left out is reset, and the
reviewer JWT is cleared when it is not sent. So a config write always carries every managed field
and the JWT. The server never returns the JWT, only ``token_reviewer_jwt_set``, so a given JWT cannot
be compared: with ``on_create`` it is sent when the config is (re)written for another reason or has
none yet; with ``always`` on every run. The JWT never appears in a plan's views, only its state.
"""

from __future__ import annotations

from typing import Any

from .errors import VaultInvalidInput
from .plan import CREATE, DELETE, NOTHING, UPDATE, Plan, duration_seconds

JWT_SET = "(set)"
JWT_NOT_SET = "(not set)"
JWT_REPLACED = "(replaced)"
CONFIG_FIELDS = ("kubernetes_host", "kubernetes_ca_cert", "issuer", "disable_local_ca_jwt", "disable_iss_validation")
ROLE_LIST_FIELDS = ("bound_service_account_names", "bound_service_account_namespaces", "token_policies")
ROLE_FIELDS = ROLE_LIST_FIELDS + ("audience", "token_ttl", "token_max_ttl")


def _pem(text: Any) -> str:
    """A PEM bundle with line endings and surrounding blank space normalised, for comparing."""
    lines = [line.strip() for line in str(text or "").replace("\r\n", "\n").strip().split("\n")]
    return "\n".join(line for line in lines if line) + ("\n" if lines and lines[0] else "")


def kubernetes_config_spec(kubernetes_host: str | None, kubernetes_ca_cert: str | None, issuer: str | None,
                           disable_local_ca_jwt: bool) -> dict:
    """The config body without the JWT; raises naming the field for values the server would reject or misuse."""
    host = str(kubernetes_host or "").strip().rstrip("/")
    if not host.startswith(("https://", "http://")):
        raise VaultInvalidInput(f"kubernetes_host: {kubernetes_host!r} is not a URL. Fix: give the API server's "
                                "address as OpenBao reaches it, such as https://10.0.0.1:443.", field="kubernetes_host")
    ca_cert = _pem(kubernetes_ca_cert) if kubernetes_ca_cert else ""
    if ca_cert and "-----BEGIN CERTIFICATE-----" not in ca_cert:
        raise VaultInvalidInput("kubernetes_ca_cert is not PEM text. Fix: pass the CA certificate's content (for "
                                "example with lookup('ansible.builtin.file', ...)), not a path.",
                                field="kubernetes_ca_cert")
    if host.startswith("https://") and not ca_cert and disable_local_ca_jwt:
        raise VaultInvalidInput("kubernetes_ca_cert is required for an https kubernetes_host when "
                                "disable_local_ca_jwt is true (OpenBao runs outside the cluster and has no local CA). "
                                "Fix: give the API server's CA certificate as PEM text.", field="kubernetes_ca_cert")
    return {
        "kubernetes_host": host,
        "kubernetes_ca_cert": ca_cert,
        "issuer": issuer or "",
        "disable_local_ca_jwt": bool(disable_local_ca_jwt),
        # With an issuer given, have the server check it; without one there is nothing to check against.
        "disable_iss_validation": not issuer,
    }


def _config_view(config: dict) -> dict:
    return {field: (_pem(config.get(field)) if field == "kubernetes_ca_cert" else config.get(field))
            for field in CONFIG_FIELDS}


def plan_kubernetes_config(current: dict | None, spec: dict, reviewer_jwt_given: bool,
                           update_token_reviewer_jwt: str = "on_create") -> Plan:
    """The config write, if any. ``current`` is the read of auth/<mount>/config (None when never written)."""
    jwt_was_set = bool(current and current.get("token_reviewer_jwt_set"))
    before = {} if current is None else dict(_config_view(current),
                                             token_reviewer_jwt=JWT_SET if jwt_was_set else JWT_NOT_SET)
    after = dict(_config_view(spec), token_reviewer_jwt=JWT_SET if reviewer_jwt_given else JWT_NOT_SET)
    if current is None:
        changes = tuple(field for field in CONFIG_FIELDS if spec[field] not in ("", None, False))
        if reviewer_jwt_given:
            changes += ("token_reviewer_jwt",)
        return Plan(CREATE, changes or ("config",), dict(spec), before, after)
    changes = [field for field in CONFIG_FIELDS if before[field] != after[field]]
    if jwt_was_set != reviewer_jwt_given:
        changes.append("token_reviewer_jwt")
    elif reviewer_jwt_given and (changes or update_token_reviewer_jwt == "always"):
        # The JWT is sent with every write; it replaces the stored one, which cannot be compared.
        changes.append("token_reviewer_jwt")
        after["token_reviewer_jwt"] = JWT_REPLACED
    if not changes:
        return Plan(NOTHING, (), None, before, before)
    return Plan(UPDATE, tuple(changes), dict(spec), before, after)


def role_spec(bound_service_account_names: list, bound_service_account_namespaces: list, token_policies: list,
              audience: str | None, token_ttl: Any, token_max_ttl: Any, *, ttl_field: str = "token_ttl",
              max_ttl_field: str = "token_max_ttl") -> dict:
    """A Kubernetes auth role's managed fields, normalised the way the server returns them.

    Errors name the TTLs as ``ttl_field`` and ``max_ttl_field`` (where the caller's user wrote them).
    """
    ttl = duration_seconds(token_ttl, ttl_field)
    max_ttl = duration_seconds(token_max_ttl, max_ttl_field)
    if max_ttl and ttl > max_ttl:
        raise VaultInvalidInput(f"{ttl_field} ({ttl}s) is longer than {max_ttl_field} ({max_ttl}s). Fix: make "
                                f"{ttl_field} at most {max_ttl_field}.", field=ttl_field)
    return {
        "bound_service_account_names": sorted(set(bound_service_account_names)),
        "bound_service_account_namespaces": sorted(set(bound_service_account_namespaces)),
        "token_policies": sorted(set(token_policies)),
        "audience": audience or "",
        "token_ttl": ttl,
        "token_max_ttl": max_ttl,
    }


def role_view(role: dict) -> dict:
    view = {field: role.get(field) for field in ROLE_FIELDS}
    for field in ROLE_LIST_FIELDS:
        view[field] = sorted(view[field] or [])
    view["audience"] = view["audience"] or ""
    view["token_ttl"] = int(view["token_ttl"] or 0)
    view["token_max_ttl"] = int(view["token_max_ttl"] or 0)
    return view


def plan_role(current: dict | None, spec: dict) -> Plan:
    """The role write, if any. ``current`` is the read of auth/<mount>/role/<name> (None when missing).

    Fields outside the spec are not sent, so an update keeps what others set on them.
    """
    if current is None:
        return Plan(CREATE, ("role",), dict(spec), {}, dict(spec))
    before = role_view(current)
    changes = tuple(field for field in ROLE_FIELDS if before[field] != spec[field])
    if not changes:
        return Plan(NOTHING, (), None, before, before)
    return Plan(UPDATE, changes, dict(spec), before, dict(spec))


def plan_role_absent(current: dict | None) -> Plan:
    """Delete the role when it exists."""
    if current is None:
        return Plan(NOTHING, (), None, {}, {})
    return Plan(DELETE, ("role",), None, role_view(current), {})
