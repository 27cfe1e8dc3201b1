"""Hashrings and limits: parse, validate as Thanos v0.42 reads them, render, route, effective limits."""

from __future__ import annotations

import json

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._thanos import config
from ansible_collections.meridian.observability.plugins.module_utils._thanos.errors import ThanosConfigError

NODE = {"address": "127.0.0.1:10901", "capnproto_address": "127.0.0.1:19391"}


def ring(name, tenants=None, **extra):
    entry = {"hashring": name, "endpoints": [dict(NODE)]}
    if tenants is not None:
        entry["tenants"] = tenants
    entry.update(extra)
    return entry


GOOD_HASHRINGS = [
    [ring("default")],
    [ring("a", ["t1", "t2"]), ring("default")],
    [ring("g", ["team-*"], tenant_matcher_type="glob"), ring("e", ["x"], tenant_matcher_type="exact")],
    [{"hashring": "s", "tenants": ["t"], "endpoints": ["host-0.svc:10901", "[::1]:10901"]}],
    [ring("k", ["t"], algorithm="ketama", external_labels={"tier": "gold"},
          shuffle_sharding_config={"shard_size": 2, "cache_size": 10, "zone_awareness_disabled": True,
                                   "overrides": [{"shard_size": 1, "tenants": ["t"], "tenant_matcher_type": "exact"}]})],
    [ring("az", ["t"], endpoints=[{"address": "r-0:10901", "az": "us-east-1a"}])],
]


@pytest.mark.parametrize("document", GOOD_HASHRINGS)
def test_good_hashrings_parse_and_round_trip(document):
    text = json.dumps(document)
    parsed = config.parse_hashrings(text, "h.json")
    assert parsed == document
    assert config.parse_hashrings(config.render_hashrings(parsed), "h.json") == document


BAD_HASHRINGS = [
    ("not json", "{", "malformed hashrings JSON"),
    ("object not list", '{"hashring": "a"}', "must be a JSON list"),
    ("empty list", "[]", "empty hashrings list"),
    ("unknown key", json.dumps([ring("a", ["t"], tenant="typo")]), "unknown key 'tenant'"),
    ("duplicate key", '[{"hashring": "a", "hashring": "b", "endpoints": ["h:1"]}]', "duplicate key 'hashring'"),
    ("tenant in two hashrings", json.dumps([ring("a", ["t"]), ring("b", ["t"])]), "exactly one hashring"),
    ("tenant twice in one", json.dumps([ring("a", ["t", "t"])]), "more than once"),
    ("bad matcher", json.dumps([ring("a", ["t"], tenant_matcher_type="regex")]), "tenant_matcher_type"),
    ("bad glob", json.dumps([ring("a", ["team-[a"], tenant_matcher_type="glob")]), "bad glob pattern"),
    ("endpoint without port", json.dumps([ring("a", ["t"], endpoints=["receive-0"])]), "is not host:port"),
    ("endpoint port too big", json.dumps([ring("a", ["t"], endpoints=["r:70000"])]), "is not host:port"),
    ("endpoint object no address", json.dumps([ring("a", ["t"], endpoints=[{"az": "x"}])]), "address is required"),
    ("endpoint unknown key", json.dumps([ring("a", ["t"], endpoints=[{"address": "r:1", "zone": "x"}])]),
     "unknown key 'zone'"),
    ("bad capnproto", json.dumps([ring("a", ["t"], endpoints=[{"address": "r:1", "capnproto_address": "r"}])]),
     "capnproto_address"),
    ("no endpoints", json.dumps([{"hashring": "a", "tenants": ["t"]}]), "endpoints: must be a non-empty list"),
    ("duplicate endpoints", json.dumps([ring("a", ["t"], endpoints=["r:1", "r:1"])]), "listed more than once"),
    ("bad algorithm", json.dumps([ring("a", ["t"], algorithm="consistent")]), "algorithm"),
    ("no name", json.dumps([{"endpoints": ["r:1"]}]), "must be a non-empty string"),
    ("duplicate names", json.dumps([ring("a", ["t"]), ring("a", ["u"])]), "used by hashrings[0]"),
    ("catch-all first", json.dumps([ring("all"), ring("a", ["t"])]), "must be the last one"),
    ("tenants not a list", json.dumps([ring("a", "t")]), "must be a list"),
    ("bad external labels", json.dumps([ring("a", ["t"], external_labels={"1bad": "x"})]), "external_labels"),
]


@pytest.mark.parametrize("text,message", [case[1:] for case in BAD_HASHRINGS], ids=[case[0] for case in BAD_HASHRINGS])
def test_bad_hashrings_name_the_problem(text, message):
    with pytest.raises(ThanosConfigError, match=None) as caught:
        config.parse_hashrings(text, "h.json")
    assert message in str(caught.value)
    assert str(caught.value).startswith("h.json: ")


def test_missing_hashrings_document():
    with pytest.raises(ThanosConfigError, match="does not exist"):
        config.parse_hashrings(None, "h.json")


def test_all_problems_reported_at_once():
    text = json.dumps([ring("a", ["t"], algorithm="x", tenant_matcher_type="y")])
    with pytest.raises(ThanosConfigError) as caught:
        config.parse_hashrings(text, "h.json")
    assert len(caught.value.details["problems"]) == 2


