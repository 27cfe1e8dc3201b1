"""The keycloak role against the lab's real Keycloak, run the way an engineer runs it: playbooks/platform.yml --tags
keycloak on a copy of the lab inventory, limited to one region.

The copy's topology holds the lab's tenant records under this run's own names plus one tenant that lives only in
us-east-1, so a run limited to eu-west-1 must still give that tenant its realm, and the lab's own acme and globex
realms (which other layers use) are never touched. The test reads Keycloak back through the admin REST API itself.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import uuid

import pytest
import requests
import yaml

from tests.support.ansible import REPO, role_refusals, run_ansible
from tests.support.keycloak import KeycloakAdmin

pytestmark = pytest.mark.lab

TIMEOUT = 30
LAB_INVENTORY = REPO / "inventories" / "lab"
REALM_FACTS_TASK = "Realm facts | meridian_tenant_realms for the tenants of "
CONVERGE_TASK = "Realms of every tenant in one call"


class Hidden(str):
    """A secret that test reports show as <hidden> (pytest prints fixture values and assertion operands)."""

    def __repr__(self) -> str:
        return "<hidden>"


def assert_not_printed(secret: str, completed) -> None:
    """Fail, without showing the output or the secret, when ``secret`` appears in the run's output."""
    for number, line in enumerate((completed.stdout + completed.stderr).splitlines(), start=1):
        if secret in line:
            raise AssertionError(f"a secret appears in the output, line {number}")


class Admin(KeycloakAdmin):
    """KeycloakAdmin plus the reads this file asserts on."""

    def realm_names(self) -> list[str]:
        response = self.call("GET", "", params={"briefRepresentation": "true"})
        assert response.status_code == 200, response.text
        return [realm["realm"] for realm in response.json()]

    def clients(self, realm: str) -> list[dict]:
        response = self.call("GET", f"/{realm}/clients")
        assert response.status_code == 200, response.text
        return response.json()

    def groups(self, realm: str) -> dict[str, list[str]]:
        """Group name -> member user names."""
        response = self.call("GET", f"/{realm}/groups")
        assert response.status_code == 200, response.text
        groups = {}
        for group in response.json():
            members = self.call("GET", f"/{realm}/groups/{group['id']}/members")
            groups[group["name"]] = sorted(user["username"] for user in members.json())
        return groups

    def create_plain_realm(self, name: str) -> None:
        assert self.call("POST", "", json={"realm": name, "enabled": True}).status_code == 201

    def delete_realm(self, name: str) -> None:
        assert self.call("DELETE", f"/{name}").status_code in (204, 404)


class Inventory:
    """A copy of the lab inventory whose topology holds this run's tenants; rewritten per scenario."""

    def __init__(self, directory: pathlib.Path, prefix: str) -> None:
        self.directory = directory
        shutil.copytree(LAB_INVENTORY, directory)
        self.topology = yaml.safe_load((LAB_INVENTORY / "topology.yml").read_text())
        for tenant in self.topology["tenants"]:
            tenant["name"] = f"{prefix}-{tenant['name']}"
        # Lives only in the hub region: a run limited to eu-west-1 must converge its realm all the same.
        self.topology["tenants"].append({
            "name": f"{prefix}-initech", "display_name": "Initech", "regions": ["us-east-1"],
            "home_region": "us-east-1", "owners": ["bill.lumbergh@initech.example"], "viewers": ["milton@initech.example"],
            "quotas": {"cpu": "2", "memory": "4Gi", "pods": 20}})
        self.write()

    @property
    def tenants(self) -> list[dict]:
        return self.topology["tenants"]

    def names(self, state: str = "present") -> list[str]:
        return sorted(t["name"] for t in self.tenants if t.get("state", "present") == state)

    def tenant(self, suffix: str) -> dict:
        return next(t for t in self.tenants if t["name"].endswith(f"-{suffix}"))

    def write(self) -> None:
        (self.directory / "topology.yml").write_text(yaml.safe_dump(self.topology, sort_keys=False))


