"""The observability role against the lab: moto's S3 for the Thanos bucket, the lab's thanos binary for Thanos' own
check, and eu-west-1's kube-apiserver for the Thanos Receive ConfigMap.

The tests run one life in order: a first run that creates everything, an unchanged re-run at -vvv that keeps the
credentials out of its output, a limit change predicted by --check (nothing touched) and then applied, an offboarding,
and the bad inputs (one ansible-playbook process) refused before any change. Every run uses the lab inventory with its
own bucket, ConfigMap, render directory and tenant names, so the lab's own layer (meridian-observability/thanos-receive-tenants, the
meridian-lab-*-thanos buckets) and other runs are never touched; everything made is removed at the end.
"""

from __future__ import annotations

import copy
import json
import pathlib
import subprocess
import uuid

import pytest
import yaml

from tests.support.ansible import recap, role_refusals, run_ansible, run_module

pytestmark = pytest.mark.lab

REGION = "eu-west-1"
NAMESPACE = "meridian-observability"
HASHRING = "tenants"


def tenant(name: str, series_limit: int = 100, state: str = "present", regions=(REGION,)) -> dict:
    """A topology tenant as the inventory plugin renders it (the parts this layer reads)."""
    return {"name": name, "state": state, "regions": list(regions), "home_region": regions[0],
            "metrics": {"head_series_limit": 1000,
                        "request": {"series_limit": series_limit, "samples_limit": 1000, "size_bytes_limit": 65536}},
            "logs": {"ingestion_rate_mb": 2, "ingestion_burst_size_mb": 4, "max_streams_per_user": 100,
                     "retention": "744h"}}


class Scenario:
    """One run's names and the variables handed to the role (extra vars over the lab inventory)."""

    def __init__(self, directory: pathlib.Path, lab: dict) -> None:
        unique = uuid.uuid4().hex[:8]
        self.directory, self.lab = directory, lab
        self.render_dir = directory / "rendered"
        self.bucket = f"it-observability-{unique}"
        self.configmap = f"it-observability-{unique}"
        self.kubeconfig = lab["regions"][REGION]["kubernetes"]["kubeconfig"]
        self.first, self.second, self.other = f"it-{unique}-a", f"it-{unique}-b", f"it-{unique}-c"
        self.tenants = [tenant(self.first), tenant(self.second),
                        tenant(self.other, regions=("us-east-1",))]  # not served here: never written
        self.playbook = directory / "observability.yml"
        self.playbook.write_text(yaml.safe_dump([{
            "name": "Observability layer", "hosts": REGION, "gather_facts": False,
            "roles": [{"role": "meridian.observability.observability"}]}], sort_keys=False))

    def variables(self, **changes) -> dict:
        return {"observability_tenants": self.tenants, "observability_render_dir": str(self.render_dir),
                "observability_bucket_name": self.bucket, "observability_thanos_configmap_name": self.configmap} | changes

    def run(self, *args: str, variables: dict | None = None, check: bool = True):
        extra = self.directory / f"vars-{uuid.uuid4().hex[:6]}.json"
        extra.write_text(json.dumps(variables or self.variables()))
        completed = run_ansible("ansible-playbook", "-i", "inventories/lab", "-l", REGION, str(self.playbook),
                                "-e", f"@{extra}", *args, check=False, timeout=600)
        if check:
            assert completed.returncode == 0, completed.stdout[-6000:]
        return completed

    def info(self) -> dict:
        result = run_module("meridian.observability.thanos_tenant_info", {
            "configmap_namespace": NAMESPACE, "configmap_name": self.configmap, "kubeconfig": self.kubeconfig})
        assert not result.get("failed"), result.get("msg")
        return result

    def configmap_object(self):
        from kubernetes import client, config
        from kubernetes.client.rest import ApiException

        api = client.CoreV1Api(config.new_client_from_config(self.kubeconfig))
        try:
            return api.read_namespaced_config_map(self.configmap, NAMESPACE)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def delete_configmap(self) -> None:
        from kubernetes import client, config

        if self.configmap_object() is not None:
            client.CoreV1Api(config.new_client_from_config(self.kubeconfig)).delete_namespaced_config_map(
                self.configmap, NAMESPACE)

    def files(self) -> dict:
        return {str(path.relative_to(self.render_dir)): path.read_bytes()
                for path in sorted(self.render_dir.rglob("*")) if path.is_file()}


