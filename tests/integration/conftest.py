"""Fixtures that give tests the local lab's real servers.

`lab` starts the lab (or reuses what is already healthy) with the same code as
`python -m lab up`, and yields the parsed .lab/lab.json. Services this session had to
start are stopped again at the end, unless MERIDIAN_LAB_KEEP=1; services that were
already running are left alone.
"""

from __future__ import annotations

import json
import os
import sys
import uuid

import pytest

from lab.runtime import Lab

REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(scope="session")
def lab_runtime() -> Lab:
    return Lab(out=lambda line: print(line, file=sys.stderr))


@pytest.fixture(scope="session")
def lab(lab_runtime: Lab):
    """The running lab's description (lab.json), started or reused."""
    already_running = {row["service"] for row in lab_runtime.status() if row["state"] != "stopped"}
    keep = os.environ.get("MERIDIAN_LAB_KEEP") == "1"
    started_here = [s.name for s in reversed(lab_runtime.services) if s.name not in already_running]
    try:
        lab_runtime.up()
    except Exception:
        if not keep:  # logs stay in .lab/logs for the post-mortem
            lab_runtime.stop(started_here)
        raise
    yield json.loads(lab_runtime.paths.lab_json.read_text())
    if not keep:
        lab_runtime.stop(started_here)


@pytest.fixture(params=REGIONS)
def region(request) -> str:
    """Run a test once per lab region."""
    return request.param


@pytest.fixture
def unique() -> str:
    """A short random suffix so a test's objects never collide with another run's."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def aws_client(lab):
    """Factory: boto3 client for a service in a region, pointed at moto."""
    import boto3

    aws = lab["aws"]

    def make(service: str, region: str):
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=aws["endpoint"],
            aws_access_key_id=aws["aws_access_key_id"],
            aws_secret_access_key=aws["aws_secret_access_key"],
        )

    return make


@pytest.fixture
def kube_api(lab):
    """Factory: kubernetes ApiClient for (region, user), from the lab's kubeconfigs."""
    from kubernetes import config

    clients = []

    def make(region: str, user: str = "admin"):
        path = lab["regions"][region]["kubernetes"]["kubeconfigs"][user]
        client = config.new_client_from_config(config_file=path)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="module")
def lab_tenants(lab):
    """The lab topology's tenants onboarded in every region they live in, through the real entry point.

    Tests of later layers (Vault logins, network reachability) need what the tenant layer makes: each tenant's
    namespace and its `workload` service account, created by the tenant operator. On a fresh lab (CI) nothing has
    onboarded them yet, and other modules may have offboarded them, so this runs `playbooks/tenants.yml` whenever a
    tenant's service account is missing; when all are there it costs one read per tenant and region.
    """
    import yaml
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    from tests.support.ansible import REPO, run_ansible

    topology = yaml.safe_load((REPO / "inventories" / "lab" / "topology.yml").read_text())
    placed = [(region, tenant["name"]) for tenant in topology["tenants"] if tenant.get("state", "present") == "present"
              for region in tenant["regions"]]
    apis = {region: client.CoreV1Api(config.new_client_from_config(
        config_file=lab["regions"][region]["kubernetes"]["kubeconfig"])) for region in REGIONS}

    def missing() -> list[tuple[str, str]]:
        absent = []
        for region, name in placed:
            try:
                apis[region].read_namespaced_service_account("workload", name)
            except ApiException as err:
                if err.status != 404:
                    raise
                absent.append((region, name))
        return absent

    if missing():
        run_ansible("ansible-playbook", "playbooks/tenants.yml", "-i", "inventories/lab")
        assert not missing(), f"the tenant layer ran, yet these workload service accounts are missing: {missing()}"
    return placed


# The AWX job templates' site and drift jobs run on a lab that test_drift_report has just converged, hub then spoke:
# the workflow's site jobs are then no-change runs (each proves site.yml idempotent in one run) instead of a first
# converge plus a second run of each region, and the drift job finds a converged region. Run alone, either module
# still converges what it needs. About 200 s less in a full run.
RUN_AFTER = {"test_awx_job_templates.py": "test_drift_report.py"}


def pytest_collection_modifyitems(session, config, items):
    for follower, leader in RUN_AFTER.items():
        moved = [item for item in items if item.path.name == follower]
        if not moved or not any(item.path.name == leader for item in items):
            continue
        rest = [item for item in items if item.path.name != follower]
        last_of_leader = max(index for index, item in enumerate(rest) if item.path.name == leader)
        items[:] = rest[:last_of_leader + 1] + moved + rest[last_of_leader + 1:]
