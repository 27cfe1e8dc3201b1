"""TenantSpec validation: every bad input is rejected before any request, with a message naming the field."""

from __future__ import annotations

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._keycloak.errors import KeycloakInvalidInput
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.tenant import TenantSpec


def spec(**overrides):
    return TenantSpec.from_params({"name": "acme", **overrides})


@pytest.mark.parametrize("overrides,fragment", [
    ({"name": "Bad_Name"}, "name: 'Bad_Name' is not a DNS-1123 label"),
    ({"name": "Acme"}, "lower-case it"),
    ({"name": "kube-system"}, "reserved for the platform"),
    ({"name": "master"}, "reserved for the platform"),
    ({"name": "a" * 41}, "41 characters; at most 40"),
    ({"name": ""}, "name: is empty"),
    ({"name": None}, "name: expected a string"),
    ({"access_token_lifespan": -5}, "access_token_lifespan: -5 must be a positive number of seconds"),
    ({"sso_session_max_lifespan": 0}, "sso_session_max_lifespan: 0 must be a positive"),
    ({"sso_session_idle_timeout": 7200, "sso_session_max_lifespan": 3600}, "longer than sso_session_max_lifespan"),
    ({"brute_force_protection": {"failure_factor": 0}}, "brute_force_protection.failure_factor: 0 must be a positive integer"),
    ({"brute_force_protection": {"lockout": 3}}, "unknown settings lockout"),
    ({"owners": [{"name": "x"}]}, "owners[0]: {'name': 'x'} is not a user name or e-mail address"),
    ({"viewers": ["has space"]}, "viewers[0]: 'has space'"),
    ({"owners": "ops"}, "owners: expected a list"),
    ({"redirect_uris": ["grafana.example.com/cb"]}, "redirect_uris[0]: 'grafana.example.com/cb' is not an absolute http(s) URL"),
    ({"gateway_client_id": "admin-cli"}, "gateway_client_id: 'admin-cli' is a client Keycloak creates"),
    ({"grafana_client_id": "observability-gateway"}, "grafana_client_id: equals gateway_client_id"),
    ({"gateway_client_id": "has space"}, "gateway_client_id: 'has space' is not a usable client id"),
    ({"users": [{"username": "x y"}]}, "users[0].username: 'x y' is not a user name"),
    ({"users": [{"username": "al"}]}, "users[0].username: 'al' is too short"),
    ({"users": [{"username": "alice", "email": "nope"}]}, "users[0].email: 'nope' is not an e-mail address"),
    ({"users": [{"username": "alice", "groups": ["admins"]}]}, "users[0].groups[0]: 'admins' is not one of owners, viewers"),
    ({"users": [{"username": "alice", "password": ""}]}, "users[0].password: must be a non-empty string"),
    ({"users": [{"username": "alice"}, {"username": "ALICE"}]}, "users[1].username: 'alice' is listed twice"),
    ({"users": ["alice"]}, "users[0]: expected a mapping"),
    ({"update_password": "sometimes"}, "update_password: 'sometimes' is not one of"),
    ({"ssl_required": "maybe"}, "ssl_required: 'maybe' is not one of"),
    ({"display_name": "x" * 300}, "display_name: is 300 characters"),
])
def test_bad_input_names_the_cause(overrides, fragment):
    with pytest.raises(KeycloakInvalidInput) as raised:
        spec(**overrides)
    assert fragment in str(raised.value)
    assert raised.value.details["problems"]


def test_all_problems_are_reported_together():
    with pytest.raises(KeycloakInvalidInput) as raised:
        spec(name="Bad_Name", access_token_lifespan=-1, owners=["a b"])
    assert len(raised.value.details["problems"]) == 3


def test_password_never_appears_in_errors():
    with pytest.raises(KeycloakInvalidInput) as raised:
        spec(users=[{"username": "x y", "password": "hunter2-secret"}])
    assert "hunter2-secret" not in str(raised.value) and "hunter2-secret" not in repr(raised.value.details)


def test_defaults_and_normalisation():
    tenant = spec(owners=["OPS@Acme.test", "ops@acme.test"], redirect_uris=["https://b.test", "https://a.test"],
                  brute_force_protection={"failure_factor": 5, "permanent_lockout": None})
    assert tenant.display_name == "acme"
    assert tenant.owners == ("ops@acme.test",)
    assert tenant.redirect_uris == ("https://a.test", "https://b.test")
    assert tenant.brute_force["failure_factor"] == 5 and tenant.brute_force["enabled"] is True
    assert tenant.brute_force["permanent_lockout"] is False
    assert tenant.lifespans == {"access_token_lifespan": 300, "sso_session_idle_timeout": 1800,
                                "sso_session_max_lifespan": 36000}
    assert tenant.groups == {"owners": "acme-owners", "viewers": "acme-viewers"}
    assert tenant.roles == {"owner": "acme-owner", "viewer": "acme-viewer"}