def s3(lab):
    import boto3

    aws = lab["aws"]
    return boto3.client("s3", region_name=REGION, endpoint_url=aws["endpoint"],
                        aws_access_key_id=aws["aws_access_key_id"], aws_secret_access_key=aws["aws_secret_access_key"])


def bucket_exists(lab, name: str) -> bool:
    return name in {bucket["Name"] for bucket in s3(lab).list_buckets()["Buckets"]}


def delete_bucket(lab, name: str) -> None:
    if bucket_exists(lab, name):
        client = s3(lab)
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=name, Key=item["Key"])
        client.delete_bucket(Bucket=name)


def expected_entries(scenario: Scenario, tenants: list[dict]) -> list[dict]:
    """What thanos_tenant_info must read back: every tenant served here, in the hashring, with its topology limits."""
    served = [t for t in tenants if t["state"] == "present" and REGION in t["regions"]]
    return [{"name": t["name"], "hashring": HASHRING, "listed": True,
             "limits": {"head_series_limit": t["metrics"]["head_series_limit"], "request": t["metrics"]["request"]}}
            for t in sorted(served, key=lambda t: t["name"])]


def read_back(scenario: Scenario) -> list[dict]:
    return [{key: entry[key] for key in ("name", "hashring", "listed", "limits")} for entry in scenario.info()["tenants"]]


@pytest.fixture(scope="module")
def scenario(lab, tmp_path_factory):
    made = Scenario(tmp_path_factory.mktemp("observability-role"), lab)
    yield made
    made.delete_configmap()
    delete_bucket(lab, made.bucket)


@pytest.fixture(scope="module")
def first_run(scenario):
    assert not bucket_exists(scenario.lab, scenario.bucket) and scenario.configmap_object() is None
    return scenario.run()


# --- one life, in order -----------------------------------------------------------------------------------------

