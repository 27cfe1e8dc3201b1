"""Faults: a lab service stopped in the middle of a run (issue 14, item 4).

Each test starts a real run as a subprocess, waits until the server shows some of the run's work (the first new
realm, the first new Tenant object), freezes the run's processes with SIGSTOP, stops the service with
`python -m lab stop`, and lets the run continue: the stop lands while the run still has work to do, every time,
whatever the module batching. The run must fail with a message naming the service, its URL and what to do; after
`python -m lab start` the next run converges, a second one changes nothing, and nothing is duplicated or orphaned.

The tenants are extra ones in a copy of inventories/lab (placed in us-east-1 only, names unique to the run; the lab's
own tenants stay in the copy so that nothing of theirs is offboarded), and they are offboarded through the playbook at
the end. A stopped service is always started again in a `finally`. The module stops shared services: nothing else
may use the lab while it runs (CI runs the integration tests one at a time).

Order: OpenBao (stopped while tenants.yml is in its realm play, so its Vault play meets a fresh, empty dev server),
Keycloak (stopped while the realm play creates realms), then the region's API server (stopped while site.yml's tenant
layer creates Tenant objects); the last test offboards every extra tenant and proves nothing of them is left.
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from typing import Callable

import pytest
import requests
import yaml

from tests.support.ansible import BIN, JSON_CALLBACK, REPO, ansible_env, run_ansible

pytestmark = pytest.mark.lab

REGION = "us-east-1"
GROUP, VERSION, PLURAL = "observability.meridian.io", "v1alpha1", "tenants"
RUN = uuid.uuid4().hex[:5]
# Vault's extras: onboarded while OpenBao is stopped. The others: Keycloak and the API server are stopped under them.
VAULT_BATCH = [f"f{RUN}-v{index}" for index in range(2)]
LATER_BATCH = [f"f{RUN}-k{index}" for index in range(3)]
EXTRAS = VAULT_BATCH + LATER_BATCH
# Only a guard against a run that hangs; no assertion is made on time.
RUN_TIMEOUT = 600


def tenant_record(name: str) -> dict:
    return {
        "name": name, "display_name": f"Fault test {name}", "regions": [REGION], "home_region": REGION,
        "owners": [f"owner@{name}.example"], "viewers": [f"viewer@{name}.example"],
        "quotas": {"cpu": "1", "memory": "1Gi", "pods": 5},
        "metrics": {"head_series_limit": 1000, "request": {"series_limit": 100, "samples_limit": 1000,
                                                           "size_bytes_limit": 65536}},
        "logs": {"ingestion_rate_mb": 2, "ingestion_burst_size_mb": 4},
    }


class Inventory:
    """A copy of inventories/lab: the lab's tenants plus the extra ones the test has added so far."""

    def __init__(self, directory: pathlib.Path, lab_dir: pathlib.Path) -> None:
        shutil.copytree(REPO / "inventories" / "lab", directory)
        self.directory, self.lab_dir = directory, lab_dir
        self.base = yaml.safe_load((directory / "topology.yml").read_text())
        self.lab_tenants = [tenant for tenant in self.base["tenants"] if tenant.get("state", "present") == "present"]
        self.extras: dict[str, str] = {}  # name -> state
        self.offboarded = False

    def write(self, **states: str) -> None:
        self.extras.update(states)
        topology = copy.deepcopy(self.base)
        topology["tenants"] = self.base["tenants"] + [
            dict(tenant_record(name), **({"state": "absent"} if state == "absent" else {}))
            for name, state in self.extras.items()]
        (self.directory / "topology.yml").write_text(yaml.safe_dump(topology, sort_keys=False))

    def args(self, playbook: str, *extra: str) -> list[str]:
        return [f"playbooks/{playbook}", "-i", str(self.directory), "-e", f"meridian_lab_dir={self.lab_dir}",
                "-l", REGION, *extra]

    def present_here(self) -> set[str]:
        lab_here = {tenant["name"] for tenant in self.lab_tenants if REGION in tenant["regions"]}
        return lab_here | {name for name, state in self.extras.items() if state == "present"}


