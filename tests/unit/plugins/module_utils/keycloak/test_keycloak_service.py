"""TenantRealmService against an in-memory Keycloak: create, no-op, drift repair, check mode, diff, masking."""

from __future__ import annotations

import copy
import json

import pytest
from fake_keycloak import WRITE_METHODS, FakeKeycloak

from ansible_collections.meridian.observability.plugins.module_utils._keycloak.service import TenantRealmService
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.tenant import (
    PASSWORD_MASK,
    TenantSpec,
    desired_view,
    project,
)

PASSWORD = "correct-horse-battery"


def params(**overrides):
    base = {
        "name": "acme",
        "display_name": "ACME",
        "redirect_uris": ["https://grafana.acme.test/login/generic_oauth"],
        "owners": ["ops@acme.test"],
        "viewers": ["dev"],
        "users": [{"username": "Alice", "email": "Alice@Acme.test", "first_name": "Alice", "enabled": True,
                   "password": PASSWORD, "groups": ["owners", "viewers"]}],
    }
    base.update(overrides)
    return base


def ensure(fake, check_mode=False, **overrides):
    fake.request_counts.clear()
    fake.writes.clear()
    return TenantRealmService(fake).ensure(TenantSpec.from_params(params(**overrides)), check_mode=check_mode,
                                           want_diff=True, return_client_secret=overrides.get("return_client_secret", False))


def writes(fake):
    return sum(fake.request_counts[method] for method in WRITE_METHODS)


@pytest.fixture
def fake():
    return FakeKeycloak()


@pytest.fixture
def existing(fake):
    ensure(fake)
    return fake


def test_create_is_one_request_and_contains_everything(fake):
    result = ensure(fake)
    assert result["changed"] and writes(fake) == 1 and fake.writes == [("create_realm", "acme")]
    realm = fake.realms["acme"]
    assert realm["realm"]["sslRequired"] == "external" and realm["realm"]["bruteForceProtected"] is True
    clients = {client["clientId"]: client for client in realm["clients"].values()}
    gateway, grafana = clients["observability-gateway"], clients["grafana"]
    assert gateway["serviceAccountsEnabled"] and not gateway["publicClient"] and not gateway["standardFlowEnabled"]
    assert grafana["redirectUris"] == ["https://grafana.acme.test/login/generic_oauth"]
    for client in (gateway, grafana):
        mappers = {mapper["name"]: mapper for mapper in client["protocolMappers"]}
        assert mappers["tenant"]["config"]["claim.value"] == "acme"
        assert mappers["tenant"]["config"]["access.token.claim"] == "true"
        assert mappers["gateway-audience"]["config"]["included.client.audience"] == "observability-gateway"
    groups = {group["name"]: group for group in realm["groups"].values()}
    assert groups["acme-owners"]["realmRoles"] == ["acme-owner"]
    assert groups["acme-viewers"]["realmRoles"] == ["acme-viewer"]
    users = {user["username"]: user for user in realm["users"].values()}
    assert set(users) == {"alice", "dev", "ops@acme.test"}
    assert users["alice"]["email"] == "alice@acme.test" and users["ops@acme.test"]["email"] == "ops@acme.test"
    assert fake.passwords[("acme", "alice")] == PASSWORD
    members = {(users_by_id["username"], group["name"]) for users_by_id in realm["users"].values()
               for group in realm["groups"].values() if (users_by_id["id"], group["id"]) in realm["members"]}
    assert members == {("alice", "acme-owners"), ("alice", "acme-viewers"), ("ops@acme.test", "acme-owners"),
                       ("dev", "acme-viewers")}


def test_second_run_sends_only_reads(existing):
    result = ensure(existing)
    assert not result["changed"] and result["actions"] == [] and writes(existing) == 0
    assert result["diff"]["before"] == result["diff"]["after"]
    # realm, clients, roles, groups, two member lists, discovery; every declared user is a member already.
    assert result["api_requests"] == {"GET": 7}


def test_check_mode_on_a_new_realm_only_reads_and_predicts(fake):
    result = ensure(fake, check_mode=True)
    assert result["changed"] and writes(fake) == 0 and fake.realms == {}
    assert result["exists"] is False and result["issuer_url"] == "http://keycloak.test/realms/acme"
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["users"]["alice"]["password"] == PASSWORD_MASK


