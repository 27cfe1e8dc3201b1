# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client for Keycloak's admin REST API.

One method per API call. Every call goes through ``_send``, which retries
429 and 5xx answers (and refused connections) with jittered exponential
backoff, and ``_admin``, which turns HTTP errors into the typed errors of
``errors.py``: 404 becomes ``None`` where absence is a normal answer. The
client never talks to Ansible; it counts its requests per method so tests and
benchmarks can check that a run with nothing to do sends nothing but reads.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import ssl
import time
import urllib.error
from collections import Counter
from typing import Any, Callable, NamedTuple
from urllib.parse import quote, urlencode, urlsplit

from ansible.module_utils.urls import Request, make_context

from .errors import (
    KeycloakAuthError,
    KeycloakConflict,
    KeycloakError,
    KeycloakForbidden,
    KeycloakNotFound,
    KeycloakUnreachable,
)

# Statuses that say "try again later" rather than "this request is wrong".
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A POST that got a 500, 502 or 504 may have been applied, so only these are safe to repeat for it.
RETRY_STATUSES_UNSAFE_METHODS = frozenset({429, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
# Server-side paging: Keycloak caps some list endpoints at 100 entries unless told otherwise.
PAGE_SIZE = 500


class Response(NamedTuple):
    """What a transport returns: status, lower-cased headers and the raw body."""

    status: int
    headers: dict
    body: bytes


class TransportError(Exception):
    """The request got no HTTP answer; ``sent`` is False when it certainly never reached the server."""

    def __init__(self, reason: str, sent: bool) -> None:
        super().__init__(reason)
        self.sent = sent


# (what the transport's error says, the reason an operator reads); the first match wins.
_TRANSPORT_REASONS = (
    ("connection refused", "connection refused"),
    ("reset by peer", "connection reset"),
    ("remotedisconnected", "connection reset"),
    ("remote end closed", "connection reset"),
    ("connection aborted", "connection reset"),
    ("broken pipe", "connection reset"),
    ("incompleteread", "connection reset"),
    ("timed out", "timed out"),
    ("name or service not known", "host name not resolved"),
    ("temporary failure in name resolution", "host name not resolved"),
    ("nodename nor servname", "host name not resolved"),
    ("tls error", "TLS failed"),
    ("certificate", "TLS failed"),
)
# Collection path segment -> what one object of it is called in a message.
_OBJECT_NAMES = {"clients": "client", "groups": "group", "roles": "realm role", "users": "user",
                 "models": "protocol mapper", "realm": "realm role mapping of a group", "members": "group member",
                 "reset-password": "user password"}
_VERBS = {"GET": "reading", "POST": "creating", "PUT": "updating", "DELETE": "deleting"}


def transport_reason(error: TransportError) -> str:
    """A short reason for an operator ("connection refused", "timed out", ...) with the transport's own words."""
    text = str(error)
    reason = next((said for marker, said in _TRANSPORT_REASONS if marker in text.lower()), "")
    if not reason or text.lower().startswith(reason.lower()):
        return text
    return f"{reason}: {text}"


def describe_operation(method: str, path: str, body: Any = None) -> str:
    """What an admin API call does, in words: "creating realm 'acme'", "updating a client in realm 'acme'"."""
    verb = _VERBS.get(method, method.lower())
    segments = [segment for segment in path.strip("/").split("/") if segment]
    if not segments:
        if method == "POST" and isinstance(body, dict) and body.get("realm"):
            return f"creating realm {body['realm']!r}"
        return f"{verb} the realm list"
    realm = segments[0]
    if len(segments) == 1:
        return f"{verb} realm {realm!r}"
    named = [_OBJECT_NAMES[segment] for segment in segments[1:] if segment in _OBJECT_NAMES]
    what = named[-1] if named else "/".join(segments[1:])
    if method == "GET" and segments[-1] in _OBJECT_NAMES:
        return f"reading the {what} list of realm {realm!r}"
    return f"{verb} a {what} in realm {realm!r}"


# One TLS context per validate_certs for the whole module run. open_url builds a new one for every request when
# given none, loading the system's CA store each time (even for http://): about 22 ms of CPU per request, most of a
# no-change run's Keycloak time at 60 tenants.
_TLS_CONTEXTS: dict = {}


def _tls_context(validate_certs: bool) -> ssl.SSLContext:
    if validate_certs not in _TLS_CONTEXTS:
        _TLS_CONTEXTS[validate_certs] = make_context(validate_certs=validate_certs)
    return _TLS_CONTEXTS[validate_certs]


def open_url_transport(method: str, url: str, headers: dict, data: bytes | None, timeout: int,
                       validate_certs: bool, http_agent: str) -> Response:
    """Send one request with ansible.module_utils.urls (what open_url does); HTTP errors are answers, not exceptions."""
    try:
        response = Request(context=_tls_context(validate_certs)).open(
            method, url, data=data, headers=headers, timeout=timeout, validate_certs=validate_certs,
            http_agent=http_agent, follow_redirects="none")
        return Response(response.status, {key.lower(): value for key, value in response.headers.items()}, response.read())
    except urllib.error.HTTPError as err:
        body = err.read() if err.fp is not None else b""
        return Response(err.code, {key.lower(): value for key, value in (err.headers or {}).items()}, body)
    except (socket.timeout, TimeoutError) as err:
        raise TransportError(f"timed out after {timeout}s ({err})", sent=True) from err
    except urllib.error.URLError as err:
        reason = err.reason
        sent = isinstance(reason, (ConnectionResetError, socket.timeout, TimeoutError))
        raise TransportError(str(reason), sent=sent) from err
    except ssl.SSLError as err:
        raise TransportError(f"TLS error: {err}", sent=False) from err
    except ConnectionRefusedError as err:
        raise TransportError(f"connection refused ({err})", sent=False) from err
    except (http.client.HTTPException, OSError) as err:
        # Includes ansible's ConnectionError/SSLValidationError and a server that hung up mid-answer.
        raise TransportError(f"{type(err).__name__}: {err}", sent=True) from err


class Credentials(NamedTuple):
    """How to obtain the admin token; ``token`` short-circuits the grant."""

    realm: str
    client_id: str
    client_secret: str | None = None
    username: str | None = None
    password: str | None = None
    token: str | None = None


def _error_message(body: bytes) -> str:
    """Keycloak's own explanation from an error body, without echoing anything we sent."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return body.decode("utf-8", "replace").strip()[:200]
    if isinstance(document, dict):
        for key in ("errorMessage", "error_description", "error"):
            if document.get(key):
                return str(document[key])
    return str(document)[:200]


class KeycloakClient:
    """Admin REST API client for one Keycloak base URL."""

    def __init__(self, base_url: str, credentials: Credentials, *, validate_certs: bool = True, timeout: int = 10,
                 http_agent: str = "meridian.observability", max_attempts: int = 4, backoff_base: float = 0.4,
                 backoff_cap: float = 5.0, transport: Callable[..., Response] = open_url_transport,
                 sleep: Callable[[float], Any] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.http_agent = http_agent
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._transport = transport
        self._sleep = sleep
        self._access_token = credentials.token
        # Requests by kind: "token" for grants, otherwise the HTTP method of admin API calls.
        self.request_counts: Counter = Counter()

    @classmethod
    def from_params(cls, params: dict, **overrides) -> "KeycloakClient":
        """Build a client from the shared connection options (see keycloak_argument_spec)."""
        credentials = Credentials(
            realm=params.get("auth_realm") or "master",
            client_id=params.get("auth_client_id") or "admin-cli",
            client_secret=params.get("auth_client_secret"),
            username=params.get("auth_username"),
            password=params.get("auth_password"),
            token=params.get("token"),
        )
        return cls(params["auth_keycloak_url"], credentials, validate_certs=params.get("validate_certs", True),
                   timeout=params.get("connection_timeout") or 10,
                   http_agent=params.get("http_agent") or "meridian.observability", **overrides)

    # ------------------------------------------------------------------ plumbing
    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after), self.backoff_cap)
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        # "Equal jitter": never zero, never in lock-step with other clients.
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _send(self, method: str, url: str, headers: dict, data: bytes | None, kind: str, operation: str = "") -> Response:
        """One logical request, retried on transient failures; raises KeycloakUnreachable when no answer came.

        ``operation`` says in words what the request does, for the message when Keycloak cannot be reached.
        """
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            self.request_counts[kind] += 1
            try:
                response = self._transport(method, url, headers, data, self.timeout, self.validate_certs, self.http_agent)
            except TransportError as err:
                # Repeating is harmless when the request never arrived or could not change anything.
                if not last and (not err.sent or method in IDEMPOTENT_METHODS):
                    self._sleep(self._backoff(attempt, None))
                    continue
                what = operation or f"sending {method} {urlsplit(url).path}"
                # A run stopped here leaves part of the work done; every module converges from what it finds, so
                # the same run again completes it rather than duplicating anything.
                raise KeycloakUnreachable(
                    f"cannot reach Keycloak at {self.base_url} ({transport_reason(err)}) while {what} "
                    f"({method} {urlsplit(url).path}, {attempt} attempt{'s' if attempt > 1 else ''}): start Keycloak "
                    "or fix auth_keycloak_url (and validate_certs for TLS problems), then re-run; the run is "
                    "idempotent and completes what was left.",
                    url=self.base_url, attempts=attempt, operation=what) from err
            retryable = RETRY_STATUSES if method in IDEMPOTENT_METHODS else RETRY_STATUSES_UNSAFE_METHODS
            if response.status in retryable and not last:
                self._sleep(self._backoff(attempt, response.headers.get("retry-after")))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch_token(self) -> str:
        credentials = self.credentials
        form = {"client_id": credentials.client_id}
        if credentials.username:
            form.update(grant_type="password", username=credentials.username, password=credentials.password or "")
            who = f"user {credentials.username!r}"
        else:
            form["grant_type"] = "client_credentials"
            who = f"client {credentials.client_id!r}"
        if credentials.client_secret:
            form["client_secret"] = credentials.client_secret
        path = f"/realms/{quote(credentials.realm, safe='')}/protocol/openid-connect/token"
        response = self._send("POST", self.base_url + path,
                              {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                              urlencode(form).encode("ascii"), kind="token",
                              operation=f"requesting an admin token for {who} in realm {credentials.realm!r}")
        if response.status == 200:
            try:
                return json.loads(response.body.decode("utf-8"))["access_token"]
            except (ValueError, KeyError, UnicodeDecodeError) as err:
                raise KeycloakError(f"Keycloak answered the token request at {path} without an access_token; "
                                    "is auth_keycloak_url the Keycloak base URL?", status=200) from err
        reason = _error_message(response.body)
        if response.status in (400, 401):
            raise KeycloakAuthError(
                f"Keycloak rejected the admin credentials of {who} in realm {credentials.realm!r} "
                f"(auth_client_id {credentials.client_id!r}): {reason}. Check auth_username/auth_password, "
                "auth_client_id/auth_client_secret and auth_realm.", status=response.status)
        if response.status == 404:
            raise KeycloakAuthError(
                f"realm {credentials.realm!r} (auth_realm) has no token endpoint at {self.base_url}: {reason}. "
                "Check auth_realm and auth_keycloak_url (Keycloak before 17 needs the /auth suffix).", status=404)
        raise KeycloakError(f"token request to {path} failed with HTTP {response.status}: {reason}", status=response.status)

    def _admin(self, method: str, path: str, body: Any = None, query: dict | None = None,
               not_found_ok: bool = False) -> Response | None:
        """One admin API call under /admin/realms; None for a 404 when ``not_found_ok``."""
        url = f"{self.base_url}/admin/realms{path}"
        if query:
            url += "?" + urlencode(query)
        data = None if body is None else json.dumps(body).encode("utf-8")
        refreshed = False
        while True:
            if self._access_token is None:
                self._access_token = self._fetch_token()
            headers = {"Authorization": f"Bearer {self._access_token}", "Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            response = self._send(method, url, headers, data, kind=method,
                                  operation=describe_operation(method, path, body))
            # A token we fetched ourselves may expire during a long run (the master realm's default is 60 s).
            if response.status == 401 and not refreshed and self.credentials.token is None:
                self._access_token = None
                refreshed = True
                continue
            break
        if 200 <= response.status < 300:
            return response
        reason = _error_message(response.body)
        where = f"{method} /admin/realms{path}"
        if response.status == 404 and not_found_ok:
            return None
        if response.status == 401:
            raise KeycloakAuthError(f"Keycloak rejected the admin token for {where} (401): {reason}. "
                                    "The token is invalid or expired, or auth_realm is not the realm it was issued by.",
                                    status=401, method=method, path=path)
        if response.status == 403:
            raise KeycloakForbidden(
                f"the admin account may not {where} (403 Forbidden): {reason}. Give it the master realm's 'admin' role "
                "(or 'create-realm' plus the realm's 'realm-admin' role).", status=403, method=method, path=path)
        if response.status == 404:
            raise KeycloakNotFound(f"{where}: not found (404): {reason}", status=404, method=method, path=path)
        if response.status == 409:
            raise KeycloakConflict(f"{where}: conflict (409): {reason}. Another run or a person changed it meanwhile; "
                                   "run again.", status=409, method=method, path=path)
        raise KeycloakError(f"{where} failed with HTTP {response.status}: {reason}", status=response.status,
                            method=method, path=path)

    def _json(self, method: str, path: str, query: dict | None = None, not_found_ok: bool = False) -> Any:
        response = self._admin(method, path, query=query, not_found_ok=not_found_ok)
        if response is None:
            return None
        try:
            return json.loads(response.body.decode("utf-8")) if response.body else None
        except (ValueError, UnicodeDecodeError) as err:
            raise KeycloakError(f"{method} /admin/realms{path} answered with something that is not JSON",
                                status=response.status, path=path) from err

    def _create(self, path: str, body: dict) -> str | None:
        """POST a new object; returns the id from the Location header (None when Keycloak sends none)."""
        response = self._admin("POST", path, body=body)
        location = response.headers.get("location") if response is not None else None
        return location.rstrip("/").rsplit("/", 1)[-1] if location else None

    def _pages(self, path: str, query: dict) -> list:
        """Every entry of a paged list endpoint."""
        entries: list = []
        while True:
            page = self._json("GET", path, query={**query, "first": len(entries), "max": PAGE_SIZE}) or []
            entries.extend(page)
            if len(page) < PAGE_SIZE:
                return entries

    # ------------------------------------------------------------------ realms
    def list_realms(self) -> list:
        """Every realm the caller may see, each as GET of that realm returns it (or brief, where it may not view it)."""
        return self._json("GET", "", query={"briefRepresentation": "false"}) or []

    def get_realm(self, realm: str) -> dict | None:
        return self._json("GET", f"/{quote(realm, safe='')}", not_found_ok=True)

    def create_realm(self, representation: dict) -> None:
        self._admin("POST", "", body=representation)

    def update_realm(self, realm: str, changes: dict) -> None:
        """PUT only the given fields; Keycloak leaves fields missing from the body as they are."""
        self._admin("PUT", f"/{quote(realm, safe='')}", body=changes)

    def delete_realm(self, realm: str) -> None:
        self._admin("DELETE", f"/{quote(realm, safe='')}", not_found_ok=True)

    def get_discovery(self, realm: str) -> dict | None:
        """The realm's OpenID Connect discovery document (issuer, jwks_uri), or None when the realm is absent."""
        url = f"{self.base_url}/realms/{quote(realm, safe='')}/.well-known/openid-configuration"
        response = self._send("GET", url, {"Accept": "application/json"}, None, kind="GET",
                              operation=f"reading the discovery document of realm {realm!r}")
        if response.status != 200:
            return None
        try:
            return json.loads(response.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    # ------------------------------------------------------------------ clients and protocol mappers
    def list_clients(self, realm: str) -> list:
        return self._json("GET", f"/{quote(realm, safe='')}/clients") or []

    def create_client(self, realm: str, representation: dict) -> str | None:
        return self._create(f"/{quote(realm, safe='')}/clients", representation)

    def update_client(self, realm: str, client_uuid: str, representation: dict) -> None:
        self._admin("PUT", f"/{quote(realm, safe='')}/clients/{client_uuid}", body=representation)

    def create_protocol_mapper(self, realm: str, client_uuid: str, representation: dict) -> None:
        self._create(f"/{quote(realm, safe='')}/clients/{client_uuid}/protocol-mappers/models", representation)

    def update_protocol_mapper(self, realm: str, client_uuid: str, mapper_id: str, representation: dict) -> None:
        self._admin("PUT", f"/{quote(realm, safe='')}/clients/{client_uuid}/protocol-mappers/models/{mapper_id}",
                    body=representation)

    # ------------------------------------------------------------------ realm roles
    def list_realm_roles(self, realm: str) -> list:
        return self._json("GET", f"/{quote(realm, safe='')}/roles", query={"briefRepresentation": "false"}) or []

    def get_realm_role(self, realm: str, name: str) -> dict | None:
        return self._json("GET", f"/{quote(realm, safe='')}/roles/{quote(name, safe='')}", not_found_ok=True)

    def create_realm_role(self, realm: str, representation: dict) -> None:
        self._admin("POST", f"/{quote(realm, safe='')}/roles", body=representation)

    def update_realm_role(self, realm: str, name: str, representation: dict) -> None:
        self._admin("PUT", f"/{quote(realm, safe='')}/roles/{quote(name, safe='')}", body=representation)

    # ------------------------------------------------------------------ groups
    def list_groups(self, realm: str) -> list:
        """Top-level groups with their realm roles."""
        return self._pages(f"/{quote(realm, safe='')}/groups", {"briefRepresentation": "false"})

    def create_group(self, realm: str, representation: dict) -> str | None:
        return self._create(f"/{quote(realm, safe='')}/groups", representation)

    def group_members(self, realm: str, group_id: str) -> list:
        return self._pages(f"/{quote(realm, safe='')}/groups/{group_id}/members", {"briefRepresentation": "false"})

    def add_group_realm_roles(self, realm: str, group_id: str, roles: list) -> None:
        self._admin("POST", f"/{quote(realm, safe='')}/groups/{group_id}/role-mappings/realm", body=roles)

    def remove_group_realm_roles(self, realm: str, group_id: str, roles: list) -> None:
        self._admin("DELETE", f"/{quote(realm, safe='')}/groups/{group_id}/role-mappings/realm", body=roles)

    # ------------------------------------------------------------------ users
    def find_user(self, realm: str, username: str) -> dict | None:
        """The user with exactly this user name, or None."""
        found = self._json("GET", f"/{quote(realm, safe='')}/users", query={"username": username, "exact": "true"}) or []
        return next((user for user in found if user.get("username") == username), None)

    def create_user(self, realm: str, representation: dict) -> str | None:
        return self._create(f"/{quote(realm, safe='')}/users", representation)

    def update_user(self, realm: str, user_id: str, representation: dict) -> None:
        self._admin("PUT", f"/{quote(realm, safe='')}/users/{user_id}", body=representation)

    def reset_password(self, realm: str, user_id: str, password: str) -> None:
        self._admin("PUT", f"/{quote(realm, safe='')}/users/{user_id}/reset-password",
                    body={"type": "password", "value": password, "temporary": False})

    def add_user_to_group(self, realm: str, user_id: str, group_id: str) -> None:
        self._admin("PUT", f"/{quote(realm, safe='')}/users/{user_id}/groups/{group_id}")

    def remove_user_from_group(self, realm: str, user_id: str, group_id: str) -> None:
        self._admin("DELETE", f"/{quote(realm, safe='')}/users/{user_id}/groups/{group_id}", not_found_ok=True)
