"""A tenant's own Prometheus remote-writes through the gateway with OAuth2 client credentials of its realm.

Per region, two throwaway Prometheus agents (the lab's cached binary, on free loopback ports) scrape themselves
and remote-write to the region's gateway with `remote_write.oauth2`: one with acme's gateway client secret, whose
series land in Thanos under acme, and its twin with a wrong secret, which gets no token and stores nothing.
The secret reaches Prometheus through a 0600 file (client_secret_file), never its command line or config.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from lab.build import ensure_built
from lab.gateway_client import GATEWAY_CLIENT_ID, token_endpoint
from tests.e2e.isolation import ACME, GLOBEX, tenants_holding

pytestmark = pytest.mark.lab

RETRIED = re.compile(r"^prometheus_remote_storage_samples_retried_total\{[^}]*\} (\S+)$", re.M)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Agent:
    job: str
    url: str
    process: subprocess.Popen
    log: Path

    def retried_samples(self) -> float:
        return sum(float(value) for value in RETRIED.findall(requests.get(f"{self.url}/metrics", timeout=10).text))


@pytest.fixture
def prometheus_agent(tmp_path):
    """Factory: start a Prometheus agent remote-writing to a URL with OAuth2; each is stopped by PID afterwards."""
    binary = ensure_built("prometheus")["prometheus"]
    started: list[subprocess.Popen] = []

    def start(job: str, remote_write_url: str, token_url: str, secret: str) -> Agent:
        directory = tmp_path / job
        directory.mkdir()
        secret_file = directory / "client-secret"
        secret_file.touch(mode=0o600)
        secret_file.write_text(secret)
        address = f"127.0.0.1:{free_port()}"
        config = {
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [address]}]}],
            "remote_write": [{
                "url": remote_write_url,
                "oauth2": {"client_id": GATEWAY_CLIENT_ID, "client_secret_file": str(secret_file),
                           "token_url": token_url},
                "queue_config": {"batch_send_deadline": "1s", "min_backoff": "100ms", "max_backoff": "1s"},
            }],
        }
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        log = directory / "prometheus.log"
        with log.open("wb") as output:
            process = subprocess.Popen(  # noqa: S603 - the lab's own binary, fixed arguments
                [str(binary), "--agent", f"--config.file={directory / 'prometheus.yml'}",
                 f"--storage.agent.path={directory / 'wal'}", f"--web.listen-address={address}"],
                cwd=directory, stdout=output, stderr=subprocess.STDOUT)
        started.append(process)
        agent = Agent(job, f"http://{address}", process, log)
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"prometheus {job} exited {process.returncode}:\n{log.read_text()[-3000:]}"
            try:
                if requests.get(f"{agent.url}/-/ready", timeout=2).status_code == 200:
                    return agent
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"prometheus {job} not ready:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_tenant_prometheus_writes_through_the_gateway_with_oauth2(lab, gateway, keycloak_admin, prometheus_agent):
    run = uuid.uuid4().hex[:8]
    token_url = token_endpoint(lab["keycloak"]["url"], ACME)
    good = prometheus_agent(f"e2e-agent-{run}-{gateway.region}", gateway.remote_write_url, token_url,
                            keycloak_admin.client_secret(ACME))
    wrong = prometheus_agent(f"e2e-agent-wrong-secret-{run}-{gateway.region}", gateway.remote_write_url, token_url,
                             uuid.uuid4().hex)

    stored = gateway.wait_stored(f'up{{job="{good.job}"}}', ACME, timeout=120)
    assert [series["metric"]["tenant_id"] for series in stored] == [ACME], good.log.read_text()[-3000:]
    assert tenants_holding(gateway, f'up{{job="{good.job}"}}', [ACME, GLOBEX]) == {ACME: [ACME]}

    # The twin has tried to send (and is retrying) by now; it never got a token, so nothing of its is anywhere.
    deadline = time.monotonic() + 60
    while wrong.retried_samples() == 0 and time.monotonic() < deadline:
        time.sleep(1)
    assert wrong.retried_samples() > 0, wrong.log.read_text()[-3000:]
    assert "oauth2" in wrong.log.read_text()
    assert tenants_holding(gateway, f'{{job="{wrong.job}"}}', [ACME, GLOBEX]) == {}
