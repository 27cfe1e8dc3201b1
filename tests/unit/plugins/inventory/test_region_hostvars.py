"""The names and tags every layer gets from the inventory: computed once, in region_hostvars."""

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._topology.model import build_topology
from ansible_collections.meridian.observability.plugins.module_utils._topology.model import region_hostvars
from tests.support.ansible import run_ansible

TOPOLOGY = {
    "plugin": "meridian.observability.topology",
    "environment": {"name": "stage", "aws_account_id": "222222222222", "aws_role_arn": "arn:aws:iam::222222222222:role/deployer"},
    "network": {"supernet": "10.80.0.0/12"},
    "regions": {
        "us-east-1": {"role": "hub", "index": 0, "azs": ["a", "b"]},
        "eu-west-1": {"role": "spoke", "index": 1, "azs": ["a", "b"], "cluster": {"name": "shared-eu"}},
    },
    "tenants": [{"name": "acme", "regions": ["us-east-1"], "home_region": "us-east-1", "owners": ["ops@acme.example"]}],
}


@pytest.fixture
def topology():
    return build_topology(copy.deepcopy(TOPOLOGY))


def test_resource_prefix_is_environment_and_region(topology):
    assert region_hostvars(topology, "us-east-1")["meridian_resource_prefix"] == "meridian-stage-us-east-1"
    assert region_hostvars(topology, "eu-west-1")["meridian_resource_prefix"] == "meridian-stage-eu-west-1"


def test_ownership_tags_name_environment_region_and_owner_but_no_layer(topology):
    assert region_hostvars(topology, "eu-west-1")["meridian_ownership_tags"] == {
        "meridian:environment": "stage",
        "meridian:region": "eu-west-1",
        "managed-by": "meridian.observability",
    }


def test_each_region_gets_its_own_tags_dict(topology):
    """A layer that changes its copy must not change another region's tags."""
    hub, spoke = region_hostvars(topology, "us-east-1"), region_hostvars(topology, "eu-west-1")
    hub["meridian_ownership_tags"]["meridian:layer"] = "network"
    assert "meridian:layer" not in spoke["meridian_ownership_tags"]
    assert "meridian:layer" not in region_hostvars(topology, "us-east-1")["meridian_ownership_tags"]


def test_cluster_name_defaults_to_the_prefix_and_keeps_an_explicit_name(topology):
    assert region_hostvars(topology, "us-east-1")["meridian_cluster"]["name"] == "meridian-stage-us-east-1"
    assert region_hostvars(topology, "eu-west-1")["meridian_cluster"]["name"] == "shared-eu"


def test_a_playbook_sees_them_and_adds_its_layer_tag():
    """Through the real inventory plugin: the documented way for a layer to add meridian:layer."""
    expression = "{{ {'prefix': meridian_resource_prefix, 'tags': meridian_ownership_tags | combine({'meridian:layer': 'eks'})} }}"
    completed = run_ansible("ansible", "eu-west-1", "-i", "inventories/lab", "-m", "ansible.builtin.debug",
                            "-a", f"msg={expression}", json_output=True)
    seen = json.loads(completed.stdout)["plays"][0]["tasks"][0]["hosts"]["eu-west-1"]["msg"]
    assert seen == {
        "prefix": "meridian-lab-eu-west-1",
        "tags": {"meridian:environment": "lab", "meridian:region": "eu-west-1", "managed-by": "meridian.observability",
                 "meridian:layer": "eks"},
    }