# --- running, freezing and reading runs ------------------------------------------------------------------------

def run_json(args: list[str]) -> tuple[int, dict]:
    completed = run_ansible("ansible-playbook", *args, check=False, json_output=True, timeout=RUN_TIMEOUT)
    try:
        return completed.returncode, json.loads(completed.stdout)
    except ValueError:
        raise AssertionError(f"no JSON from ansible-playbook (rc {completed.returncode}):\n{completed.stdout[-4000:]}\n"
                             f"{completed.stderr[-3000:]}")


def failure_messages(output: dict) -> list[str]:
    """Every failed result's msg (and its failed loop items'), in run order."""
    messages = []
    for play in output.get("plays", []):
        for task in play.get("tasks", []):
            for result in task.get("hosts", {}).values():
                if result.get("failed"):
                    messages.append(str(result.get("msg", "")))
                    messages += [str(item.get("msg", "")) for item in result.get("results") or []
                                 if isinstance(item, dict) and item.get("failed")]
    return messages


def assert_converges(args: list[str]) -> None:
    """The run after recovery succeeds, and the one after it changes nothing."""
    for attempt in ("recovery", "second"):
        returncode, output = run_json(args)
        stats = output["stats"][REGION]
        assert returncode == 0 and stats["failures"] == 0 and stats["unreachable"] == 0, (
            f"the {attempt} run failed: {failure_messages(output)}")
        if attempt == "second":
            changed = [f"{task['task']['name']}" for play in output["plays"] for task in play["tasks"]
                       if any(result.get("changed") for result in task["hosts"].values())]
            assert stats["changed"] == 0, f"the run after the recovery left changes for the next one: {changed}"


def lab_cli(*args: str) -> None:
    completed = subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, capture_output=True, text=True,
                               timeout=RUN_TIMEOUT, check=False)
    assert completed.returncode == 0, f"python -m lab {' '.join(args)}: {completed.stdout}\n{completed.stderr}"


def dependents(lab: dict, service: str) -> list[str]:
    """The service and every lab service that depends on it, directly or not, in lab.json's order."""
    found = {service}
    changed = True
    while changed:
        changed = False
        for name, info in lab["services"].items():
            if name not in found and found & set(info["depends_on"]):
                found.add(name)
                changed = True
    return [name for name in lab["services"] if name in found]


