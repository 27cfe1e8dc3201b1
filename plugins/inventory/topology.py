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

import os
import sys

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

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
        document = self.loader.load_from_file(path, cache="none")
        if not isinstance(document, dict) or document.get("plugin") != self.NAME:
            raise AnsibleParserError(f"{path}: not a topology file (expected 'plugin: {self.NAME}').")
        self._read_config_data(path)
        # Plugin options (connection, compose, keyed_groups, ...) are the plugin's; the rest is the topology.
        topology_document = {key: value for key, value in document.items() if key == "plugin" or key not in PLUGIN_OPTIONS}
        try:
            topology = build_topology(_plain(topology_document), source=path)
        except TopologyError as err:
            raise AnsibleParserError(f"Invalid topology {path}:\n{err}") from None
        self._populate(topology)

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


def _plain(value):
    """Unwrap Ansible's tagged YAML values into plain Python so validation sees ordinary types."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    for plain_type in (int, float, str):
        if isinstance(value, plain_type):
            return plain_type(value)
    return value
