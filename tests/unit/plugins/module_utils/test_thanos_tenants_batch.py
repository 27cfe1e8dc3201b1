"""TenantService.ensure_tenants (thanos_tenants): many tenants, one read, at most one write, per-tenant diffs."""

from __future__ import annotations

import json

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._thanos.errors import ThanosConfigError
from ansible_collections.meridian.observability.plugins.module_utils._thanos.service import TenantService
from ansible_collections.meridian.observability.plugins.module_utils._thanos.store import FileStore

NODE = {"address": "127.0.0.1:10901", "capnproto_address": "127.0.0.1:19391"}
LIMITS = "write:\n  default:\n    request:\n      series_limit: 100\n  tenants:\n    other:\n      head_series_limit: 7\n"


class CountingStore(FileStore):
    """The file store, counting the service's reads and writes of it."""

    def __init__(self, *paths) -> None:
        super().__init__(*paths)
        self.reads = 0
        self.writes = []

    def read(self):
        self.reads += 1
        return super().read()

    def write(self, snapshot, changes):
        self.writes.append([kind for kind, _text in changes])
        super().write(snapshot, changes)


@pytest.fixture
def files(tmp_path):
    hashrings = tmp_path / "hashrings.json"
    limits = tmp_path / "limits.yaml"
    hashrings.write_text(json.dumps([
        {"hashring": "tenants", "tenants": ["other"], "endpoints": [NODE]},
        {"hashring": "default", "endpoints": [NODE]},
    ]))
    limits.write_text(LIMITS)
    return hashrings, limits


def store(files) -> CountingStore:
    return CountingStore(str(files[0]), str(files[1]))


def limits(series: int) -> dict:
    return {"head_series_limit": None, "request": {"series_limit": series, "samples_limit": None, "size_bytes_limit": None}}


def tenant(name: str, series: int = 10, **overrides) -> dict:
    return dict({"name": name, "state": "present", "hashring": None, "hashring_endpoints": None,
                 "limits": limits(series)}, **overrides)


def snapshot(files):
    return tuple(path.read_bytes() for path in files)


DEFAULTS = {"hashring": "gold", "hashring_endpoints": [{"address": "r-0:10901"}]}
BATCH = [tenant(f"t{n:02d}", series=n) for n in range(1, 21)] + [tenant("other", state="absent", limits=None)]


def test_a_batch_is_one_read_and_one_write_and_a_rerun_writes_nothing(files):
    first_store = store(files)
    first = TenantService(first_store).ensure_tenants(BATCH, DEFAULTS, want_diff=True)
    assert first["changed"] and first_store.reads == 1 and first_store.writes == [["limits", "hashrings"]]
    assert first["created_hashrings"] == ["gold"] and first["removed_hashrings"] == ["tenants"]
    assert first["tenants"]["t07"] == {"changed": True, "name": "t07", "state": "present", "hashring": "gold",
                                       "listed": True, "limits": {"request": {"series_limit": 7}},
                                       "effective_limits": {"request": {"size_bytes_limit": 0, "series_limit": 7,
                                                                        "samples_limit": 0}, "head_series_limit": 0}}
    hashrings = json.loads(files[0].read_text())
    assert [ring["hashring"] for ring in hashrings] == ["gold", "default"]
    assert hashrings[0]["tenants"] == [f"t{n:02d}" for n in range(1, 21)]

    rerun_store = store(files)
    before = snapshot(files)
    rerun = TenantService(rerun_store).ensure_tenants(BATCH, DEFAULTS, want_diff=True)
    assert not rerun["changed"] and rerun["diff"] == [] and rerun_store.reads == 1 and rerun_store.writes == []
    assert not any(entry["changed"] for entry in rerun["tenants"].values()) and snapshot(files) == before


def test_diff_has_one_entry_per_changed_tenant_headed_with_its_name(files):
    TenantService(store(files)).ensure_tenants([tenant("acme"), tenant("globex")], {"hashring": "tenants"})
    result = TenantService(store(files)).ensure_tenants(
        [tenant("acme"), tenant("globex", series=99), tenant("initech", state="absent", limits=None)],
        {"hashring": "tenants"}, want_diff=True)
    assert [entry["before_header"] for entry in result["diff"]] == ["thanos tenant globex"]
    assert result["diff"][0] == {"before_header": "thanos tenant globex", "after_header": "thanos tenant globex",
                                 "before": {"hashring": "tenants", "limits": {"request": {"series_limit": 10}}},
                                 "after": {"hashring": "tenants", "limits": {"request": {"series_limit": 99}}}}
    assert [name for name, entry in result["tenants"].items() if entry["changed"]] == ["globex"]
    assert result["tenants"]["initech"] == {"changed": False, "name": "initech", "state": "absent"}


