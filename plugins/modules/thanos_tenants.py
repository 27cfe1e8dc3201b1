#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: thanos_tenants
short_description: Manage many tenants' places in Thanos Receive hashrings and their write limits in one call
version_added: 0.2.0
description:
  - The batched form of M(meridian.observability.thanos_tenant) for a role or a region that converges all its
    tenants at once. Each element of O(tenants) takes the options M(meridian.observability.thanos_tenant) takes
    for one tenant, and every rule of that module applies to each tenant.
  - Reads the hashrings and limits documents once, applies every tenant's change to a copy, validates the result
    against the formats Thanos v0.42 reads, and writes only the documents that change, in one store write (one
    ConfigMap replace, or each changed file once). A run with nothing to do writes nothing.
  - Every tenant's input is checked before the store is read; a bad or duplicate tenant fails the whole call,
    naming the field (for example C(tenants[3].name)), and nothing is changed.
  - A tenant whose change Thanos would not accept (an unknown hashring, a catch-all hashring) fails the whole
    call before anything is written, and the message names the tenant and the step. Because the documents are
    written once at the end, such a call converges no tenant (C(converged) is empty); fix the tenant and re-run.
options:
  tenants:
    description:
      - The tenants to converge, each with the per-tenant options of M(meridian.observability.thanos_tenant).
      - A tenant id may appear once. Tenants not listed are left as they are.
    type: list
    elements: dict
    required: true
    suboptions:
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
        description: The tenant's hashring, when not O(hashring). Required (here or there) when present.
        type: str
      hashring_endpoints:
        description: Endpoints to create the tenant's hashring with, when not O(hashring_endpoints).
        type: list
        elements: dict
        suboptions:
          address:
            description: gRPC address of a receive node, C(host:port).
            type: str
            required: true
          capnproto_address:
            description: Cap'n Proto address of the node, C(host:port).
            type: str
          az:
            description: Availability zone of the node.
            type: str
      limits:
        description:
          - The tenant's write limits, as in M(meridian.observability.thanos_tenant). Omit to leave them as they
            are; an empty mapping removes the tenant's own entry.
        type: dict
        suboptions:
          head_series_limit:
            description: Maximum active (head) series for the tenant (enforced only with a meta-monitoring URL).
            type: int
          request:
            description: Per remote-write request limits.
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
  hashring:
    description: The hashring of every present tenant that does not name its own.
    type: str
  hashring_endpoints:
    description:
      - Endpoints used to create a tenant's hashring when it does not exist, for every tenant that does not
        give its own. When the hashring exists they must match its endpoints.
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
attributes:
  check_mode:
    support: full
    description: Computes every tenant's change and the diff without writing.
  diff_mode:
    support: full
    description:
      - One entry per tenant that changes (its hashring and own limits, before and after), headed with the
        tenant's name, and one per hashring created or removed.
  action_group:
    support: full
    membership: [meridian.observability.thanos]
    description: Use C(module_defaults) with C(group/meridian.observability.thanos) to set the store once.
extends_documentation_fragment:
  - meridian.observability.thanos
  - kubernetes.core.k8s_auth_options
seealso:
  - module: meridian.observability.thanos_tenant
    description: One tenant per call, for playbooks that loop themselves.
  - module: meridian.observability.thanos_tenant_info
author:
  - Meridian platform engineering (@meridian-platform)
"""

EXAMPLES = r"""
- name: Place a region's tenants with their limits and remove an offboarded one, in one call
  meridian.observability.thanos_tenants:
    hashring: tenants
    hashring_endpoints:
      - address: 127.0.0.1:21901
        capnproto_address: 127.0.0.1:21391
    tenants:
      - name: acme
        limits:
          head_series_limit: 200000
          request:
            series_limit: 5000
      - name: globex
        limits:
          request:
            samples_limit: 50000
      - name: initech
        state: absent
    hashrings_path: /etc/thanos/hashrings.json
    limits_path: /etc/thanos/limits.yaml

- name: The same on EKS, where Receive mounts a ConfigMap
  meridian.observability.thanos_tenants:
    hashring: tenants
    tenants: "{{ region_tenants }}"
    configmap_namespace: thanos
    configmap_name: thanos-receive-tenants
    kubeconfig: ~/.kube/eks-us-east-1
"""

RETURN = r"""
tenants:
  description: Each tenant of O(tenants) by name, after the run.
  returned: success
  type: dict
  sample:
    acme: {changed: true, name: acme, state: present, hashring: tenants, listed: true,
           limits: {request: {series_limit: 5000}},
           effective_limits: {request: {size_bytes_limit: 0, series_limit: 5000, samples_limit: 0}, head_series_limit: 0}}
    initech: {changed: false, name: initech, state: absent}
  contains:
    changed:
      description: Whether this tenant's hashring or own limits changed (or would, in check mode).
      type: bool
      returned: always
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
hashrings_changed:
  description: Whether the hashrings document was (or, in check mode, would be) changed.
  returned: success
  type: bool
limits_changed:
  description: Whether the limits document was (or, in check mode, would be) changed.
  returned: success
  type: bool
created_hashrings:
  description: Hashrings created from hashring endpoints.
  returned: success
  type: list
  elements: str
removed_hashrings:
  description: Hashrings removed because their last tenant left.
  returned: success
  type: list
  elements: str
attempts:
  description: How many read-compare-write rounds were needed (more than 1 after a concurrent change).
  returned: success
  type: int
tenant:
  description: On failure, the tenant whose input or change failed.
  returned: when a tenant's change failed
  type: str
field:
  description: On failure, the option that was refused, such as C(tenants[3].name).
  returned: when a tenant's input was refused
  type: str
converged:
  description:
    - On failure, the tenants this call converged before failing. Always empty, because the documents are
      written once, after every tenant's change was planned and validated.
  returned: failure
  type: list
  elements: str
diff:
  description: One entry per tenant that changes (and per hashring created or removed), when run with C(--diff).
  returned: when diff mode is on
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meridian.observability.plugins.module_utils._thanos.args import (
    HASHRING_ENDPOINTS_SPEC,
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
    argument_spec.update(
        tenants={"type": "list", "elements": "dict", "required": True, "options": tenant_argument_spec()},
        hashring={"type": "str"},
        hashring_endpoints=dict(HASHRING_ENDPOINTS_SPEC),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=STORE_MUTUALLY_EXCLUSIVE,
        required_one_of=STORE_REQUIRED_ONE_OF,
        required_together=STORE_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    defaults = {"hashring": module.params["hashring"], "hashring_endpoints": module.params["hashring_endpoints"]}
    try:
        # Every tenant's input is checked before the store (and its Kubernetes client) is even built.
        TenantService.validate_requests(module.params["tenants"], defaults)
        service = TenantService(store_from_params(module.params))
        result = service.ensure_tenants(module.params["tenants"], defaults, check_mode=module.check_mode,
                                        want_diff=module._diff)
    except ThanosMissingLibraryError as err:
        module.fail_json(msg=missing_required_lib(err.library), exception=err.exception)
    except ThanosError as err:
        module.fail_json(msg=str(err), **dict({"converged": []}, **err.details))
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
