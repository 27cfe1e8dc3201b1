"""KeycloakClient over a scripted transport: retries with backoff, error translation, token handling, counting."""

from __future__ import annotations

import json

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._keycloak.client import (
    Credentials,
    KeycloakClient,
    Response,
    TransportError,
)
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.errors import (
    KeycloakAuthError,
    KeycloakConflict,
    KeycloakError,
    KeycloakForbidden,
    KeycloakNotFound,
    KeycloakUnreachable,
)

PASSWORD = "admin-password-never-shown"
TOKEN_OK = Response(200, {}, json.dumps({"access_token": "tok-1"}).encode())


def json_response(status, document=None, headers=None):
    return Response(status, headers or {}, b"" if document is None else json.dumps(document).encode())


class Script:
    """Answers requests from a list of Responses/exceptions and records them."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def __call__(self, method, url, headers, data, timeout, validate_certs, http_agent):
        self.sent.append((method, url, headers, data))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(script, sleeps=None, **credentials):
    credentials = {"realm": "master", "client_id": "admin-cli", "username": "admin", "password": PASSWORD, **credentials}
    return KeycloakClient("http://kc.test/", Credentials(**credentials), transport=script,
                          sleep=(sleeps.append if sleeps is not None else lambda seconds: None))


def test_password_grant_then_bearer_and_counting():
    script = Script(TOKEN_OK, json_response(200, {"realm": "acme"}))
    client = make_client(script)
    assert client.get_realm("acme") == {"realm": "acme"}
    token_call, get_call = script.sent
    assert token_call[1] == "http://kc.test/realms/master/protocol/openid-connect/token"
    assert b"grant_type=password" in token_call[3] and b"username=admin" in token_call[3]
    assert get_call[1] == "http://kc.test/admin/realms/acme" and get_call[2]["Authorization"] == "Bearer tok-1"
    assert dict(client.request_counts) == {"token": 1, "GET": 1}


def test_client_credentials_grant_and_static_token():
    script = Script(TOKEN_OK, json_response(200, []))
    make_client(script, username=None, password=None, client_secret="s3").list_clients("acme")
    assert b"grant_type=client_credentials" in script.sent[0][3] and b"client_secret=s3" in script.sent[0][3]
    script = Script(json_response(200, []))
    client = make_client(script, username=None, password=None, token="given")
    client.list_clients("acme")
    assert script.sent[0][2]["Authorization"] == "Bearer given" and "token" not in client.request_counts


def test_not_found_is_none_for_reads():
    client = make_client(Script(TOKEN_OK, json_response(404, {"error": "Realm not found."})))
    assert client.get_realm("nope") is None


def test_not_found_on_write_is_typed():
    client = make_client(Script(TOKEN_OK, json_response(404, {"error": "Could not find client"})))
    with pytest.raises(KeycloakNotFound, match="PUT /admin/realms/acme/clients/x: not found"):
        client.update_client("acme", "x", {})


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_get_retries_transient_statuses_with_backoff(status):
    sleeps = []
    script = Script(TOKEN_OK, json_response(status), json_response(status), json_response(200, {"realm": "acme"}))
    client = make_client(script, sleeps)
    assert client.get_realm("acme") == {"realm": "acme"}
    assert len(sleeps) == 2 and 0.2 <= sleeps[0] <= 0.4 and 0.4 <= sleeps[1] <= 0.8
    assert client.request_counts["GET"] == 3


def test_retry_after_is_honoured():
    sleeps = []
    client = make_client(Script(TOKEN_OK, json_response(429, headers={"retry-after": "2"}), json_response(200, [])), sleeps)
    client.list_clients("acme")
    assert sleeps == [2.0]


def test_post_is_not_repeated_after_a_500():
    script = Script(TOKEN_OK, json_response(500, {"errorMessage": "boom"}))
    with pytest.raises(KeycloakError, match="POST /admin/realms failed with HTTP 500: boom"):
        make_client(script).create_realm({"realm": "acme"})
    assert len(script.sent) == 2


def test_post_is_repeated_after_a_503():
    script = Script(TOKEN_OK, json_response(503), json_response(201, headers={"location": "http://kc.test/x/id-9"}))
    assert make_client(script).create_group("acme", {"name": "g"}) == "id-9"


def test_gives_up_after_max_attempts():
    script = Script(TOKEN_OK, *[json_response(503)] * 4)
    with pytest.raises(KeycloakError, match="HTTP 503"):
        make_client(script).get_realm("acme")
    assert len(script.sent) == 5


def test_unreachable_after_retries():
    sleeps = []
    script = Script(*[TransportError("[Errno 111] Connection refused", sent=False)] * 4)
    with pytest.raises(KeycloakUnreachable) as raised:
        make_client(script, sleeps).get_realm("acme")
    assert "cannot reach Keycloak at http://kc.test" in str(raised.value) and "Connection refused" in str(raised.value)
    assert len(sleeps) == 3 and raised.value.details["attempts"] == 4


def test_timeout_on_a_post_is_not_repeated():
    script = Script(TOKEN_OK, TransportError("timed out", sent=True))
    with pytest.raises(KeycloakUnreachable):
        make_client(script).create_realm({"realm": "acme"})
    assert len(script.sent) == 2


def test_bad_credentials():
    script = Script(json_response(401, {"error": "invalid_grant", "error_description": "Invalid user credentials"}))
    with pytest.raises(KeycloakAuthError) as raised:
        make_client(script).get_realm("acme")
    message = str(raised.value)
    assert "rejected the admin credentials of user 'admin' in realm 'master'" in message
    assert "Invalid user credentials" in message and PASSWORD not in message


def test_unknown_auth_realm():
    with pytest.raises(KeycloakAuthError, match="realm 'nope' .auth_realm. has no token endpoint"):
        make_client(Script(json_response(404, {"error": "Realm does not exist"})), realm="nope").get_realm("acme")


def test_forbidden():
    script = Script(TOKEN_OK, json_response(403, {"error": "unknown_error"}))
    with pytest.raises(KeycloakForbidden, match="may not POST /admin/realms .403 Forbidden."):
        make_client(script).create_realm({"realm": "acme"})


def test_conflict():
    with pytest.raises(KeycloakConflict, match="409"):
        make_client(Script(TOKEN_OK, json_response(409, {"errorMessage": "Conflict detected"}))).create_realm({"realm": "a"})


def test_expired_token_is_refreshed_once():
    script = Script(TOKEN_OK, json_response(401), Response(200, {}, json.dumps({"access_token": "tok-2"}).encode()),
                    json_response(200, {"realm": "acme"}))
    client = make_client(script)
    assert client.get_realm("acme") == {"realm": "acme"}
    assert script.sent[-1][2]["Authorization"] == "Bearer tok-2" and client.request_counts["token"] == 2


def test_rejected_static_token_is_an_auth_error():
    script = Script(json_response(401, {"error": "HTTP 401 Unauthorized"}))
    with pytest.raises(KeycloakAuthError, match="rejected the admin token"):
        make_client(script, username=None, password=None, token="stale").get_realm("acme")


def test_paging_reads_every_page(monkeypatch):
    monkeypatch.setattr("ansible_collections.meridian.observability.plugins.module_utils._keycloak.client.PAGE_SIZE", 2)
    script = Script(TOKEN_OK, json_response(200, [{"name": "a"}, {"name": "b"}]), json_response(200, [{"name": "c"}]))
    assert [group["name"] for group in make_client(script).list_groups("acme")] == ["a", "b", "c"]
    assert "first=2" in script.sent[2][1] and "max=2" in script.sent[2][1]


def test_names_are_quoted_in_paths():
    script = Script(TOKEN_OK, json_response(200, {}))
    make_client(script).get_realm_role("acme", "a/b c")
    assert script.sent[1][1] == "http://kc.test/admin/realms/acme/roles/a%2Fb%20c"


def test_from_params_uses_the_shared_options():
    client = KeycloakClient.from_params({"auth_keycloak_url": "https://kc.test/", "auth_realm": "ops", "auth_client_id": "cli",
                                         "auth_username": "u", "auth_password": "p", "validate_certs": False,
                                         "connection_timeout": 3})
    assert client.base_url == "https://kc.test" and client.credentials.realm == "ops" and client.timeout == 3
    assert client.validate_certs is False


def test_open_url_transport_against_a_real_socket():
    """The default transport: answers (including 4xx) come back as Responses, a closed port as TransportError."""
    import http.server
    import socket
    import threading

    from ansible_collections.meridian.observability.plugins.module_utils._keycloak.client import open_url_transport

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            status = 404 if self.path.endswith("missing") else 200
            body = json.dumps({"path": self.path}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        ok = open_url_transport("GET", base + "/x", {}, None, 5, True, "test")
        assert ok.status == 200 and json.loads(ok.body) == {"path": "/x"}
        missing = open_url_transport("GET", base + "/missing", {}, None, 5, True, "test")
        assert missing.status == 404 and missing.headers["content-type"] == "application/json"
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(TransportError) as raised:
        open_url_transport("GET", f"http://127.0.0.1:{closed_port}/", {}, None, 5, True, "test")
    assert raised.value.sent is False


def test_open_url_transport_keeps_validate_certs_apart_over_real_tls(tmp_path):
    """The transport reuses one TLS context per validate_certs: a self-signed server is refused with validation on,
    answered with it off, and refused again after (the context built for "off" is never used for "on")."""
    import http.server

    from ansible_collections.meridian.observability.plugins.module_utils._keycloak.client import open_url_transport
    from tests.support.tls import certificate_authority, https_server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    # The server's CA is not in the system's store: validation must refuse it.
    with https_server(Handler, certificate_authority(tmp_path)) as base:
        url = f"{base}/realms/master"
        for validate_certs in (True, False, True, False):
            if validate_certs:
                with pytest.raises(TransportError) as raised:
                    open_url_transport("GET", url, {}, None, 5, validate_certs, "test")
                assert "certificate" in str(raised.value).lower()
            else:
                assert open_url_transport("GET", url, {}, None, 5, validate_certs, "test").status == 200
