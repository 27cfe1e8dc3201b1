"""The one tenant-name rule, and the layers that apply it giving the same verdict."""

from __future__ import annotations

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._common.tenant_name import (
    MAX_TENANT_NAME_LENGTH,
    TenantNameProblem,
    is_tenant_name,
    tenant_name_problem,
)
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.errors import KeycloakInvalidInput
from ansible_collections.meridian.observability.plugins.module_utils._keycloak.tenant import TenantSpec
from ansible_collections.meridian.observability.plugins.module_utils._thanos import config as thanos_config
from ansible_collections.meridian.observability.plugins.module_utils._thanos.errors import ThanosConfigError
from ansible_collections.meridian.observability.plugins.module_utils._topology.model import validate_tenant_name

GOOD_NAMES = ["acme", "a", "0", "team-1", "big-corp", "a" * MAX_TENANT_NAME_LENGTH, "kube", "defaults", "masters"]

# (name, words the problem must contain, words the fix must contain)
BAD_NAMES = [
    (None, "expected a string, got None", "required"),
    (42, "expected a string, got 42", "quote it"),
    (True, "expected a string, got True", "required"),
    (["acme"], "expected a string", "DNS-1123 label"),
    ("", "is empty", "such as 'acme'"),
    ("a" * 41, "41 characters; at most 40 are allowed", "the limit is 40"),
    ("Acme", "'Acme' is not a DNS-1123 label", "lower-case it"),
    ("acme_corp", "not a DNS-1123 label", "only lower-case letters, digits and '-'"),
    ("-acme", "not a DNS-1123 label", "starting and ending with a letter or digit"),
    ("acme-", "not a DNS-1123 label", "starting and ending"),
    ("acme.corp", "not a DNS-1123 label", "lower-case letters"),
    ("team-*", "not a DNS-1123 label", "lower-case letters"),
    (" acme", "not a DNS-1123 label", "lower-case letters"),
    ("default", "'default' is reserved for the platform", "Choose another name"),
    ("monitoring", "reserved for the platform", "reserved names are"),
    ("master", "reserved for the platform", "admin"),
    ("kube-system", "reserved for the platform", "kube-"),
    ("meridian-ops", "reserved for the platform", "meridian-"),
    ("system-x", "reserved for the platform", "system-"),
]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_have_no_problem(name):
    assert tenant_name_problem(name) is None
    assert is_tenant_name(name)


@pytest.mark.parametrize(("name", "problem_words", "fix_words"), BAD_NAMES, ids=[repr(case[0])[:20] for case in BAD_NAMES])
def test_bad_names_say_what_is_wrong_and_how_to_fix_it(name, problem_words, fix_words):
    problem = tenant_name_problem(name)
    assert isinstance(problem, TenantNameProblem)
    assert problem_words in problem.problem
    assert fix_words in problem.fix
    assert str(problem) == f"{problem.problem} Fix: {problem.fix}"
    assert not is_tenant_name(name)


@pytest.mark.parametrize("name", [case[0] for case in BAD_NAMES] + GOOD_NAMES, ids=repr)
def test_topology_thanos_and_keycloak_agree_with_the_rule(name):
    """Each layer reports exactly the rule's problem (under its own field), and accepts exactly what it accepts."""
    expected = tenant_name_problem(name)

    topology_errors = validate_tenant_name(name, "tenants[0].name")
    assert [str(error) for error in topology_errors] == ([f"tenants[0].name: {expected}"] if expected else [])

    if expected:
        with pytest.raises(ThanosConfigError) as thanos_error:
            thanos_config.validate_tenant_name(name)
        assert str(thanos_error.value) == f"name: {expected}"
        with pytest.raises(KeycloakInvalidInput) as keycloak_error:
            TenantSpec.from_params({"name": name})
        assert f"name: {expected}" in str(keycloak_error.value)
    else:
        thanos_config.validate_tenant_name(name)
        assert TenantSpec.from_params({"name": name}).name == name
