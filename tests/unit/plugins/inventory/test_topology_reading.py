"""How the inventory plugin reads topology.yml: once, as plain data, duplicates refused, options trusted, data not.

In-process through Ansible's plugin loader and InventoryData (no ansible-inventory subprocess), so each test costs
milliseconds; the command-line behaviour is proved in test_topology_plugin.py.
"""

from __future__ import annotations

import copy
import importlib.util
import pathlib

import pytest
import yaml
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, inventory_loader
from ansible.template import is_trusted_as_template
from ansible.utils.collection_loader import AnsibleCollectionConfig

from ansible_collections.meridian.observability.plugins.module_utils._topology.model import build_topology, region_hostvars
from tests.support.ansible import REPO

LAB_TOPOLOGY = REPO / "inventories" / "lab" / "topology.yml"
# What Ansible itself adds to every host of a file-based inventory; everything else comes from the model.
ANSIBLE_HOST_VARS = {"inventory_file", "inventory_dir"}


class CountingLoader(DataLoader):
    """Ansible's DataLoader, recording which files are read and which go through its YAML loader."""

    def __init__(self):
        super().__init__()
        self.text_reads = []
        self.yaml_loads = []

    def get_text_file_contents(self, file_name, encoding=None):
        self.text_reads.append(file_name)
        return super().get_text_file_contents(file_name, encoding)

    def load_from_file(self, file_name, *args, **kwargs):
        self.yaml_loads.append(file_name)
        return super().load_from_file(file_name, *args, **kwargs)


@pytest.fixture(scope="module")
def plugin_factory():
    # The finder is process-wide; unit tests that imported the collection first may have set it up already.
    if AnsibleCollectionConfig.collection_finder is None:
        init_plugin_loader([str(REPO / "collections")])
    return lambda: inventory_loader.get("meridian.observability.topology")


def parse(plugin_factory, path, loader=None):
    inventory = InventoryData()
    plugin_factory().parse(inventory, loader or DataLoader(), str(path))
    return inventory


def write_topology(tmp_path, text):
    path = tmp_path / "topology.yml"
    path.write_text(text)
    return path


def lab_document():
    return yaml.safe_load(LAB_TOPOLOGY.read_text())


def test_the_file_is_read_once_and_never_through_ansibles_yaml_loader(plugin_factory):
    loader = CountingLoader()
    inventory = parse(plugin_factory, LAB_TOPOLOGY, loader)
    assert loader.text_reads == [str(LAB_TOPOLOGY)]
    assert loader.yaml_loads == []
    assert set(inventory.hosts) == {"us-east-1", "eu-west-1"}


def test_host_vars_are_exactly_the_models_plus_connection_settings(plugin_factory):
    """Reading the file differently changed nothing a layer sees: every variable equals region_hostvars'."""
    inventory = parse(plugin_factory, LAB_TOPOLOGY)
    topology = build_topology(lab_document(), source=str(LAB_TOPOLOGY))
    for region in ("us-east-1", "eu-west-1"):
        host_vars = dict(inventory.get_host(region).vars)
        assert host_vars.pop("ansible_connection") == "local"
        assert pathlib.Path(host_vars.pop("ansible_python_interpreter")).name.startswith("python")
        assert {key: value for key, value in host_vars.items() if key not in ANSIBLE_HOST_VARS} == region_hostvars(topology, region)
    assert sorted(inventory.groups["tenant_acme"].hosts, key=str) == sorted(inventory.hosts.values(), key=str)


def test_options_are_trusted_as_templates_and_topology_values_are_not(plugin_factory, tmp_path):
    """compose is Jinja the operator wrote; a tenant's display name is data and must never be templated."""
    document = lab_document()
    document["tenants"][0]["display_name"] = "{{ lookup('ansible.builtin.env', 'HOME') }}"
    document["compose"] = {"vpc_cidr": "meridian_cidr_plan.vpc_cidr"}
    inventory = parse(plugin_factory, write_topology(tmp_path, yaml.safe_dump(document, sort_keys=False)))
    host_vars = inventory.get_host("eu-west-1").vars
    assert host_vars["vpc_cidr"] == "10.113.0.0/16"
    assert is_trusted_as_template(host_vars["ansible_connection"])
    acme = next(tenant for tenant in host_vars["meridian_tenants"] if tenant["name"] == "acme")
    assert acme["display_name"] == "{{ lookup('ansible.builtin.env', 'HOME') }}"
    assert not is_trusted_as_template(acme["display_name"])
    assert not is_trusted_as_template(host_vars["meridian_region"])


