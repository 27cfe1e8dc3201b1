"""A small JSON REST client over the `kubernetes` package's ApiClient, counting requests by verb.

Plain dicts in camelCase go in and come out (the same shape as the rendered manifests),
so comparing rendered and live objects needs no model conversion.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from urllib.parse import quote

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# kind -> (path prefix, plural, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ResourceQuota": ("/api/v1", "resourcequotas", True),
    "LimitRange": ("/api/v1", "limitranges", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
}


class ApiError(Exception):
    """The API server refused a request; `status` is the HTTP code."""

    def __init__(self, method: str, path: str, status: int, reason: str, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def collection_path(kind: str, namespace: str | None = None) -> str:
    prefix, plural, namespaced = RESOURCES[kind]
    if namespaced:
        return f"{prefix}/namespaces/{quote(namespace or '')}/{plural}"
    return f"{prefix}/{plural}"


def object_path(kind: str, name: str, namespace: str | None = None) -> str:
    return f"{collection_path(kind, namespace)}/{quote(name)}"


class RequestCounter:
    """Requests by HTTP verb; thread-safe, because reconciles run in worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, verb: str) -> None:
        with self._lock:
            self._counts[verb] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def writes(self) -> int:
        with self._lock:
            return sum(count for verb, count in self._counts.items() if verb in WRITE_VERBS)


class KubeClient:
    """JSON requests against one API server; every request is counted in each attached counter."""

    def __init__(self, api_client: k8s_client.ApiClient, counters: tuple[RequestCounter, ...] = ()) -> None:
        self.api_client = api_client
        self.counters = counters

    @classmethod
    def from_environment(cls) -> KubeClient:
        """In a pod: the service account; elsewhere: $KUBECONFIG / ~/.kube/config."""
        try:
            k8s_config.load_incluster_config()
        except k8s_config.ConfigException:
            k8s_config.load_kube_config()
        return cls(k8s_client.ApiClient())

    def counted(self, counter: RequestCounter) -> KubeClient:
        """The same connection, also counting into `counter` (one reconcile's requests)."""
        return KubeClient(self.api_client, self.counters + (counter,))

    def request(self, method: str, path: str, *, body=None, query: dict | None = None,
                content_type: str = "application/json"):
        for counter in self.counters:
            counter.add(method)
        try:
            method, url, headers, body, post_params = self.api_client.param_serialize(
                method=method, resource_path=path, query_params=list((query or {}).items()),
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body, auth_settings=["BearerToken"])
            response = self.api_client.call_api(method, url, header_params=headers, body=body,
                                                post_params=post_params, _request_timeout=30)
            data = response.read()
        except ApiException as err:  # transport failures (status 0) and retries given up
            raise ApiError(method, path, err.status or 0, err.reason or "", str(err.body or "")[:300]) from None
        if response.status >= 400:
            reason, message = response.reason or "", ""
            try:
                detail = json.loads(data or b"{}")
                reason, message = detail.get("reason", reason), detail.get("message", "")
            except ValueError:
                message = (data or b"")[:300].decode(errors="replace")
            raise ApiError(method, path, response.status, reason, message)
        return json.loads(data) if data else None

    # One small function per call; "not found" is None, every other failure an ApiError.
    def get(self, path: str) -> dict | None:
        try:
            return self.request("GET", path)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def list(self, path: str, label_selector: str | None = None) -> list[dict]:
        query = {"labelSelector": label_selector} if label_selector else None
        return (self.request("GET", path, query=query) or {}).get("items") or []

    def create(self, path: str, body: dict) -> dict:
        return self.request("POST", path, body=body)

    def replace(self, path: str, body: dict) -> dict:
        return self.request("PUT", path, body=body)

    def merge_patch(self, path: str, body: dict) -> dict:
        return self.request("PATCH", path, body=body, content_type="application/merge-patch+json")

    def delete(self, path: str, uid: str | None = None) -> None:
        body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if uid:  # never delete a same-named successor by accident
            body["preconditions"] = {"uid": uid}
        try:
            self.request("DELETE", path, body=body)
        except ApiError as err:
            if err.status != 404:
                raise
