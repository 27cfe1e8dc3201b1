"""The tenant_name test and tenant_name_problem filter, in Python and from real playbooks and role preflights."""

from __future__ import annotations

import json

import pytest

from ansible_collections.meridian.observability.plugins.filter.tenant_name import FilterModule
from ansible_collections.meridian.observability.plugins.module_utils._common.tenant_name import tenant_name_problem
from ansible_collections.meridian.observability.plugins.test.tenant_name import TestModule as TenantNameTests
from tests.support.ansible import run_tasks

GOOD = ["acme", "globex", "team-1", "0", "a" * 40]
BAD = ["Acme", "acme_corp", "acme-", "", "a" * 41, "default", "kube-system", "meridian-ops"]
# The six roles whose preflight checks the tenants they are given (argocd takes no tenant list).
ROLES_WITH_TENANTS = ["observability", "istio", "vault", "keycloak", "policy", "tenant"]


def test_the_plugins_register_under_their_names():
    assert TenantNameTests().tests()["tenant_name"]("acme") is True
    assert TenantNameTests().tests()["tenant_name"]("Acme") is False
    assert FilterModule().filters()["tenant_name_problem"]("acme") == ""
    assert FilterModule().filters()["tenant_name_problem"]("Acme") == str(tenant_name_problem("Acme"))


def test_a_playbook_accepts_good_names_and_rejects_bad_ones(tmp_path):
    tasks = [
        {"name": "good names pass the test", "ansible.builtin.assert": {"that": "item is meridian.observability.tenant_name"},
         "loop": GOOD},
        {"name": "bad names fail the test", "ansible.builtin.assert": {"that": "item is not meridian.observability.tenant_name"},
         "loop": BAD},
        {"name": "non-strings fail the test", "ansible.builtin.assert": {"that": [
            "42 is not meridian.observability.tenant_name", "none is not meridian.observability.tenant_name",
            "['acme'] is not meridian.observability.tenant_name"]}},
        {"name": "select keeps only usable names",
         "ansible.builtin.set_fact": {"usable": "{{ names | select('meridian.observability.tenant_name') }}"},
         "vars": {"names": GOOD + BAD}},
        {"name": "the filter explains each refusal",
         "ansible.builtin.set_fact": {"problems": "{{ names | map('meridian.observability.tenant_name_problem') }}"},
         "vars": {"names": GOOD + BAD}},
    ]
    results, completed = run_tasks(tmp_path, tasks)
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert all(not result.get("failed") for result in results), results
    assert results[3]["ansible_facts"]["usable"] == GOOD
    assert results[4]["ansible_facts"]["problems"] == [""] * len(GOOD) + [str(tenant_name_problem(name)) for name in BAD]


def test_the_test_fails_an_assert_for_a_bad_name(tmp_path):
    """The test can fail: asserting a bad name is a tenant name fails the task."""
    results, completed = run_tasks(tmp_path, [{"name": "a reserved name is refused",
                                               "ansible.builtin.assert": {"that": "'kube-system' is meridian.observability.tenant_name"}}])
    assert completed.returncode != 0
    assert results[0]["failed"] is True


NAME_CHECK = "Preflight | Every tenant has a usable name and at least one region"


def _run_preflights(directory, tenants):
    """Run every role's preflight in one play; returns {role: the result of its tenant-name check}.

    Errors are ignored so one role's refusal does not hide the next role's; only the tenant-name check is judged
    (the tenant role's later checks need a whole inventory and fail here).
    """
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")  # the tenant role checks it is one
    variables = {"meridian_kubeconfig": str(kubeconfig), "meridian_region": "us-east-1",
                 "meridian_vault_addr": "http://127.0.0.1:8200", "meridian_keycloak_url": "http://127.0.0.1:8080"}
    tasks = [{"name": f"{role} preflight",
              "ansible.builtin.include_role": {"name": f"meridian.observability.{role}", "tasks_from": "preflight",
                                               "apply": {"ignore_errors": True}},
              "vars": {f"{role}_tenants": tenants}} for role in ROLES_WITH_TENANTS]
    _, completed = run_tasks(directory, tasks, extra_args=("-e", json.dumps(variables)))
    ran = {task["task"]["name"]: task["hosts"]["localhost"]
           for play in json.loads(completed.stdout)["plays"] for task in play["tasks"]}
    checks = {}
    for role in ROLES_WITH_TENANTS:
        check = ran.get(f"meridian.observability.{role} : {NAME_CHECK}")
        assert check is not None, f"{role}: the tenant-name check did not run:\n{completed.stdout[-3000:]}"
        checks[role] = check
    return checks


@pytest.fixture(scope="module")
def good_checks(tmp_path_factory):
    return _run_preflights(tmp_path_factory.mktemp("good"), [{"name": name, "regions": ["us-east-1"]} for name in GOOD])


@pytest.fixture(scope="module")
def bad_checks(tmp_path_factory):
    tenants = [{"name": "acme", "regions": ["us-east-1"]}, {"name": "Globex", "regions": ["us-east-1"]},
               {"name": "initech", "regions": []}]
    return _run_preflights(tmp_path_factory.mktemp("bad"), tenants)


@pytest.mark.parametrize("role", ROLES_WITH_TENANTS)
def test_a_role_preflight_accepts_good_tenants(good_checks, role):
    # One assertion over every tenant, not a loop of one task run per tenant.
    assert "results" not in good_checks[role]
    assert not good_checks[role].get("failed"), good_checks[role]


@pytest.mark.parametrize("role", ROLES_WITH_TENANTS)
def test_a_role_preflight_names_the_bad_tenant_its_variable_and_the_fix(bad_checks, role):
    check = bad_checks[role]
    assert check["failed"] is True
    message = check["msg"]
    assert message.startswith(f"{role}_tenants: tenant Globex is invalid: 'Globex' is not a DNS-1123 label."), message
    assert "Fix: Rename the tenant: lower-case it." in message
    assert "tenant initech is invalid: it lists no regions. Fix: list the regions the tenant lives in." in message
    assert "tenant acme" not in message, "the good tenant is named as bad"
    assert f"(it fills {role}_tenants)" in message


def test_record_problems_name_each_bad_record_in_order():
    problems = FilterModule().filters()["tenant_record_problems"]
    assert problems([{"name": "acme", "regions": ["us-east-1"]}]) == []
    assert problems([]) == []
    assert problems([{"name": "acme", "regions": "us-east-1"}, {"regions": ["us-east-1"]},
                     {"name": "kube-system", "regions": ["us-east-1"]}, {"name": "globex", "regions": []}]) == [
        "tenant acme is invalid: it lists no regions. Fix: list the regions the tenant lives in.",
        f"tenant (no name) is invalid: {tenant_name_problem(None)}",
        f"tenant kube-system is invalid: {tenant_name_problem('kube-system')}",
        "tenant globex is invalid: it lists no regions. Fix: list the regions the tenant lives in.",
    ]
