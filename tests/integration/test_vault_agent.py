"""The Vault agent part of a tenant workload, for real: `bao agent` (the lab's OpenBao binary) with Kubernetes
auto-auth and a template, fed a service-account token that the lab API server's TokenRequest API issued.

The lab runs no pods, so no injector adds the agent to a pod (k8s-manifests/tenants/workload-pod-template.yaml
documents the annotations); the agent is the same program the injector would start, run here as a subprocess with
the configuration the injector would write. The vault role is converged first on eu-west-1 (playbooks/platform.yml
--tags vault against the lab inventory, where acme and globex both live), so the auth mount, acme's role and
acme's policy are the role's own. acme's workload token renders acme's secret; the same configuration with
globex's workload token renders nothing, and the agent logs OpenBao's permission error.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import time
import uuid

import hvac
import pytest

from tests.support.ansible import REPO, recap, run_ansible

pytestmark = pytest.mark.lab

REGION = "eu-west-1"  # acme and globex both live here in the lab topology
KV_MOUNT, AUDIENCE = "tenants", "vault"  # the role's defaults
AUTH_MOUNT = f"kubernetes-{REGION}"
WAIT = 60  # seconds the agent may take to log in and render, or to log its refusal


class Hidden(str):
    """A secret that test reports show as <hidden> (pytest prints fixture values and assertion operands)."""

    def __repr__(self) -> str:
        return "<hidden>"


def bao_binary() -> pathlib.Path:
    """The lab's OpenBao CLI (the binary the lab's servers run)."""
    import lab

    if hasattr(lab, "tool_path"):
        return lab.tool_path("bao")
    from lab import build

    return pathlib.Path(build.ensure_built("openbao")["bao"])


@pytest.fixture(scope="module")
def converged(lab, lab_tenants):
    """The vault role converged on REGION with the lab inventory (idempotent; the lab's own tenants)."""
    completed = run_ansible("ansible-playbook", "playbooks/platform.yml", "-i", "inventories/lab", "--tags", "vault",
                            "-l", REGION)
    assert recap(completed.stdout, REGION)["failed"] == 0
    return lab["regions"][REGION]


@pytest.fixture(scope="module")
def root(converged):
    return hvac.Client(url=converged["vault"]["addr"], token=converged["vault"]["token"])


@pytest.fixture(scope="module")
def acme_secret(root):
    """A secret of acme's, at a path of this run, deleted afterwards."""
    path, value = f"acme/agent-{uuid.uuid4().hex[:8]}", Hidden(uuid.uuid4().hex)
    root.secrets.kv.v2.create_or_update_secret(mount_point=KV_MOUNT, path=path, secret={"password": value})
    yield path, value
    root.secrets.kv.v2.delete_metadata_and_all_versions(mount_point=KV_MOUNT, path=path)


def request_token(lab, region: str, namespace: str, service_account: str) -> Hidden:
    """A short-lived token for the service account from the region's API server (TokenRequest API)."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=lab["regions"][region]["kubernetes"]["kubeconfigs"]["admin"])
    try:
        request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[AUDIENCE],
                                                                                     expiration_seconds=600))
        answer = client.CoreV1Api(api).create_namespaced_service_account_token(service_account, namespace, request)
        return Hidden(answer.status.token)
    finally:
        api.close()


class Agent:
    """`bao agent` with Kubernetes auto-auth as role acme and one template, in a directory of its own."""

    def __init__(self, directory: pathlib.Path, vault_addr: str, secret_path: str) -> None:
        self.directory = directory
        self.token_file = directory / "service-account-token"
        self.rendered = directory / "out" / "secret.txt"
        self.log = directory / "agent.log"
        self.config = directory / "agent.hcl"
        (directory / "out").mkdir()
        # No listener: the agent opens no port; it only talks to OpenBao on 127.0.0.1.
        self.config.write_text(f"""
pid_file = "{directory / 'agent.pid'}"
vault {{
  address = "{vault_addr}"
}}
auto_auth {{
  method "kubernetes" {{
    mount_path = "auth/{AUTH_MOUNT}"
    config = {{
      role       = "acme"
      token_path = "{self.token_file}"
    }}
  }}
  sink "file" {{
    config = {{
      path = "{directory / 'vault-token'}"
      mode = 0600
    }}
  }}
}}
template {{
  contents    = "{{{{ with secret \\"{KV_MOUNT}/data/{secret_path}\\" }}}}{{{{ .Data.data.password }}}}{{{{ end }}}}"
  destination = "{self.rendered}"
  perms       = "0600"
}}
""")
        self.process: subprocess.Popen | None = None

    def start(self, service_account_token: str) -> None:
        self.token_file.write_text(service_account_token)
        self.token_file.chmod(0o600)
        environment = {key: value for key, value in os.environ.items() if not key.startswith(("VAULT_", "BAO_"))}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([str(bao_binary()), "agent", f"-config={self.config}", "-log-level=debug"],
                                            stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=self.directory)

    def wait_for(self, condition) -> bool:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if condition():
                return True
            assert self.process.poll() is None, f"the agent exited ({self.process.returncode}):\n{self.log.read_text()[-3000:]}"
            time.sleep(0.5)
        return condition()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


@pytest.fixture
def agent(tmp_path, converged, acme_secret):
    made = Agent(tmp_path, converged["vault"]["addr"], acme_secret[0])
    yield made
    made.stop()


def test_agent_with_acme_token_renders_acme_secret(lab, agent, acme_secret):
    agent.start(request_token(lab, REGION, "acme", "workload"))
    rendered = agent.wait_for(lambda: agent.rendered.exists() and agent.rendered.read_text() != "")
    assert rendered, f"nothing rendered in {WAIT} s:\n{agent.log.read_text()[-3000:]}"
    assert agent.rendered.read_text() == acme_secret[1], "the rendered file does not hold acme's secret"
    log = agent.log.read_text()
    assert "authentication successful" in log
    assert acme_secret[1] not in log


def test_agent_with_globex_token_renders_nothing_and_logs_permission_error(lab, agent, acme_secret):
    agent.start(request_token(lab, REGION, "globex", "workload"))
    # OpenBao answers 403 with the reason: acme's role is bound to namespace acme only.
    refused = agent.wait_for(lambda: "Code: 403" in agent.log.read_text())
    log = agent.log.read_text()
    assert refused, f"no permission error in {WAIT} s:\n{log[-3000:]}"
    assert "error authenticating" in log and "not authorized" in log
    assert not agent.rendered.exists() or agent.rendered.read_text() == ""
    assert "authentication successful" not in log
