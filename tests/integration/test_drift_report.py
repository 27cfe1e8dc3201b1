"""The drift report on the lab: empty after a converge, and naming each hand-made difference by region and layer.

The module converges both regions with site.yml (a no-change run when another suite already did), runs
`python -m delivery.drift` over the whole lab (every layer, both regions) and expects exit 0 and an empty report.
Then it changes two things by hand, the way an operator with access would:
  * acme's request series limit in us-east-1's Thanos limits (the lab's receive reads the limits file the tenant
    layer keeps through thanos_tenants);
  * acme's pod quota in eu-west-1's cluster. A direct edit of the ResourceQuota would be reverted by the tenant
    operator within its resync, before any report could see it, so the edit goes to the Tenant object the operator
    reconciles the quota from: the cluster's declared quota then differs from the topology.
The second report must exit 2 and name exactly those two, each under its region and the tenant layer. It runs with
`--tags tenant` (19 s; a full run measured 134-154 s): the first, full report proved minutes earlier that every other
layer reports nothing after the converge, and no other layer reads what the hand changes touch (the observability
layer keeps its copy of the Thanos tenants in the region's ConfigMap, not in the lab's receive file; the Tenant
object is the tenant layer's alone, the quota it makes is the operator's), so a second full run would add ~115 s of
CI for no new evidence. The module restores both with tenants.yml.

Measured on the shared lab (2 cores, other suites running): 473-489 s in all; the converge (site.yml per region, hub
first, as a first converge needs) about 315 s of it when already converged, the full drift run 134-154 s.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from tests.support.ansible import REPO, ansible_env, recap, run_ansible

HUB, SPOKE = "us-east-1", "eu-west-1"
TENANT = "acme"
GROUP, VERSION, PLURAL = "observability.meridian.io", "v1alpha1", "tenants"
HAND_SERIES_LIMIT = 12345
HAND_PODS = 150


def drift(output, *extra: str) -> tuple[int, dict, str, str]:
    """Run the drift CLI; (exit code, drift.json, drift.md, the CLI's stdout: ansible-playbook's output, then the
    Markdown). A failed assertion shows the tail of the output."""
    completed = subprocess.run([sys.executable, "-m", "delivery.drift", "--inventory", "inventories/lab",
                                "--output", str(output), *extra],
                               cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=900, check=False)
    report_path = output / "drift.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    markdown = (output / "drift.md").read_text() if (output / "drift.md").exists() else ""
    return completed.returncode, report, markdown, completed.stdout + "\n" + completed.stderr[-3000:]


@pytest.fixture(scope="module")
def converged(lab):
    for region in (HUB, SPOKE):  # the hub first, as a first converge needs
        result = run_ansible("ansible-playbook", "playbooks/site.yml", "-i", "inventories/lab", "-l", region)
        assert recap(result.stdout, region)["failed"] == 0
    return lab


@pytest.fixture(scope="module")
def limits_path(converged):
    return REPO / ".lab" / "thanos" / HUB / "limits.yaml"


@pytest.fixture(scope="module")
def tenants_api(converged):
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=converged["regions"][SPOKE]["kubernetes"]["kubeconfig"])
    yield client.CustomObjectsApi(api)
    api.close()


def test_after_a_converge_the_report_is_empty(converged, tmp_path):
    code, report, markdown, output = drift(tmp_path)
    assert code == 0, f"drift after a converge exited {code}:\n{output[-8000:]}"
    assert report["environment"] == "lab" and report["playbook"] == "drift.yml"
    assert report["changes"] == [] and report["failures"] == [] and report["summary"] == {}
    assert report["counts"] == {"changes": 0, "failures": 0}
    assert "No drift" in markdown
    # Empty because every layer ran in check mode and found nothing, not because something was skipped: the AWS
    # layers (network, eks: moto) too, whose check mode is where a lying "changed" would show first.
    for play in ("Converge the network layer of each region", "Converge the eks layer of each region",
                 "Converge the Kubernetes platform layers of each region",
                 "Onboard, change or offboard the tenants of each region"):
        assert f"PLAY [{play}]" in output, play
    for role in ("network", "eks", "argocd", "observability", "keycloak", "istio", "tenant"):
        assert f"TASK [meridian.observability.{role} : " in output, role
    for region in (HUB, SPOKE):
        counters = recap(output, region)
        assert counters["ok"] > 0 and counters["changed"] == 0 and counters["failed"] == 0, (region, counters)
        assert counters["unreachable"] == 0
    assert "drift: none, every layer of every region matches the topology" in output


def hand_edited_series_limit(text: str, tenant: str, value: int) -> str:
    """The limits file as an operator leaves it after changing one line in an editor: the tenant's request
    series_limit, every other byte as it was."""
    tenant_block_series_limit = re.compile(rf"(^    {re.escape(tenant)}:\n(?:      .*\n)*?        series_limit: )\d+",
                                           re.M)
    edited, count = tenant_block_series_limit.subn(rf"\g<1>{value}", text)
    assert count == 1, f"no series_limit line of {tenant} in:\n{text}"
    return edited


def test_hand_changes_are_named_by_region_and_layer(converged, limits_path, tenants_api, tmp_path):
    original_limits = limits_path.read_text()
    limits = yaml.safe_load(original_limits)
    assert limits["write"]["tenants"][TENANT]["request"]["series_limit"] != HAND_SERIES_LIMIT
    limits["write"]["tenants"][TENANT]["request"]["series_limit"] = HAND_SERIES_LIMIT
    edited_limits = hand_edited_series_limit(original_limits, TENANT, HAND_SERIES_LIMIT)
    assert yaml.safe_load(edited_limits) == limits  # that one value changed, nothing else
    original_spec = tenants_api.get_cluster_custom_object(GROUP, VERSION, PLURAL, TENANT)["spec"]
    original_pods = original_spec["quotas"]["pods"]
    assert original_pods != HAND_PODS
    try:
        limits_path.write_text(edited_limits)
        tenants_api.patch_cluster_custom_object(GROUP, VERSION, PLURAL, TENANT,
                                                {"spec": {"quotas": {"pods": HAND_PODS}}})

        code, report, markdown, output = drift(tmp_path, "--tags", "tenant")

        assert code == 2, f"drift with two hand changes exited {code}:\n{output[-8000:]}"
        assert report["failures"] == [] and report["counts"] == {"changes": 2, "failures": 0}
        assert {(change["region"], change["layer"]) for change in report["changes"]} == {(HUB, "tenant"),
                                                                                          (SPOKE, "tenant")}
        assert report["summary"] == {SPOKE: {"tenant": 1}, HUB: {"tenant": 1}}
        [limit_change] = [change for change in report["changes"] if change["region"] == HUB]
        assert limit_change["item"] == TENANT and limit_change["task"].startswith("Thanos |")
        # thanos_tenants' diff is the tenant's entry before and after (as JSON), one entry per changed tenant.
        assert f"thanos tenant {TENANT}" in limit_change["diff"]
        assert re.search(rf'^-\s+"series_limit": {HAND_SERIES_LIMIT},?$', limit_change["diff"], re.M), limit_change["diff"]
        assert re.search(r'^\+\s+"series_limit": \d+,?$', limit_change["diff"], re.M), limit_change["diff"]
        [quota_change] = [change for change in report["changes"] if change["region"] == SPOKE]
        assert quota_change["task"] == "Onboard | Apply the Tenant of every present tenant whose object differs"
        # Only the hand-changed Tenant is applied (the others match their LIST entry), and the report names it.
        assert quota_change["item"] == f"Tenant/{TENANT}"
        assert re.search(rf'^-\s+"pods": {HAND_PODS},?$', quota_change["diff"], re.M), quota_change["diff"]
        assert f"| {HUB} | tenant | 1 |" in markdown and f"| {SPOKE} | tenant | 1 |" in markdown
        assert f"## {HUB}" in markdown and f"## {SPOKE}" in markdown and str(HAND_SERIES_LIMIT) in markdown
        # The run's own output (all an AWX job shows) names both too.
        assert f"drift:   {HUB} / tenant: {limit_change['task']} ({TENANT})" in output
        assert f"drift:   {SPOKE} / tenant: {quota_change['task']}" in output
    finally:
        # The converge puts back what the topology says: the lab as this module found it.
        result = run_ansible("ansible-playbook", "playbooks/tenants.yml", "-i", "inventories/lab")
    assert recap(result.stdout, HUB)["changed"] >= 1 and recap(result.stdout, SPOKE)["changed"] >= 1
    assert limits_path.read_text() == original_limits
    assert tenants_api.get_cluster_custom_object(GROUP, VERSION, PLURAL, TENANT)["spec"] == original_spec


def test_the_drift_playbook_refuses_to_run_for_real(converged):
    result = run_ansible("ansible-playbook", "playbooks/drift.yml", "-i", "inventories/lab", check=False)
    assert result.returncode != 0
    assert "drift.yml only reports; it must never change anything" in result.stdout
    assert "PLAY [Check that the inventory is a meridian topology]" not in result.stdout
