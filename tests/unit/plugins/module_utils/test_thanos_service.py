"""TenantService over the file store: plan, diff, check mode, idempotence, conflicts."""

from __future__ import annotations

import json

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._thanos import config
from ansible_collections.meridian.observability.plugins.module_utils._thanos.errors import (
    ThanosConfigError,
    ThanosConflictError,
    ThanosStoreError,
)
from ansible_collections.meridian.observability.plugins.module_utils._thanos.service import MAX_ATTEMPTS, TenantService
from ansible_collections.meridian.observability.plugins.module_utils._thanos.store import FileStore

NODE = {"address": "127.0.0.1:10901", "capnproto_address": "127.0.0.1:19391"}
LIMITS = "# hand-written\nwrite:\n  default:\n    request:\n      series_limit: 100\n  tenants:\n    other:\n      head_series_limit: 7\n"


@pytest.fixture
def files(tmp_path):
    hashrings = tmp_path / "hashrings.json"
    limits = tmp_path / "limits.yaml"
    hashrings.write_text(json.dumps([
        {"hashring": "tenants", "tenants": ["other"], "endpoints": [NODE], "algorithm": "hashmod"},
        {"hashring": "default", "endpoints": [NODE]},
    ]))
    limits.write_text(LIMITS)
    return hashrings, limits


def service(files):
    return TenantService(FileStore(str(files[0]), str(files[1])))


def request(**overrides):
    base = {"name": "acme", "state": "present", "hashring": "tenants", "hashring_endpoints": None,
            "limits": {"head_series_limit": None, "request": {"series_limit": 1, "samples_limit": None,
                                                              "size_bytes_limit": None}}}
    base.update(overrides)
    return base


def snapshot(files):
    return tuple(path.read_bytes() for path in files)


def test_check_mode_reports_without_writing(files):
    before = snapshot(files)
    result = service(files).ensure(request(), check_mode=True, want_diff=True)
    assert result["changed"] and result["hashrings_changed"] and result["limits_changed"]
    assert snapshot(files) == before
    hashrings_diff, limits_diff = result["diff"]
    assert '"acme"' not in hashrings_diff["before"] and '"acme"' in hashrings_diff["after"]
    assert "acme:" in limits_diff["after"] and "acme:" not in limits_diff["before"]
    assert hashrings_diff["before_header"] == str(files[0])


def test_apply_then_idempotent(files):
    first = service(files).ensure(request())
    assert first["changed"]
    assert first["tenant"]["hashring"] == "tenants"
    assert first["tenant"]["effective_limits"]["request"] == {"size_bytes_limit": 0, "series_limit": 1, "samples_limit": 0}
    after_first = snapshot(files)
    for check_mode in (True, False):
        again = service(files).ensure(request(), check_mode=check_mode)
        assert not again["changed"]
    assert snapshot(files) == after_first
    hashrings = json.loads(files[0].read_text())
    assert hashrings[0]["tenants"] == ["other", "acme"] and hashrings[0]["algorithm"] == "hashmod"
    limits = config.parse_limits(files[1].read_text(), "l")
    assert limits["write"]["tenants"]["other"] == {"head_series_limit": 7}  # untouched
    assert limits["write"]["default"] == {"request": {"series_limit": 100}}


def test_limits_only_change_leaves_hashrings_file_alone(files):
    service(files).ensure(request())
    hashrings_bytes = files[0].read_bytes()
    result = service(files).ensure(request(limits={"request": {"series_limit": 2}}))
    assert result["changed"] and result["limits_changed"] and not result["hashrings_changed"]
    assert files[0].read_bytes() == hashrings_bytes


def test_omitted_limits_are_left_alone_and_empty_limits_remove_the_entry(files):
    service(files).ensure(request())
    assert not service(files).ensure(request(limits=None))["changed"]
    result = service(files).ensure(request(limits={}))
    assert result["changed"] and result["tenant"]["limits"] is None
    assert "acme" not in config.parse_limits(files[1].read_text(), "l")["write"]["tenants"]


def test_absent_removes_from_both_and_is_idempotent(files):
    service(files).ensure(request())
    result = service(files).ensure(request(state="absent", hashring=None, limits=None), want_diff=True)
    assert result["changed"] and result["tenant"] == {"name": "acme", "state": "absent"}
    assert "acme" not in files[0].read_text() and "acme" not in files[1].read_text()
    assert "other" in files[0].read_text()
    assert not service(files).ensure(request(state="absent", limits=None))["changed"]


def test_last_tenant_leaving_removes_its_hashring(files):
    result = service(files).ensure(request(name="other", state="absent", limits=None))
    assert result["removed_hashrings"] == ["tenants"]
    assert [r["hashring"] for r in json.loads(files[0].read_text())] == ["default"]


def test_unknown_hashring_is_an_error_and_nothing_changes(files):
    before = snapshot(files)
    with pytest.raises(ThanosConfigError, match="hashring 'gold' does not exist .*hashring_endpoints"):
        service(files).ensure(request(hashring="gold"))
    assert snapshot(files) == before


