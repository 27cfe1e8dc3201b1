"""Thanos per region: receive stores each tenant apart; query with enforced tenancy
returns only the asking tenant's series; limits reload from the file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
import yaml

from lab import remote_write

pytestmark = pytest.mark.lab

POLL_SECONDS = 60


def _query(thanos: dict, promql: str, tenant: str | None) -> list[dict]:
    headers = {thanos["tenant_header"]: tenant} if tenant else {}
    response = requests.get(f"{thanos['query_url']}/api/v1/query", params={"query": promql},
                            headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    return body["data"]["result"]


def _poll(thanos: dict, promql: str, tenant: str | None, timeout: float = POLL_SECONDS) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        result = _query(thanos, promql, tenant)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(1)


def _push(thanos: dict, tenant: str, labels: dict[str, str], value: float = 1.0) -> int:
    status, body = remote_write.push(
        thanos["remote_write_url"], [(labels, [(value, remote_write.now_ms())])],
        headers={thanos["tenant_header"]: tenant})
    return status


def test_query_returns_only_the_tenants_series(lab, region, unique):
    thanos = lab["regions"][region]["thanos"]
    metric = "lab_test_samples"
    for tenant, value in (("a", 1.0), ("b", 2.0)):
        status = _push(thanos, tenant, {"__name__": metric, "run": unique, "writer": tenant}, value)
        assert status == 200, f"receive refused tenant {tenant}'s write: HTTP {status}"

    promql = f'{metric}{{run="{unique}"}}'
    for tenant, value in (("a", "1"), ("b", "2")):
        result = _poll(thanos, promql, tenant)
        assert len(result) == 1, f"tenant {tenant} sees {result}"
        series = result[0]
        assert series["metric"]["writer"] == tenant
        assert series["metric"][thanos["tenant_label"]] == tenant
        assert series["metric"]["region"] == region  # receive's external label
        assert series["value"][1] == value

    # A matcher naming the other tenant does not widen the view: query replaces it.
    sneaky = _query(thanos, f'{metric}{{run="{unique}", tenant_id="b"}}', "a")
    assert {(s["metric"]["writer"], s["metric"][thanos["tenant_label"]]) for s in sneaky} <= {("a", "a")}
    # Without the header the query runs as the default tenant, which wrote nothing.
    assert _query(thanos, promql, None) == []


def test_regions_do_not_share_series(lab, unique):
    east = lab["regions"]["us-east-1"]["thanos"]
    west = lab["regions"]["eu-west-1"]["thanos"]
    assert _push(east, "a", {"__name__": "lab_test_region", "run": unique}) == 200
    assert _poll(east, f'lab_test_region{{run="{unique}"}}', "a")
    assert _query(west, f'lab_test_region{{run="{unique}"}}', "a") == []


def test_limits_file_is_reloaded(lab, region, unique):
    thanos = lab["regions"][region]["thanos"]
    limits_path = Path(thanos["limits_file"])
    original = limits_path.read_text()
    tenant = f"limited-{unique}"
    limits = yaml.safe_load(original)
    limits["write"].setdefault("tenants", {})
    limits["write"]["tenants"] = dict(limits["write"]["tenants"] or {})
    limits["write"]["tenants"][tenant] = {"request": {"series_limit": 1}}
    two_series = [({"__name__": "lab_test_limited", "run": unique, "n": str(n)},
                   [(1.0, remote_write.now_ms())]) for n in range(2)]
    headers = {thanos["tenant_header"]: tenant}
    try:
        limits_path.write_text(yaml.safe_dump(limits))
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            status, _ = remote_write.push(thanos["remote_write_url"], two_series, headers=headers)
            if status == 413:
                break
            time.sleep(0.5)
        assert status == 413, f"receive never applied the new limit (last HTTP {status})"
        # One series is within the limit.
        status, _ = remote_write.push(thanos["remote_write_url"], two_series[:1], headers=headers)
        assert status == 200
    finally:
        limits_path.write_text(original)


def test_prometheus_remote_writes_as_platform_tenant(lab, region):
    thanos = lab["regions"][region]["thanos"]
    prometheus = lab["regions"][region]["prometheus"]
    ready = requests.get(f"{prometheus['url']}/-/ready", timeout=10)
    assert ready.status_code == 200
    # Scrape every 15 s, then a remote-write batch: allow a couple of minutes when cold.
    result = _poll(thanos, 'up{job="prometheus"}', prometheus["remote_write_tenant"], timeout=120)
    assert result, "no sample from Prometheus reached Thanos as the platform tenant"
    assert {series["metric"][thanos["tenant_label"]] for series in result} == {"platform"}
    assert _query(thanos, 'up{job="prometheus"}', "a") == []
