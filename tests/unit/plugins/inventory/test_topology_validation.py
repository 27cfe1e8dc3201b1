"""The topology model: a good topology builds, every bad one fails naming its field."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._topology.errors import TopologyErrors
from ansible_collections.meridian.observability.plugins.module_utils._topology.model import (
    build_topology,
    region_hostvars,
    tenant_group_name,
)

GOOD = {
    "plugin": "meridian.observability.topology",
    "environment": {
        "name": "dev",
        "aws_account_id": "111111111111",
        "aws_role_arn": "arn:aws:iam::111111111111:role/meridian-dev-deployer",
    },
    "network": {
        "supernet": "10.64.0.0/12",
        "region_prefix": 16,
        "external_ranges": [{"name": "corp", "cidr": "10.0.0.0/14"}],
    },
    "regions": {
        "us-east-1": {"role": "hub", "index": 0, "azs": ["a", "b", "c"]},
        "eu-west-1": {"role": "spoke", "index": 1, "azs": ["a", "b"]},
    },
    "tenants": [
        {"name": "acme", "regions": ["us-east-1", "eu-west-1"], "home_region": "us-east-1", "owners": ["ops@acme.example"],
         "quotas": {"cpu": "500m", "memory": "8Gi", "pods": 20}},
        {"name": "globex", "regions": ["eu-west-1"], "home_region": "eu-west-1", "owners": ["ops@globex.example"]},
    ],
}


def mutate(change):
    document = copy.deepcopy(GOOD)
    change(document)
    return document


def test_good_topology_builds_plan_and_placement():
    topology = build_topology(copy.deepcopy(GOOD))
    assert topology["hub"] == "us-east-1"
    assert topology["regions"]["us-east-1"]["cidr_plan"]["vpc_cidr"] == "10.64.0.0/16"
    assert topology["regions"]["eu-west-1"]["cidr_plan"]["vpc_cidr"] == "10.65.0.0/16"
    eu = region_hostvars(topology, "eu-west-1")
    assert [tenant["name"] for tenant in eu["meridian_tenants"]] == ["acme", "globex"]
    assert [peer["name"] for peer in eu["meridian_peer_regions"]] == ["us-east-1"]
    us = region_hostvars(topology, "us-east-1")
    assert [tenant["name"] for tenant in us["meridian_tenants"]] == ["acme"]
    assert us["meridian_cluster"]["name"] == "meridian-dev-us-east-1"


def test_defaults_are_applied_to_tenants_without_limits():
    topology = build_topology(copy.deepcopy(GOOD))
    globex = topology["tenants"][1]
    assert globex["quotas"] == {"cpu": "4", "memory": "8Gi", "pods": 50}
    assert globex["metrics"]["request"]["series_limit"] == 5000
    assert globex["display_name"] == "globex"


def test_topology_defaults_override_builtin_defaults():
    document = mutate(lambda d: d.update(defaults={"tenant_metrics": {"head_series_limit": 7, "request": {"series_limit": 3}}}))
    globex = build_topology(document)["tenants"][1]
    assert globex["metrics"]["head_series_limit"] == 7
    assert globex["metrics"]["request"] == {"series_limit": 3, "samples_limit": 20000, "size_bytes_limit": 2097152}


def test_new_tenant_fields_default_and_are_returned():
    topology = build_topology(copy.deepcopy(GOOD))
    globex = topology["tenants"][1]
    assert globex["state"] == "present"
    assert globex["network_profile"] == "default"
    assert globex["container_defaults"] == {"cpu": "500m", "memory": "512Mi", "request_cpu": "100m", "request_memory": "128Mi"}


def test_tenant_fields_override_topology_defaults():
    def change(document):
        document["defaults"] = {"tenant_container_defaults": {"memory": "1Gi", "request_memory": "256Mi"}}
        document["tenants"][0].update(state="absent", network_profile="isolated", container_defaults={"cpu": "250m", "request_cpu": 0.25})
    acme, globex = build_topology(mutate(change))["tenants"]
    assert acme["state"] == "absent"
    assert acme["network_profile"] == "isolated"
    # request_cpu 0.25 equals the 250m limit: equal is allowed, and every value comes back as a quantity string.
    assert acme["container_defaults"] == {"cpu": "250m", "memory": "1Gi", "request_cpu": "0.25", "request_memory": "256Mi"}
    assert globex["container_defaults"] == {"cpu": "500m", "memory": "1Gi", "request_cpu": "100m", "request_memory": "256Mi"}


def test_container_request_compares_across_units():
    # 1Gi is 1073741824 bytes and 1G is 1000000000: a 1G request fits under a 1Gi limit, the reverse does not.
    fits = mutate(_set(["tenants", 0, "container_defaults"], {"memory": "1Gi", "request_memory": "1G"}))
    assert build_topology(fits)["tenants"][0]["container_defaults"]["request_memory"] == "1G"
    with pytest.raises(TopologyErrors, match=r"request_memory: '1Gi' is more than memory '1G'"):
        build_topology(mutate(_set(["tenants", 0, "container_defaults"], {"memory": "1G", "request_memory": "1Gi"})))


def test_a_bad_default_is_reported_at_defaults_and_a_tenant_only_for_its_own_quota():
    with pytest.raises(TopologyErrors) as raised:
        build_topology(mutate(_set(["defaults"], {"tenant_container_defaults": {"request_cpu": "2"}})))
    assert [error.field for error in raised.value.errors if "request_cpu" in error.field] == \
        ["defaults.tenant_container_defaults.request_cpu", "tenants[0].container_defaults.request_cpu"]


def test_tenant_group_name_replaces_dashes():
    assert tenant_group_name("big-corp") == "tenant_big_corp"


def _set(path, value):
    """A mutation that sets document[path...] = value."""
    def change(document):
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _delete(path):
    def change(document):
        target = document
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return change


def _add_tenant(**fields):
    def change(document):
        tenant = {"name": "initech", "regions": ["us-east-1"], "home_region": "us-east-1", "owners": ["it@initech.example"]}
        tenant.update(fields)
        document["tenants"].append(tenant)
    return change


# (case id, mutation, field the message must name, words the message must contain)
BAD_TOPOLOGIES = [
    ("upper-case tenant", _set(["tenants", 0, "name"], "Acme"), "tenants[0].name", "not a DNS-1123 label"),
    ("underscore tenant", _set(["tenants", 0, "name"], "acme_corp"), "tenants[0].name", "not a DNS-1123 label"),
    ("tenant ending in dash", _set(["tenants", 0, "name"], "acme-"), "tenants[0].name", "not a DNS-1123 label"),
    ("empty tenant name", _set(["tenants", 0, "name"], ""), "tenants[0].name", "is empty"),
    ("tenant name too long", _set(["tenants", 0, "name"], "a" * 41), "tenants[0].name", "at most 40"),
    ("reserved name default", _set(["tenants", 0, "name"], "default"), "tenants[0].name", "reserved"),
    ("reserved prefix kube-", _set(["tenants", 0, "name"], "kube-public"), "tenants[0].name", "reserved"),
    ("reserved istio-system", _set(["tenants", 0, "name"], "istio-system"), "tenants[0].name", "reserved"),
    ("reserved monitoring", _set(["tenants", 0, "name"], "monitoring"), "tenants[0].name", "reserved"),
    ("duplicate tenant", _add_tenant(name="acme"), "tenants[2].name", "already declared at tenants[0]"),
    ("tenant in unknown region", _set(["tenants", 1, "regions"], ["ap-south-1"]), "tenants[1].regions[0]", "not a region of this topology"),
    ("home region not among regions", _set(["tenants", 1, "home_region"], "us-east-1"), "tenants[1].home_region", "not one of the tenant's regions"),
    ("tenant without regions", _set(["tenants", 1, "regions"], []), "tenants[1].regions", "is empty"),
    ("tenant without owners key", _delete(["tenants", 1, "owners"]), "tenants[1].owners", "required"),
    ("tenant with empty owners", _set(["tenants", 1, "owners"], []), "tenants[1].owners", "is empty"),
    ("bad owner", _set(["tenants", 1, "owners"], ["not an email!"]), "tenants[1].owners[0]", "not a user name or e-mail"),
    ("bad cpu quantity", _set(["tenants", 0, "quotas"], {"cpu": "lots"}), "tenants[0].quotas.cpu", "not a valid Kubernetes quantity"),
    ("negative memory", _set(["tenants", 0, "quotas"], {"memory": "-1Gi"}), "tenants[0].quotas.memory", "not a valid Kubernetes quantity"),
    ("zero cpu", _set(["tenants", 0, "quotas"], {"cpu": "0"}), "tenants[0].quotas.cpu", "greater than zero"),
    ("pods not a number", _set(["tenants", 0, "quotas"], {"pods": "many"}), "tenants[0].quotas.pods", "expected an integer"),
    ("pods as boolean", _set(["tenants", 0, "quotas"], {"pods": True}), "tenants[0].quotas.pods", "expected an integer"),
    ("negative series limit", _set(["tenants", 0, "metrics"], {"head_series_limit": -5}), "tenants[0].metrics.head_series_limit", "positive"),
    ("zero request samples", _set(["tenants", 0, "metrics"], {"request": {"samples_limit": 0}}), "tenants[0].metrics.request.samples_limit", "positive"),
    ("unknown metric limit key", _set(["tenants", 0, "metrics"], {"head_series": 5}), "tenants[0].metrics.head_series", "did you mean 'head_series_limit'"),
    ("bad log retention", _set(["tenants", 0, "logs"], {"retention": "forever"}), "tenants[0].logs.retention", "not a duration"),
    ("unknown tenant key (typo)", _set(["tenants", 0, "owner"], ["x@y.example"]), "tenants[0].owner", "unknown key"),
    ("unknown top-level key", _set(["tenant"], []), "tenant", "unknown key"),
    ("unknown region key", _set(["regions", "us-east-1", "az"], ["a"]), "regions.us-east-1.az", "unknown key"),
    ("unknown region", _set(["regions", "us-east-9"], {"role": "spoke", "index": 2, "azs": ["a"]}), "regions.us-east-9", "not a known AWS region"),
    ("no hub", _set(["regions", "us-east-1", "role"], "spoke"), "regions", "exactly one region must have role 'hub', found 0"),
    ("two hubs", _set(["regions", "eu-west-1", "role"], "hub"), "regions", "found 2"),
    ("bad region role", _set(["regions", "eu-west-1", "role"], "leaf"), "regions.eu-west-1.role", "neither 'hub' nor 'spoke'"),
    ("overlapping region CIDRs (same index)", _set(["regions", "eu-west-1", "index"], 0), "regions.eu-west-1.index", "already used by region us-east-1"),
    ("index outside supernet", _set(["regions", "eu-west-1", "index"], 16), "regions.eu-west-1.index", "outside the supernet"),
    ("supernet unparsable", _set(["network", "supernet"], "10.64.0.0/33"), "network.supernet", "not a valid network CIDR"),
    ("supernet with host bits", _set(["network", "supernet"], "10.64.0.1/12"), "network.supernet", "not a valid network CIDR"),
    ("supernet too small for regions", _set(["network", "supernet"], "10.64.0.0/16"), "network.supernet", "holds 1 /16 VPCs but 2 regions"),
    ("external range overlaps supernet", _set(["network", "external_ranges"], [{"name": "peer", "cidr": "10.65.0.0/16"}]),
     "network.external_ranges[0].cidr", "overlaps network.supernet"),
    ("more AZs than the plan has room for", _set(["regions", "us-east-1", "azs"], ["a", "b", "i"]), "regions.us-east-1.azs[2]", "plan has room for"),
    ("duplicate AZ", _set(["regions", "us-east-1", "azs"], ["a", "a"]), "regions.us-east-1.azs[1]", "listed twice"),
    ("VPC prefix larger than AWS allows", _set(["network", "region_prefix"], 14), "network.region_prefix", "larger than AWS allows"),
    ("account id too short", _set(["environment", "aws_account_id"], "1111"), "environment.aws_account_id", "12-digit"),
    ("account id as integer", _set(["environment", "aws_account_id"], 111111111111), "environment.aws_account_id", "12-digit"),
    ("role in another account", _set(["environment", "aws_role_arn"], "arn:aws:iam::222222222222:role/x"), "environment.aws_role_arn", "not in environment.aws_account_id"),
    ("missing environment name", _delete(["environment", "name"]), "environment.name", "required"),
    ("missing tenants section", _delete(["tenants"]), "tenants", "required"),
    ("bad cluster version", _set(["regions", "us-east-1", "cluster"], {"version": "2.0"}), "regions.us-east-1.cluster.version", "not a supported EKS version"),
    ("node group sizes inverted", _set(["regions", "us-east-1", "cluster"], {"node_groups": [{"name": "system", "min_size": 5, "max_size": 2}]}),
     "regions.us-east-1.cluster.node_groups[0]", "min_size <= desired_size <= max_size"),
    ("bad NAT mode", _set(["regions", "us-east-1", "nat_gateways"], "many"), "regions.us-east-1.nat_gateways", "not 'single' or 'per_az'"),
    ("bad tenant state", _set(["tenants", 0, "state"], "deleted"), "tenants[0].state", "not 'present' or 'absent'"),
    ("tenant state as boolean", _set(["tenants", 0, "state"], False), "tenants[0].state", "not 'present' or 'absent'"),
    ("bad container default quantity", _set(["tenants", 0, "container_defaults"], {"memory": "lots"}),
     "tenants[0].container_defaults.memory", "not a valid Kubernetes quantity"),
    ("zero container default request", _set(["tenants", 0, "container_defaults"], {"request_cpu": "0"}),
     "tenants[0].container_defaults.request_cpu", "greater than zero"),
    ("container request above limit", _set(["tenants", 0, "container_defaults"], {"cpu": "200m", "request_cpu": "1"}),
     "tenants[0].container_defaults.request_cpu", "is more than cpu '200m'"),
    ("container request above inherited limit", _set(["tenants", 1, "container_defaults"], {"request_memory": "1Gi"}),
     "tenants[1].container_defaults.request_memory", "is more than memory '512Mi'"),
    ("container request above the quota", _set(["tenants", 0, "container_defaults"], {"cpu": "2", "request_cpu": "1"}),
     "tenants[0].container_defaults.request_cpu", "more than the tenant's quotas.cpu '500m'"),
    ("unknown container default key", _set(["tenants", 0, "container_defaults"], {"requests_cpu": "1"}),
     "tenants[0].container_defaults.requests_cpu", "did you mean 'request_cpu'"),
    ("container defaults not a mapping", _set(["tenants", 0, "container_defaults"], "500m"), "tenants[0].container_defaults", "expected a mapping"),
    ("bad default container quantity", _set(["defaults"], {"tenant_container_defaults": {"cpu": "-1"}}),
     "defaults.tenant_container_defaults.cpu", "not a valid Kubernetes quantity"),
    ("default container request above limit", _set(["defaults"], {"tenant_container_defaults": {"memory": "64Mi"}}),
     "defaults.tenant_container_defaults.request_memory", "is more than memory '64Mi'"),
    ("bad network profile", _set(["tenants", 0, "network_profile"], "open"), "tenants[0].network_profile", "not one of default, isolated"),
]


@pytest.mark.parametrize(("mutation", "field", "words"), [case[1:] for case in BAD_TOPOLOGIES], ids=[case[0] for case in BAD_TOPOLOGIES])
def test_bad_topology_names_field_and_fix(mutation, field, words):
    with pytest.raises(TopologyErrors) as raised:
        build_topology(mutate(mutation))
    matching = [error for error in raised.value.errors if error.field == field]
    assert matching, f"no error names {field!r}; got: {raised.value}"
    assert any(words in str(error) for error in matching), f"{field!r} error lacks {words!r}: {matching[0]}"
    assert all(error.fix for error in matching), "every error must say how to fix it"
    assert str(raised.value).startswith(raised.value.errors[0].field)


def test_bad_topology_table_is_large_enough():
    assert len(BAD_TOPOLOGIES) >= 20


def test_all_problems_are_reported_in_one_pass():
    document = mutate(lambda d: (d["tenants"][0].update(name="Bad_Name"), d["environment"].update(aws_account_id="x")))
    with pytest.raises(TopologyErrors) as raised:
        build_topology(document)
    fields = {error.field for error in raised.value.errors}
    assert {"tenants[0].name", "environment.aws_account_id"} <= fields


def test_not_a_mapping():
    with pytest.raises(TopologyErrors, match="is not a YAML mapping"):
        build_topology(["plugin"], source="topology.yml")