LAB_TEXT = LAB_TOPOLOGY.read_text()
GLOBEX_QUOTAS = '    quotas: {cpu: "4", memory: 8Gi, pods: 50}\n'


def test_a_key_given_twice_is_refused_naming_the_file_the_key_and_both_lines(plugin_factory, tmp_path):
    assert LAB_TEXT.count(GLOBEX_QUOTAS) == 1
    text = LAB_TEXT.replace(GLOBEX_QUOTAS, GLOBEX_QUOTAS + '    quotas: {cpu: "8", memory: 8Gi, pods: 50}\n')
    path = write_topology(tmp_path, text)
    first_line = text.splitlines().index(GLOBEX_QUOTAS.rstrip("\n")) + 1
    with pytest.raises(AnsibleParserError) as raised:
        parse(plugin_factory, path)
    message = str(raised.value)
    assert f"key 'quotas' is given twice; remove one of them\n  in \"{path}\", line {first_line + 1}," in message
    assert f"first given on line {first_line})" in message


def test_the_same_key_in_different_mappings_and_a_merge_key_override_are_accepted(plugin_factory, tmp_path):
    """The twin of the duplicate-key refusal: every tenant has its own name, and '<<' then a key overrides."""
    text = LAB_TEXT.replace("    quotas: {cpu: \"16\", memory: 32Gi, pods: 200}\n",
                            "    quotas: &acme_quotas {cpu: \"16\", memory: 32Gi, pods: 200}\n")
    text = text.replace(GLOBEX_QUOTAS, "    quotas: {<<: *acme_quotas, cpu: \"4\"}\n")
    inventory = parse(plugin_factory, write_topology(tmp_path, text))
    globex = next(tenant for tenant in inventory.get_host("eu-west-1").vars["meridian_tenants"] if tenant["name"] == "globex")
    assert globex["quotas"] == {"cpu": "4", "memory": "32Gi", "pods": 200}


def test_invalid_yaml_names_the_file_and_line(plugin_factory, tmp_path):
    text = LAB_TEXT.replace("    home_region: eu-west-1\n", "    home_region: [eu-west-1\n")
    path = write_topology(tmp_path, text)
    with pytest.raises(AnsibleParserError) as raised:
        parse(plugin_factory, path)
    assert f"{path} is not valid YAML: " in str(raised.value)
    assert f'in "{path}", line ' in str(raised.value)


def test_a_key_yaml_reads_as_a_number_is_reported_as_a_name(plugin_factory, tmp_path):
    document = lab_document()
    document["tenants"][1]["quotas"][7] = "x"
    with pytest.raises(AnsibleParserError, match=r"tenants\[1\]\.quotas\.7: unknown key '7'\."):
        parse(plugin_factory, write_topology(tmp_path, yaml.safe_dump(document, sort_keys=False)))


def test_a_file_of_another_plugin_is_refused_and_the_lab_file_is_not(plugin_factory, tmp_path):
    path = write_topology(tmp_path, LAB_TEXT.replace("plugin: meridian.observability.topology", "plugin: ansible.builtin.yaml"))
    with pytest.raises(AnsibleParserError, match="not a topology file"):
        parse(plugin_factory, path)
    assert parse(plugin_factory, write_topology(tmp_path, LAB_TEXT)).hosts


def load_bench():
    spec = importlib.util.spec_from_file_location("inventory_scale", REPO / "bench" / "inventory_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("placement", "regions_per_tenant"), [("lab", [2, 1, 2, 1]), ("every-region", [3, 3, 3, 3])])
def test_the_benchmarks_topologies_are_valid_and_placed_as_documented(placement, regions_per_tenant):
    """bench/inventory_scale.py measures a topology the plugin accepts, with the placement its docstring describes."""
    document = load_bench().topology_document(4, placement)
    topology = build_topology(copy.deepcopy(document))
    assert [len(tenant["regions"]) for tenant in topology["tenants"]] == regions_per_tenant
    assert [tenant["home_region"] for tenant in topology["tenants"]] == ["us-east-1", "eu-west-1", "ap-southeast-1", "us-east-1"]
    assert len({tenant["name"] for tenant in topology["tenants"]}) == 4
