"""thanos_tenant, thanos_tenants and thanos_tenant_info main(): argument spec, results, failures, check mode."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.meridian.observability.plugins.modules import thanos_tenant, thanos_tenant_info, thanos_tenants

NODE = {"address": "127.0.0.1:10901"}


@pytest.fixture
def files(tmp_path):
    hashrings = tmp_path / "hashrings.json"
    hashrings.write_text(json.dumps([{"hashring": "tenants", "tenants": ["other"], "endpoints": [NODE]}]))
    return {"hashrings_path": str(hashrings), "limits_path": str(tmp_path / "limits.yaml")}


def run(module, args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def test_apply_then_unchanged(files, capsys):
    args = dict(files, name="acme", hashring="tenants", limits={"request": {"series_limit": 1}})
    check = run(thanos_tenant, dict(args, _ansible_check_mode=True, _ansible_diff=True), capsys)
    assert check["changed"] and len(check["diff"]) == 2
    first = run(thanos_tenant, args, capsys)
    assert first["changed"] and first["tenant"]["effective_limits"]["request"]["series_limit"] == 1
    second = run(thanos_tenant, args, capsys)
    assert not second["changed"]
    info = run(thanos_tenant_info, dict(files, name="acme"), capsys)
    assert not info["changed"] and info["tenants"][0]["hashring"] == "tenants"


@pytest.mark.parametrize("args,message", [
    ({"name": "Acme", "hashring": "tenants"}, "DNS-1123"),
    ({"name": "acme", "hashring": "nope"}, "does not exist"),
    ({"name": "acme"}, "state is present but all of the following are missing: hashring"),
    ({"name": "acme", "hashring": "tenants", "limits": {"request": {"series_limit": -1}}}, "non-negative"),
    ({"name": "acme", "hashring": "tenants", "limits": {"request": {"series_limit": "lots"}}}, "series_limit"),
    ({"name": "acme", "hashring": "tenants", "limits": {"rate": 1}}, "rate"),
])
def test_failures_name_the_cause(files, capsys, args, message):
    before = open(files["hashrings_path"]).read()
    result = run(thanos_tenant, dict(files, **args), capsys)
    assert result["failed"] and message in result["msg"]
    assert open(files["hashrings_path"]).read() == before


@pytest.mark.parametrize("store,message", [
    ({}, "one of the following is required: hashrings_path, configmap_name"),
    ({"hashrings_path": "/x", "limits_path": "/y", "configmap_name": "c", "configmap_namespace": "n"},
     "mutually exclusive"),
    ({"hashrings_path": "/x"}, "parameters are required together: hashrings_path, limits_path"),
    ({"hashrings_path": "/x", "limits_path": "/y", "kubeconfig": "/k"}, "mutually exclusive"),
])
def test_store_options_are_checked(capsys, store, message):
    result = run(thanos_tenant, dict(store, name="acme", hashring="tenants"), capsys)
    assert result["failed"] and message in result["msg"]


def test_api_key_is_not_logged():
    assert thanos_tenant.main.__module__  # module imports cleanly
    from ansible_collections.meridian.observability.plugins.module_utils._thanos.args import STORE_ARGUMENT_SPEC
    assert STORE_ARGUMENT_SPEC["api_key"]["no_log"] is True


@pytest.mark.parametrize("module,args", [(thanos_tenant, {"name": "acme", "hashring": "tenants"}),
                                         (thanos_tenant_info, {})])
def test_missing_kubernetes_library_is_reported(capsys, monkeypatch, module, args):
    from ansible_collections.meridian.observability.plugins.module_utils._thanos import store
    monkeypatch.setattr(store, "KUBERNETES_IMPORT_ERROR", "Traceback: No module named 'kubernetes'")
    result = run(module, dict(args, configmap_namespace="thanos", configmap_name="receive"), capsys)
    assert result["failed"] and "Failed to import the required Python library (kubernetes)" in result["msg"]


def test_plural_module_converges_a_batch_with_per_tenant_diffs(files, capsys):
    args = dict(files, hashring="tenants", tenants=[
        {"name": "acme", "limits": {"request": {"series_limit": 1}}}, {"name": "globex"},
        {"name": "other", "state": "absent"}])
    check = run(thanos_tenants, dict(args, _ansible_check_mode=True, _ansible_diff=True), capsys)
    applied = run(thanos_tenants, dict(args, _ansible_diff=True), capsys)
    assert check["changed"] and check["diff"] == applied["diff"] and check["tenants"] == applied["tenants"]
    assert [entry["before_header"] for entry in applied["diff"]] == [
        "thanos tenant acme", "thanos tenant globex", "thanos tenant other"]
    assert applied["tenants"]["acme"]["effective_limits"]["request"]["series_limit"] == 1
    again = run(thanos_tenants, dict(args, _ansible_diff=True), capsys)
    assert not again["changed"] and again["diff"] == []


@pytest.mark.parametrize("tenants,message", [
    ([{"name": "acme"}, {"name": "Acme"}], "tenants[1].name: 'Acme' is not a DNS-1123 label"),
    ([{"name": "acme"}, {"name": "acme", "state": "absent"}], "tenants[1].name: 'acme' is listed more than once"),
    ([{"state": "absent"}], "missing required arguments: name found in tenants"),
    ([{"name": "acme", "hashring": "gold"}], "tenant acme: placing it in hashring 'gold' failed"),
])
def test_plural_module_failures_name_the_tenant_and_change_nothing(files, capsys, tenants, message):
    before = open(files["hashrings_path"]).read()
    result = run(thanos_tenants, dict(files, hashring="tenants", tenants=tenants), capsys)
    assert result["failed"] and message in result["msg"], result["msg"]
    assert result.get("converged", []) == []
    assert open(files["hashrings_path"]).read() == before


def test_plural_module_refuses_bad_input_before_building_a_kubernetes_client(capsys, monkeypatch):
    from ansible_collections.meridian.observability.plugins.module_utils._thanos import store
    monkeypatch.setattr(store, "kubernetes_client", lambda **options: pytest.fail("a client was built"))
    result = run(thanos_tenants, {"configmap_namespace": "thanos", "configmap_name": "receive", "hashring": "tenants",
                                  "tenants": [{"name": "Bad_Name"}]}, capsys)
    assert result["failed"] and result["field"] == "tenants[0].name"
