"""The aws_session role through ansible-playbook: the module defaults it publishes, and its preflight.

Assuming a role needs STS (proven against the lab's moto by tests/integration/test_aws_layer.py and the molecule
scenarios); here the role runs with aws_session_assume_role=false, which needs no server.
"""

from __future__ import annotations

import pytest

from tests.support.ansible import run_tasks

# The argument spec's defaults name the inventory's variables, so the include gives them as a topology host has them.
INVENTORY = {"meridian_region": "eu-west-1", "meridian_resource_prefix": "meridian-dev-eu-west-1",
             "meridian_environment": {"name": "dev", "aws_role_arn": "arn:aws:iam::111111111111:role/deployer"}}
BASE = INVENTORY | {"aws_session_region": "eu-west-1", "aws_session_role_arn": "arn:aws:iam::111111111111:role/deployer",
        "aws_session_name": "meridian-dev-eu-west-1-network", "aws_session_assume_role": False}


def include(**variables) -> dict:
    return {"name": "AWS session", "ansible.builtin.include_role": {"name": "meridian.observability.aws_session"},
            "vars": BASE | variables}


def show() -> dict:
    return {"name": "Show", "ansible.builtin.debug": {"var": "aws_session_module_defaults"}}


def test_base_credentials_endpoint_and_region_become_the_module_defaults(tmp_path):
    results, completed = run_tasks(tmp_path, [
        include(aws_session_base_credentials={"access_key": "AKIAEXAMPLE", "secret_key": "example"},
                aws_session_endpoint_url="http://127.0.0.1:15000"),
        show(),
    ])
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert results[-1]["aws_session_module_defaults"] == {
        "access_key": "AKIAEXAMPLE", "secret_key": "example", "endpoint_url": "http://127.0.0.1:15000", "region": "eu-west-1"}
    published = [result for result in results if result.get("action") == "ansible.builtin.set_fact"]
    assert published and all("censored" in result and "example" not in str(result) for result in published)


def test_no_endpoint_override_and_no_credentials_leave_the_standard_chain(tmp_path):
    results, completed = run_tasks(tmp_path, [include(aws_session_base_credentials={}, aws_session_endpoint_url=""), show()])
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert results[-1]["aws_session_module_defaults"] == {"endpoint_url": None, "region": "eu-west-1"}


@pytest.mark.parametrize(("case", "variables", "named"), [
    ("access key without secret", {"aws_session_base_credentials": {"access_key": "AKIAEXAMPLE"}}, "aws_session_base_credentials"),
    ("unknown credential key", {"aws_session_base_credentials": {"token": "x"}}, "aws_session_base_credentials"),
    ("endpoint not a URL", {"aws_session_endpoint_url": "127.0.0.1:15000"}, "aws_session_endpoint_url"),
    ("region typo", {"aws_session_region": "eu-west1"}, "aws_session_region"),
    ("role not an ARN", {"aws_session_assume_role": True, "aws_session_role_arn": "deployer"}, "aws_session_role_arn"),
    ("session name too long", {"aws_session_assume_role": True, "aws_session_name": "x" * 65}, "aws_session_name"),
])
def test_bad_input_fails_in_preflight_naming_the_variable(tmp_path, case, variables, named):
    results, completed = run_tasks(tmp_path, [include(**variables), show()])
    assert completed.returncode != 0, case
    failed = [result for result in results if result.get("failed")]
    assert failed and named in failed[0]["msg"], (case, failed)
    assert not [result for result in results if result.get("action") == "amazon.aws.sts_assume_role"], case