@pytest.mark.parametrize("name", ["a", "acme", "team-1", "0", "a" * 40])
def test_good_tenant_names(name):
    config.validate_tenant_name(name)


@pytest.mark.parametrize("name,message", [
    ("", "required"), ("A", "DNS-1123"), ("-a", "DNS-1123"), ("a-", "DNS-1123"), ("a_b", "DNS-1123"),
    ("a.b", "DNS-1123"), ("a" * 41, "the limit is 40"), (None, "required"), ("team-*", "DNS-1123"),
])
def test_bad_tenant_names(name, message):
    with pytest.raises(ThanosConfigError, match=message):
        config.validate_tenant_name(name)


@pytest.mark.parametrize("pattern,tenant,matches", [
    ("team-*", "team-a", True), ("team-*", "other", False), ("t?", "t1", True), ("t?", "t12", False),
    ("[ab]x", "bx", True), ("[^ab]x", "bx", False), ("[a-c]x", "cx", True), ("a\\*", "a*", True),
    ("a\\*", "ab", False), ("*", "a/b", False),
])
def test_glob_matches_like_go_filepath_match(pattern, tenant, matches):
    assert bool(config.glob_to_regex(pattern).match(tenant)) is matches


@pytest.mark.parametrize("pattern", ["[a", "a\\", "[]"])
def test_bad_glob_patterns(pattern):
    with pytest.raises(ValueError):
        config.glob_to_regex(pattern)


def test_routing_is_first_match_with_catch_all_last():
    document = [ring("g", ["team-*"], tenant_matcher_type="glob"), ring("e", ["x"]), ring("default")]
    assert config.route_tenant(document, "team-a") == "g"
    assert config.route_tenant(document, "x") == "e"
    assert config.route_tenant(document, "y") == "default"
    assert config.route_tenant(document[:2], "y") is None


LIMITS = """\
write:
  global:
    max_concurrency: 4
    meta_monitoring_url: http://query:9090
  default:
    request:
      size_bytes_limit: 1024
      series_limit: 100
      samples_limit: 0
    head_series_limit: 1000
  tenants:
    a:
      request:
        series_limit: 5
    b:
      head_series_limit: 0
    c:
"""


def test_limits_parse_and_effective_values():
    document = config.parse_limits(LIMITS, "l.yaml")
    assert config.effective_limits(document, "a") == {
        "request": {"size_bytes_limit": 1024, "series_limit": 5, "samples_limit": 0}, "head_series_limit": 1000}
    # An explicit 0 is "no limit" and wins over the default.
    assert config.effective_limits(document, "b")["head_series_limit"] == 0
    assert config.effective_limits(document, "c") == config.effective_limits(document, "nobody")
    assert config.tenant_limits(document, "c") == {}
    assert config.tenant_limits(document, "nobody") is None
    assert config.head_series_limits_enforced(document)
    assert config.parse_limits(config.render_limits(document), "l.yaml") == document


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n", "write:\n"])
def test_empty_limits_mean_no_limits(text):
    document = config.parse_limits(text, "l.yaml")
    assert config.effective_limits(document, "x") == {
        "request": {"size_bytes_limit": 0, "series_limit": 0, "samples_limit": 0}, "head_series_limit": 0}


@pytest.mark.parametrize("text,message", [
    ("write: [", "malformed limits YAML"),
    ("- a\n", "must be a mapping"),
    ("read: {}\n", "unknown top-level key 'read'"),
    ("write: {globals: {}}\n", "unknown key 'globals'"),
    ("write: {global: {max_concurrency: -1}}\n", "max_concurrency"),
    ("write: {global: {meta_monitoring_url: 'query:9090'}}\n", "needs a scheme and a host"),
    ("write: {default: {request: {series: 1}}}\n", "unknown key 'series'"),
    ("write: {default: {head_series_limit: -5}}\n", "not a non-negative integer"),
    ("write: {tenants: {a: {request: {samples_limit: many}}}}\n", "not a non-negative integer"),
    ("write: {tenants: {a: {request: {samples_limit: true}}}}\n", "not a non-negative integer"),
    ("write: {tenants: {a: {head_series: 1}}}\n", "unknown key 'head_series'"),
    ("write: {tenants: [a]}\n", "mapping of tenant id"),
    ("write:\n  tenants: {}\n  tenants: {}\n", "duplicate key"),
])
def test_bad_limits_name_the_problem(text, message):
    with pytest.raises(ThanosConfigError) as caught:
        config.parse_limits(text, "l.yaml")
    assert message in str(caught.value)


def test_requested_limits_entry():
    assert config.requested_limits_entry(None) is None
    assert config.requested_limits_entry({}) is None
    assert config.requested_limits_entry({"head_series_limit": None, "request": None}) is None
    assert config.requested_limits_entry(
        {"head_series_limit": 0, "request": {"series_limit": 3, "samples_limit": None, "size_bytes_limit": 9}}
    ) == {"request": {"size_bytes_limit": 9, "series_limit": 3}, "head_series_limit": 0}
    with pytest.raises(ThanosConfigError, match="limits.request.series_limit"):
        config.requested_limits_entry({"request": {"series_limit": -1}})
    with pytest.raises(ThanosConfigError, match="unknown key 'rate'"):
        config.requested_limits_entry({"rate": 1})
