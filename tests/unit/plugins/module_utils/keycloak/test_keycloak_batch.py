"""TenantRealmService.ensure_many and requests_from_params against an in-memory Keycloak: validation of every entry
before any request, reads per tenant, per-tenant diffs, foreign realms, a failure that names the tenant and step."""

from __future__ import annotations

import pytest
from fake_keycloak import WRITE_METHODS, FakeKeycloak

from ansible_collections.meridian.observability.plugins.module_utils._keycloak.errors import (
    KeycloakConflict,
    KeycloakForeignRealm,
    KeycloakInvalidInput,
)
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.service import (
    REALM_LIST_MIN_TENANTS,
    TenantRealmService,
)
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.tenant import (
    TenantSpec,
    requests_from_params,
)


def entry(name: str, **overrides) -> dict:
    return {"name": name, "owners": [f"ops@{name}.test"], "viewers": [f"dev@{name}.test"], **overrides}


def converge(fake, entries, check_mode=False, **kwargs):
    fake.request_counts.clear()
    fake.writes.clear()
    return TenantRealmService(fake).ensure_many(requests_from_params(entries), check_mode=check_mode, want_diff=True,
                                                **kwargs)


def writes(fake) -> int:
    return sum(fake.request_counts[method] for method in WRITE_METHODS)


@pytest.fixture
def fake():
    return FakeKeycloak()


# ---------------------------------------------------------------- validation

def test_every_bad_entry_is_named_by_its_position_and_nothing_is_read():
    entries = [entry("acme"), entry("Acme_Corp", owners=["ops@acme.test"], viewers=[]), entry("globex", access_token_lifespan=-1), entry("acme"), "initech"]
    with pytest.raises(KeycloakInvalidInput) as raised:
        requests_from_params(entries)
    problems = raised.value.details["problems"]
    assert problems[0].startswith("tenants[1].name: 'Acme_Corp'")
    assert problems[1].startswith("tenants[2].access_token_lifespan: -1 must be a positive")
    assert problems[2] == ("tenants[3].name: 'acme' is listed twice (also tenants[0]). Fix: list each tenant once.")
    assert problems[3].startswith("tenants[4]: expected a mapping")
    assert len(problems) == 4


def test_valid_entries_become_requests_in_order_with_state_and_adopt():
    requests = requests_from_params([entry("globex"), {"name": "old", "state": "absent", "adopt": True}, entry("acme")])
    assert [(r.spec.name, r.state, r.adopt) for r in requests] == [
        ("globex", "present", False), ("old", "absent", True), ("acme", "present", False)]
    assert requests[0].spec == TenantSpec.from_params(entry("globex"))


# ---------------------------------------------------------------- converge, re-run, diff

def test_batch_creates_each_realm_in_one_request_then_rereads_without_writing(fake, monkeypatch):
    names = [f"t{number:02d}" for number in range(12)]
    check = converge(fake, [entry(name) for name in names], check_mode=True)
    assert check["changed"] and writes(fake) == 0 and fake.realms == {}
    assert [diff["before_header"] for diff in check["diff"]] == [f"tenant {name}: realm {name} before" for name in names]

    created = converge(fake, [entry(name) for name in names])
    assert fake.writes == [("create_realm", name) for name in names]
    assert {name: result["actions"] for name, result in created["tenants"].items()} == \
        {name: result["actions"] for name, result in check["tenants"].items()}

    discovered = []
    get_discovery = fake.get_discovery
    monkeypatch.setattr(fake, "get_discovery", lambda name: discovered.append(name) or get_discovery(name))
    again = converge(fake, [entry(name) for name in names])
    assert not again["changed"] and writes(fake) == 0 and again["diff"] == []
    # One list of the realms (more than REALM_LIST_MIN_TENANTS tenants); per tenant: clients, roles, groups, two member
    # lists; one discovery document for the whole batch.
    assert fake.request_counts["GET"] == 1 + 5 * len(names) + 1 and discovered == ["t00"]
    for name in names:
        tenant = again["tenants"][name]
        assert tenant["issuer_url"] == f"http://keycloak.test/realms/{name}"
        assert tenant["jwks_url"] == f"http://keycloak.test/realms/{name}/protocol/openid-connect/certs"
        assert tenant["exists"] and tenant["actions"] == [] and "api_requests" not in tenant