def test_hashring_endpoints_create_a_hashring_before_the_catch_all(files):
    endpoints = [{"address": "r-0:10901", "capnproto_address": None, "az": "a"}]
    result = service(files).ensure(request(hashring="gold", hashring_endpoints=endpoints))
    assert result["created_hashring"] == "gold"
    names = [r["hashring"] for r in json.loads(files[0].read_text())]
    assert names == ["tenants", "gold", "default"]
    again = service(files).ensure(request(hashring="gold", hashring_endpoints=endpoints))
    assert not again["changed"] and again["created_hashring"] is None
    with pytest.raises(ThanosConfigError, match="other endpoints"):
        service(files).ensure(request(hashring="gold", hashring_endpoints=[{"address": "r-1:10901"}]))


def test_moving_a_tenant_between_hashrings(files):
    service(files).ensure(request(hashring="gold", hashring_endpoints=[{"address": "r-0:10901"}]))
    service(files).ensure(request(hashring="tenants"))
    rings = {r["hashring"]: r.get("tenants") for r in json.loads(files[0].read_text())}
    assert rings == {"tenants": ["other", "acme"], "default": None}  # gold emptied and removed


def test_catch_all_hashring_is_refused(files):
    with pytest.raises(ThanosConfigError, match="no tenant list"):
        service(files).ensure(request(hashring="default"))


def test_glob_hashring_shadowing_is_refused(files, tmp_path):
    files[0].write_text(json.dumps([
        {"hashring": "teams", "tenants": ["ac*"], "tenant_matcher_type": "glob", "endpoints": [NODE]},
        {"hashring": "tenants", "tenants": ["other"], "endpoints": [NODE]},
    ]))
    with pytest.raises(ThanosConfigError, match="still be routed to hashring 'teams'"):
        service(files).ensure(request())


def test_bad_requests_fail_before_reading(tmp_path):
    store = FileStore(str(tmp_path / "missing.json"), str(tmp_path / "l.yaml"))
    with pytest.raises(ThanosConfigError, match="DNS-1123"):
        TenantService(store).ensure(request(name="Bad_Name"))
    with pytest.raises(ThanosConfigError, match="series_limit"):
        TenantService(store).ensure(request(limits={"request": {"series_limit": -1}}))
    with pytest.raises(ThanosStoreError, match="does not exist"):
        TenantService(store).ensure(request())


def test_malformed_existing_document_is_refused(files):
    files[1].write_text("write:\n  tenants:\n    x: {request: {series_limit: -3}}\n")
    before = snapshot(files)
    with pytest.raises(ThanosConfigError, match="write.tenants.x.request.series_limit"):
        service(files).ensure(request())
    assert snapshot(files) == before


def test_head_series_limit_without_meta_monitoring_warns(files):
    result = service(files).ensure(request(limits={"head_series_limit": 10}), check_mode=True)
    assert result["warnings"] and "meta_monitoring_url" in result["warnings"][0]


def test_info_lists_tenants_with_effective_limits(files):
    service(files).ensure(request())
    info = service(files).info()
    tenants = {t["name"]: t for t in info["tenants"]}
    assert set(tenants) == {"acme", "other"}
    assert tenants["acme"]["effective_limits"]["request"]["series_limit"] == 1
    assert tenants["other"]["effective_limits"] == {
        "request": {"size_bytes_limit": 0, "series_limit": 100, "samples_limit": 0}, "head_series_limit": 7}
    assert [h["name"] for h in info["hashrings"]] == ["tenants", "default"]
    assert info["hashrings"][1]["catch_all"]
    assert [t["name"] for t in service(files).info(name="acme")["tenants"]] == ["acme"]
    assert service(files).info(name="nobody")["tenants"] == []


class ConflictingStore(FileStore):
    """Simulates another writer landing between our read and our write ``conflicts`` times."""

    def __init__(self, hashrings, limits, conflicts):
        super().__init__(hashrings, limits)
        self.conflicts = conflicts
        self.writes = 0

    def write(self, snapshot, changes):
        self.writes += 1
        if self.conflicts:
            self.conflicts -= 1
            document = json.loads(open(self.paths["hashrings"]).read())
            document[0]["tenants"].append(f"concurrent-{self.conflicts}")
            with open(self.paths["hashrings"], "w") as handle:
                json.dump(document, handle)
        super().write(snapshot, changes)


def test_conflict_is_retried_and_keeps_the_other_writers_change(files):
    store = ConflictingStore(str(files[0]), str(files[1]), conflicts=2)
    result = TenantService(store).ensure(request())
    assert result["attempts"] == 3
    tenants = json.loads(files[0].read_text())[0]["tenants"]
    assert set(tenants) == {"other", "concurrent-1", "concurrent-0", "acme"}


def test_conflicts_are_bounded(files):
    store = ConflictingStore(str(files[0]), str(files[1]), conflicts=MAX_ATTEMPTS)
    with pytest.raises(ThanosConflictError):
        TenantService(store).ensure(request())
