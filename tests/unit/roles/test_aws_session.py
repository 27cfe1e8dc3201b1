"""The aws_session role through ansible-playbook: the module defaults it publishes, and its preflight.

Assuming a role needs STS (proven against the lab's moto by tests/integration/test_aws_layer.py and the molecule
scenarios); here the role runs with aws_session_assume_role=false, which needs no server.
"""

from __future__ import annotations

import pytest

from tests.support.ansible import run_plays

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


BASE_CREDENTIALS_AND_ENDPOINT = "base credentials and an endpoint"
STANDARD_CHAIN = "no endpoint override and no credentials"
BAD_INPUTS = [
    ("access key without secret", {"aws_session_base_credentials": {"access_key": "AKIAEXAMPLE"}}, "aws_session_base_credentials"),
    ("unknown credential key", {"aws_session_base_credentials": {"token": "x"}}, "aws_session_base_credentials"),
    ("endpoint not a URL", {"aws_session_endpoint_url": "127.0.0.1:15000"}, "aws_session_endpoint_url"),
    ("region typo", {"aws_session_region": "eu-west1"}, "aws_session_region"),
    ("role not an ARN", {"aws_session_assume_role": True, "aws_session_role_arn": "deployer"}, "aws_session_role_arn"),
    ("session name too long", {"aws_session_assume_role": True, "aws_session_name": "x" * 65}, "aws_session_name"),
]


def play(name: str, **variables) -> dict:
    """The role and a look at what it published; the rescue lets a refusal end this play only, not the process."""
    return {"name": name, "hosts": "localhost", "gather_facts": False,
            "tasks": [{"block": [include(**variables), show()],
                       "rescue": [{"name": "Refused", "ansible.builtin.debug": {"msg": "the role failed"}}]}]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both valid runs first (each sets the published defaults afresh), then every bad input: one ansible-playbook
    process for all of them instead of one per case."""
    run = run_plays(tmp_path_factory.mktemp("aws-session"), [
        play(BASE_CREDENTIALS_AND_ENDPOINT, aws_session_base_credentials={"access_key": "AKIAEXAMPLE", "secret_key": "example"},
             aws_session_endpoint_url="http://127.0.0.1:15000"),
        play(STANDARD_CHAIN, aws_session_base_credentials={}, aws_session_endpoint_url=""),
        *[play(f"bad input: {case}", **variables) for case, variables, _ in BAD_INPUTS]])
    assert run.completed.returncode == 0, run.completed.stdout[-3000:]
    return {name: [result for _, result in results] for name, results in run.plays.items()}


def test_base_credentials_endpoint_and_region_become_the_module_defaults(runs):
    results = runs[BASE_CREDENTIALS_AND_ENDPOINT]
    assert not [result for result in results if result.get("failed")], results
    assert results[-1]["aws_session_module_defaults"] == {
        "access_key": "AKIAEXAMPLE", "secret_key": "example", "endpoint_url": "http://127.0.0.1:15000", "region": "eu-west-1"}
    published = [result for result in results if result.get("action") == "ansible.builtin.set_fact"]
    assert published and all("censored" in result and "example" not in str(result) for result in published)


def test_no_endpoint_override_and_no_credentials_leave_the_standard_chain(runs):
    results = runs[STANDARD_CHAIN]
    assert not [result for result in results if result.get("failed")], results
    assert results[-1]["aws_session_module_defaults"] == {"endpoint_url": None, "region": "eu-west-1"}


@pytest.mark.parametrize(("case", "variables", "named"), BAD_INPUTS, ids=[case for case, _, _ in BAD_INPUTS])
def test_bad_input_fails_in_preflight_naming_the_variable(runs, case, variables, named):
    results = runs[f"bad input: {case}"]
    failed = [result for result in results if result.get("failed")]
    assert failed and named in failed[0]["msg"], (case, failed)
    assert not [result for result in results if result.get("action") == "amazon.aws.sts_assume_role"], case
    assert not [result for result in results if "aws_session_module_defaults" in result], (case, "the play went on")