def converge(inventory: Inventory, *extra: str, limit: str | None = "eu-west-1", succeed: bool = True):
    """platform.yml --tags keycloak on the inventory copy; returns the completed run (json callback output).

    ``succeed`` asserts a zero exit status; pass False for runs that must fail."""
    args = ["playbooks/platform.yml", "-i", str(inventory.directory), "--tags", "keycloak",
            "-e", f"meridian_lab_dir={REPO / '.lab'}", *extra]
    args += ["-l", limit] if limit else []
    return run_ansible("ansible-playbook", *args, check=succeed, json_output=True, timeout=900)


def output(completed) -> dict:
    return json.loads(completed.stdout)


def changed(completed) -> dict[str, int]:
    return {host: stats["changed"] for host, stats in output(completed)["stats"].items()}


def task_results(completed, name: str) -> dict[str, dict]:
    """host -> result of the (first) task whose name contains ``name``."""
    for play in output(completed)["plays"]:
        for task in play["tasks"]:
            if name in task["task"]["name"]:
                return task["hosts"]
    raise AssertionError(f"no task named like {name!r} ran")


def realm_facts(completed) -> dict[str, dict]:
    """host -> meridian_tenant_realms as the role set it."""
    return {host: result["ansible_facts"]["meridian_tenant_realms"]
            for host, result in task_results(completed, REALM_FACTS_TASK).items()}


def failure(completed) -> str:
    """The message of the failed task (the whole output as text, for 'never printed' checks, is stdout+stderr)."""
    messages = [item.get("msg", "") for play in output(completed)["plays"] for task in play["tasks"]
                for result in task["hosts"].values() if result.get("failed")
                for item in [result, *result.get("results", [])] if item.get("failed")]
    return " ".join(str(message) for message in messages) + completed.stderr


@pytest.fixture(scope="module")
def keycloak(lab) -> dict:
    return dict(lab["keycloak"], admin_password=Hidden(lab["keycloak"]["admin_password"]))


@pytest.fixture(scope="module")
def admin(keycloak) -> Admin:
    return Admin(keycloak)


@pytest.fixture
def inventory(tmp_path, admin):
    """A lab inventory copy with this test's tenants; every realm they name is deleted afterwards."""
    prefix = f"it{uuid.uuid4().hex[:6]}"
    copy = Inventory(tmp_path / "inventory", prefix)
    yield copy
    for name in admin.realm_names():
        if name.startswith(f"{prefix}-"):
            admin.delete_realm(name)


# ---------------------------------------------------------------- converge, facts, re-run, absent