def _drift_scenarios():
    def realm_settings(realm):
        realm["realm"].update(accessTokenLifespan=999, bruteForceProtected=False, displayName="Renamed")

    def lost_mapper(realm):
        client = next(c for c in realm["clients"].values() if c["clientId"] == "grafana")
        client["protocolMappers"] = [m for m in client["protocolMappers"] if m["name"] != "tenant"]

    def edited_mapper(realm):
        client = next(c for c in realm["clients"].values() if c["clientId"] == "observability-gateway")
        next(m for m in client["protocolMappers"] if m["name"] == "tenant")["config"]["claim.value"] = "other"

    def client_fields(realm):
        client = next(c for c in realm["clients"].values() if c["clientId"] == "grafana")
        client.update(redirectUris=["https://evil.test/*"], publicClient=True)

    def lost_client(realm):
        realm["clients"] = {k: c for k, c in realm["clients"].items() if c["clientId"] != "observability-gateway"}

    def lost_role_and_group(realm):
        del realm["roles"]["acme-owner"]
        for group_id, group in list(realm["groups"].items()):
            if group["name"] == "acme-viewers":
                del realm["groups"][group_id]
                realm["members"] = {(u, g) for u, g in realm["members"] if g != group_id}
            else:
                group["realmRoles"] = ["offline_access"]

    def membership(realm):
        intruder = {"id": "user-x", "username": "intruder", "enabled": True}
        realm["users"]["user-x"] = intruder
        owners = next(g for g in realm["groups"].values() if g["name"] == "acme-owners")
        realm["members"].add(("user-x", owners["id"]))
        dev = next(u for u in realm["users"].values() if u["username"] == "dev")
        realm["members"] = {(u, g) for u, g in realm["members"] if u != dev["id"]}

    def lost_user(realm):
        alice = next(k for k, u in realm["users"].items() if u["username"] == "alice")
        del realm["users"][alice]
        realm["members"] = {(u, g) for u, g in realm["members"] if u != alice}

    def user_fields(realm):
        next(u for u in realm["users"].values() if u["username"] == "alice").update(email="x@y.test", enabled=False)

    return {f.__name__: f for f in (realm_settings, lost_mapper, edited_mapper, client_fields, lost_client,
                                     lost_role_and_group, membership, lost_user, user_fields)}


DRIFT = _drift_scenarios()


@pytest.mark.parametrize("scenario", sorted(DRIFT))
def test_drift_check_predicts_apply_exactly_and_then_converges(existing, scenario):
    DRIFT[scenario](existing.realms["acme"])
    drifted = existing.snapshot()

    check = ensure(existing, check_mode=True)
    assert check["changed"] and writes(existing) == 0
    assert existing.snapshot() == drifted, "check mode changed the server"

    applied = ensure(existing)
    assert applied["actions"] == check["actions"]
    assert applied["diff"] == check["diff"]
    assert writes(existing) >= len(applied["actions"])

    again = ensure(existing, check_mode=True)
    assert not again["changed"], again["actions"]
    assert not ensure(existing)["changed"] and writes(existing) == 0


def test_unmanaged_state_is_left_alone(existing):
    realm = existing.realms["acme"]
    realm["realm"]["smtpServer"] = {"host": "mail"}
    client = next(c for c in realm["clients"].values() if c["clientId"] == "grafana")
    client["protocolMappers"].append({"id": "m-x", "name": "extra", "protocol": "openid-connect",
                                      "protocolMapper": "oidc-usermodel-attribute-mapper", "config": {}})
    client["rootUrl"] = "https://grafana.acme.test"
    next(u for u in realm["users"].values() if u["username"] == "alice")["lastName"] = "Liddell"
    assert not ensure(existing)["changed"]


def test_user_list_order_and_case_do_not_matter(existing):
    reordered = params()
    reordered["users"][0] = dict(reordered["users"][0], username="ALICE", groups=["viewers", "owners"])
    result = ensure(existing, **{"users": reordered["users"], "redirect_uris": list(reversed(reordered["redirect_uris"]))})
    assert not result["changed"]


def test_client_update_keeps_the_secret_and_never_sends_mappers(existing):
    realm = existing.realms["acme"]
    grafana = next(c for c in realm["clients"].values() if c["clientId"] == "grafana")
    secret = grafana["secret"]
    grafana["redirectUris"] = []
    ensure(existing, redirect_uris=["https://grafana.acme.test/new"])
    grafana = next(c for c in realm["clients"].values() if c["clientId"] == "grafana")
    assert grafana["secret"] == secret and grafana["redirectUris"] == ["https://grafana.acme.test/new"]
    assert "access" in grafana  # the fake keeps what it had; the service does not send it back


