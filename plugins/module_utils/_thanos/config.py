# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse, validate and render the two documents Thanos Receive reads for tenancy.

Formats, as Thanos v0.42 reads them:

* hashrings (``--receive.hashrings-file``): a non-empty JSON list of objects with the keys
  ``hashring``, ``tenants``, ``tenant_matcher_type`` (``exact`` or ``glob``), ``endpoints``,
  ``algorithm`` (``hashmod`` or ``ketama``), ``external_labels`` and ``shuffle_sharding_config``.
  An endpoint is a ``host:port`` string or an object ``{address, capnproto_address, az}``.
  A hashring without tenants serves every tenant no earlier hashring matched (a catch-all);
  the first matching hashring wins.
* limits (``--receive.limits-config-file``): YAML ``write: {global, default, tenants}``, read with
  strict unmarshalling (unknown keys are errors). ``0`` means "no limit" for every limit; a key a
  tenant does not set falls back to ``write.default``.

Validation is stricter than Thanos where Thanos would silently ignore a mistake (unknown JSON keys,
a tenant listed in two hashrings, a catch-all that hides later hashrings).
"""

from __future__ import annotations

import copy
import json
import re
from urllib.parse import urlparse

from ansible_collections.meridian.observability.plugins.module_utils._common.tenant_name import tenant_name_problem

from .errors import ThanosConfigError

try:
    import yaml
except ImportError:  # pragma: no cover - reported by the module through missing_required_lib
    yaml = None

HASHRING_KEYS = ("hashring", "tenants", "tenant_matcher_type", "endpoints", "algorithm",
                 "external_labels", "shuffle_sharding_config")
ENDPOINT_KEYS = ("address", "capnproto_address", "az")
MATCHER_TYPES = ("exact", "glob")
ALGORITHMS = ("hashmod", "ketama")
SHUFFLE_SHARDING_KEYS = ("shard_size", "cache_size", "zone_awareness_disabled", "overrides")
SHUFFLE_OVERRIDE_KEYS = ("shard_size", "tenants", "tenant_matcher_type")

REQUEST_LIMIT_KEYS = ("size_bytes_limit", "series_limit", "samples_limit")
TENANT_LIMIT_KEYS = ("request", "head_series_limit")
GLOBAL_LIMIT_KEYS = ("max_concurrency", "meta_monitoring_url", "meta_monitoring_http_client",
                     "meta_monitoring_limit_query")
WRITE_LIMIT_KEYS = ("global", "default", "tenants")

_ADDRESS_PATTERN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?):([0-9]{1,5})$")
_LABEL_NAME_PATTERN = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


# ---------------------------------------------------------------- small checks

def validate_tenant_name(name) -> None:
    """A tenant id we create follows the platform's tenant-name rule (the same one the topology checks)."""
    problem = tenant_name_problem(name)
    if problem:
        raise ThanosConfigError(f"name: {problem}", field="name")


def is_address(value) -> bool:
    """``host:port`` with a DNS name, IPv4 address or bracketed IPv6 address and a port in 1..65535."""
    if not isinstance(value, str):
        return False
    match = _ADDRESS_PATTERN.match(value)
    return bool(match) and 0 < int(match.group(3)) < 65536