def test_limited_run_converges_every_tenant_of_the_environment_once_and_hands_each_region_its_facts(
        inventory, admin, keycloak):
    present = inventory.names()
    assert len(present) == 3

    # Check mode first: it predicts changes and creates nothing; one module call, its diff naming each tenant.
    planned = converge(inventory, "--check", "--diff")
    assert changed(planned)["eu-west-1"] > 0
    assert not set(present) & set(admin.realm_names())
    prediction = task_results(planned, CONVERGE_TASK)["eu-west-1"]
    assert [diff["before_header"] for diff in prediction["diff"]] == [f"tenant {name}: realm {name} before"
                                                                      for name in present]

    first = converge(inventory)
    assert changed(first)["eu-west-1"] > 0
    realms = admin.realm_names()
    for name in present:
        assert realms.count(name) == 1, f"{name} not converged exactly once"
    # Limited to eu-west-1, the realm of the us-east-1-only tenant exists as well.
    assert inventory.tenant("initech")["name"] in realms

    for tenant in inventory.tenants:
        name = tenant["name"]
        clients = {client["clientId"]: client for client in admin.clients(name)}
        assert {"observability-gateway", "grafana"} <= set(clients)
        claim = [mapper["config"] for mapper in clients["observability-gateway"]["protocolMappers"]
                 if mapper["name"] == "tenant"]
        assert len(claim) == 1 and claim[0]["claim.value"] == name
        groups = admin.groups(name)
        assert groups[f"{name}-owners"] == sorted(owner.lower() for owner in tenant["owners"])
        assert groups[f"{name}-viewers"] == sorted(viewer.lower() for viewer in tenant.get("viewers", []))

    # The facts reach the region in the play, with this region's tenants only and no secret.
    facts = realm_facts(first)
    assert set(facts) == {"eu-west-1"}
    eu_tenants = sorted(t["name"] for t in inventory.tenants if "eu-west-1" in t["regions"])
    assert sorted(facts["eu-west-1"]) == eu_tenants
    for name, realm in facts["eu-west-1"].items():
        assert realm["issuer"] == f"{keycloak['url']}/realms/{name}"
        assert realm["jwks_uri"] == f"{keycloak['url']}/realms/{name}/protocol/openid-connect/certs"
        assert realm["token_endpoint"] == f"{keycloak['url']}/realms/{name}/protocol/openid-connect/token"
        assert realm["gateway_client_id"] == realm["audience"] == "observability-gateway"
        assert realm["tenant_claim"] == "tenant"
        assert requests.get(realm["jwks_uri"], timeout=TIMEOUT).json()["keys"]
    assert "secret" not in json.dumps(facts).lower()

    # Re-run, limited to the other region: nothing changes, and us-east-1 gets its own tenants' realms.
    again = converge(inventory, "--diff", limit="us-east-1")
    assert changed(again) == {"us-east-1": 0}
    assert sorted(realm_facts(again)["us-east-1"]) == sorted(
        t["name"] for t in inventory.tenants if "us-east-1" in t["regions"])

    # Unlimited, gateway secrets asked for: the realms are still converged once (run_once), both regions get facts,
    # and the secrets come hidden.
    both = converge(inventory, "-e", "keycloak_gateway_secrets=true", limit=None)
    assert changed(both) == {"us-east-1": 0, "eu-west-1": 0}
    assert len(task_results(both, CONVERGE_TASK)) == 1
    assert set(realm_facts(both)) == {"us-east-1", "eu-west-1"}
    hidden = task_results(both, "Hidden meridian_tenant_gateway_secrets")
    assert set(hidden) == {"us-east-1", "eu-west-1"} and all(result.get("censored") for result in hidden.values())
    name = inventory.tenant("acme")["name"]
    clients = {client["clientId"]: client for client in admin.clients(name)}
    secret = admin.call("GET", f"/{name}/clients/{clients['observability-gateway']['id']}/client-secret").json()["value"]
    assert secret
    assert_not_printed(secret, both)
    assert changed(converge(inventory, "--check", "--diff")) == {"eu-west-1": 0}

    # Neither the secrets nor the lab's admin password are printed, even at -vvv (whose output is not JSON).
    verbose = converge(inventory, "-vvv", "-e", "keycloak_gateway_secrets=true")
    assert_not_printed(keycloak["admin_password"], verbose)
    assert_not_printed(secret, verbose)


def test_state_absent_removes_that_realm_only(inventory, admin):
    converge(inventory)
    gone, kept = inventory.tenant("globex")["name"], inventory.tenant("acme")["name"]
    inventory.tenant("globex")["state"] = "absent"
    inventory.write()

    planned = converge(inventory, "--check", "--diff")
    assert changed(planned)["eu-west-1"] == 1
    assert gone in admin.realm_names()

    removed = converge(inventory)
    assert changed(removed)["eu-west-1"] == 1
    realms = admin.realm_names()
    assert gone not in realms and kept in realms
    assert gone not in realm_facts(removed)["eu-west-1"]
    assert changed(converge(inventory)) == {"eu-west-1": 0}


# ---------------------------------------------------------------- bad input fails before any change