def test_passwords_and_secrets_never_leak_into_results(fake):
    for run in (ensure(fake, check_mode=True), ensure(fake), ensure(fake, update_password="always")):
        text = json.dumps({key: value for key, value in run.items()})
        assert PASSWORD not in text
        assert "secret-of-" not in text


def test_update_password_always_reports_and_resets(existing):
    existing.passwords[("acme", "alice")] = "old"
    check = ensure(existing, check_mode=True, update_password="always")
    assert check["changed"] and check["actions"] == ["reset the password of user alice"]
    assert check["diff"]["after"]["users"]["alice"]["password"] == PASSWORD_MASK
    assert "password" not in check["diff"]["before"]["users"]["alice"]
    ensure(existing, update_password="always")
    assert existing.passwords[("acme", "alice")] == PASSWORD
    assert not ensure(existing)["changed"]


def test_return_client_secret(fake):
    created = ensure(fake, return_client_secret=True)
    assert created["gateway_client_secret"] == "secret-of-observability-gateway"
    assert created["grafana_client_secret"] == "secret-of-grafana"
    assert "secret-of" not in json.dumps(created["diff"]) + json.dumps(created["end_state"])
    assert "gateway_client_secret" not in ensure(fake)
    assert ensure(fake, return_client_secret=True)["gateway_client_secret"] == "secret-of-observability-gateway"


def test_check_mode_on_a_new_realm_cannot_return_secrets(fake):
    result = ensure(fake, check_mode=True, return_client_secret=True)
    assert "gateway_client_secret" not in result


def test_absent(existing):
    check = TenantRealmService(existing).ensure(TenantSpec.from_params(params()), state="absent", check_mode=True,
                                                want_diff=True)
    assert check["changed"] and "acme" in existing.realms
    assert check["diff"]["before"]["realm"]["realm"] == "acme" and check["diff"]["after"] == {}
    gone = TenantRealmService(existing).ensure(TenantSpec.from_params(params()), state="absent")
    assert gone["changed"] and "acme" not in existing.realms
    again = TenantRealmService(existing).ensure(TenantSpec.from_params(params()), state="absent", check_mode=True)
    assert not again["changed"]


def test_results_carry_what_istio_and_the_gateway_need(existing):
    result = ensure(existing)
    assert result["issuer_url"] == "http://keycloak.test/realms/acme"
    assert result["jwks_url"] == "http://keycloak.test/realms/acme/protocol/openid-connect/certs"
    assert result["audience"] == result["gateway_client_id"] == "observability-gateway"
    assert result["tenant_claim"] == "tenant"
    assert result["groups"] == {"owners": "acme-owners", "viewers": "acme-viewers"}
    assert result["roles"] == {"owner": "acme-owner", "viewer": "acme-viewer"}


def test_describe_masks_secrets_and_hides_builtins(existing):
    existing.request_counts.clear()
    info = TenantRealmService(existing).describe("acme")
    assert info["exists"] and info["realm"]["realm"] == "acme" and "id" not in info["realm"]
    assert [client["clientId"] for client in info["clients"]] == ["grafana", "observability-gateway"]
    assert all(client["secret"] == PASSWORD_MASK for client in info["clients"])
    assert "secret-of" not in json.dumps(info)
    assert [role["name"] for role in info["roles"]] == ["acme-owner", "acme-viewer"]
    assert {group["name"]: group["members"] for group in info["groups"]} == {
        "acme-owners": ["alice", "ops@acme.test"], "acme-viewers": ["alice", "dev"]}
    assert writes(existing) == 0
    assert TenantRealmService(existing).describe("nope") == {"name": "nope", "exists": False}


def test_project_ignores_server_only_fields_and_order():
    spec = TenantSpec.from_params(params())
    desired = desired_view(spec)
    fake = FakeKeycloak()
    TenantRealmService(fake).ensure(spec)
    snapshot = TenantRealmService(fake).read(spec)
    for client in snapshot.clients.values():
        client.get("redirectUris", []).reverse()
        client["protocolMappers"].reverse()
    assert project(snapshot, desired) == desired


def test_desired_view_is_deterministic():
    first = desired_view(TenantSpec.from_params(params(owners=["bob", "a@x.test", "bob"])))
    second = desired_view(TenantSpec.from_params(params(owners=["a@x.test", "BOB"])))
    assert first == second
    assert first["groups"]["acme-owners"]["members"] == ["a@x.test", "alice", "bob"]


def test_spec_is_not_mutated_by_runs(existing):
    spec = TenantSpec.from_params(params())
    view = copy.deepcopy(desired_view(spec))
    TenantRealmService(existing).ensure(spec)
    assert desired_view(spec) == view