def _is_limit(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def glob_to_regex(pattern: str) -> "re.Pattern[str]":
    """Translate a Go ``path/filepath.Match`` pattern (what Thanos uses for glob tenants) to a regex.

    Raises ValueError for a pattern Go reports as ErrBadPattern.
    """
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\":
            index += 1
            if index >= len(pattern):
                raise ValueError("trailing backslash")
            out.append(re.escape(pattern[index]))
        elif char == "[":
            end = index + 1
            negate = end < len(pattern) and pattern[end] == "^"
            if negate:
                end += 1
            body = []
            first = True
            while True:
                if end >= len(pattern):
                    raise ValueError("unterminated character class")
                if pattern[end] == "]" and not first:
                    break
                if pattern[end] == "\\":
                    end += 1
                    if end >= len(pattern):
                        raise ValueError("trailing backslash in character class")
                if pattern[end] == "-" and body and body[-1] != "-" and end + 1 < len(pattern) and pattern[end + 1] != "]":
                    body.append("-")
                else:
                    body.append(re.escape(pattern[end]))
                first = False
                end += 1
            out.append("[" + ("^" if negate else "") + "".join(body) + "]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("^" + "".join(out) + "$")


def _tenant_matches(entry: dict, tenant: str) -> bool:
    tenants = entry.get("tenants") or []
    if not tenants:
        return True  # catch-all
    if entry.get("tenant_matcher_type") == "glob":
        return any(glob_to_regex(pattern).match(tenant) for pattern in tenants)
    return tenant in tenants


def is_catch_all(entry: dict) -> bool:
    """A hashring without tenants serves every tenant that no earlier hashring matched."""
    return not entry.get("tenants")


# ---------------------------------------------------------------- hashrings

def _reject_duplicate_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ThanosConfigError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def parse_hashrings(text, source: str) -> list:
    """Parse and validate a hashrings document; ``source`` names it in error messages."""
    if text is None:
        raise ThanosConfigError(f"{source}: the hashrings document does not exist", source=source)
    try:
        document = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except ThanosConfigError as err:
        raise ThanosConfigError(f"{source}: malformed hashrings JSON: {err}", source=source) from None
    except ValueError as err:
        raise ThanosConfigError(f"{source}: malformed hashrings JSON: {err}", source=source) from None
    validate_hashrings(document, source)
    return document


def _endpoint_problems(where: str, endpoint) -> list:
    if isinstance(endpoint, str):
        if not is_address(endpoint):
            return [f"{where}: {endpoint!r} is not host:port"]
        return []
    if not isinstance(endpoint, dict):
        return [f"{where}: must be a host:port string or an object with address, capnproto_address and az"]
    problems = [f"{where}: unknown key {key!r} (allowed: {', '.join(ENDPOINT_KEYS)})"
                for key in endpoint if key not in ENDPOINT_KEYS]
    if "address" not in endpoint:
        problems.append(f"{where}: address is required")
    elif not is_address(endpoint["address"]):
        problems.append(f"{where}.address: {endpoint['address']!r} is not host:port")
    if endpoint.get("capnproto_address") not in (None, "") and not is_address(endpoint["capnproto_address"]):
        problems.append(f"{where}.capnproto_address: {endpoint['capnproto_address']!r} is not host:port")
    if "az" in endpoint and not isinstance(endpoint["az"], str):
        problems.append(f"{where}.az: must be a string")
    return problems


def endpoint_address(endpoint) -> str:
    return endpoint if isinstance(endpoint, str) else endpoint.get("address", "")


def _tenant_list_problems(where: str, tenants, matcher) -> list:
    if not isinstance(tenants, list):
        return [f"{where}: must be a list of tenant ids"]
    problems = []
    for position, tenant in enumerate(tenants):
        if not isinstance(tenant, str) or not tenant:
            problems.append(f"{where}[{position}]: must be a non-empty string")
        elif matcher == "glob":
            try:
                glob_to_regex(tenant)
            except ValueError as err:
                problems.append(f"{where}[{position}]: bad glob pattern {tenant!r}: {err}")
    duplicates = sorted({t for t in tenants if isinstance(t, str) and tenants.count(t) > 1})
    if duplicates:
        problems.append(f"{where}: lists {', '.join(duplicates)} more than once")
    return problems


def _shuffle_sharding_problems(where: str, value) -> list:
    if not isinstance(value, dict):
        return [f"{where}: must be an object"]
    problems = [f"{where}: unknown key {key!r} (allowed: {', '.join(SHUFFLE_SHARDING_KEYS)})"
                for key in value if key not in SHUFFLE_SHARDING_KEYS]
    for key in ("shard_size", "cache_size"):
        if key in value and not _is_limit(value[key]):
            problems.append(f"{where}.{key}: must be a non-negative integer")
    if "zone_awareness_disabled" in value and not isinstance(value["zone_awareness_disabled"], bool):
        problems.append(f"{where}.zone_awareness_disabled: must be true or false")
    overrides = value.get("overrides", [])
    if not isinstance(overrides, list):
        return problems + [f"{where}.overrides: must be a list"]
    for position, override in enumerate(overrides):
        spot = f"{where}.overrides[{position}]"
        if not isinstance(override, dict):
            problems.append(f"{spot}: must be an object")
            continue
        problems += [f"{spot}: unknown key {key!r} (allowed: {', '.join(SHUFFLE_OVERRIDE_KEYS)})"
                     for key in override if key not in SHUFFLE_OVERRIDE_KEYS]
        if not _is_limit(override.get("shard_size", 0)):
            problems.append(f"{spot}.shard_size: must be a non-negative integer")
        matcher = override.get("tenant_matcher_type", "")
        if matcher not in ("",) + MATCHER_TYPES:
            problems.append(f"{spot}.tenant_matcher_type: must be one of {', '.join(MATCHER_TYPES)}")
        problems += _tenant_list_problems(f"{spot}.tenants", override.get("tenants", []), matcher)
    return problems


def validate_hashrings(document, source: str = "hashrings") -> None:
    """Raise ThanosConfigError listing every problem Thanos (or a safe reading of its routing) would have."""
    if not isinstance(document, list):
        raise ThanosConfigError(f"{source}: the hashrings document must be a JSON list", source=source)
    if not document:
        raise ThanosConfigError(f"{source}: Thanos refuses an empty hashrings list", source=source)
    problems = []
    names = {}
    exact_owner = {}
    for position, entry in enumerate(document):
        where = f"hashrings[{position}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be an object")
            continue
        name = entry.get("hashring")
        if isinstance(name, str) and name:
            where = f"hashring {name!r}"
        problems += [f"{where}: unknown key {key!r} (allowed: {', '.join(HASHRING_KEYS)})"
                     for key in entry if key not in HASHRING_KEYS]
        if not isinstance(name, str) or not name:
            problems.append(f"{where}: 'hashring' (its name) must be a non-empty string")
        elif name in names:
            problems.append(f"{where}: the name is used by hashrings[{names[name]}] too")
        else:
            names[name] = position
        matcher = entry.get("tenant_matcher_type", "")
        if matcher not in ("",) + MATCHER_TYPES:
            problems.append(f"{where}.tenant_matcher_type: {matcher!r} is not one of {', '.join(MATCHER_TYPES)}")
        tenants = entry.get("tenants", [])
        if tenants is None:
            tenants = []
        tenant_problems = _tenant_list_problems(f"{where}.tenants", tenants, matcher)
        problems += tenant_problems
        if not tenant_problems and matcher != "glob":
            for tenant in tenants:
                if tenant in exact_owner:
                    problems.append(f"tenant {tenant!r} is listed in hashring {exact_owner[tenant]!r} and {name!r}; "
                                    "a tenant must belong to exactly one hashring")
                else:
                    exact_owner[tenant] = name
        endpoints = entry.get("endpoints")
        if not isinstance(endpoints, list) or not endpoints:
            problems.append(f"{where}.endpoints: must be a non-empty list")
        else:
            for index, endpoint in enumerate(endpoints):
                problems += _endpoint_problems(f"{where}.endpoints[{index}]", endpoint)
            addresses = [endpoint_address(e) for e in endpoints if isinstance(e, (str, dict))]
            duplicates = sorted({a for a in addresses if addresses.count(a) > 1})
            if duplicates:
                problems.append(f"{where}.endpoints: {', '.join(duplicates)} listed more than once")
        if entry.get("algorithm", "") not in ("",) + ALGORITHMS:
            problems.append(f"{where}.algorithm: {entry['algorithm']!r} is not one of {', '.join(ALGORITHMS)}")
        labels = entry.get("external_labels", {})
        if not isinstance(labels, dict) or not all(
                isinstance(k, str) and _LABEL_NAME_PATTERN.match(k) and isinstance(v, str) for k, v in labels.items()):
            problems.append(f"{where}.external_labels: must map label names to string values")
        if "shuffle_sharding_config" in entry:
            problems += _shuffle_sharding_problems(f"{where}.shuffle_sharding_config", entry["shuffle_sharding_config"])
    catch_alls = [position for position, entry in enumerate(document) if isinstance(entry, dict) and is_catch_all(entry)]
    if catch_alls and catch_alls[0] != len(document) - 1:
        first = document[catch_alls[0]].get("hashring")
        problems.append(f"hashring {first!r} has no tenants, so it takes every tenant; the hashrings after it "
                        "can never receive one. A catch-all hashring must be the last one")
    if problems:
        raise ThanosConfigError(f"{source}: invalid hashrings: " + "; ".join(problems),
                                source=source, problems=problems)


def render_hashrings(document: list) -> str:
    return json.dumps(document, indent=2) + "\n"


def find_hashring(document: list, name: str):
    for entry in document:
        if entry.get("hashring") == name:
            return entry
    return None


def route_tenant(document: list, tenant: str):
    """The hashring Thanos sends ``tenant`` to: the first one whose tenants match, a catch-all included."""
    for entry in document:
        if _tenant_matches(entry, tenant):
            return entry.get("hashring")
    return None


def exact_tenants(document: list) -> dict:
    """Tenant id -> hashring name for every tenant listed by an exact-matching hashring."""
    owners = {}
    for entry in document:
        if entry.get("tenant_matcher_type") != "glob":
            for tenant in entry.get("tenants") or []:
                owners.setdefault(tenant, entry.get("hashring"))
    return owners


# ---------------------------------------------------------------- limits

if yaml is not None:
    class _StrictLoader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
        """SafeLoader that refuses duplicate mapping keys, like Go's yaml.UnmarshalStrict."""

    def _construct_mapping(loader, node, deep=False):
        loader.flatten_mapping(node)
        mapping = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in mapping:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            mapping[key] = loader.construct_object(value_node, deep=deep)
        return mapping

    _StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

    class _Dumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
        """Indents block lists under their key, the way the rest of the repository's YAML looks."""

        def increase_indent(self, flow=False, indentless=False):
            return super().increase_indent(flow, False)


def parse_limits(text, source: str) -> dict:
    """Parse and validate a limits document. A missing or empty document is ``{}`` (no limits)."""
    if text is None or not text.strip():
        return {}
    if yaml is None:  # pragma: no cover
        raise ThanosConfigError("the PyYAML library is required to read limits", source=source)
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # nosec B506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as err:
        raise ThanosConfigError(f"{source}: malformed limits YAML: {err}", source=source) from None
    if document is None:
        return {}
    validate_limits(document, source)
    return document


def _request_limit_problems(where: str, value) -> list:
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{where}: must be a mapping of {', '.join(REQUEST_LIMIT_KEYS)}"]
    problems = []
    for key, limit in value.items():
        if key not in REQUEST_LIMIT_KEYS:
            problems.append(f"{where}: unknown key {key!r} (allowed: {', '.join(REQUEST_LIMIT_KEYS)})")
        elif limit is not None and not _is_limit(limit):
            problems.append(f"{where}.{key}: {limit!r} is not a non-negative integer")
    return problems


def _write_limit_problems(where: str, value) -> list:
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{where}: must be a mapping with request and head_series_limit"]
    problems = [f"{where}: unknown key {key!r} (allowed: {', '.join(TENANT_LIMIT_KEYS)})"
                for key in value if key not in TENANT_LIMIT_KEYS]
    problems += _request_limit_problems(f"{where}.request", value.get("request"))
    head = value.get("head_series_limit")
    if head is not None and not _is_limit(head):
        problems.append(f"{where}.head_series_limit: {head!r} is not a non-negative integer")
    return problems


def validate_limits(document, source: str = "limits") -> None:
    """Raise ThanosConfigError unless Thanos's strict YAML reading would accept ``document``."""
    problems = []
    if not isinstance(document, dict):
        raise ThanosConfigError(f"{source}: the limits document must be a mapping with a 'write' key", source=source)
    problems += [f"unknown top-level key {key!r} (allowed: write)" for key in document if key != "write"]
    write = document.get("write")
    if write is not None and not isinstance(write, dict):
        problems.append("write: must be a mapping")
        write = None
    write = write or {}
    problems += [f"write: unknown key {key!r} (allowed: {', '.join(WRITE_LIMIT_KEYS)})"
                 for key in write if key not in WRITE_LIMIT_KEYS]
    global_limits = write.get("global") or {}
    if not isinstance(global_limits, dict):
        problems.append("write.global: must be a mapping")
        global_limits = {}
    problems += [f"write.global: unknown key {key!r} (allowed: {', '.join(GLOBAL_LIMIT_KEYS)})"
                 for key in global_limits if key not in GLOBAL_LIMIT_KEYS]
    if global_limits.get("max_concurrency") is not None and not _is_limit(global_limits["max_concurrency"]):
        problems.append("write.global.max_concurrency: must be a non-negative integer")
    url = global_limits.get("meta_monitoring_url")
    if url not in (None, ""):
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or not parsed.scheme or not parsed.netloc:
            problems.append(f"write.global.meta_monitoring_url: {url!r} needs a scheme and a host")
    if global_limits.get("meta_monitoring_limit_query") is not None and not isinstance(
            global_limits["meta_monitoring_limit_query"], str):
        problems.append("write.global.meta_monitoring_limit_query: must be a string")
    client = global_limits.get("meta_monitoring_http_client")
    if client is not None and not isinstance(client, dict):
        problems.append("write.global.meta_monitoring_http_client: must be a mapping")
    problems += _write_limit_problems("write.default", write.get("default"))
    tenants = write.get("tenants")
    if tenants is not None and not isinstance(tenants, dict):
        problems.append("write.tenants: must be a mapping of tenant id to limits")
        tenants = None
    for tenant, limits in (tenants or {}).items():
        if not isinstance(tenant, str) or not tenant:
            problems.append(f"write.tenants: key {tenant!r} must be a tenant id string")
            continue
        problems += _write_limit_problems(f"write.tenants.{tenant}", limits)
    if problems:
        raise ThanosConfigError(f"{source}: invalid limits: " + "; ".join(problems), source=source, problems=problems)


def render_limits(document: dict) -> str:
    if yaml is None:  # pragma: no cover
        raise ThanosConfigError("the PyYAML library is required to write limits")
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def tenant_limits(document: dict, tenant: str):
    """The tenant's own entry under write.tenants (a copy), or None."""
    tenants = ((document or {}).get("write") or {}).get("tenants") or {}
    if tenant not in tenants:
        return None
    return copy.deepcopy(tenants[tenant]) if tenants[tenant] is not None else {}


def limits_tenants(document: dict) -> list:
    return list((((document or {}).get("write") or {}).get("tenants") or {}).keys())


def effective_limits(document: dict, tenant: str) -> dict:
    """What receive enforces for ``tenant``: its own values, each unset one taken from write.default (0 = none)."""
    write = (document or {}).get("write") or {}
    default = write.get("default") or {}
    default_request = default.get("request") or {}
    own = tenant_limits(document, tenant) or {}
    own_request = own.get("request") or {}
    request = {}
    for key in REQUEST_LIMIT_KEYS:
        value = own_request.get(key)
        request[key] = value if value is not None else (default_request.get(key) or 0)
    head = own.get("head_series_limit")
    return {
        "request": request,
        "head_series_limit": head if head is not None else (default.get("head_series_limit") or 0),
    }


def head_series_limits_enforced(document: dict) -> bool:
    """Thanos enforces head_series_limit only when write.global.meta_monitoring_url is set."""
    return bool((((document or {}).get("write") or {}).get("global") or {}).get("meta_monitoring_url"))


def requested_limits_entry(limits):
    """Turn the module's ``limits`` option into a write.tenants entry (None values dropped).

    Returns None when nothing is set, meaning "no entry: use write.default".
    """
    if limits is None:
        return None
    if not isinstance(limits, dict):
        raise ThanosConfigError("limits: must be a mapping with request and head_series_limit", field="limits")
    problems = _write_limit_problems("limits", limits)
    if problems:
        raise ThanosConfigError("; ".join(problems), field="limits", problems=problems)
    entry = {}
    request = {key: value for key, value in (limits.get("request") or {}).items() if value is not None}
    if request:
        entry["request"] = {key: request[key] for key in REQUEST_LIMIT_KEYS if key in request}
    if limits.get("head_series_limit") is not None:
        entry["head_series_limit"] = limits["head_series_limit"]
    return entry or None