BAD_TENANTS = {
    "empty owners": ({"owners": []}, "owners must be a non-empty list"),
    "owner that is no user name": ({"owners": ["not a user!"]}, "owners must be a non-empty list"),
    "viewers not a list": ({"viewers": "sre@acme.example"}, "viewers"),
    "unknown state": ({"state": "deleted"}, '.state is \\"deleted\\"'),
    "tenant name not a DNS label": ({"name": "Bad_Name"}, "keycloak_tenants: tenant Bad_Name is invalid"),
    "reserved tenant name": ({"name": "master"}, "keycloak_tenants: tenant master is invalid"),
    "no regions": ({"regions": []}, "lists no regions"),
    "display name too long": ({"display_name": "x" * 300}, "display_name must be a string of at most 255"),
}

BAD_SETTINGS = {
    "missing keycloak URL": ({"keycloak_url": ""}, "keycloak_url must be the http(s) base URL"),
    "keycloak URL without scheme": ({"keycloak_url": "id.example.com"}, "keycloak_url must be the http(s) base URL"),
    "unreachable keycloak": ({"keycloak_url": "http://127.0.0.1:9"}, "keycloak_url: Keycloak does not answer"),
    "wrong admin password": ({"keycloak_admin_password": "wrong-" + uuid.uuid4().hex},
                             "keycloak_admin_password: Keycloak at"),
    "empty admin password": ({"keycloak_admin_password": ""}, "keycloak_admin_password is empty or not set"),
    "unknown admin realm": ({"keycloak_admin_realm": "no-such-realm"}, "keycloak_admin_realm"),
    "same id for both clients": ({"keycloak_grafana_client_id": "observability-gateway"},
                                 "must be two different client ids"),
    "unknown ssl_required": ({"keycloak_ssl_required": "sometimes"}, "keycloak_ssl_required"),
    "adopting a realm that is no tenant": ({"keycloak_adopt_realms": ["someone-else"]},
                                           "keycloak_adopt_realms may only name tenants"),
}
BAD_CASES = [("tenant", case) for case in sorted(BAD_TENANTS)] + [("setting", case) for case in sorted(BAD_SETTINGS)]


TWIN = ("twin", "valid tenants and settings")


@pytest.fixture(scope="module")
def bad_input_outcomes(tmp_path_factory, admin):
    """Every bad-input case of the role, and their twin with valid input, in ONE ansible-playbook process
    (tests/support/ansible.role_refusals): one process instead of one per case.

    Each case has tenants of its own, named after a prefix of its own: a valid tenant first (which must not be
    created), then, for a bad tenant, one with the defect applied. The twin comes last, so that nothing a refused
    case left behind can help it. Yields case -> (outcome, realms of the case's prefix after the run)."""
    directory = tmp_path_factory.mktemp("keycloak-refusals")
    lab_tenants = yaml.safe_load((LAB_INVENTORY / "topology.yml").read_text())["tenants"]
    acme = next(t for t in lab_tenants if t["name"] == "acme")
    globex = next(t for t in lab_tenants if t["name"] == "globex")
    cases, prefixes = [], {}
    for kind, case in [*BAD_CASES, TWIN]:
        prefix = prefixes[(kind, case)] = f"itbad{uuid.uuid4().hex[:6]}"
        records = [dict(acme, name=f"{prefix}-acme"), dict(globex, name=f"{prefix}-globex")]
        variables = {"keycloak_tenants": records}
        if kind == "tenant":
            records[1].update(BAD_TENANTS[case][0])
        elif kind == "setting":
            variables.update(BAD_SETTINGS[case][0])
        cases.append((f"{kind}: {case}", variables))
    outcomes = role_refusals(directory, "meridian.observability.keycloak", cases, host="eu-west-1", timeout=600)
    realms = admin.realm_names()
    yield {key: (outcome, sorted(name for name in realms if name.startswith(f"{prefix}-")))
           for (key, prefix), outcome in zip(prefixes.items(), outcomes)}
    for name in realms:
        if name.startswith("itbad") and any(name.startswith(f"{prefix}-") for prefix in prefixes.values()):
            admin.delete_realm(name)


