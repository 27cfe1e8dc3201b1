# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client for the Vault/OpenBao HTTP API, over hvac.

hvac supplies what every Vault client needs and we would otherwise re-implement: the
session, the token and namespace headers, TLS options and the LIST verb. The client
sends explicit API paths through hvac's RawAdapter instead of hvac's per-endpoint
helpers, because those helpers validate and reshape fields (the Kubernetes auth
helpers, for example, do not take every field the server accepts) and the services
must send exactly the body they compared. Every call goes through ``_call``, which
counts it (``read`` for GET/LIST, ``write`` for POST/PUT/DELETE) and turns failures
into the typed errors of ``errors.py``: 404 becomes ``None`` where absence is normal.
The client never talks to Ansible.
"""

from __future__ import annotations

import traceback
from collections import Counter
from typing import Any
from urllib.parse import quote

from .errors import VaultError, VaultForbidden, VaultInvalidInput, VaultNotFound, VaultUnreachable

try:
    import hvac
    import hvac.adapters
    import requests
    import requests.adapters
    from urllib3.util.retry import Retry
except ImportError:
    HAS_HVAC = False
    HVAC_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_HVAC = True
    HVAC_IMPORT_ERROR = None

READ_METHODS = frozenset({"GET", "LIST"})
# Methods safe to repeat after a 5xx: a repeated GET, LIST, PUT or DELETE leaves the same state behind.
IDEMPOTENT_METHODS = frozenset({"GET", "LIST", "PUT", "DELETE", "HEAD", "OPTIONS"})


def _retrying_session(verify: Any) -> Any:
    """A requests session that retries refused connections and 'try again' answers with exponential backoff."""
    session = requests.Session()
    retry = Retry(total=3, connect=3, read=0, status=3, backoff_factor=0.3,
                  status_forcelist=(429, 502, 503, 504), allowed_methods=IDEMPOTENT_METHODS,
                  raise_on_status=False, respect_retry_after_header=True)
    adapter = requests.adapters.HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = verify
    return session


# (what requests/urllib3 say, the reason an operator reads); the first match wins.
_CONNECTION_REASONS = (
    ("connection refused", "connection refused"),
    ("reset by peer", "connection reset"),
    ("remotedisconnected", "connection reset"),
    ("remote end closed", "connection reset"),
    ("connection aborted", "connection reset"),
    ("broken pipe", "connection reset"),
    ("timed out", "timed out"),
    ("name or service not known", "host name not resolved"),
    ("temporary failure in name resolution", "host name not resolved"),
    ("failed to resolve", "host name not resolved"),
    ("nodename nor servname", "host name not resolved"),
)
_VERBS = {"GET": "reading", "LIST": "listing", "POST": "writing", "PUT": "writing", "DELETE": "deleting"}


def connection_reason(error: Exception) -> str:
    """A short reason for an operator ("connection refused", "timed out", ...) for a request that got no answer."""
    text = str(error).lower()
    if HAS_HVAC and isinstance(error, requests.exceptions.Timeout):
        return "timed out"
    return next((reason for marker, reason in _CONNECTION_REASONS if marker in text), "no answer")


def describe_operation(method: str, path: str) -> str:
    """What an API call does, in words: "writing policy 'tenant-acme'", "reading auth mount 'kubernetes-x'"."""
    verb = _VERBS.get(method, method.lower())
    segments = [segment for segment in path.strip("/").split("/") if segment]
    if segments[:3] == ["sys", "policies", "acl"] and len(segments) > 3:
        return f"{verb} policy {'/'.join(segments[3:])!r}"
    if segments[:2] == ["sys", "mounts"]:
        if len(segments) == 2:
            return f"{verb} the secrets engine mounts"
        return f"{verb} secrets engine mount {segments[2]!r}" + (" (tune)" if segments[-1] == "tune" else "")
    if segments[:2] == ["sys", "auth"]:
        if len(segments) == 2:
            return f"{verb} the auth mounts"
        return f"{verb} auth mount {segments[2]!r}" + (" (tune)" if segments[-1] == "tune" else "")
    if segments[:1] == ["auth"] and "role" in segments[2:]:
        at = segments.index("role", 2)
        mount = "/".join(segments[1:at])
        role = "/".join(segments[at + 1:])
        return f"{verb} role {role!r} of auth mount {mount!r}" if role else f"{verb} the roles of auth mount {mount!r}"
    if segments[:1] == ["auth"] and segments[-1] == "config":
        return f"{verb} the configuration of auth mount {'/'.join(segments[1:-1])!r}"
    return f"{verb} {'/'.join(segments)!r}"


def _errors(response: Any) -> str:
    """Vault's own explanation from an error body, without echoing anything we sent."""
    try:
        document = response.json()
    except ValueError:
        return (response.text or "").strip()[:200] or response.reason or ""
    errors = document.get("errors") if isinstance(document, dict) else None
    if errors:
        return "; ".join(str(error) for error in errors)[:400]
    return response.reason or ""