def test_only_changed_tenants_have_a_diff_and_absent_tenants_are_removed_in_the_same_call(fake):
    converge(fake, [entry("acme"), entry("globex"), entry("initech")])
    fake.realms["globex"]["realm"]["accessTokenLifespan"] = 42
    entries = [entry("acme"), entry("globex"), {"name": "initech", "state": "absent"}]
    planned = converge(fake, entries, check_mode=True)
    assert [diff["before_header"].split(":")[0] for diff in planned["diff"]] == ["tenant globex", "tenant initech"]
    assert planned["diff"][0]["before"]["realm"]["accessTokenLifespan"] == 42
    assert planned["diff"][0]["after"]["realm"]["accessTokenLifespan"] == 300
    assert planned["diff"][1]["after"] == {} and "(predicted)" in planned["diff"][1]["after_header"]
    assert writes(fake) == 0 and "initech" in fake.realms

    applied = converge(fake, entries)
    assert fake.writes == [("update_realm", "globex", ("accessTokenLifespan",)), ("delete_realm", "initech")]
    assert [name for name, result in applied["tenants"].items() if result["changed"]] == ["globex", "initech"]
    assert applied["tenants"]["initech"] == {"changed": True, "actions": ["delete realm initech"], "name": "initech",
                                             "exists": False}
    assert not converge(fake, entries)["changed"] and writes(fake) == 0


def test_client_secrets_are_returned_apart_from_the_tenant_results(fake):
    result = converge(fake, [entry("acme"), entry("globex")], return_client_secret=True)
    assert result["client_secrets"] == {
        name: {"gateway_client_secret": "secret-of-observability-gateway", "grafana_client_secret": "secret-of-grafana"}
        for name in ("acme", "globex")}
    assert "secret-of" not in repr(result["tenants"]) + repr(result["diff"])
    assert "client_secrets" not in converge(fake, [entry("acme")])


# ---------------------------------------------------------------- foreign realms

def test_a_realm_the_collection_did_not_make_stops_the_batch_before_any_write(fake):
    fake.create_realm({"realm": "globex"})  # somebody else's realm, no tenant claim
    entries = [entry("acme"), entry("globex"), {"name": "initech", "state": "absent"}]
    fake.create_realm({"realm": "initech"})
    with pytest.raises(KeycloakForeignRealm) as raised:
        converge(fake, entries)
    assert raised.value.details["foreign_realms"] == ["globex", "initech"]
    assert "realm(s) globex, initech already exist" in str(raised.value) and "adopt: true" in str(raised.value)
    assert writes(fake) == 0 and "acme" not in fake.realms


def test_the_twin_with_adopt_converges_and_deletes_them(fake):
    fake.create_realm({"realm": "globex"})
    fake.create_realm({"realm": "initech"})
    entries = [entry("acme"), entry("globex", adopt=True), {"name": "initech", "state": "absent", "adopt": True}]
    result = converge(fake, entries)
    assert result["changed"] and set(fake.realms) == {"acme", "globex"}
    assert [call[0] for call in fake.writes if call[0] in ("create_realm", "create_client", "delete_realm")] == [
        "create_realm", "create_client", "create_client", "delete_realm"]
    # Once converged the realm is the tenant's: no adopt needed any more.
    assert not converge(fake, [entry("acme"), entry("globex")])["changed"]


# ---------------------------------------------------------------- a failing write

def test_a_failing_write_names_tenant_and_step_and_lists_what_was_converged(fake, monkeypatch):
    converge(fake, [entry("globex")])
    create_user = fake.create_user

    def refuse_for_globex(realm, representation):
        if realm == "globex":
            raise KeycloakConflict("POST /admin/realms/globex/users: conflict (409): User exists with same email",
                                   status=409)
        return create_user(realm, representation)

    monkeypatch.setattr(fake, "create_user", refuse_for_globex)
    entries = [entry("acme"), entry("globex", owners=["newcomer@globex.test"]), entry("initech")]
    with pytest.raises(KeycloakConflict) as raised:
        converge(fake, entries)
    message = str(raised.value)
    assert message.startswith("tenant globex: create user newcomer@globex.test in globex-owners failed: POST ")
    assert "409" in message
    details = raised.value.details
    assert details["tenant"] == "globex" and list(details["tenants"]) == ["acme"] and details["changed"] is True
    assert details["status"] == 409 and "initech" not in fake.realms

    monkeypatch.setattr(fake, "create_user", create_user)
    rerun = converge(fake, entries)
    assert [name for name, result in rerun["tenants"].items() if result["changed"]] == ["globex", "initech"]