def process_tree(root: int) -> list[int]:
    """root and its descendants, parents first (ansible's workers call setsid, so a process group is not enough)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


def freeze(root: int) -> list[int]:
    """SIGSTOP the whole run; repeated until no process of it is left running (one may fork meanwhile)."""
    frozen: list[int] = []
    while new := [pid for pid in process_tree(root) if pid not in frozen]:
        for pid in new:
            try:
                os.kill(pid, signal.SIGSTOP)
                frozen.append(pid)
            except ProcessLookupError:
                pass
    return frozen


def thaw(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def interrupt(args: list[str], progress: Callable[[], int], service: str, lab: dict, tmp_path: pathlib.Path):
    """Run ansible-playbook with `args`; once progress() > 0, freeze the run, stop `service`, let the run go on.

    Returns (progress when the service was stopped, return code, JSON output). The service and what depends on it
    are started again (and must be healthy) before this returns, whatever happened.
    """
    stdout, stderr = tmp_path / "run.json", tmp_path / "run.err"
    env = ansible_env(ANSIBLE_STDOUT_CALLBACK=JSON_CALLBACK, ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    with stdout.open("w") as out, stderr.open("w") as err:
        run = subprocess.Popen([str(BIN / "ansible-playbook"), *args], cwd=REPO, env=env, stdout=out, stderr=err)
    done = 0
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while run.poll() is None and time.monotonic() < deadline:
            done = progress()
            if done:
                break
            time.sleep(0.02)
        if not done or run.poll() is not None:
            try:
                said = failure_messages(json.loads(stdout.read_text()))
            except ValueError:
                said = stdout.read_text()[-3000:]
            raise AssertionError(f"the run ended (rc {run.returncode}) before any of its work could be seen: {said}\n"
                                 f"{stderr.read_text()[-2000:]}")
        frozen = freeze(run.pid)
        try:
            done = progress()  # what the run had made when the service went away
            lab_cli("stop", service)
        finally:
            thaw(frozen)
        run.wait(timeout=RUN_TIMEOUT)
    finally:
        if run.poll() is None:
            for pid in reversed(process_tree(run.pid)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            run.wait()
        lab_cli("start", *dependents(lab, service))
    try:
        output = json.loads(stdout.read_text())
    except ValueError:
        raise AssertionError(f"no JSON from the interrupted run (rc {run.returncode}):\n{stdout.read_text()[-4000:]}\n"
                             f"{stderr.read_text()[-3000:]}")
    return done, run.returncode, output


# --- the servers, read directly -----------------------------------------------------------------------------------

class Keycloak:
    def __init__(self, lab: dict) -> None:
        self.info = lab["keycloak"]
        self.url = self.info["url"]
        self.session = requests.Session()
        self.token_at = 0.0

    def _authorize(self) -> None:
        if time.monotonic() - self.token_at > 30:  # the master realm's tokens live 60 s
            answer = self.session.post(f"{self.url}/realms/{self.info['admin_realm']}/protocol/openid-connect/token",
                                       data={"grant_type": "password", "client_id": self.info["admin_client_id"],
                                             "username": self.info["admin_username"],
                                             "password": self.info["admin_password"]}, timeout=10)
            answer.raise_for_status()
            self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
            self.token_at = time.monotonic()

    def get(self, path: str, **params):
        self._authorize()
        answer = self.session.get(f"{self.url}/admin/realms{path}", params=params, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def realms(self) -> list[str]:
        return [realm["realm"] for realm in self.get("", briefRepresentation="true")]

    def shape(self, realm: str) -> dict:
        """What the role puts in a realm, with the tenant's name abstracted; lists keep duplicates visible."""
        def general(name: str) -> str:
            return name.replace(realm, "<tenant>")

        clients = [client for client in self.get(f"/{realm}/clients") if client.get("protocolMappers")
                   and client["clientId"] not in ("account-console", "security-admin-console")]
        return {
            "clients": sorted(general(client["clientId"]) for client in clients),
            "mappers": {general(client["clientId"]): sorted(mapper["name"] for mapper in client["protocolMappers"])
                        for client in clients},
            "groups": sorted(general(group["name"]) for group in self.get(f"/{realm}/groups")),
            "roles": sorted(general(role["name"]) for role in self.get(f"/{realm}/roles")),
        }


class Vault:
    def __init__(self, lab: dict) -> None:
        info = lab["regions"][REGION]["vault"]
        self.url = info["addr"]
        self.session = requests.Session()
        self.session.headers["X-Vault-Token"] = info["token"]

    def keys(self, path: str) -> list[str]:
        answer = self.session.request("LIST", f"{self.url}/v1/{path}", timeout=10)
        if answer.status_code == 404:
            return []
        answer.raise_for_status()
        return answer.json()["data"]["keys"]

    def policies(self) -> list[str]:
        return self.keys("sys/policies/acl")

    def roles(self) -> list[str]:
        return self.keys(f"auth/kubernetes-{REGION}/role")

    def role(self, name: str) -> dict:
        answer = self.session.get(f"{self.url}/v1/auth/kubernetes-{REGION}/role/{name}", timeout=10)
        answer.raise_for_status()
        return answer.json()["data"]


@pytest.fixture(scope="module")
def servers(lab):
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=lab["regions"][REGION]["kubernetes"]["kubeconfigs"]["admin"])
    yield {"keycloak": Keycloak(lab), "vault": Vault(lab), "objects": client.CustomObjectsApi(api),
           "core": client.CoreV1Api(api)}
    api.close()


