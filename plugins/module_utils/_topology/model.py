# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate a topology document and turn it into per-region host data.

``build_topology(document)`` is the single entry point. It checks every field
(collecting all problems so one run reports them together), computes each
region's CIDR plan, and returns plain dictionaries the inventory plugin turns
into hosts, groups and variables. Nothing here knows about Ansible.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from typing import Any, Callable

from ansible_collections.meridian.observability.plugins.module_utils._common.tenant_name import (
    DNS_1123_LABEL,
    tenant_name_problem,
)

from . import cidr
from .errors import TopologyError, TopologyErrors

DNS_LABEL = DNS_1123_LABEL
ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9]{1,15}$")
ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::(?P<account>[0-9]{12}):role/[\w+=,.@/-]{1,512}$")
CLUSTER_VERSION = re.compile(r"^1\.(2[89]|3[0-9])$")
QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
EMAIL_OR_USER = re.compile(r"^[A-Za-z0-9._%+-]+(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})?$")

# Regions the platform may be placed in; an unknown one is a typo until proven otherwise.
AWS_REGIONS = frozenset({
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
    "eu-south-2", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-east-1", "me-south-1",
    "me-central-1", "af-south-1", "il-central-1", "mx-central-1",
})

TOP_LEVEL_KEYS = {"plugin", "environment", "network", "regions", "tenants", "defaults"}
REQUIRED_TOP_LEVEL = ("environment", "network", "regions", "tenants")