def test_first_run_creates_the_bucket_files_and_configmap_and_thanos_reaches_the_bucket(scenario, first_run):
    assert recap(first_run.stdout, REGION)["changed"] > 0
    assert bucket_exists(scenario.lab, scenario.bucket)
    encryption = s3(scenario.lab).get_bucket_encryption(Bucket=scenario.bucket)
    assert encryption["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    blocked = s3(scenario.lab).get_public_access_block(Bucket=scenario.bucket)["PublicAccessBlockConfiguration"]
    assert all(blocked.values()), blocked
    # Thanos' own check ran against this bucket with the rendered objstore.yml (and passed: the run succeeded).
    assert "TASK [meridian.observability.observability : Bucket | thanos tools bucket ls" in first_run.stdout
    assert "Thanos' check of thanos/objstore.yml" not in first_run.stdout  # not the skip message
    objstore = yaml.safe_load((scenario.render_dir / "thanos" / "objstore.yml").read_text())
    wanted = {"bucket": scenario.bucket, "endpoint": "127.0.0.1:15000", "insecure": True}
    assert objstore["config"] | wanted == objstore["config"], objstore
    assert not {"access_key", "secret_key", "session_token"} & set(objstore["config"])
    configmap = scenario.configmap_object()
    assert configmap.metadata.labels["meridian.observability/thanos-tenants"] == "managed"
    # The round trip: thanos_tenant_info reads back exactly the topology's tenants of the region and their limits.
    assert read_back(scenario) == expected_entries(scenario, scenario.tenants)
    hashrings = {ring["name"]: ring for ring in scenario.info()["hashrings"]}
    receive = scenario.lab["regions"][REGION]["thanos"]["receive_grpc"]
    assert hashrings[HASHRING]["endpoints"] == [receive] and hashrings["default"]["catch_all"]
    assert sorted(path.name for path in (scenario.render_dir / "grafana").iterdir()) == [scenario.first, scenario.second]


def test_thanos_check_fails_when_the_rendered_configuration_misses_the_bucket(scenario, first_run, tmp_path):
    """The twin of the check above: the same thanos command against a bucket that is not there must fail."""
    from lab import tool_path

    path = str(tool_path("thanos"))
    broken = tmp_path / "objstore.yml"
    broken.write_text((scenario.render_dir / "thanos" / "objstore.yml").read_text().replace(scenario.bucket, scenario.bucket + "-missing"))
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "PATH": "/usr/bin:/bin"}
    good = subprocess.run([path, "tools", "bucket", "ls", f"--objstore.config-file={scenario.render_dir}/thanos/objstore.yml"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    missing = subprocess.run([path, "tools", "bucket", "ls", f"--objstore.config-file={broken}"],
                             capture_output=True, text=True, env=env, timeout=60, check=False)
    assert good.returncode == 0, good.stderr[-2000:]
    assert missing.returncode != 0 and "bucket does not exist" in missing.stderr


def test_second_run_at_vvv_changes_nothing_and_keeps_the_credentials_out(scenario, first_run):
    """Base credentials of the test's own (moto accepts any) without an assumed role, so the secret is known here."""
    secret = f"it-secret-{uuid.uuid4().hex}"
    again = scenario.run("-vvv", variables=scenario.variables(
        aws_session_assume_role=False,
        aws_session_base_credentials={"access_key": "AKIAITOBSERVABILITY1", "secret_key": secret}))
    assert recap(again.stdout, REGION)["changed"] == 0, again.stdout[-6000:]
    assert "thanos tools bucket ls" in again.stdout
    assert secret not in again.stdout + again.stderr
    assert not list(pathlib.Path("/tmp").glob("ansible.*.aws-credentials"))  # the scratch file is gone


def test_check_mode_predicts_a_limit_change_and_touches_nothing(scenario, first_run):
    changed = copy.deepcopy(scenario.tenants)
    changed[0]["metrics"]["request"]["series_limit"] = 250
    changed[0]["logs"]["ingestion_rate_mb"] = 3
    before_files, before_version = scenario.files(), scenario.configmap_object().metadata.resource_version
    checked = scenario.run("--check", "--diff", variables=scenario.variables(observability_tenants=changed))
    assert recap(checked.stdout, REGION)["changed"] >= 2, checked.stdout[-6000:]
    # thanos_tenants' diff: one entry for the changed tenant, headed with its name (the other tenant has none).
    assert f"thanos tenant {scenario.first}" in checked.stdout and "series_limit: 250" in checked.stdout, checked.stdout[-6000:]
    assert f"thanos tenant {scenario.second}" not in checked.stdout
    assert "+    ingestion_rate_mb: 3" in checked.stdout, checked.stdout[-6000:]
    assert scenario.files() == before_files
    assert scenario.configmap_object().metadata.resource_version == before_version
    assert read_back(scenario) == expected_entries(scenario, scenario.tenants)


def test_the_limit_change_lands(scenario, first_run):
    scenario.tenants[0]["metrics"]["request"]["series_limit"] = 250
    scenario.tenants[0]["logs"]["ingestion_rate_mb"] = 3
    applied = scenario.run()
    assert recap(applied.stdout, REGION)["changed"] >= 2
    assert read_back(scenario) == expected_entries(scenario, scenario.tenants)
    loki = yaml.safe_load((scenario.render_dir / "loki" / "runtime-config.yaml").read_text())
    assert loki["overrides"][scenario.first]["ingestion_rate_mb"] == 3


def test_offboarding_removes_the_tenant_from_the_configmap_and_its_grafana_files(scenario, first_run):
    scenario.tenants[1]["state"] = "absent"
    offboarded = scenario.run()
    assert recap(offboarded.stdout, REGION)["changed"] >= 2
    entries = read_back(scenario)
    assert entries == expected_entries(scenario, scenario.tenants)
    assert scenario.second not in [entry["name"] for entry in entries]
    assert not (scenario.render_dir / "grafana" / scenario.second).exists()
    assert (scenario.render_dir / "grafana" / scenario.first).is_dir()


# --- bad input: refused before any change, all cases in one ansible-playbook process ---------------------------

BAD_INPUTS = [
    ("raw retention shorter than the 5m downsampling age",
     {"observability_compactor_retention": {"raw": "24h", "5m": "90d", "1h": "365d"}}, "observability_compactor_retention"),
    ("unknown tenant in a limit override", {"observability_loki_limit_overrides": {"initech": {"ingestion_rate_mb": 2}}},
     "observability_loki_limit_overrides.initech"),
    ("limit of the wrong type", {"observability_loki_limit_overrides": {"@first": {"max_streams_per_user": "many"}}},
     "observability_loki_limit_overrides."),
    ("scrape timeout longer than the interval", {"observability_scrape_timeout": "1m"}, "observability_scrape_timeout"),
    ("bucket name with upper case", {"observability_bucket_name": "Meridian_Thanos"}, "observability_bucket_name"),
    ("S3 endpoint not a URL", {"observability_s3_endpoint_url": "127.0.0.1:15000"}, "observability_s3_endpoint_url"),
    ("relative thanos path", {"observability_thanos_path": "bin/thanos"}, "observability_thanos_path"),
    ("fewer receive nodes than the replication factor", {"observability_thanos_replication_factor": 3},
     "observability_thanos_hashring_endpoints"),
    ("receive node address without a port", {"observability_thanos_hashring_endpoints": [{"address": "thanos-receive-0"}]},
     "observability_thanos_hashring_endpoints"),
    ("tenants placed in the catch-all hashring", {"observability_thanos_hashring": "default"}, "observability_thanos_hashring"),
    ("ConfigMap name not a Kubernetes name", {"observability_thanos_configmap_name": "Thanos_Tenants"},
     "observability_thanos_configmap_name"),
    ("negative Thanos write limit", {"@tenant_limit": -1}, "metrics.head_series_limit"),
    ("relative render directory", {"observability_render_dir": "rendered"}, "observability_render_dir"),
]


@pytest.fixture(scope="module")
def bad_input_outcomes(scenario, tmp_path_factory):
    directory = tmp_path_factory.mktemp("observability-bad")
    cases, untouched = [], {}
    for number, (case, changes, _) in enumerate(BAD_INPUTS):
        unique = uuid.uuid4().hex[:8]
        tenants = [tenant(f"it-bad-{unique}")]
        changes = dict(changes)
        if changes.pop("@tenant_limit", None) is not None:
            tenants[0]["metrics"]["head_series_limit"] = -1
        if "observability_loki_limit_overrides" in changes and "@first" in changes["observability_loki_limit_overrides"]:
            changes["observability_loki_limit_overrides"] = {tenants[0]["name"]: changes["observability_loki_limit_overrides"]["@first"]}
        untouched[case] = {"bucket": f"it-observability-bad-{unique}", "configmap": f"it-observability-bad-{unique}",
                           "render_dir": directory / f"rendered-{number}"}
        cases.append((f"bad input {number}", {
            "observability_tenants": tenants, "observability_render_dir": str(untouched[case]["render_dir"]),
            "observability_bucket_name": untouched[case]["bucket"],
            "observability_thanos_configmap_name": untouched[case]["configmap"]} | changes))
    outcomes = role_refusals(directory, "meridian.observability.observability", cases, host=REGION, timeout=600)
    return {case: (outcome, untouched[case]) for (case, _, _), outcome in zip(BAD_INPUTS, outcomes)}


@pytest.mark.parametrize(("case", "changes", "named"), BAD_INPUTS, ids=[case for case, _, _ in BAD_INPUTS])
def test_bad_input_is_refused_before_any_change(scenario, bad_input_outcomes, case, changes, named):
    outcome, untouched = bad_input_outcomes[case]
    assert outcome["refused"], case
    assert outcome["task"].startswith("Preflight |"), (case, outcome["task"])
    assert named in outcome["result"] and "Fix" in outcome["result"], (case, outcome["result"][-2000:])
    assert not untouched["render_dir"].exists(), case
    assert not bucket_exists(scenario.lab, untouched["bucket"]), case
    probe = copy.copy(scenario)
    probe.configmap = untouched["configmap"]
    assert probe.configmap_object() is None, case


def test_the_bad_input_cases_number_at_least_ten():
    assert len(BAD_INPUTS) >= 10
