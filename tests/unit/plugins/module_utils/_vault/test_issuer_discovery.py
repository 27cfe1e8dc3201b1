"""discover_issuer against real HTTPS servers on 127.0.0.1: the issuer is read only over a verified connection with the
reviewer's token, and every way it cannot be read names the URL and the fix. (The lab test reads a real API server.)"""

from __future__ import annotations

import http.server
import json
import socket

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._vault.errors import KubernetesIssuerUnavailable
from ansible_collections.meridian.observability.plugins.module_utils._vault.issuer_discovery import discover_issuer
from tests.support.tls import certificate_authority, https_server

TOKEN = "reviewer-token-never-shown"
ISSUER = "https://issuer.cluster.test"


@pytest.fixture
def api_server(tmp_path):
    """An HTTPS server that serves the discovery document only to the reviewer's token; yields (url, CA PEM, state)."""
    state = {"document": {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/openid/v1/jwks"}, "seen": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            state["seen"].append((self.path, self.headers.get("Authorization")))
            authorised = self.headers.get("Authorization") == f"Bearer {TOKEN}"
            body = json.dumps(state["document"]).encode() if authorised else b'{"kind":"Status","code":401}'
            self.send_response(200 if authorised and self.path == "/.well-known/openid-configuration" else
                               401 if not authorised else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    pki = certificate_authority(tmp_path / "cluster")
    with https_server(Handler, pki) as url:
        yield url, pki.ca_cert.read_text(), state


def test_the_issuer_is_read_with_the_reviewer_token_over_the_cluster_ca(api_server):
    url, ca, state = api_server
    assert discover_issuer(url + "/", ca, TOKEN) == ISSUER
    assert state["seen"] == [("/.well-known/openid-configuration", f"Bearer {TOKEN}")]


def test_another_ca_is_refused_before_any_request_reaches_the_server(api_server, tmp_path):
    url, _, state = api_server
    other_ca = certificate_authority(tmp_path / "other").ca_cert.read_text()
    with pytest.raises(KubernetesIssuerUnavailable) as raised:
        discover_issuer(url, other_ca, TOKEN)
    assert f"cannot read {url}/.well-known/openid-configuration" in str(raised.value)
    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value) and "vault_kubernetes_issuer" in str(raised.value)
    assert state["seen"] == [] and TOKEN not in str(raised.value)


@pytest.mark.parametrize("token, document, said", [
    ("wrong-token", None, "answered 401 instead of the discovery document"),
    (TOKEN, {"jwks_uri": "https://elsewhere.test/keys"}, "answered without an issuer"),
    (TOKEN, {"issuer": ""}, "answered without an issuer"),
])
def test_an_unusable_answer_names_the_url_and_the_fix(api_server, token, document, said):
    url, ca, state = api_server
    if document is not None:
        state["document"] = document
    with pytest.raises(KubernetesIssuerUnavailable) as raised:
        discover_issuer(url, ca, token)
    message = str(raised.value)
    assert f"{url}/.well-known/openid-configuration {said}" in message
    assert "Fix: give the issuer explicitly" in message and TOKEN not in message and "wrong-token" not in message


def test_a_stopped_api_server_is_named(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ca = certificate_authority(tmp_path / "cluster").ca_cert.read_text()
    with pytest.raises(KubernetesIssuerUnavailable) as raised:
        discover_issuer(f"https://127.0.0.1:{port}", ca, TOKEN, timeout=5)
    assert f"cannot read https://127.0.0.1:{port}/.well-known/openid-configuration" in str(raised.value)
    assert "Connection refused" in str(raised.value)


def test_a_ca_that_is_not_a_certificate_is_named_as_kubernetes_ca_cert(api_server):
    url, _, _ = api_server
    with pytest.raises(KubernetesIssuerUnavailable) as raised:
        discover_issuer(url, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", TOKEN)
    assert str(raised.value).startswith("kubernetes_ca_cert cannot verify")
