"""ConfigMapStore's connection handling through kubernetes.core's client, without a cluster.

A small HTTP server stands in for kube-apiserver (discovery plus one ConfigMap) and records the
Authorization header of every request, so each test proves which credentials kubernetes.core's
configuration loading chose: explicit options, K8S_AUTH_* variables, or a kubeconfig context.
The real API server, its 409 and its RBAC are exercised in tests/integration/test_thanos_tenant.py.
"""

from __future__ import annotations

import http.server
import json
import socket
import tempfile
import threading

import kubernetes
import pytest
import yaml

from ansible_collections.meridian.observability.plugins.module_utils._thanos import store as store_module
from ansible_collections.meridian.observability.plugins.module_utils._thanos.args import (
    KUBERNETES_OPTIONS,
    store_argument_spec,
)
from ansible_collections.meridian.observability.plugins.module_utils._thanos.errors import (
    ThanosConflictError,
    ThanosStoreError,
)
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

CONFIGMAP_PATH = "/api/v1/namespaces/thanos/configmaps/receive"
DISCOVERY = {
    "/version": {"major": "1", "minor": "33", "gitVersion": "v1.33.0"},
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "configmaps", "singularName": "configmap", "namespaced": True, "kind": "ConfigMap",
         "verbs": ["get", "update"]}]},
}


class FakeApiServer(http.server.ThreadingHTTPServer):
    """Discovery, GET and PUT of one ConfigMap; a PUT with a stale resourceVersion gets 409 like the real one."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FakeApiHandler)
        self.tokens: list[str] = []
        self.configmap = {"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "receive", "namespace": "thanos", "resourceVersion": "7",
                                       "labels": {store_module.MANAGED_LABEL: store_module.MANAGED_LABEL_VALUE}},
                          "data": {"hashrings.json": "[]", "other": "kept"}}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class FakeApiHandler(http.server.BaseHTTPRequestHandler):
    server: FakeApiServer

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.server.tokens.append(self.headers.get("Authorization", ""))
        path = self.path.split("?")[0]
        if path in DISCOVERY:
            self._answer(200, DISCOVERY[path])
        elif path == CONFIGMAP_PATH:
            self._answer(200, self.server.configmap)
        else:
            self._answer(404, {"kind": "Status", "code": 404, "reason": "NotFound"})

    def do_PUT(self) -> None:  # noqa: N802
        self.server.tokens.append(self.headers.get("Authorization", ""))
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        current = self.server.configmap["metadata"]["resourceVersion"]
        if body["metadata"].get("resourceVersion") != current:
            self._answer(409, {"kind": "Status", "code": 409, "reason": "Conflict"})
            return
        body["metadata"]["resourceVersion"] = str(int(current) + 1)
        self.server.configmap = body
        self._answer(200, body)


@pytest.fixture
def isolated_client(tmp_path, monkeypatch):
    """kubernetes.core's discovery cache in tmp_path, no K8S_AUTH_* or KUBECONFIG from the caller's shell."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # Loading a kubeconfig stores it as the library's process-wide default configuration, with a hook that
    # re-applies it on every request; a module loads one per process, these tests one per test.
    monkeypatch.setattr(kubernetes.client.Configuration, "_default", None)
    for variable in ("K8S_AUTH_HOST", "K8S_AUTH_API_KEY", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_CONTEXT", "KUBECONFIG"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def api_server(isolated_client):
    server = FakeApiServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def configmap_store(**auth) -> store_module.ConfigMapStore:
    params = {option: None for option in KUBERNETES_OPTIONS}
    params.update(hashrings_path=None, configmap_namespace="thanos", configmap_name="receive",
                  hashrings_key="hashrings.json", limits_key="limits.yaml", **auth)
    return store_module.store_from_params(params)


def test_host_and_api_key_options_authenticate(api_server):
    store = configmap_store(host=api_server.url, api_key="option-token")
    snapshot = store.read()
    assert snapshot.hashrings_text == "[]" and snapshot.limits_text is None and snapshot.token == "7"
    assert set(api_server.tokens) == {"Bearer option-token"}


def test_k8s_auth_environment_variables_are_read(api_server, monkeypatch):
    monkeypatch.setenv("K8S_AUTH_HOST", api_server.url)
    monkeypatch.setenv("K8S_AUTH_API_KEY", "environment-token")
    configmap_store().read()
    assert set(api_server.tokens) == {"Bearer environment-token"}


def test_kubeconfig_context_chooses_the_credentials(api_server, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "first",
        "clusters": [{"name": "lab", "cluster": {"server": api_server.url}}],
        "users": [{"name": "first", "user": {"token": "first-token"}},
                  {"name": "second", "user": {"token": "second-token"}}],
        "contexts": [{"name": "first", "context": {"cluster": "lab", "user": "first"}},
                     {"name": "second", "context": {"cluster": "lab", "user": "second"}}]}))
    configmap_store(kubeconfig=str(kubeconfig), context="second").read()
    assert set(api_server.tokens) == {"Bearer second-token"}


def test_write_keeps_other_keys_and_a_stale_snapshot_conflicts(api_server):
    store = configmap_store(host=api_server.url, api_key="t")
    snapshot = store.read()
    store.write(snapshot, [("limits", "write: {}\n")])
    assert api_server.configmap["data"] == {"hashrings.json": "[]", "other": "kept", "limits.yaml": "write: {}\n"}
    with pytest.raises(ThanosConflictError, match="changed by someone else"):
        store.write(snapshot, [("limits", "write: {tenants: {}}\n")])  # resourceVersion 7 is gone
    assert api_server.configmap["data"]["limits.yaml"] == "write: {}\n"


def test_unreachable_api_server_names_it(isolated_client):
    with socket.socket() as bound:  # bound but not listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        with pytest.raises(ThanosStoreError, match=f"cannot reach the Kubernetes API server at http://127.0.0.1:{port}"):
            configmap_store(host=f"http://127.0.0.1:{port}", api_key="t")


def test_missing_kubeconfig_is_a_store_error(isolated_client, tmp_path):
    with pytest.raises(ThanosStoreError, match="cannot configure the Kubernetes client"):
        configmap_store(kubeconfig=str(tmp_path / "missing"))


def test_connection_options_are_kubernetes_core_ones_with_the_old_aliases():
    spec = store_argument_spec()
    assert {option: spec[option] for option in KUBERNETES_OPTIONS} == AUTH_ARG_SPEC
    for option, alias in [("validate_certs", "verify_ssl"), ("ca_cert", "ssl_ca_cert"),
                          ("client_cert", "cert_file"), ("client_key", "key_file")]:
        assert alias in spec[option]["aliases"]
    assert spec["api_key"]["no_log"] is True
