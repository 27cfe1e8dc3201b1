"""What a run reads when Keycloak stops answering: the service, its URL, the operation in words, and what to do."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._keycloak.client import (
    Credentials,
    KeycloakClient,
    Response,
    TransportError,
    describe_operation,
)
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.errors import KeycloakUnreachable

TOKEN_OK = Response(200, {}, json.dumps({"access_token": "tok-1"}).encode())
PASSWORD = "admin-password-never-shown"
FIX = ("start Keycloak or fix auth_keycloak_url (and validate_certs for TLS problems), then re-run; the run is "
       "idempotent and completes what was left.")


class Script:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def __call__(self, method, url, headers, data, timeout, validate_certs, http_agent):
        self.sent.append((method, url))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(base_url, **overrides):
    credentials = Credentials(realm="master", client_id="admin-cli", username="admin", password=PASSWORD)
    return KeycloakClient(base_url, credentials, sleep=lambda seconds: None, timeout=5, **overrides)


def test_a_refused_realm_creation_names_keycloak_its_url_the_realm_and_the_fix():
    script = Script(TOKEN_OK, *[TransportError("[Errno 111] Connection refused", sent=False)] * 4)
    with pytest.raises(KeycloakUnreachable) as raised:
        make_client("http://kc.test:18080/", transport=script).create_realm({"realm": "acme", "enabled": True})
    message = str(raised.value)
    assert message.startswith("cannot reach Keycloak at http://kc.test:18080 (connection refused: [Errno 111] "
                              "Connection refused) while creating realm 'acme' (POST /admin/realms, 4 attempts)")
    assert message.endswith(FIX)
    assert raised.value.details == {"url": "http://kc.test:18080", "attempts": 4, "operation": "creating realm 'acme'"}
    assert PASSWORD not in message


def test_the_twin_a_refusal_followed_by_an_answer_is_no_error():
    script = Script(TOKEN_OK, TransportError("[Errno 111] Connection refused", sent=False),
                    Response(201, {"location": "http://kc.test/admin/realms/acme"}, b""))
    make_client("http://kc.test", transport=script).create_realm({"realm": "acme"})
    assert [method for method, _ in script.sent] == ["POST", "POST", "POST"]


def test_the_token_request_says_whose_token_in_which_realm():
    script = Script(*[TransportError("[Errno 111] Connection refused", sent=False)] * 4)
    with pytest.raises(KeycloakUnreachable) as raised:
        make_client("http://kc.test", transport=script).get_realm("acme")
    assert "while requesting an admin token for user 'admin' in realm 'master'" in str(raised.value)


def test_a_server_that_hangs_up_mid_create_is_a_reset_and_the_post_is_sent_once():
    """Real sockets: Keycloak stopping while a POST is in flight. The POST may have been applied, so it is not repeated
    (the next run finds what it made), and the message says the connection was reset."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []

    def hang_up():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(connection.recv(65536)[:40])
            connection.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with pytest.raises(KeycloakUnreachable) as raised:
            KeycloakClient(base, Credentials(realm="master", client_id="admin-cli", token="static"),
                           sleep=lambda seconds: None, timeout=5).create_group("acme", {"name": "owners"})
    finally:
        listener.close()
    message = str(raised.value)
    assert message.startswith(f"cannot reach Keycloak at {base} (connection reset: ")
    assert "while creating a group in realm 'acme' (POST /admin/realms/acme/groups, 1 attempt)" in message
    assert len([request for request in accepted if request.startswith(b"POST")]) == 1


@pytest.mark.parametrize("method, path, body, words", [
    ("POST", "", {"realm": "acme"}, "creating realm 'acme'"),
    ("GET", "/acme", None, "reading realm 'acme'"),
    ("PUT", "/acme", None, "updating realm 'acme'"),
    ("DELETE", "/acme", None, "deleting realm 'acme'"),
    ("GET", "/acme/clients", None, "reading the client list of realm 'acme'"),
    ("POST", "/acme/clients", {}, "creating a client in realm 'acme'"),
    ("POST", "/acme/clients/1f/protocol-mappers/models", {}, "creating a protocol mapper in realm 'acme'"),
    ("POST", "/acme/groups/9a/role-mappings/realm", [], "creating a realm role mapping of a group in realm 'acme'"),
    ("PUT", "/acme/users/7b/reset-password", {}, "updating a user password in realm 'acme'"),
])
def test_operations_in_words(method, path, body, words):
    assert describe_operation(method, path, body) == words
