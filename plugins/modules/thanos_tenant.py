#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: thanos_tenant
short_description: Manage a tenant's place in Thanos Receive hashrings and its write limits
version_added: 0.1.0
description:
  - Adds a tenant to one hashring of a Thanos Receive hashrings document and sets its write limits in the
    limits document, or removes it from both.
  - Reads both documents, validates the whole result against the formats Thanos v0.42 reads, and writes only
    the documents that change. Every other tenant, hashring and key is kept.
  - The hashring must exist. The module creates a hashring only when O(hashring_endpoints) is given; the new
    hashring is placed before the catch-all hashring (the one without a tenant list), if there is one.
  - A tenant cannot be added to a catch-all hashring, because giving it a tenant list would stop it serving
    every other tenant.
  - Putting a tenant in another hashring moves it. A hashring whose last tenant leaves is removed, because
    Thanos would otherwise treat it as a catch-all.
  - The documents live in two files or in two keys of one Kubernetes ConfigMap; both behave the same.
options:
  name:
    description: Tenant id, as sent in the tenant header. A DNS-1123 label of at most 40 characters.
    type: str
    required: true
  state:
    description: Whether the tenant is in the documents.
    type: str
    choices: [present, absent]
    default: present
  hashring:
    description:
      - Name of the hashring that serves the tenant. Required when O(state=present); ignored when absent.
    type: str
  hashring_endpoints:
    description:
      - Endpoints of O(hashring), used to create it when it does not exist.
      - When the hashring exists these must match its endpoints; the module never rewires an existing hashring.
    type: list
    elements: dict
    suboptions:
      address:
        description: gRPC address of a receive node, C(host:port).
        type: str
        required: true
      capnproto_address:
        description: Cap'n Proto address of the node, C(host:port). Thanos assumes port 19391 when omitted.
        type: str
      az:
        description: Availability zone of the node.
        type: str
  limits:
    description:
      - The tenant's write limits (its C(write.tenants) entry). All values are non-negative integers and
        C(0) means no limit. A limit left out falls back to C(write.default).
      - Omit O(limits) to leave the tenant's limits as they are. An empty mapping removes the tenant's
        entry, so every limit comes from C(write.default).
    type: dict
    suboptions:
      head_series_limit:
        description:
          - Maximum active (head) series for the tenant. Exceeding it answers HTTP 429.
          - Thanos enforces it only when C(write.global.meta_monitoring_url) is set; the module warns otherwise.
        type: int
      request:
        description: Per remote-write request limits. Exceeding one answers HTTP 413.
        type: dict
        suboptions:
          size_bytes_limit:
            description: Maximum size of a request body in bytes.
            type: int
          series_limit:
            description: Maximum number of series in one request.
            type: int
          samples_limit:
            description: Maximum number of samples in one request.
            type: int
attributes:
  check_mode:
    support: full
    description: Computes the change and the diff without writing.
  diff_mode:
    support: full
    description: Before and after of both documents, re-rendered so only meaningful changes show.
  action_group:
    support: full
    membership: [meridian.observability.thanos]
    description: Use C(module_defaults) with C(group/meridian.observability.thanos) to set the store once.
extends_documentation_fragment:
  - meridian.observability.thanos
  - kubernetes.core.k8s_auth_options
seealso:
  - module: meridian.observability.thanos_tenant_info
  - module: meridian.observability.thanos_tenants
    description: The same for many tenants in one call (one read and at most one write of the store).
author:
  - Meridian platform engineering (@meridian-platform)
"""

EXAMPLES = r"""
- name: Tenant acme in hashring tenants, at most 5000 series per request
  meridian.observability.thanos_tenant:
    name: acme
    hashring: tenants
    limits:
      request:
        series_limit: 5000
        samples_limit: 50000
    hashrings_path: /etc/thanos/hashrings.json
    limits_path: /etc/thanos/limits.yaml

