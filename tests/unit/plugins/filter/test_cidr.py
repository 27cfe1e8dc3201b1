"""CIDR planning: deterministic, stable under growth, no overlaps, clear errors."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meridian.observability.plugins.filter.cidr import FilterModule, cidr_overlaps, cidr_plan
from ansible_collections.meridian.observability.plugins.module_utils._topology import cidr


def all_subnets(plan):
    return [ipaddress.ip_network(subnet) for tier in plan["subnets"].values() for subnet in tier.values()]


def test_known_plan():
    plan = cidr_plan("10.64.0.0/12", 1, ["b", "a"])
    assert plan["vpc_cidr"] == "10.65.0.0/16"
    assert plan["azs"] == ["a", "b"]
    assert plan["subnets"]["private"] == {"a": "10.65.0.0/20", "b": "10.65.16.0/20"}
    assert plan["subnets"]["public"] == {"a": "10.65.128.0/22", "b": "10.65.132.0/22"}
    assert plan["subnets"]["intra"] == {"a": "10.65.160.0/22", "b": "10.65.164.0/22"}


@pytest.mark.parametrize("region_prefix", [16, 18, 20, 22])
def test_every_subnet_lies_inside_its_vpc_and_none_overlap(region_prefix):
    plan = cidr_plan("10.64.0.0/12", 3, list(cidr.AZ_LETTERS), region_prefix)
    vpc = ipaddress.ip_network(plan["vpc_cidr"])
    subnets = all_subnets(plan)
    assert len(subnets) == 3 * cidr.MAX_AZS
    assert all(subnet.subnet_of(vpc) for subnet in subnets)
    for left, right in itertools.combinations(subnets, 2):
        assert not left.overlaps(right), f"{left} overlaps {right}"


def test_adding_an_az_never_moves_existing_subnets():
    before = cidr_plan("10.64.0.0/12", 0, ["a", "b"])
    after = cidr_plan("10.64.0.0/12", 0, ["a", "b", "c", "f"])
    for tier, subnets in before["subnets"].items():
        for letter, subnet in subnets.items():
            assert after["subnets"][tier][letter] == subnet


def test_adding_a_region_never_moves_existing_vpcs():
    two = {index: cidr_plan("10.64.0.0/12", index, ["a"])["vpc_cidr"] for index in (0, 1)}
    three = {index: cidr_plan("10.64.0.0/12", index, ["a"])["vpc_cidr"] for index in (0, 1, 5)}
    assert {index: three[index] for index in two} == two
    assert len(set(three.values())) == 3


def test_plan_is_deterministic():
    assert cidr_plan("10.96.0.0/12", 2, ["c", "a", "b"]) == cidr_plan("10.96.0.0/12", 2, ["a", "b", "c"])


@pytest.mark.parametrize(("args", "message"), [
    (("10.64.0.0/12", 16, ["a"]), "region index 16 does not fit"),
    (("10.64.0.0/12", 0, ["z"]), "azs[0]"),
    (("10.64.0.0/33", 0, ["a"]), "network.supernet"),
    (("not-a-cidr", 0, ["a"]), "not a valid network CIDR"),
])
def test_plan_errors_name_the_problem(args, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        cidr_plan(*args)


def test_overlaps_within_one_list():
    pairs = cidr_overlaps([{"name": "a", "cidr": "10.0.0.0/16"}, {"name": "b", "cidr": "10.0.128.0/17"}, "192.168.0.0/24"])
    assert pairs == [{"left": "a", "left_cidr": "10.0.0.0/16", "right": "b", "right_cidr": "10.0.128.0/17"}]


def test_overlaps_against_other_ranges_only():
    vpcs = ["10.64.0.0/16", "10.65.0.0/16"]
    external = [{"name": "onprem", "cidr": "10.65.4.0/22"}]
    pairs = cidr_overlaps(vpcs, external)
    assert pairs == [{"left": "ranges[1]", "left_cidr": "10.65.0.0/16", "right": "onprem", "right_cidr": "10.65.4.0/22"}]
    assert cidr_overlaps(vpcs, ["192.168.0.0/16"]) == []


def test_overlaps_rejects_garbage():
    with pytest.raises(AnsibleFilterError):
        cidr_overlaps(["10.0.0.0/8", "garbage"])
    with pytest.raises(AnsibleFilterError, match="no 'cidr' key"):
        cidr_overlaps([{"name": "x"}])


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"cidr_plan", "cidr_overlaps"}