def test_a_failing_read_names_the_tenant_and_nothing_is_written(fake, monkeypatch):
    converge(fake, [entry("globex")])

    def broken(realm):
        raise KeycloakConflict("GET /admin/realms/globex/roles failed with HTTP 500: boom", status=500)

    monkeypatch.setattr(fake, "list_realm_roles", broken)
    with pytest.raises(KeycloakConflict) as raised:
        converge(fake, [entry("acme"), entry("globex")])
    assert str(raised.value).startswith("tenant globex: reading its realm failed: GET /admin/realms/globex/roles")
    assert raised.value.details["tenant"] == "globex" and writes(fake) == 0 and "acme" not in fake.realms


def test_a_realm_with_its_own_frontend_url_is_asked_for_its_discovery_document(fake, monkeypatch):
    converge(fake, [entry("acme"), entry("globex"), entry("initech")])
    fake.realms["globex"]["realm"]["attributes"] = {"frontendUrl": "https://id.globex.test"}
    get_discovery = fake.get_discovery

    def discovery(name):
        document = get_discovery(name)
        if name == "globex":
            document = {"issuer": "https://id.globex.test/realms/globex",
                        "jwks_uri": "https://id.globex.test/realms/globex/protocol/openid-connect/certs"}
        return document

    monkeypatch.setattr(fake, "get_discovery", discovery)
    result = converge(fake, [entry("acme"), entry("globex"), entry("initech")])
    assert result["tenants"]["globex"]["issuer_url"] == "https://id.globex.test/realms/globex"
    assert result["tenants"]["initech"]["issuer_url"] == "http://keycloak.test/realms/initech"
    assert fake.request_counts["GET"] == 6 * 3 + 2


def test_a_large_batch_reads_the_realms_in_one_list_and_reads_alone_what_the_list_does_not_show(fake, monkeypatch):
    names = [f"t{number:02d}" for number in range(REALM_LIST_MIN_TENANTS + 1)]
    converge(fake, [entry(name) for name in names])
    fake.realms["t03"]["realm"]["accessTokenLifespan"] = 42
    # Listed briefly (the caller may not view it in full): read alone, and its drift still found.
    fake.viewable_only_briefly.add("t03")
    read_alone = []
    get_realm = fake.get_realm
    monkeypatch.setattr(fake, "get_realm", lambda name: read_alone.append(name) or get_realm(name))
    # "new" is not listed: read alone (a 404 tells absent from hidden), then created.
    result = converge(fake, [entry(name) for name in names] + [entry("new")])
    assert sorted(read_alone) == ["new", "t03"]
    assert [name for name, outcome in result["tenants"].items() if outcome["changed"]] == ["t03", "new"]
    assert ("update_realm", "t03", ("accessTokenLifespan",)) in fake.writes and ("create_realm", "new") in fake.writes


def test_a_small_batch_reads_each_realm_alone_and_never_lists_them(fake, monkeypatch):
    # Its twin: with at most REALM_LIST_MIN_TENANTS tenants, a shared Keycloak's every realm is not worth listing.
    names = [f"t{number:02d}" for number in range(REALM_LIST_MIN_TENANTS)]
    converge(fake, [entry(name) for name in names])
    calls = []
    for method in ("get_realm", "list_realms"):
        monkeypatch.setattr(fake, method, lambda *args, _call=getattr(fake, method), _name=method:
                            calls.append(_name) or _call(*args))
    again = converge(fake, [entry(name) for name in names])
    assert not again["changed"] and calls == ["get_realm"] * len(names)
    assert fake.request_counts["GET"] == 6 * len(names) + 1
