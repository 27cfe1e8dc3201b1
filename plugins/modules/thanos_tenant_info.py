#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: thanos_tenant_info
short_description: List Thanos Receive tenants, their hashrings and their effective limits
version_added: 0.1.0
description:
  - Reads the hashrings and limits documents (files or a Kubernetes ConfigMap) and lists every tenant named in
    either one, with the hashring Thanos routes it to and the limits receive enforces for it.
  - Effective limits take each limit the tenant does not set from C(write.default); C(0) means no limit.
  - Both documents are validated as they are read, so a broken document fails the task.
options:
  name:
    description: Only report this tenant. Without it every tenant is listed.
    type: str
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
  action_group:
    support: full
    membership: [meridian.observability.thanos]
    description: Use C(module_defaults) with C(group/meridian.observability.thanos) to set the store once.
extends_documentation_fragment:
  - meridian.observability.thanos
  - kubernetes.core.k8s_auth_options
seealso:
  - module: meridian.observability.thanos_tenant
author:
  - Meridian platform engineering (@meridian-platform)
"""

EXAMPLES = r"""
- name: Every tenant of the lab's us-east-1 receive
  meridian.observability.thanos_tenant_info:
    hashrings_path: .lab/thanos/us-east-1/hashrings.json
    limits_path: .lab/thanos/us-east-1/limits.yaml
  register: thanos

- name: One tenant from the EKS ConfigMap
  meridian.observability.thanos_tenant_info:
    name: acme
    configmap_namespace: thanos
    configmap_name: thanos-receive-tenants
  register: acme
"""

RETURN = r"""
tenants:
  description: Tenants named in the hashrings (by an exact tenant list) or in C(write.tenants), sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Tenant id.
      type: str
      returned: always
    hashring:
      description: The hashring Thanos routes the tenant to (a catch-all included); null when none matches.
      type: str
      returned: always
    listed:
      description: Whether the tenant is listed by name in a hashring.
      type: bool
      returned: always
    limits:
      description: The tenant's own C(write.tenants) entry, or null.
      type: dict
      returned: always
    effective_limits:
      description: Limits receive enforces for the tenant, with defaults applied.
      type: dict
      returned: always
      sample: {request: {size_bytes_limit: 0, series_limit: 1000, samples_limit: 0}, head_series_limit: 0}
hashrings:
  description: Every hashring in order, with its tenants and endpoint addresses.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: tenants, tenants: [acme], tenant_matcher_type: exact, catch_all: false, endpoints: ["127.0.0.1:21901"]}
    - {name: default, tenants: [], tenant_matcher_type: exact, catch_all: true, endpoints: ["127.0.0.1:21901"]}
default_limits:
  description: The limits a tenant without its own entry gets (C(write.default)).
  returned: always
  type: dict
head_series_limits_enforced:
  description: Whether Thanos enforces head series limits (C(write.global.meta_monitoring_url) is set).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meridian.observability.plugins.module_utils._thanos.args import (
    STORE_MUTUALLY_EXCLUSIVE,
    STORE_REQUIRED_ONE_OF,
    STORE_REQUIRED_TOGETHER,
    store_argument_spec,
)
from ansible_collections.meridian.observability.plugins.module_utils._thanos.errors import (
    ThanosError,
    ThanosMissingLibraryError,
)
from ansible_collections.meridian.observability.plugins.module_utils._thanos.service import TenantService
from ansible_collections.meridian.observability.plugins.module_utils._thanos.store import store_from_params


def main() -> None:
    argument_spec = store_argument_spec()
    argument_spec["name"] = {"type": "str"}
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=STORE_MUTUALLY_EXCLUSIVE,
        required_one_of=STORE_REQUIRED_ONE_OF,
        required_together=STORE_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    try:
        result = TenantService(store_from_params(module.params)).info(name=module.params["name"])
    except ThanosMissingLibraryError as err:
        module.fail_json(msg=missing_required_lib(err.library), exception=err.exception)
    except ThanosError as err:
        module.fail_json(msg=str(err), **err.details)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