@pytest.mark.parametrize(("kind", "case"), BAD_CASES, ids=[f"{kind}: {case}" for kind, case in BAD_CASES])
def test_bad_input_fails_before_any_change(bad_input_outcomes, keycloak, kind, case):
    outcome, created = bad_input_outcomes[(kind, case)]
    message = (BAD_TENANTS if kind == "tenant" else BAD_SETTINGS)[case][1]
    assert outcome["refused"], case
    assert message in outcome["result"], (outcome["task"], outcome["result"][-2000:])
    assert created == [], created
    assert keycloak["admin_password"] not in outcome["result"]


def test_the_twin_of_the_bad_input_cases_succeeds(bad_input_outcomes):
    """The refusals above are the role's, not the harness's: the same play shape with valid input converges."""
    outcome, created = bad_input_outcomes[TWIN]
    assert outcome == {"refused": False}
    assert len(created) == 2 and created[0].endswith("-acme") and created[1].endswith("-globex")


def test_realm_of_the_same_name_that_is_not_ours_stops_the_run(inventory, admin):
    clash = inventory.tenant("globex")["name"]
    admin.create_plain_realm(clash)
    completed = converge(inventory, succeed=False)
    assert completed.returncode != 0
    assert f"realm(s) {clash} already exist" in failure(completed) and "keycloak_adopt_realms" in failure(completed)
    assert admin.clients(clash) and "observability-gateway" not in {c["clientId"] for c in admin.clients(clash)}
    assert not {inventory.tenant("acme")["name"], inventory.tenant("initech")["name"]} & set(admin.realm_names())

    # Offboarding it would delete someone else's realm: refused as well.
    inventory.tenant("globex")["state"] = "absent"
    inventory.write()
    refused = converge(inventory, succeed=False)
    assert refused.returncode != 0 and f"realm(s) {clash} already exist" in failure(refused)
    assert clash in admin.realm_names()

    # Handed over explicitly, the realm is adopted as the tenant's and then offboarded.
    inventory.tenant("globex")["state"] = "present"
    inventory.write()
    adopted = converge(inventory, "-e", json.dumps({"keycloak_adopt_realms": [clash]}))
    assert changed(adopted)["eu-west-1"] > 0
    assert "observability-gateway" in {c["clientId"] for c in admin.clients(clash)}
    assert changed(converge(inventory)) == {"eu-west-1": 0}


# ---------------------------------------------------------------- the read-only entry point other layers include

def test_realm_facts_entry_point_reads_the_same_facts_and_names_what_is_missing(inventory, tmp_path):
    converged = realm_facts(converge(inventory))["eu-west-1"]
    playbook = tmp_path / "realm-facts.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Realm facts only", "hosts": "all", "gather_facts": False,
        "tasks": [{"name": "Read them", "ansible.builtin.include_role": {
            "name": "meridian.observability.keycloak", "tasks_from": "realm_facts"}}]}]))

    def read(*extra: str, succeed: bool = True):
        return run_ansible("ansible-playbook", str(playbook), "-i", str(inventory.directory),
                           "-e", f"meridian_lab_dir={REPO / '.lab'}", "--check", *extra,
                           check=succeed, json_output=True, timeout=600)

    completed = read()
    assert changed(completed) == {"us-east-1": 0, "eu-west-1": 0}
    facts = realm_facts(completed)
    assert facts["eu-west-1"] == converged
    assert sorted(facts["us-east-1"]) == sorted(t["name"] for t in inventory.tenants if "us-east-1" in t["regions"])

    # A present tenant whose realm was never converged: named, with the command that fixes it.
    newcomer = dict(inventory.tenant("globex"), name=inventory.tenant("globex")["name"] + "-new")
    inventory.tenants.append(newcomer)
    inventory.write()
    missing = read("-l", "eu-west-1", succeed=False)
    assert missing.returncode != 0
    assert f"keycloak realm(s) {newcomer['name']} of tenant(s) in eu-west-1 do not exist" in failure(missing)
    assert "--tags keycloak" in failure(missing)

    unreachable = read("-e", "keycloak_url=http://127.0.0.1:9", succeed=False)
    assert unreachable.returncode != 0 and "keycloak_url: Keycloak did not answer" in failure(unreachable)