def tenants_of_run(servers) -> list[str]:
    items = servers["objects"].list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
    return sorted(item["metadata"]["name"] for item in items if item["metadata"]["name"].startswith(f"f{RUN}-"))


def namespaces_of_run(servers) -> list[str]:
    return sorted(namespace.metadata.name for namespace in servers["core"].list_namespace().items
                  if namespace.metadata.name.startswith(f"f{RUN}-") and namespace.status.phase != "Terminating")


def loki_tenants(servers) -> set[str]:
    config_map = servers["core"].read_namespaced_config_map("loki-tenant-overrides", "monitoring")
    return set(yaml.safe_load(config_map.data["overrides.yaml"])["overrides"] or {})


def thanos_files(lab_runtime) -> tuple[list[str], dict]:
    directory = lab_runtime.paths.thanos(REGION)
    listed = [name for ring in json.loads((directory / "hashrings.json").read_text())
              for name in ring.get("tenants", [])]
    limits = yaml.safe_load((directory / "limits.yaml").read_text()) or {}
    return listed, ((limits.get("write") or {}).get("tenants") or {})


@pytest.fixture(scope="module")
def inventory(lab, lab_runtime, tmp_path_factory):
    """The inventory copy; at the end every extra tenant is offboarded through tenants.yml (again, if a test failed
    before the offboarding test did it)."""
    inventory = Inventory(tmp_path_factory.mktemp("faults") / "lab", lab_runtime.paths.root)
    inventory.write()
    yield inventory
    if inventory.extras and not inventory.offboarded:
        # Also rebuilds this region's Vault tenants, should a test have stopped before its recovery run.
        inventory.write(**{name: "absent" for name in inventory.extras})
        run_ansible("ansible-playbook", *inventory.args("tenants.yml"), check=False, timeout=RUN_TIMEOUT)


# --- the faults, in order ------------------------------------------------------------------------------------------

def test_openbao_stopped_mid_run_fails_naming_vault_and_the_next_runs_converge(lab, inventory, servers, tmp_path):
    """OpenBao goes away while tenants.yml creates the new tenants' realms: its Vault play fails naming Vault, its URL
    and the fix, and no Tenant object is made. OpenBao comes back empty (a dev server keeps nothing), so the next run
    rebuilds this region's mounts, policies and roles as well."""
    inventory.write(**{name: "present" for name in VAULT_BATCH})
    keycloak, vault = servers["keycloak"], servers["vault"]
    done, returncode, output = interrupt(
        inventory.args("tenants.yml"), lambda: len(set(VAULT_BATCH) & set(keycloak.realms())),
        f"openbao-{REGION}", lab, tmp_path)
    messages = failure_messages(output)
    vault_url = lab["regions"][REGION]["vault"]["addr"]
    assert returncode != 0 and done >= 1
    assert any(re.search(rf"cannot reach Vault at {re.escape(vault_url)} \(connection (refused|reset)\) while \w+ ", m)
               and "start Vault or fix url" in m and "then re-run" in m for m in messages), messages
    assert tenants_of_run(servers) == [], "the tenant play ran although the Vault play had failed"

    assert_converges(inventory.args("tenants.yml"))
    present = inventory.present_here()
    assert sorted(name for name in vault.policies() if name.startswith("tenant-")) == sorted(
        f"tenant-{name}" for name in present)
    assert sorted(vault.roles()) == sorted(present)
    for name in VAULT_BATCH:
        assert vault.role(name)["token_policies"] == [f"tenant-{name}"]
    assert tenants_of_run(servers) == sorted(VAULT_BATCH)


