"""keycloak_tenant, keycloak_tenants and keycloak_tenant_info main(): documentation agrees with the spec, results,
failures, check mode."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.meridian.observability.plugins.doc_fragments.keycloak import ModuleDocFragment
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.arguments import keycloak_argument_spec
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.client import KeycloakClient
from ansible_collections.meridian.observability.plugins.modules import keycloak_tenant, keycloak_tenant_info, keycloak_tenants

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "module_utils" / "keycloak"))
from fake_keycloak import WRITE_METHODS, FakeKeycloak  # noqa: E402  pylint: disable=wrong-import-position

CONNECTION = {"auth_keycloak_url": "http://keycloak.test", "auth_username": "admin", "auth_password": "admin-pw-secret"}
USER_PASSWORD = "user-pw-secret"


@pytest.fixture
def fake(monkeypatch):
    server = FakeKeycloak()
    monkeypatch.setattr(KeycloakClient, "from_params", classmethod(lambda cls, params: server))
    return server


def run(module, args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def _documented_options(module):
    options = dict(yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"])
    options.update(yaml.safe_load(module.DOCUMENTATION)["options"])
    return options


def _compare(spec, documented, where):
    assert set(spec) == set(documented), f"{where}: spec and DOCUMENTATION list different options"
    for name, option in spec.items():
        doc = documented[name]
        assert option.get("type", "str") == doc.get("type", "str"), f"{where}.{name}: type"
        assert option.get("required", False) == doc.get("required", False), f"{where}.{name}: required"
        assert option.get("default") == doc.get("default"), f"{where}.{name}: default"
        assert option.get("choices") == doc.get("choices"), f"{where}.{name}: choices"
        assert option.get("elements") == doc.get("elements"), f"{where}.{name}: elements"
        assert doc.get("description"), f"{where}.{name}: no description"
        if "options" in option:
            _compare(option["options"], doc["suboptions"], f"{where}.{name}")


@pytest.mark.parametrize("module,spec", [
    (keycloak_tenant, {**keycloak_argument_spec(), **keycloak_tenant.TENANT_SPEC}),
    (keycloak_tenant_info, {**keycloak_argument_spec(), **keycloak_tenant_info.INFO_SPEC}),
    (keycloak_tenants, {**keycloak_argument_spec(), **keycloak_tenants.TENANTS_SPEC}),
])
def test_documentation_matches_the_argument_spec(module, spec):
    _compare(spec, _documented_options(module), module.__name__.rsplit(".", 1)[-1])
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)


def test_secret_options_are_no_log():
    spec = {**keycloak_argument_spec(), **keycloak_tenant.TENANT_SPEC}
    assert {name for name, option in spec.items() if option.get("no_log")} == {"auth_client_secret", "auth_password", "token"}
    assert keycloak_tenant.TENANT_SPEC["users"]["options"]["password"]["no_log"] is True
    tenant_options = keycloak_tenants.TENANTS_SPEC["tenants"]["options"]
    assert {name for name, option in tenant_options.items() if option.get("no_log")} == set()
    assert tenant_options["users"]["options"]["password"]["no_log"] is True


def test_each_tenant_of_the_batch_takes_the_single_modules_options_plus_adopt():
    single = {name: option for name, option in keycloak_tenant.TENANT_SPEC.items() if name != "return_client_secret"}
    assert keycloak_tenants.TENANTS_SPEC["tenants"]["options"] == {**single, "adopt": {"type": "bool", "default": False}}


def test_batch_check_apply_rerun_through_main(fake, capsys):
    args = dict(CONNECTION, tenants=[
        {"name": "acme", "owners": ["ops@acme.test"],
         "users": [{"username": "alice", "password": USER_PASSWORD, "groups": ["viewers"]}]},
        {"name": "globex", "owners": ["sre@globex.test"]},
        {"name": "initech", "state": "absent"}])
    check = run(keycloak_tenants, dict(args, _ansible_check_mode=True, _ansible_diff=True), capsys)
    assert check["changed"] and fake.realms == {}
    assert [diff["before_header"] for diff in check["diff"]] == ["tenant acme: realm acme before",
                                                                 "tenant globex: realm globex before"]
    applied = run(keycloak_tenants, dict(args, _ansible_diff=True, return_client_secret=True), capsys)
    assert applied["changed"] and set(fake.realms) == {"acme", "globex"}
    assert applied["client_secrets"]["globex"]["gateway_client_secret"] == "secret-of-observability-gateway"
    fake.writes.clear()
    again = run(keycloak_tenants, dict(args, _ansible_diff=True), capsys)
    assert not again["changed"] and again["diff"] == [] and fake.writes == []
    assert set(again["tenants"]) == {"acme", "globex", "initech"} and again["tenants"]["initech"]["exists"] is False
    for result in (check, applied, again):
        text = json.dumps(result)
        assert USER_PASSWORD not in text and "admin-pw-secret" not in text


@pytest.mark.parametrize("tenants,message", [
    ([{"name": "acme"}, {"name": "Bad_Name"}], "tenants[1].name: 'Bad_Name' is not a DNS-1123 label"),
    ([{"name": "acme"}, {"name": "acme", "state": "absent"}], "tenants[1].name: 'acme' is listed twice"),
    ([{"name": "acme", "state": "gone"}], "value of state must be one of: present, absent, got: gone"),
    ([{"name": "acme", "users": [{"username": "alice", "color": "red"}]}], "color"),
])
def test_batch_bad_input_fails_before_any_request(fake, capsys, tenants, message):
    result = run(keycloak_tenants, dict(CONNECTION, tenants=tenants), capsys)
    assert result["failed"] and message in result["msg"], result["msg"]
    assert sum(fake.request_counts.values()) == 0 and fake.realms == {}


def test_check_apply_check_apply(fake, capsys):
    args = dict(CONNECTION, name="acme", owners=["ops@acme.test"],
                users=[{"username": "alice", "password": USER_PASSWORD, "groups": ["viewers"]}])
    check = run(keycloak_tenant, dict(args, _ansible_check_mode=True, _ansible_diff=True), capsys)
    assert check["changed"] and fake.realms == {} and check["diff"]["before"] == {}
    applied = run(keycloak_tenant, dict(args, _ansible_diff=True), capsys)
    assert applied["changed"] and applied["actions"] == check["actions"] and "acme" in fake.realms
    fake.writes.clear()
    again = run(keycloak_tenant, dict(args, _ansible_check_mode=True), capsys)
    last = run(keycloak_tenant, args, capsys)
    assert not again["changed"] and not last["changed"] and fake.writes == []
    for result in (check, applied, again, last):
        text = json.dumps(result)
        assert USER_PASSWORD not in text and "admin-pw-secret" not in text
    info = run(keycloak_tenant_info, dict(CONNECTION, name="acme"), capsys)
    assert info["exists"] and not info["changed"] and {g["name"] for g in info["groups"]} == {"acme-owners", "acme-viewers"}


def test_return_client_secret(fake, capsys):
    result = run(keycloak_tenant, dict(CONNECTION, name="acme", return_client_secret=True), capsys)
    assert result["gateway_client_secret"] == "secret-of-observability-gateway"
    assert "gateway_client_secret" not in run(keycloak_tenant, dict(CONNECTION, name="acme"), capsys)


@pytest.mark.parametrize("args,message", [
    ({"name": "Bad_Name"}, "is not a DNS-1123 label"),
    ({"name": "kube-system"}, "reserved for the platform"),
    ({"name": "x" * 41}, "at most 40 are allowed"),
    ({"name": "acme", "state": "gone"}, "value of state must be one of: present, absent, got: gone"),
    ({"name": "acme", "access_token_lifespan": -1}, "access_token_lifespan: -1 must be a positive"),
    ({"name": "acme", "access_token_lifespan": "soon"}, "access_token_lifespan"),
    ({"name": "acme", "owners": [{"who": "me"}]}, "owners[0]"),
    ({"name": "acme", "users": [{"email": "a@b.test"}]}, "missing required arguments: username"),
    ({"name": "acme", "users": [{"username": "alice", "groups": ["admins"]}]}, "groups"),
    ({"name": "acme", "users": [{"username": "alice", "color": "red"}]}, "color"),
    ({"name": "acme", "brute_force_protection": {"failure_factor": 0}}, "failure_factor: 0 must be a positive"),
    ({"name": "acme", "redirect_uris": ["not a url"]}, "redirect_uris[0]"),
])
def test_bad_input_fails_before_any_request(fake, capsys, args, message):
    result = run(keycloak_tenant, dict(CONNECTION, **args), capsys)
    assert result["failed"] and message in result["msg"], result["msg"]
    assert sum(fake.request_counts.values()) == 0 and fake.realms == {}


def test_credentials_are_required(fake, capsys):
    result = run(keycloak_tenant, {"auth_keycloak_url": "http://keycloak.test", "name": "acme"}, capsys)
    assert result["failed"] and "one of the following is required: token, auth_username, auth_client_secret" in result["msg"]


def test_info_of_a_missing_realm(fake, capsys):
    result = run(keycloak_tenant_info, dict(CONNECTION, name="acme"), capsys)
    assert result == {"changed": False, "name": "acme", "exists": False, "invocation": result["invocation"]}


def test_typed_errors_become_failures_with_details(monkeypatch, capsys):
    from ansible_collections.meridian.observability.plugins.module_utils._keycloak.client import Response

    def forbidden(method, url, headers, data, timeout, validate_certs, http_agent):
        if url.endswith("/token"):
            return Response(200, {}, b'{"access_token": "t"}')
        return Response(403, {}, b'{"error": "unknown_error"}')

    original = KeycloakClient.from_params.__func__
    monkeypatch.setattr(KeycloakClient, "from_params",
                        classmethod(lambda cls, params: original(cls, params, transport=forbidden)))
    result = run(keycloak_tenant, dict(CONNECTION, name="acme"), capsys)
    assert result["failed"] and "403 Forbidden" in result["msg"] and result["status"] == 403
    assert result["api_requests"] == {"token": 1, "GET": 1}
    assert not any(method in result["api_requests"] for method in WRITE_METHODS)


def test_connection_options_have_community_general_names_and_types():
    """module_defaults written for community.general's keycloak modules carry over unchanged."""
    community = pytest.importorskip(
        "ansible_collections.community.general.plugins.module_utils.identity.keycloak.keycloak")
    theirs = community.keycloak_argument_spec()
    for name, option in keycloak_argument_spec().items():
        assert name in theirs, name
        assert option.get("type", "str") == theirs[name].get("type", "str"), name
        assert bool(option.get("no_log")) == bool(theirs[name].get("no_log")), name