class VaultClient:
    """Vault/OpenBao API client for one server and token."""

    def __init__(self, url: str | None, token: str | None, *, namespace: str | None = None,
                 validate_certs: bool = True, ca_cert: str | None = None, timeout: int = 30) -> None:
        if not HAS_HVAC:
            raise VaultError("the Python library hvac is required on the host that runs the module "
                             "(pip install hvac).", exception=HVAC_IMPORT_ERROR)
        if not url:
            raise VaultInvalidInput("url is required: set url, or VAULT_ADDR or BAO_ADDR in the environment, to the "
                                    "server's address such as https://vault.example.com:8200.", field="url")
        if not url.startswith(("http://", "https://")):
            raise VaultInvalidInput(f"url {url!r} is not an http:// or https:// address. Fix: give the server's "
                                    "address such as https://vault.example.com:8200.", field="url")
        if not token:
            raise VaultInvalidInput("token is required: set token, or VAULT_TOKEN or BAO_TOKEN in the environment.",
                                    field="token")
        self.url = url.rstrip("/")
        verify: Any = (ca_cert or True) if validate_certs else False
        # verify goes to the adapter too: hvac ignores a session whose verify is False.
        self._adapter = hvac.adapters.RawAdapter(base_uri=self.url, token=token, namespace=namespace, verify=verify,
                                                 timeout=timeout, session=_retrying_session(verify))
        self.request_counts: Counter = Counter({"read": 0, "write": 0})

    @classmethod
    def from_params(cls, params: dict) -> "VaultClient":
        """Build a client from the shared connection options (see vault_argument_spec)."""
        return cls(params.get("url"), params.get("token"), namespace=params.get("vault_namespace"),
                   validate_certs=params.get("validate_certs", True), ca_cert=params.get("ca_cert"),
                   timeout=params.get("timeout") or 30)

    @property
    def api_requests(self) -> dict:
        """Requests sent so far, as {"read": n, "write": n}."""
        return {"read": self.request_counts["read"], "write": self.request_counts["write"]}

    # ------------------------------------------------------------------ plumbing
    def _call(self, method: str, path: str, body: dict | None = None, not_found_ok: bool = False) -> dict | None:
        """One API call under /v1; the JSON answer ({} when empty), or None for a 404 when ``not_found_ok``."""
        where = f"{method} /v1/{path}"
        self.request_counts["read" if method in READ_METHODS else "write"] += 1
        kwargs = {"json": body} if body is not None else {}
        try:
            response = self._adapter.request(method, f"/v1/{path}", raise_exception=False, **kwargs)
        except requests.exceptions.SSLError as err:
            raise VaultUnreachable(
                f"TLS failed talking to Vault at {self.url} ({where}): {err}. Check url, ca_cert (the CA that signed "
                "the server's certificate) and validate_certs.", url=self.url) from err
        except requests.exceptions.RequestException as err:
            operation = describe_operation(method, path)
            # A run stopped here leaves part of the work done; every module converges from what it finds, so the
            # same run again completes it rather than duplicating anything.
            raise VaultUnreachable(
                f"cannot reach Vault at {self.url} ({connection_reason(err)}) while {operation} ({where}): start "
                "Vault or fix url. Check url (or VAULT_ADDR/BAO_ADDR), that the server is running and reachable "
                "from this host, and timeout; then re-run: the run is idempotent and completes what was left.",
                url=self.url, operation=operation, error=f"{type(err).__name__}: {err}") from err
        status = response.status_code
        if 200 <= status < 300:
            if status == 204 or not response.content:
                return {}
            try:
                return response.json()
            except ValueError as err:
                raise VaultError(f"{where} answered with something that is not JSON; is url {self.url} the Vault "
                                 "API address?", status=status) from err
        reason = _errors(response)
        if status == 404 and not_found_ok:
            return None
        if status in (401, 403):
            raise VaultForbidden(
                f"Vault refused the token for {where} ({status} {reason}): the token is invalid or expired, or its "
                "policies do not allow this call. Fix: check token (or VAULT_TOKEN/BAO_TOKEN), vault_namespace, and "
                "that the token's policies grant this path.", status=status, method=method, path=path)
        if status == 404:
            raise VaultNotFound(f"{where}: not found (404): {reason}", status=status, method=method, path=path)
        if status == 400:
            raise VaultInvalidInput(f"Vault rejected {where} (400): {reason}", status=status, method=method, path=path)
        if status in (503, 501):
            raise VaultUnreachable(f"Vault at {self.url} cannot serve {where} ({status} {reason}): it is sealed, "
                                   "not initialised or a standby without forwarding. Unseal it or point url at the "
                                   "active node.", status=status, url=self.url)
        raise VaultError(f"{where} failed with HTTP {status}: {reason}", status=status, method=method, path=path)

    @staticmethod
    def _data(answer: dict | None) -> dict | None:
        """The ``data`` of an answer; sys/ endpoints also repeat it at the top level."""
        if answer is None:
            return None
        data = answer.get("data")
        return data if isinstance(data, dict) else answer

    # ------------------------------------------------------------------ generic reads and writes
    def read(self, path: str) -> dict | None:
        """GET a path; its data, or None when it does not exist."""
        return self._data(self._call("GET", path, not_found_ok=True))

    def write(self, path: str, body: dict) -> None:
        self._call("POST", path, body)

    def delete(self, path: str) -> None:
        self._call("DELETE", path, not_found_ok=True)

    def list(self, path: str) -> list:
        """LIST a path; the keys (sub-folders end in '/'), or [] when there is nothing there."""
        data = self._data(self._call("LIST", path, not_found_ok=True)) or {}
        return list(data.get("keys") or [])

    # ------------------------------------------------------------------ mounts
    def secret_mounts(self) -> dict:
        """Secrets engines by path (with the trailing '/', as Vault lists them)."""
        mounts = self._data(self._call("GET", "sys/mounts")) or {}
        return {path: info for path, info in mounts.items() if isinstance(info, dict) and "type" in info}

    def enable_secret_mount(self, path: str, body: dict) -> None:
        self._call("POST", f"sys/mounts/{quote(path, safe='/')}", body)

    def tune_secret_mount(self, path: str, body: dict) -> None:
        self._call("POST", f"sys/mounts/{quote(path, safe='/')}/tune", body)

    def disable_secret_mount(self, path: str) -> None:
        self._call("DELETE", f"sys/mounts/{quote(path, safe='/')}")

    def auth_mounts(self) -> dict:
        """Auth methods by path (with the trailing '/')."""
        mounts = self._data(self._call("GET", "sys/auth")) or {}
        return {path: info for path, info in mounts.items() if isinstance(info, dict) and "type" in info}

    def enable_auth_mount(self, path: str, body: dict) -> None:
        self._call("POST", f"sys/auth/{quote(path, safe='/')}", body)

    def tune_auth_mount(self, path: str, body: dict) -> None:
        self._call("POST", f"sys/auth/{quote(path, safe='/')}/tune", body)

    def disable_auth_mount(self, path: str) -> None:
        self._call("DELETE", f"sys/auth/{quote(path, safe='/')}")

    # ------------------------------------------------------------------ ACL policies
    def read_policy(self, name: str) -> str | None:
        data = self.read(f"sys/policies/acl/{quote(name, safe='')}")
        return None if data is None else data.get("policy", "")

    def write_policy(self, name: str, text: str) -> None:
        try:
            self._call("PUT", f"sys/policies/acl/{quote(name, safe='')}", {"policy": text})
        except VaultInvalidInput as err:
            raise VaultInvalidInput(f"policy: the server refused the text of policy {name!r}: {err}. Fix: correct "
                                    "the HCL in policy.", field="policy", **err.details) from err

    def delete_policy(self, name: str) -> None:
        self._call("DELETE", f"sys/policies/acl/{quote(name, safe='')}", not_found_ok=True)
