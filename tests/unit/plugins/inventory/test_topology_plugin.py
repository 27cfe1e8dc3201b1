"""The inventory plugin through real ansible-inventory and ansible-playbook runs."""

from __future__ import annotations

import ipaddress
import itertools
import json
import pathlib
import re

import pytest
import yaml

from tests.support.ansible import REPO, recap, run_ansible, unwrap_unsafe

ENVIRONMENTS = ["dev", "stage", "prod", "lab"]


def inventory_json(inventory):
    return unwrap_unsafe(json.loads(run_ansible("ansible-inventory", "-i", str(inventory), "--list").stdout))


def test_dev_graph_has_region_hosts_and_groups():
    graph = run_ansible("ansible-inventory", "-i", "inventories/dev", "--graph").stdout
    for name in ("@hub:", "@spokes:", "@env_dev:", "@tenant_acme:", "@tenant_globex:", "@tenant_initech:", "us-east-1", "eu-west-1"):
        assert name in graph
    data = inventory_json("inventories/dev")
    assert data["hub"]["hosts"] == ["us-east-1"]
    assert data["spokes"]["hosts"] == ["eu-west-1"]
    assert data["tenant_globex"]["hosts"] == ["eu-west-1"]
    assert sorted(data["tenant_acme"]["hosts"]) == ["eu-west-1", "us-east-1"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_inventory_parses_with_a_plan_per_region(environment):
    data = inventory_json(f"inventories/{environment}")
    hostvars = data["_meta"]["hostvars"]
    assert set(hostvars) == {"us-east-1", "eu-west-1"}
    for region, variables in hostvars.items():
        assert variables["meridian_region"] == region
        assert variables["meridian_environment"]["name"] == environment
        vpc = ipaddress.ip_network(variables["meridian_cidr_plan"]["vpc_cidr"])
        assert vpc.subnet_of(ipaddress.ip_network(variables["meridian_supernet"]))
        assert pathlib.Path(variables["ansible_python_interpreter"]).name.startswith("python")


def test_supernets_of_all_environments_are_disjoint():
    supernets = {}
    for environment in ENVIRONMENTS:
        document = yaml.safe_load((REPO / "inventories" / environment / "topology.yml").read_text())
        supernets[environment] = ipaddress.ip_network(document["network"]["supernet"])
    for (left, left_net), (right, right_net) in itertools.combinations(supernets.items(), 2):
        assert not left_net.overlaps(right_net), f"{left} {left_net} overlaps {right} {right_net}"


def test_site_check_mode_limited_to_one_region_touches_only_it():
    # The AWS layers call STS, the keycloak and istio layers read Keycloak, the vault layer reads Vault (with a
    # token from VAULT_TOKEN) and the observability layer reads its bucket (STS) and the Thanos ConfigMap, even in
    # check mode (dev has no reachable endpoints here); those layers are proven against the lab in tests/integration
    # and molecule.
    result = run_ansible("ansible-playbook", "playbooks/site.yml", "-i", "inventories/dev", "-l", "eu-west-1", "--check",
                         "--skip-tags", "network,eks,keycloak,istio,vault,observability")
    counters = recap(result.stdout, "eu-west-1")
    assert counters["ok"] > 0
    assert (counters["changed"], counters["unreachable"], counters["failed"]) == (0, 0, 0)
    assert "us-east-1" not in result.stdout[result.stdout.index("PLAY RECAP"):]
    assert "[us-east-1]" not in result.stdout


def _write_bad(tmp_path, change):
    document = yaml.safe_load((REPO / "inventories" / "dev" / "topology.yml").read_text())
    change(document)
    (tmp_path / "topology.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    return tmp_path


@pytest.mark.parametrize(("case", "change", "field"), [
    ("overlapping CIDR", lambda d: d["regions"]["eu-west-1"].update(index=0), "regions.eu-west-1.index"),
    ("duplicate tenant", lambda d: d["tenants"].append(dict(d["tenants"][0])), "tenants[3].name"),
    ("upper-case name", lambda d: d["tenants"][0].update(name="Acme"), "tenants[0].name"),
    ("reserved name", lambda d: d["tenants"][0].update(name="kube-system"), "tenants[0].name"),
    ("unknown key", lambda d: d["tenants"][0].update(quota={}), "tenants[0].quota"),
])
def test_bad_topology_stops_site_before_any_task(tmp_path, case, change, field):
    inventory = _write_bad(tmp_path, change)
    result = run_ansible("ansible-playbook", "playbooks/site.yml", "-i", str(inventory), "--check", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"{case}: playbook succeeded"
    assert f"{field}:" in output, f"{case}: message does not name {field}:\n{output}"
    assert "Fix:" in output
    assert "TASK [" not in output, f"{case}: a task ran before validation failed"


def test_constructed_keyed_groups(tmp_path):
    document = yaml.safe_load((REPO / "inventories" / "dev" / "topology.yml").read_text())
    document["keyed_groups"] = [{"key": "meridian_nat_gateways", "prefix": "nat"}]
    document["compose"] = {"vpc_cidr": "meridian_cidr_plan.vpc_cidr"}
    (tmp_path / "topology.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    data = inventory_json(tmp_path)
    assert sorted(data["nat_single"]["hosts"]) == ["eu-west-1", "us-east-1"]
    assert data["_meta"]["hostvars"]["eu-west-1"]["vpc_cidr"] == "10.65.0.0/16"


def test_bad_topology_prints_only_its_own_problems(tmp_path):
    """A newcomer's mistake shows the topology's error alone, not warnings from fallback inventory plugins."""
    inventory = _write_bad(tmp_path, lambda d: d["tenants"][1].update(name="Globex"))
    result = run_ansible("ansible-inventory", "-i", str(inventory), "--list", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "tenants[1].name: 'Globex' is not a DNS-1123 label. Fix: Rename the tenant: lower-case it." in output
    for noise in ("yaml plugin", "ini plugin", "auto plugin", "inventory.yaml", "inventory.ini", "Unable to parse"):
        assert noise not in output, f"{noise!r} in:\n{output}"
    # Ansible itself wraps a plugin's error as "Failed to parse inventory with <plugin>"; only ours may appear there.
    wrappers = set(re.findall(r"Failed to parse inventory with '([^']+)' plugin", output))
    assert wrappers == {"ansible_collections.meridian.observability.plugins.inventory.topology"}, output