def test_keycloak_stopped_mid_run_fails_naming_keycloak_and_the_next_runs_converge(lab, inventory, servers, tmp_path):
    """Keycloak goes away while the realm play creates realms: some realms exist, some do not, one may be half-made.
    The run fails naming Keycloak, its URL, the operation and the fix; the next run completes every realm."""
    inventory.write(**{name: "present" for name in LATER_BATCH})
    keycloak = servers["keycloak"]
    args = inventory.args("tenants.yml", "--tags", "keycloak")
    done, returncode, output = interrupt(args, lambda: len(set(LATER_BATCH) & set(keycloak.realms())), "keycloak",
                                         lab, tmp_path)
    messages = failure_messages(output)
    assert returncode != 0
    assert 1 <= done < len(LATER_BATCH), f"{done} of {len(LATER_BATCH)} realms existed when Keycloak was stopped"
    assert any(re.search(rf"cannot reach Keycloak at {re.escape(lab['keycloak']['url'])} \(connection (refused|reset)"
                         r"[^)]*\) while [a-z]+ ", m)
               and "start Keycloak or fix auth_keycloak_url" in m and "then re-run" in m for m in messages), messages

    assert_converges(args)
    realms = keycloak.realms()
    assert sorted(name for name in realms if name.startswith(f"f{RUN}-")) == sorted(EXTRAS)
    reference = keycloak.shape(inventory.lab_tenants[0]["name"])
    for name in EXTRAS:
        assert keycloak.shape(name) == reference, f"realm {name} differs from the role's complete realm"


def test_api_server_stopped_mid_site_run_fails_naming_it_and_the_next_runs_converge(lab, lab_runtime, inventory,
                                                                                   servers, tmp_path):
    """The region's API server goes away while site.yml's tenant layer creates Tenant objects: the run fails naming
    the region's API server, its URL and the fix; the next run makes exactly the missing objects and Thanos entries."""
    args = inventory.args("site.yml", "--tags", "tenant")
    server = lab["regions"][REGION]["kubernetes"]["api_server"]
    done, returncode, output = interrupt(
        args, lambda: len(set(LATER_BATCH) & set(tenants_of_run(servers))), f"kube-apiserver-{REGION}", lab, tmp_path)
    messages = failure_messages(output)
    assert returncode != 0 and done >= 1
    assert any(m.startswith(f"Region {REGION}'s Kubernetes API server at {server} is not reachable (")
               and "start the API server or fix its address" in m and "then re-run" in m for m in messages), messages

    assert_converges(args)
    assert tenants_of_run(servers) == sorted(EXTRAS)
    for name in EXTRAS:
        ready = [condition["status"] for condition in (servers["objects"].get_cluster_custom_object(
            GROUP, VERSION, PLURAL, name).get("status") or {}).get("conditions", []) if condition["type"] == "Ready"]
        assert ready == ["True"], f"Tenant {name} is not Ready"
    assert namespaces_of_run(servers) == sorted(EXTRAS)
    listed, limits = thanos_files(lab_runtime)
    assert sorted(listed) == sorted(set(listed)), f"a tenant is listed twice in the hashrings: {listed}"
    assert set(listed) == set(limits), "every hashring tenant has limits and every tenant with limits is in a hashring"
    assert set(EXTRAS) <= set(listed) and set(EXTRAS) <= loki_tenants(servers)


def test_offboarding_the_extra_tenants_leaves_nothing_of_them(inventory, servers, lab_runtime):
    """The lab as before: no realm, policy, role, Tenant, namespace or Thanos entry of this run's tenants."""
    inventory.write(**{name: "absent" for name in EXTRAS})
    returncode, output = run_json(inventory.args("tenants.yml"))
    assert returncode == 0, failure_messages(output)
    inventory.offboarded = True
    keycloak, vault = servers["keycloak"], servers["vault"]
    assert [name for name in keycloak.realms() if name.startswith(f"f{RUN}-")] == []
    assert [name for name in vault.policies() if name.startswith(f"tenant-f{RUN}-")] == []
    assert [name for name in vault.roles() if name.startswith(f"f{RUN}-")] == []
    assert tenants_of_run(servers) == [] and namespaces_of_run(servers) == []
    listed, limits = thanos_files(lab_runtime)
    assert not set(EXTRAS) & (set(listed) | set(limits) | loki_tenants(servers))
