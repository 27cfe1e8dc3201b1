"""What a run reads when Vault/OpenBao stops answering: the service, its URL, the operation in words, and what to do.

Real sockets on 127.0.0.1: a closed port (the server stopped), a server that hangs up mid-request (stopped while a
write was in flight), and the twin that answers.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._vault.client import VaultClient, describe_operation
from ansible_collections.meridian.observability.plugins.module_utils._vault.errors import VaultUnreachable

TOKEN = "root-token-never-shown"
FIX = ("start Vault or fix url. Check url (or VAULT_ADDR/BAO_ADDR), that the server is running and reachable from this "
       "host, and timeout; then re-run: the run is idempotent and completes what was left.")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_stopped_server_is_named_with_its_url_the_policy_and_the_fix():
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(VaultUnreachable) as raised:
        VaultClient(url, TOKEN, timeout=5).write_policy("tenant-acme", 'path "x" { capabilities = ["read"] }')
    message = str(raised.value)
    assert message.startswith(f"cannot reach Vault at {url} (connection refused) while writing policy 'tenant-acme' "
                              "(PUT /v1/sys/policies/acl/tenant-acme): ")
    assert message.endswith(FIX)
    assert raised.value.details["operation"] == "writing policy 'tenant-acme'"
    assert "Connection refused" in raised.value.details["error"]
    assert TOKEN not in message and TOKEN not in raised.value.details["error"]


def test_a_server_that_hangs_up_mid_write_is_a_reset():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def hang_up():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.recv(65536)
            connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with pytest.raises(VaultUnreachable) as raised:
            VaultClient(url, TOKEN, timeout=5).write("auth/kubernetes-us-east-1/role/acme", {"policies": ["x"]})
    finally:
        listener.close()
    assert str(raised.value).startswith(
        f"cannot reach Vault at {url} (connection reset) while writing role 'acme' of auth mount 'kubernetes-us-east-1'")


def test_the_twin_a_server_that_answers_is_no_error():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = json.dumps({"data": {"policy": "path \"x\" {}"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = VaultClient(f"http://127.0.0.1:{server.server_address[1]}", TOKEN, timeout=5)
        assert client.read_policy("tenant-acme") == 'path "x" {}'
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("method, path, words", [
    ("PUT", "sys/policies/acl/tenant-acme", "writing policy 'tenant-acme'"),
    ("DELETE", "sys/policies/acl/tenant-acme", "deleting policy 'tenant-acme'"),
    ("GET", "sys/mounts", "reading the secrets engine mounts"),
    ("POST", "sys/mounts/tenants", "writing secrets engine mount 'tenants'"),
    ("POST", "sys/auth/kubernetes-us-east-1/tune", "writing auth mount 'kubernetes-us-east-1' (tune)"),
    ("GET", "auth/kubernetes-us-east-1/role/acme", "reading role 'acme' of auth mount 'kubernetes-us-east-1'"),
    ("LIST", "auth/kubernetes-us-east-1/role", "listing the roles of auth mount 'kubernetes-us-east-1'"),
    ("POST", "auth/kubernetes-us-east-1/config", "writing the configuration of auth mount 'kubernetes-us-east-1'"),
    ("GET", "tenants/metadata/acme", "reading 'tenants/metadata/acme'"),
])
def test_operations_in_words(method, path, words):
    assert describe_operation(method, path) == words
