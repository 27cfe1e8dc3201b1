# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: topology
short_description: One host per region of a meridian.observability environment topology
version_added: 0.1.0
description:
  - Reads an environment's C(topology.yml) (environment, address supernet, regions, tenants) and turns it into
    one host per region, named by the region, so C(ansible-playbook -l us-east-1) converges exactly that region.
  - Creates the groups C(hub), C(spokes), C(env_<environment>) and C(tenant_<name>) (the regions where a tenant
    lives; C(-) in tenant names becomes C(_)).
  - Sets host variables with the region's CIDR plan, its peers, its cluster settings and the tenants placed in it.
  - Validates the whole file before Ansible runs any task. Every problem names its field and the fix, and unknown keys
    are errors, so a typo never passes silently.
  - Supports the constructed features C(compose), C(groups) and C(keyed_groups).
extends_documentation_fragment:
  - ansible.builtin.constructed
options:
  plugin:
    description: Marks the file as a topology for this plugin.
    type: str
    required: true
    choices: [meridian.observability.topology]
  connection:
    description: Connection used for the region hosts; every layer talks to AWS and Kubernetes APIs from the controller.
    type: str
    default: local
  python_interpreter:
    description:
      - Python used for the region hosts. Empty means the Python running Ansible (the project's virtualenv), because
        interpreter discovery can pick a Python without the AWS and Kubernetes libraries.
    type: str
    default: ""
"""

EXAMPLES = r"""
# inventories/dev/topology.yml
plugin: meridian.observability.topology
environment:
  name: dev
  aws_account_id: "111111111111"
  aws_role_arn: arn:aws:iam::111111111111:role/meridian-deployer
network:
  supernet: 10.64.0.0/12
  region_prefix: 16
regions:
  us-east-1: {role: hub, index: 0, azs: [a, b, c]}
  eu-west-1: {role: spoke, index: 1, azs: [a, b, c]}
tenants:
  - name: acme
    regions: [us-east-1, eu-west-1]
    home_region: us-east-1
    owners: [ops@acme.example]
"""

import io
import os
import sys

import yaml
from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.template import trust_as_template

from ansible_collections.meridian.observability.plugins.module_utils._topology.errors import TopologyError
from ansible_collections.meridian.observability.plugins.module_utils._topology.model import (
    build_topology,
    region_hostvars,
    tenant_group_name,
)


PLUGIN_OPTIONS = frozenset({
    "plugin", "connection", "python_interpreter", "compose", "groups", "keyed_groups", "strict",
    "leading_separator", "use_extra_vars",
})


class InventoryModule(BaseInventoryPlugin, Constructable):
    """Region hosts and tenant groups from a topology file."""

    NAME = "meridian.observability.topology"

    def verify_file(self, path):
        """Accept only files named topology.yml / topology.yaml; the content check happens in parse."""
        return super().verify_file(path) and os.path.basename(path) in ("topology.yml", "topology.yaml")

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        document = self._read_topology_file(path)
        # Plugin options (connection, compose, keyed_groups, ...) are the plugin's; the rest is the topology.
        # Options are trusted as templates, as BaseInventoryPlugin._read_config_data trusts its configuration: compose,
        # groups and keyed_groups are Jinja expressions. The topology's own values stay untrusted data.
        options = {key: _trusted(value) for key, value in document.items() if key in PLUGIN_OPTIONS}
        self.set_options(direct=options, var_options=self._vars)
        topology_document = {key: value for key, value in document.items() if key == "plugin" or key not in PLUGIN_OPTIONS}
        try:
            topology = build_topology(topology_document, source=path)
        except TopologyError as err:
            raise AnsibleParserError(f"Invalid topology {path}:\n{err}") from None
        self._populate(topology)

    def _read_topology_file(self, path):
        """The file parsed once, into plain Python values.

        Ansible's own loader would tag every value with its origin and deep-copy the result (and
        _read_config_data would load the file a second time); at 1,000 tenants that was most of the inventory's time.
        The loader still reads the bytes, so a vault-encrypted topology keeps working.
        """
        stream = io.StringIO(str(self.loader.get_text_file_contents(path)))
        stream.name = path  # YAML errors then say: in "<path>", line N, column M
        try:
            document = yaml.load(stream, Loader=_TopologyYamlLoader)
        except yaml.YAMLError as err:
            raise AnsibleParserError(f"{path} is not valid YAML: {err}") from None
        if not isinstance(document, dict) or document.get("plugin") != self.NAME:
            raise AnsibleParserError(f"{path}: not a topology file (expected 'plugin: {self.NAME}').")
        return document

    def _populate(self, topology):
        environment_group = self.inventory.add_group(f"env_{topology['environment']['name']}")
        hub_group = self.inventory.add_group("hub")
        spokes_group = self.inventory.add_group("spokes")
        connection = self.get_option("connection")
        interpreter = self.get_option("python_interpreter") or sys.executable
        strict = self.get_option("strict")

        for region_name in sorted(topology["regions"], key=lambda name: topology["regions"][name]["index"]):
            self.inventory.add_host(region_name, group=environment_group)
            self.inventory.add_child(hub_group if topology["regions"][region_name]["role"] == "hub" else spokes_group, region_name)
            hostvars = region_hostvars(topology, region_name)
            hostvars["ansible_connection"] = connection
            hostvars["ansible_python_interpreter"] = interpreter
            for key, value in hostvars.items():
                self.inventory.set_variable(region_name, key, value)
            self._set_composite_vars(self.get_option("compose"), hostvars, region_name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, region_name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, region_name, strict=strict)

        for tenant in topology["tenants"]:
            group = self.inventory.add_group(tenant_group_name(tenant["name"]))
            for region_name in tenant["regions"]:
                self.inventory.add_child(group, region_name)


class _TopologyYamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML's safe loader (libyaml's when present) with string keys, refusing a key given twice in one mapping.

    A duplicated key would otherwise let the second value win without a word, the kind of typo the topology's
    validation exists to stop.
    """

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _value_node in node.value if isinstance(node, yaml.MappingNode) else ():
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    f"while reading the mapping that starts here (key {key_node.value!r} first given on line {seen[key_node.value] + 1})",
                    node.start_mark, f"key {key_node.value!r} is given twice; remove one of them", key_node.start_mark)
            seen[key_node.value] = key_node.start_mark.line
        mapping = super().construct_mapping(node, deep=deep)
        # Keys are names (regions, fields): one YAML reads as a number or boolean becomes its string, so validation
        # reports it like any other wrong name.
        if all(isinstance(key, str) for key in mapping):
            return mapping
        return {key if isinstance(key, str) else str(key): value for key, value in mapping.items()}


def _trusted(value):
    """``value`` with every string trusted as a template, for the plugin's own options."""
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    if isinstance(value, str):
        return trust_as_template(value)
    return value
