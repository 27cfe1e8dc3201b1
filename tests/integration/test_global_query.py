"""The global view: thanos-query-global in the hub region fans out to both regions' queries.

Each tenant writes into each region's receive; through the one global endpoint a tenant sees its own series from
both regions (told apart by the receive's `region` external label) and nothing of another tenant's. Without the
tenant header the global query, like the regional ones (--query.enforce-tenancy), runs as the default tenant: it
sees exactly what was written without a header and nothing of any named tenant.
"""

from __future__ import annotations

import time

import pytest
import requests

from lab import remote_write

pytestmark = pytest.mark.lab

REGIONS = ("us-east-1", "eu-west-1")
TENANTS = ("acme", "globex")
METRIC = "lab_test_global_view"
POLL_SECONDS = 60


def _query(url: str, header: str, promql: str, tenant: str | None) -> list[dict]:
    response = requests.get(f"{url}/api/v1/query", params={"query": promql},
                            headers={header: tenant} if tenant else {}, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def _seen(result: list[dict], tenant_label: str) -> set[tuple[str, str, str]]:
    """(region, tenant label, writer) of every series in a result."""
    return {(series["metric"]["region"], series["metric"][tenant_label], series["metric"]["writer"])
            for series in result}


@pytest.fixture(scope="module")
def written(lab) -> dict:
    """One series per (tenant, region), and one without a tenant header per region, all of one run."""
    run = f"global-{time.time_ns()}"
    header = lab["regions"]["us-east-1"]["thanos"]["tenant_header"]
    for region in REGIONS:
        url = lab["regions"][region]["thanos"]["remote_write_url"]
        for tenant in (*TENANTS, None):
            writer = tenant or "nobody"
            labels = {"__name__": METRIC, "run": run, "writer": writer}
            status, body = remote_write.push(url, [(labels, [(1.0, remote_write.now_ms())])],
                                             headers={header: tenant} if tenant else {})
            assert status == 200, f"{region} receive refused {writer}'s write: HTTP {status} {body[:200]!r}"
    return {"run": run, "header": header, "url": lab["thanos_query_global"],
            "tenant_label": lab["regions"]["us-east-1"]["thanos"]["tenant_label"],
            "default_tenant": lab["regions"]["us-east-1"]["thanos"]["default_tenant"]}


def _poll(written: dict, tenant: str | None, want: int) -> list[dict]:
    """The global query's answer once it holds ``want`` series (receive makes a write queryable within seconds)."""
    promql = f'{METRIC}{{run="{written["run"]}"}}'
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        result = _query(written["url"], written["header"], promql, tenant)
        if len(result) >= want or time.monotonic() > deadline:
            return result
        time.sleep(1)


def test_global_endpoint_is_the_hub_query(lab):
    assert lab["services"]["thanos-query-global"]["region"] == "us-east-1"
    assert lab["thanos_query_global"] == lab["services"]["thanos-query-global"]["endpoint"]
    assert lab["thanos_query_global"] not in {lab["regions"][r]["thanos"]["query_url"] for r in REGIONS}


@pytest.mark.parametrize("tenant", TENANTS)
def test_a_tenant_sees_its_series_from_both_regions_and_no_other_tenants(written, tenant):
    result = _poll(written, tenant, want=2)
    assert _seen(result, written["tenant_label"]) == {(region, tenant, tenant) for region in REGIONS}


@pytest.mark.parametrize("tenant", TENANTS)
def test_a_matcher_naming_another_tenant_does_not_widen_the_view(written, tenant):
    other = next(name for name in TENANTS if name != tenant)
    _poll(written, tenant, want=2)  # the tenant's own series are queryable by now
    promql = f'{METRIC}{{run="{written["run"]}", {written["tenant_label"]}="{other}"}}'
    result = _query(written["url"], written["header"], promql, tenant)
    assert {series["metric"][written["tenant_label"]] for series in result} <= {tenant}
    assert all(series["metric"]["writer"] == tenant for series in result)


def test_without_a_tenant_header_the_query_runs_as_the_default_tenant(written):
    # The series written without a header are stored as the default tenant in each region: exactly those.
    result = _poll(written, None, want=2)
    assert _seen(result, written["tenant_label"]) == {(region, written["default_tenant"], "nobody")
                                                     for region in REGIONS}