# What a Kubernetes quantity suffix multiplies its number by.
QUANTITY_SUFFIXES = {
    "": Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18, "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}

TENANT_STATES = ("present", "absent")
# default: deny all ingress except DNS, the tenant's own namespace, the ingress gateway and monitoring scrapes;
# isolated: the same without the ingress gateway.
NETWORK_PROFILES = ("default", "isolated")

DEFAULT_QUOTAS = {"cpu": "4", "memory": "8Gi", "pods": 50}
# The tenant namespace's LimitRange: what a container gets when it does not say.
DEFAULT_CONTAINER_DEFAULTS = {"cpu": "500m", "memory": "512Mi", "request_cpu": "100m", "request_memory": "128Mi"}
# (request key, the limit key it must not exceed, the quota key it must fit in)
CONTAINER_REQUEST_LIMITS = (("request_cpu", "cpu", "cpu"), ("request_memory", "memory", "memory"))
DEFAULT_METRICS = {
    "head_series_limit": 100000,
    "request": {"series_limit": 5000, "samples_limit": 20000, "size_bytes_limit": 2097152},
    "retention": "30d",
}
DEFAULT_LOGS = {"ingestion_rate_mb": 4, "ingestion_burst_size_mb": 8, "max_streams_per_user": 5000, "retention": "744h"}
DEFAULT_NODE_GROUP = {"instance_types": ["m6i.large"], "min_size": 2, "max_size": 4, "desired_size": 2, "disk_size": 50}


class _Collector:
    """Accumulates problems so a topology is reported in full, not one error per run."""

    def __init__(self) -> None:
        self.errors: list[TopologyError] = []

    def add(self, field: str, problem: str, fix: str = "") -> None:
        self.errors.append(TopologyError(field, problem, fix))

    def attempt(self, function: Callable[[], Any]) -> Any:
        try:
            return function()
        except TopologyErrors as errors:
            self.errors.extend(errors.errors)
        except TopologyError as error:
            self.errors.append(error)
        return None

    def raise_if_any(self) -> None:
        if self.errors:
            raise TopologyErrors(self.errors)


def _type_name(expected: type | tuple) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", int: "an integer", bool: "true or false"}
    if isinstance(expected, tuple):
        return " or ".join(names.get(item, item.__name__) for item in expected)
    return names.get(expected, expected.__name__)


def _check_type(problems: _Collector, field: str, value: Any, expected: type | tuple) -> bool:
    # bool is an int in Python; a quota of `true` must not pass as 1.
    if isinstance(value, bool) and expected is not bool and bool not in (expected if isinstance(expected, tuple) else (expected,)):
        problems.add(field, f"expected {_type_name(expected)}, got {value!r}.", f"Set {field} to {_type_name(expected)}.")
        return False
    if not isinstance(value, expected):
        problems.add(field, f"expected {_type_name(expected)}, got {type(value).__name__} {value!r}.",
                     f"Set {field} to {_type_name(expected)}.")
        return False
    return True


def _check_keys(problems: _Collector, field: str, mapping: dict, allowed: set[str], required: tuple[str, ...] = ()) -> None:
    for key in mapping:
        if key not in allowed:
            near = sorted(allowed, key=lambda candidate: _distance(str(key), candidate))[0]
            problems.add(f"{field}.{key}" if field else str(key), f"unknown key {key!r}.",
                         f"Remove it or correct the spelling (did you mean {near!r}? allowed: {', '.join(sorted(allowed))}).")
    for key in required:
        if key not in mapping:
            problems.add(f"{field}.{key}" if field else key, "is required but missing.", f"Add {key} to {field or 'the topology'}.")


def _distance(left: str, right: str) -> int:
    """Levenshtein distance, for 'did you mean' hints on unknown keys."""
    previous = list(range(len(right) + 1))
    for row, left_char in enumerate(left, start=1):
        current = [row]
        for column, right_char in enumerate(right, start=1):
            current.append(min(previous[column] + 1, current[column - 1] + 1,
                               previous[column - 1] + (left_char != right_char)))
        previous = current
    return previous[-1]


def _positive_int(problems: _Collector, field: str, value: Any) -> None:
    if _check_type(problems, field, value, int) and value <= 0:
        problems.add(field, f"must be a positive integer, got {value}.", f"Set {field} to a number greater than 0.")


def _quantity(problems: _Collector, field: str, value: Any) -> Decimal | None:
    """Check a positive Kubernetes quantity; returns the amount it stands for ('500m' -> 0.5), None when invalid."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        problems.add(field, f"expected a Kubernetes quantity such as '4', '500m' or '8Gi', got {value!r}.",
                     "Write the quantity as a number with an optional unit suffix (m, Ki, Mi, Gi, ...).")
        return None
    text = str(value)
    match = QUANTITY.match(text)
    if not match:
        problems.add(field, f"{text!r} is not a valid Kubernetes quantity.",
                     "Use a positive number with an optional suffix: m, k, M, G, Ki, Mi, Gi, Ti (e.g. '500m', '8Gi').")
        return None
    if float(match.group("number")) <= 0:
        problems.add(field, f"{text!r} must be greater than zero.", "Give the tenant a positive quota.")
        return None
    return Decimal(match.group("number")) * QUANTITY_SUFFIXES[match.group("suffix") or ""]


def _quantity_amount(value: Any) -> Decimal | None:
    """The amount a valid, positive quantity stands for; None otherwise (the caller reports problems itself)."""
    return _quantity(_Collector(), "", value)


def _validate_container_defaults(problems: _Collector, field: str, given: Any, inherited: dict,
                                 quotas: dict | None = None) -> dict:
    """The LimitRange defaults at ``field``: ``given`` on top of ``inherited``, each value a quantity string.

    Only the keys set here are checked for syntax (inherited ones were checked where they were set); a request
    above its limit is reported where one of the two is set, a request above the tenant's quota always.
    """
    merged = dict(inherited)
    if not _check_type(problems, field, given, dict):
        return merged
    _check_keys(problems, field, given, set(DEFAULT_CONTAINER_DEFAULTS))
    for key in DEFAULT_CONTAINER_DEFAULTS:
        if key in given:
            _quantity(problems, f"{field}.{key}", given[key])
            merged[key] = given[key]
    amounts = {key: _quantity_amount(value) for key, value in merged.items()}
    for request, limit, quota in CONTAINER_REQUEST_LIMITS:
        if amounts[request] is None:
            continue
        if (request in given or limit in given) and amounts[limit] is not None and amounts[request] > amounts[limit]:
            problems.add(f"{field}.{request}", f"{merged[request]!r} is more than {limit} {merged[limit]!r}; Kubernetes "
                                               "refuses a LimitRange whose default request exceeds its default limit.",
                         f"Lower {request} or raise {limit} so that {request} <= {limit}.")
        quota_amount = _quantity_amount(quotas.get(quota)) if quotas else None
        if quota_amount is not None and amounts[request] > quota_amount:
            problems.add(f"{field}.{request}", f"{merged[request]!r} is more than the tenant's quotas.{quota} "
                                               f"{quotas[quota]!r}; no container with the default request would fit.",
                         f"Lower {request} or raise quotas.{quota}.")
    return {key: str(value) for key, value in merged.items()}


def validate_tenant_name(name: Any, field: str) -> list[TopologyError]:
    """Problems with a tenant name as topology errors on ``field``; empty when the name is usable."""
    problem = tenant_name_problem(name)
    return [TopologyError(field, problem.problem, problem.fix)] if problem else []


def _validate_environment(problems: _Collector, environment: Any) -> dict:
    field = "environment"
    if not _check_type(problems, field, environment, dict):
        return {}
    _check_keys(problems, field, environment, {"name", "aws_account_id", "aws_role_arn", "description"},
                ("name", "aws_account_id", "aws_role_arn"))
    name = environment.get("name")
    if name is not None and (not isinstance(name, str) or not ENVIRONMENT_NAME.match(name)):
        problems.add("environment.name", f"{name!r} is not a valid environment name.",
                     "Use 2-16 lower-case letters and digits starting with a letter, e.g. 'dev'.")
    account = environment.get("aws_account_id")
    if account is not None and (not isinstance(account, str) or not ACCOUNT_ID.match(account)):
        problems.add("environment.aws_account_id", f"{account!r} is not a 12-digit AWS account id.",
                     "Quote it in YAML so leading zeros survive, e.g. aws_account_id: \"012345678901\".")
    role_arn = environment.get("aws_role_arn")
    if role_arn is not None:
        match = ROLE_ARN.match(role_arn) if isinstance(role_arn, str) else None
        if not match:
            problems.add("environment.aws_role_arn", f"{role_arn!r} is not an IAM role ARN.",
                         "Use arn:aws:iam::<account>:role/<name>.")
        elif isinstance(account, str) and match.group("account") != account:
            problems.add("environment.aws_role_arn", f"the role is in account {match.group('account')}, "
                                                     f"not in environment.aws_account_id {account}.",
                         "Assume a role in the environment's own account.")
    return environment


def _validate_network(problems: _Collector, network: Any) -> dict:
    field = "network"
    if not _check_type(problems, field, network, dict):
        return {}
    _check_keys(problems, field, network, {"supernet", "region_prefix", "external_ranges"}, ("supernet",))
    result = {"region_prefix": 16, "external_ranges": []}
    if "supernet" in network:
        supernet = problems.attempt(lambda: cidr.parse_network(network["supernet"], "network.supernet"))
        if supernet is not None:
            result["supernet"] = supernet
    prefix = network.get("region_prefix", 16)
    if _check_type(problems, "network.region_prefix", prefix, int):
        if not 8 <= prefix <= cidr.MAX_VPC_PREFIX:
            problems.add("network.region_prefix", f"/{prefix} is outside /8../{cidr.MAX_VPC_PREFIX}.",
                         f"Pick a VPC size between /16 (AWS's largest VPC) and /{cidr.MAX_VPC_PREFIX}.")
        elif prefix < 16:
            problems.add("network.region_prefix", f"/{prefix} is larger than AWS allows for a VPC.",
                         "Use /16 or a longer prefix.")
        elif "supernet" in result and prefix < result["supernet"].prefixlen:
            problems.add("network.region_prefix", f"a /{prefix} VPC does not fit in the /{result['supernet'].prefixlen} supernet.",
                         "Lengthen network.region_prefix or widen network.supernet.")
        else:
            result["region_prefix"] = prefix
    ranges = network.get("external_ranges", [])
    if _check_type(problems, "network.external_ranges", ranges, list):
        names = set()
        for position, entry in enumerate(ranges):
            entry_field = f"network.external_ranges[{position}]"
            if not _check_type(problems, entry_field, entry, dict):
                continue
            _check_keys(problems, entry_field, entry, {"name", "cidr"}, ("name", "cidr"))
            if entry.get("name") in names:
                problems.add(f"{entry_field}.name", f"duplicate external range name {entry.get('name')!r}.", "Give each range its own name.")
            names.add(entry.get("name"))
            if "cidr" in entry:
                parsed = problems.attempt(lambda entry=entry, entry_field=entry_field: cidr.parse_network(entry["cidr"], f"{entry_field}.cidr"))
                if parsed is not None:
                    result["external_ranges"].append({"name": str(entry.get("name")), "cidr": str(parsed)})
    return result


def _validate_node_group(problems: _Collector, field: str, group: Any) -> dict | None:
    if not _check_type(problems, field, group, dict):
        return None
    _check_keys(problems, field, group, {"name", "instance_types", "min_size", "max_size", "desired_size", "disk_size", "labels"}, ("name",))
    merged = {**DEFAULT_NODE_GROUP, **group}
    name = merged.get("name")
    if not isinstance(name, str) or not DNS_LABEL.match(name):
        problems.add(f"{field}.name", f"{name!r} is not a DNS-1123 label.", "Use lower-case letters, digits and '-'.")
    for key in ("min_size", "max_size", "desired_size", "disk_size"):
        value = merged[key]
        if _check_type(problems, f"{field}.{key}", value, int) and value < (1 if key == "disk_size" else 0):
            problems.add(f"{field}.{key}", f"must not be negative, got {value}.", f"Set {key} to 0 or more.")
    sizes = [merged[key] for key in ("min_size", "desired_size", "max_size")]
    if all(isinstance(size, int) and not isinstance(size, bool) for size in sizes) and not sizes[0] <= sizes[1] <= sizes[2]:
        problems.add(field, f"sizes must satisfy min_size <= desired_size <= max_size, got {sizes[0]} <= {sizes[1]} <= {sizes[2]}.",
                     "Adjust min_size, desired_size or max_size.")
    types = merged["instance_types"]
    if _check_type(problems, f"{field}.instance_types", types, list) and not types:
        problems.add(f"{field}.instance_types", "is empty.", "List at least one instance type such as m6i.large.")
    return merged


def _validate_regions(problems: _Collector, regions: Any, network: dict) -> dict:
    field = "regions"
    if not _check_type(problems, field, regions, dict):
        return {}
    if not regions:
        problems.add(field, "declares no region.", "Declare one hub region and optionally spokes.")
        return {}
    validated: dict[str, dict] = {}
    indices: dict[int, str] = {}
    for name, region in regions.items():
        region_field = f"regions.{name}"
        if name not in AWS_REGIONS:
            problems.add(region_field, f"{name!r} is not a known AWS region.",
                         f"Use a region name such as us-east-1 or eu-west-1 (known: {', '.join(sorted(AWS_REGIONS))}).")
            continue
        if not _check_type(problems, region_field, region, dict):
            continue
        _check_keys(problems, region_field, region, {"role", "index", "azs", "nat_gateways", "cluster"}, ("role", "index", "azs"))
        role = region.get("role")
        if role is not None and role not in ("hub", "spoke"):
            problems.add(f"{region_field}.role", f"{role!r} is neither 'hub' nor 'spoke'.", "Set role to hub or spoke.")
        index = region.get("index")
        if index is not None and _check_type(problems, f"{region_field}.index", index, int):
            if index in indices:
                problems.add(f"{region_field}.index", f"index {index} is already used by region {indices[index]}; their VPC CIDRs would overlap.",
                             "Give every region its own index; never renumber an existing region.")
            indices[index] = name
        azs = region.get("azs")
        letters: list[str] = []
        if azs is not None and _check_type(problems, f"{region_field}.azs", azs, list):
            if not azs:
                problems.add(f"{region_field}.azs", "is empty.", "List at least two AZ letters, e.g. [a, b].")
            for position, letter in enumerate(azs):
                if letter not in cidr.AZ_LETTERS:
                    problems.add(f"{region_field}.azs[{position}]",
                                 f"{letter!r} is not an AZ letter the plan has room for (a..{cidr.AZ_LETTERS[-1]}, {cidr.MAX_AZS} slots).",
                                 f"Use a letter between a and {cidr.AZ_LETTERS[-1]}.")
                elif letter in letters:
                    problems.add(f"{region_field}.azs[{position}]", f"AZ {letter!r} is listed twice.", "List each AZ once.")
                else:
                    letters.append(letter)
        nat = region.get("nat_gateways", "single")
        if nat not in ("single", "per_az"):
            problems.add(f"{region_field}.nat_gateways", f"{nat!r} is not 'single' or 'per_az'.", "Choose single or per_az.")
        cluster = _validate_cluster(problems, f"{region_field}.cluster", region.get("cluster", {}), name)
        validated[name] = {"name": name, "role": role, "index": index, "azs": letters, "nat_gateways": nat, "cluster": cluster}

    hubs = sorted(name for name, region in validated.items() if region["role"] == "hub")
    if len(hubs) != 1 and validated:
        problems.add("regions", f"exactly one region must have role 'hub', found {len(hubs)}" + (f" ({', '.join(hubs)})." if hubs else "."),
                     "Set role: hub on one region and role: spoke on the others.")

    supernet = network.get("supernet")
    if supernet is not None:
        capacity = cidr.region_capacity(supernet, network["region_prefix"])
        if len(validated) > capacity:
            problems.add("network.supernet", f"{supernet} holds {capacity} /{network['region_prefix']} VPCs but {len(validated)} regions are declared.",
                         "Widen the supernet or lengthen network.region_prefix.")
        for name, region in validated.items():
            if not isinstance(region["index"], int) or isinstance(region["index"], bool):
                continue
            if not 0 <= region["index"] < capacity:
                problems.add(f"regions.{name}.index", f"index {region['index']} is outside the supernet: {supernet} holds "
                                                      f"{capacity} /{network['region_prefix']} VPCs (indices 0..{capacity - 1}).",
                             "Pick a free index in that range, or widen network.supernet.")
                continue
            region["cidr_plan"] = cidr.region_plan(str(supernet), network["region_prefix"], region["index"], region["azs"])
    return validated


def _validate_cluster(problems: _Collector, field: str, cluster: Any, region: str) -> dict:
    if not _check_type(problems, field, cluster, dict):
        return {}
    _check_keys(problems, field, cluster, {"name", "version", "node_groups", "endpoint_public_access"})
    version = str(cluster.get("version", "1.34"))
    if not CLUSTER_VERSION.match(version):
        problems.add(f"{field}.version", f"{version!r} is not a supported EKS version.", "Quote a version such as \"1.34\".")
    node_groups = cluster.get("node_groups", [{"name": "system"}])
    groups: list[dict] = []
    if _check_type(problems, f"{field}.node_groups", node_groups, list):
        seen = set()
        for position, group in enumerate(node_groups):
            merged = _validate_node_group(problems, f"{field}.node_groups[{position}]", group)
            if merged is None:
                continue
            if merged.get("name") in seen:
                problems.add(f"{field}.node_groups[{position}].name", f"duplicate node group {merged.get('name')!r}.", "Name each node group once.")
            seen.add(merged.get("name"))
            groups.append(merged)
    public = cluster.get("endpoint_public_access", False)
    _check_type(problems, f"{field}.endpoint_public_access", public, bool)
    return {"name": cluster.get("name"), "version": version, "node_groups": groups, "endpoint_public_access": public}


def _validate_tenant(problems: _Collector, position: int, tenant: Any, regions: dict, defaults: dict) -> dict | None:
    field = f"tenants[{position}]"
    if not _check_type(problems, field, tenant, dict):
        return None
    _check_keys(problems, field, tenant,
                {"name", "display_name", "state", "regions", "home_region", "owners", "viewers", "quotas", "metrics", "logs",
                 "container_defaults", "network_profile"},
                ("name", "regions", "home_region", "owners"))
    name = tenant.get("name")
    if "name" in tenant:
        problems.errors.extend(validate_tenant_name(name, f"{field}.name"))
    display = tenant.get("display_name", name)
    if display is not None:
        _check_type(problems, f"{field}.display_name", display, str)
    state = tenant.get("state", "present")
    if not isinstance(state, str) or state not in TENANT_STATES:
        problems.add(f"{field}.state", f"{state!r} is not 'present' or 'absent'.",
                     "Use present, or absent to offboard the tenant (keep the entry until every region has converged; "
                     "deleting it removes nothing).")

    tenant_regions = tenant.get("regions")
    if tenant_regions is not None and _check_type(problems, f"{field}.regions", tenant_regions, list):
        if not tenant_regions:
            problems.add(f"{field}.regions", "is empty.", "List at least the tenant's home region.")
        for region_position, region in enumerate(tenant_regions):
            if region not in regions:
                problems.add(f"{field}.regions[{region_position}]", f"{region!r} is not a region of this topology.",
                             f"Use one of: {', '.join(sorted(regions)) or 'none declared'}.")
        if len(set(map(str, tenant_regions))) != len(tenant_regions):
            problems.add(f"{field}.regions", "lists a region twice.", "List each region once.")
    home = tenant.get("home_region")
    if home is not None and isinstance(tenant_regions, list) and home not in tenant_regions:
        problems.add(f"{field}.home_region", f"{home!r} is not one of the tenant's regions {tenant_regions}.",
                     "Set home_region to one of the regions listed in regions.")

    for people_key in ("owners", "viewers"):
        people = tenant.get(people_key, [])
        if _check_type(problems, f"{field}.{people_key}", people, list):
            if people_key == "owners" and "owners" in tenant and not people:
                problems.add(f"{field}.owners", "is empty.", "Name at least one owner who answers for the tenant.")
            for person_position, person in enumerate(people):
                if not isinstance(person, str) or not EMAIL_OR_USER.match(person):
                    problems.add(f"{field}.{people_key}[{person_position}]", f"{person!r} is not a user name or e-mail address.",
                                 "Write the person as name@example.com or a plain user name.")

    quotas = {**defaults["quotas"], **(tenant.get("quotas") or {})}
    if _check_type(problems, f"{field}.quotas", tenant.get("quotas", {}), dict):
        _check_keys(problems, f"{field}.quotas", tenant.get("quotas") or {}, {"cpu", "memory", "pods"})
        _quantity(problems, f"{field}.quotas.cpu", quotas["cpu"])
        _quantity(problems, f"{field}.quotas.memory", quotas["memory"])
        _positive_int(problems, f"{field}.quotas.pods", quotas["pods"])

    metrics = copy.deepcopy(defaults["metrics"])
    given_metrics = tenant.get("metrics", {})
    if _check_type(problems, f"{field}.metrics", given_metrics, dict):
        _check_keys(problems, f"{field}.metrics", given_metrics, {"head_series_limit", "request", "retention"})
        metrics.update({key: value for key, value in given_metrics.items() if key != "request"})
        request = given_metrics.get("request", {})
        if _check_type(problems, f"{field}.metrics.request", request, dict):
            _check_keys(problems, f"{field}.metrics.request", request, {"series_limit", "samples_limit", "size_bytes_limit"})
            metrics["request"].update(request)
        _positive_int(problems, f"{field}.metrics.head_series_limit", metrics["head_series_limit"])
        for key in ("series_limit", "samples_limit", "size_bytes_limit"):
            _positive_int(problems, f"{field}.metrics.request.{key}", metrics["request"][key])
        if not isinstance(metrics["retention"], str) or not DURATION.match(metrics["retention"]):
            problems.add(f"{field}.metrics.retention", f"{metrics['retention']!r} is not a duration.", "Write it like 30d or 720h.")

    logs = dict(defaults["logs"])
    given_logs = tenant.get("logs", {})
    if _check_type(problems, f"{field}.logs", given_logs, dict):
        _check_keys(problems, f"{field}.logs", given_logs, set(DEFAULT_LOGS))
        logs.update(given_logs)
        for key in ("ingestion_rate_mb", "ingestion_burst_size_mb", "max_streams_per_user"):
            _positive_int(problems, f"{field}.logs.{key}", logs[key])
        if not isinstance(logs["retention"], str) or not DURATION.match(logs["retention"]):
            problems.add(f"{field}.logs.retention", f"{logs['retention']!r} is not a duration.", "Write it like 744h or 31d.")

    container_defaults = _validate_container_defaults(problems, f"{field}.container_defaults", tenant.get("container_defaults", {}),
                                                      defaults["container_defaults"], quotas)

    network_profile = tenant.get("network_profile", "default")
    if not isinstance(network_profile, str) or network_profile not in NETWORK_PROFILES:
        problems.add(f"{field}.network_profile", f"{network_profile!r} is not one of {', '.join(NETWORK_PROFILES)}.",
                     "Use default (ingress only from DNS, the tenant's own namespace, the ingress gateway and monitoring "
                     "scrapes) or isolated (the same without the ingress gateway).")

    return {
        "name": name,
        "display_name": display,
        "regions": list(tenant_regions) if isinstance(tenant_regions, list) else [],
        "home_region": home,
        "owners": list(tenant.get("owners") or []),
        "viewers": list(tenant.get("viewers") or []),
        "quotas": quotas,
        "metrics": metrics,
        "logs": logs,
        "state": state,
        "container_defaults": container_defaults,
        "network_profile": network_profile,
    }


def _validate_defaults(problems: _Collector, given: Any) -> dict:
    defaults = {"quotas": dict(DEFAULT_QUOTAS), "metrics": copy.deepcopy(DEFAULT_METRICS), "logs": dict(DEFAULT_LOGS),
                "container_defaults": dict(DEFAULT_CONTAINER_DEFAULTS)}
    if not _check_type(problems, "defaults", given, dict):
        return defaults
    _check_keys(problems, "defaults", given, {"tenant_quotas", "tenant_metrics", "tenant_logs", "tenant_container_defaults"})
    defaults["container_defaults"] = _validate_container_defaults(
        problems, "defaults.tenant_container_defaults", given.get("tenant_container_defaults", {}), DEFAULT_CONTAINER_DEFAULTS)
    for key, target in (("tenant_quotas", "quotas"), ("tenant_logs", "logs")):
        value = given.get(key, {})
        if _check_type(problems, f"defaults.{key}", value, dict):
            _check_keys(problems, f"defaults.{key}", value, set(defaults[target]))
            defaults[target].update(value)
    metrics = given.get("tenant_metrics", {})
    if _check_type(problems, "defaults.tenant_metrics", metrics, dict):
        _check_keys(problems, "defaults.tenant_metrics", metrics, set(DEFAULT_METRICS))
        defaults["metrics"].update({key: value for key, value in metrics.items() if key != "request"})
        if isinstance(metrics.get("request", {}), dict):
            _check_keys(problems, "defaults.tenant_metrics.request", metrics.get("request", {}), set(DEFAULT_METRICS["request"]))
            defaults["metrics"]["request"].update(metrics.get("request", {}))
    return defaults


def _check_overlaps(problems: _Collector, regions: dict, network: dict) -> None:
    named = [(f"regions.{name}", region["cidr_plan"]["vpc_cidr"]) for name, region in regions.items() if "cidr_plan" in region]
    named += [(f"network.external_ranges[{position}] ({entry['name']})", entry["cidr"]) for position, entry in enumerate(network["external_ranges"])]
    supernet = network.get("supernet")
    for position, entry in enumerate(network["external_ranges"]):
        if supernet is not None and supernet.overlaps(cidr.parse_network(entry["cidr"], "cidr")):
            problems.add(f"network.external_ranges[{position}].cidr",
                         f"{entry['cidr']} ({entry['name']}) overlaps network.supernet {supernet}; traffic to it would be routed into the platform.",
                         "Choose a supernet that avoids every external range, or correct the range.")
    for name, cidr_text, other_name, other_cidr in cidr.overlapping_pairs(named):
        if other_name.startswith("network.") and name.startswith("network."):
            fix = "External ranges must not overlap each other; merge or correct them."
        elif other_name.startswith("network."):
            fix = "Move the region to an index outside the external range, or correct the range."
        else:
            fix = "Give each region its own index."
        problems.add(other_name, f"{other_cidr} overlaps {name} {cidr_text}.", fix)


def build_topology(document: Any, source: str = "<topology>") -> dict:
    """Validate ``document`` and return {'environment', 'network', 'hub', 'regions', 'tenants'}; raise TopologyErrors."""
    problems = _Collector()
    if not isinstance(document, dict):
        raise TopologyErrors([TopologyError(source, "is not a YAML mapping.", "Start the file with 'plugin: meridian.observability.topology'.")])
    _check_keys(problems, "", document, TOP_LEVEL_KEYS, REQUIRED_TOP_LEVEL)
    environment = _validate_environment(problems, document.get("environment", {}))
    network = _validate_network(problems, document.get("network", {}))
    defaults = _validate_defaults(problems, document.get("defaults", {}))
    regions = _validate_regions(problems, document.get("regions", {}), network)
    _check_overlaps(problems, regions, network)

    tenants: list[dict] = []
    tenants_field = document.get("tenants", [])
    if _check_type(problems, "tenants", tenants_field, list):
        seen: dict[str, int] = {}
        for position, tenant in enumerate(tenants_field):
            validated = _validate_tenant(problems, position, tenant, regions, defaults)
            if validated is None:
                continue
            name = validated["name"]
            if isinstance(name, str) and name in seen:
                problems.add(f"tenants[{position}].name", f"tenant {name!r} is already declared at tenants[{seen[name]}].",
                             "Declare each tenant once; list all its regions in that one entry.")
            elif isinstance(name, str):
                seen[name] = position
            tenants.append(validated)
    problems.raise_if_any()

    hub = next(name for name, region in regions.items() if region["role"] == "hub")
    return {
        "environment": {
            "name": environment["name"],
            "aws_account_id": environment["aws_account_id"],
            "aws_role_arn": environment["aws_role_arn"],
            "description": environment.get("description", ""),
        },
        "network": {
            "supernet": str(network["supernet"]),
            "region_prefix": network["region_prefix"],
            "external_ranges": network["external_ranges"],
        },
        "hub": hub,
        "regions": regions,
        "tenants": tenants,
    }


def region_hostvars(topology: dict, region_name: str) -> dict:
    """Host variables of one region host: its plan, peers, names and tags, and the tenants placed in it.

    ``meridian_resource_prefix`` (``meridian-<environment>-<region>``) starts the name of every resource a layer
    creates in the region; ``meridian_ownership_tags`` are the tags every such resource carries and is found by
    again. A layer adds its own ``meridian:layer`` tag: ``meridian_ownership_tags | combine({'meridian:layer': 'eks'})``.
    """
    region = topology["regions"][region_name]
    peers = [
        {"name": name, "role": other["role"], "vpc_cidr": other["cidr_plan"]["vpc_cidr"]}
        for name, other in sorted(topology["regions"].items(), key=lambda item: item[1]["index"])
        if name != region_name
    ]
    environment_name = topology["environment"]["name"]
    resource_prefix = f"meridian-{environment_name}-{region_name}"
    cluster = dict(region["cluster"])
    cluster["name"] = cluster.get("name") or resource_prefix
    return {
        "meridian_environment": topology["environment"],
        "meridian_region": region_name,
        "meridian_resource_prefix": resource_prefix,
        "meridian_ownership_tags": {
            "meridian:environment": environment_name,
            "meridian:region": region_name,
            "managed-by": "meridian.observability",
        },
        "meridian_region_role": region["role"],
        "meridian_hub_region": topology["hub"],
        "meridian_region_index": region["index"],
        "meridian_cidr_plan": region["cidr_plan"],
        "meridian_nat_gateways": region["nat_gateways"],
        "meridian_cluster": cluster,
        "meridian_peer_regions": peers,
        "meridian_supernet": topology["network"]["supernet"],
        "meridian_external_ranges": topology["network"]["external_ranges"],
        "meridian_tenants": [tenant for tenant in topology["tenants"] if region_name in tenant["regions"]],
    }


def tenant_group_name(tenant_name: str) -> str:
    """Ansible group of a tenant; '-' is not allowed in group names, so it becomes '_'."""
    return "tenant_" + tenant_name.replace("-", "_")