def test_check_mode_predicts_exactly_what_the_run_does(files):
    before = snapshot(files)
    checking = store(files)
    predicted = TenantService(checking).ensure_tenants(BATCH, DEFAULTS, check_mode=True, want_diff=True)
    assert snapshot(files) == before and checking.writes == []
    applied = TenantService(store(files)).ensure_tenants(BATCH, DEFAULTS, want_diff=True)
    assert predicted == applied
    headers = [entry["before_header"] for entry in applied["diff"]]
    assert headers == [f"thanos tenant t{n:02d}" for n in range(1, 21)] + ["thanos tenant other", "thanos hashring gold",
                                                                           "thanos hashring tenants"]


def test_only_removing_writes_routing_before_limits(files):
    counting = store(files)
    TenantService(counting).ensure_tenants([tenant("other", state="absent", limits=None)], {"hashring": "tenants"})
    assert counting.writes == [["hashrings", "limits"]]


class UnreadableStore(FileStore):
    def read(self):
        raise AssertionError("the store was read before the input was validated")


@pytest.mark.parametrize("requests,messages", [
    ([tenant("acme"), tenant("Acme")], ["tenants[1].name: 'Acme' is not a DNS-1123 label"]),
    ([tenant("acme"), tenant("globex"), tenant("acme")],
     ["tenants[2].name: 'acme' is listed more than once (first as tenants[0].name)"]),
    ([tenant("acme", limits={"request": {"series_limit": -1}})], ["tenants[0].limits.request.series_limit: -1"]),
    ([tenant("a" * 41), tenant("b", limits={"head_series_limit": "x"})],
     ["tenants[0].name:", "the limit is 40", "tenants[1].limits.head_series_limit"]),
])
def test_bad_input_names_the_field_and_nothing_is_read(tmp_path, requests, messages):
    with pytest.raises(ThanosConfigError) as raised:
        TenantService(UnreadableStore(str(tmp_path / "h.json"), str(tmp_path / "l.yaml"))).ensure_tenants(
            requests, {"hashring": "tenants"})
    for message in messages:
        assert message in str(raised.value)
    assert str(raised.value).endswith("nothing was changed") and raised.value.details["converged"] == []


def test_a_present_tenant_without_any_hashring_is_refused(tmp_path):
    with pytest.raises(ThanosConfigError, match=r"tenants\[0\].hashring: required when state is present"):
        TenantService(UnreadableStore(str(tmp_path / "h"), str(tmp_path / "l"))).ensure_tenants([tenant("acme")])


def test_the_valid_twin_of_the_bad_inputs_passes(files):
    result = TenantService(store(files)).ensure_tenants([tenant("acme"), tenant("globex")], {"hashring": "tenants"})
    assert result["changed"] and sorted(result["tenants"]) == ["acme", "globex"]


def test_a_tenant_the_documents_refuse_fails_naming_it_and_nothing_is_written(files):
    before = snapshot(files)
    counting = store(files)
    with pytest.raises(ThanosConfigError) as raised:
        TenantService(counting).ensure_tenants(
            [tenant("acme"), tenant("globex", hashring="platinum"), tenant("initech")], {"hashring": "tenants"})
    message = str(raised.value)
    assert message.startswith("tenant globex: placing it in hashring 'platinum' failed: hashring 'platinum' does not exist")
    assert raised.value.details["tenant"] == "globex" and raised.value.details["converged"] == []
    assert counting.writes == [] and snapshot(files) == before
    # Fixed, the same call converges every tenant.
    fixed = TenantService(store(files)).ensure_tenants([tenant("acme"), tenant("globex"), tenant("initech")],
                                                       {"hashring": "tenants"})
    assert [name for name, entry in fixed["tenants"].items() if entry["changed"]] == ["acme", "globex", "initech"]


def test_a_tenant_in_the_catch_all_is_refused_by_name(files):
    with pytest.raises(ThanosConfigError, match="^tenant acme: placing it in hashring 'default' failed: .*no tenant list"):
        TenantService(store(files)).ensure_tenants([tenant("acme", hashring="default")])


def test_per_tenant_hashring_overrides_the_default_and_warnings_name_tenants(files):
    result = TenantService(store(files)).ensure_tenants(
        [tenant("acme", limits={"head_series_limit": 5}), tenant("globex", hashring="gold",
                                                                 hashring_endpoints=[{"address": "r-1:10901"}])],
        {"hashring": "tenants"})
    assert result["tenants"]["acme"]["hashring"] == "tenants" and result["tenants"]["globex"]["hashring"] == "gold"
    assert result["created_hashrings"] == ["gold"]
    assert result["warnings"] and "head_series_limit is set for acme but" in result["warnings"][0]