- name: Create the hashring on first use, from the lab's receive node
  meridian.observability.thanos_tenant:
    name: acme
    hashring: tenants
    hashring_endpoints:
      - address: 127.0.0.1:21901
        capnproto_address: 127.0.0.1:21391
    hashrings_path: /etc/thanos/hashrings.json
    limits_path: /etc/thanos/limits.yaml

- name: The same on EKS, where Receive mounts a ConfigMap
  meridian.observability.thanos_tenant:
    name: acme
    hashring: tenants
    limits:
      head_series_limit: 200000
    configmap_namespace: thanos
    configmap_name: thanos-receive-tenants
    kubeconfig: ~/.kube/eks-us-east-1
    context: platform-admin
- name: From a pod with a service account, or with a token (kubernetes.core's connection options)
  meridian.observability.thanos_tenant:
    name: acme
    hashring: tenants
    configmap_namespace: thanos
    configmap_name: thanos-receive-tenants
    host: https://kubernetes.default.svc
    api_key: "{{ thanos_tenants_token }}"
    ca_cert: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt

- name: Remove the tenant
  meridian.observability.thanos_tenant:
    name: acme
    state: absent
    hashrings_path: /etc/thanos/hashrings.json
    limits_path: /etc/thanos/limits.yaml
"""

RETURN = r"""
tenant:
  description: The tenant after the run (only O(name) and O(state) when absent).
  returned: always
  type: dict
  contains:
    name:
      description: Tenant id.
      type: str
      returned: always
    state:
      description: V(present) or V(absent).
      type: str
      returned: always
    hashring:
      description: The hashring Thanos routes the tenant to.
      type: str
      returned: when present
    listed:
      description: Whether the tenant is listed by name in a hashring.
      type: bool
      returned: when present
    limits:
      description: The tenant's own C(write.tenants) entry, or null when it has none.
      type: dict
      returned: when present
    effective_limits:
      description: The limits receive enforces, defaults from C(write.default) applied; 0 means none.
      type: dict
      returned: when present
      sample: {request: {size_bytes_limit: 0, series_limit: 1000, samples_limit: 0}, head_series_limit: 0}
hashrings_changed:
  description: Whether the hashrings document was (or, in check mode, would be) changed.
  returned: always
  type: bool
limits_changed:
  description: Whether the limits document was (or, in check mode, would be) changed.
  returned: always
  type: bool
created_hashring:
  description: Name of the hashring created from O(hashring_endpoints), or null.
  returned: always
  type: str
removed_hashrings:
  description: Hashrings removed because their last tenant left.
  returned: always
  type: list
  elements: str
attempts:
  description: How many read-compare-write rounds were needed (more than 1 after a concurrent change).
  returned: always
  type: int
diff:
  description: Before and after of both documents, when run with C(--diff).
  returned: when diff mode is on
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meridian.observability.plugins.module_utils._thanos.args import (
    STORE_MUTUALLY_EXCLUSIVE,
    STORE_REQUIRED_ONE_OF,
    STORE_REQUIRED_TOGETHER,
    store_argument_spec,
    tenant_argument_spec,
)
from ansible_collections.meridian.observability.plugins.module_utils._thanos.errors import (
    ThanosError,
    ThanosMissingLibraryError,
)
from ansible_collections.meridian.observability.plugins.module_utils._thanos.service import TenantService
from ansible_collections.meridian.observability.plugins.module_utils._thanos.store import store_from_params


def main() -> None:
    argument_spec = store_argument_spec()
    argument_spec.update(tenant_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=STORE_MUTUALLY_EXCLUSIVE,
        required_one_of=STORE_REQUIRED_ONE_OF,
        required_together=STORE_REQUIRED_TOGETHER,
        required_if=[("state", "present", ("hashring",))],
        supports_check_mode=True,
    )
    try:
        service = TenantService(store_from_params(module.params))
        result = service.ensure(module.params, check_mode=module.check_mode, want_diff=module._diff)
    except ThanosMissingLibraryError as err:
        module.fail_json(msg=missing_required_lib(err.library), exception=err.exception)
    except ThanosError as err:
        module.fail_json(msg=str(err), **err.details)
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
