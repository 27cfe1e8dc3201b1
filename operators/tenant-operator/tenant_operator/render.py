"""Render the objects a Tenant owns (pure functions: a Tenant dict in, manifests out)."""

from __future__ import annotations

from dataclasses import dataclass

from tenant_operator import API_VERSION, KIND, MANAGED_BY, MANAGED_BY_LABEL, TENANT_LABEL

# Condition type per owned kind, in the order the reconciler works through them.
CONDITION_BY_KIND: dict[str, str] = {
    "Namespace": "Namespace",
    "ResourceQuota": "ResourceQuota",
    "LimitRange": "LimitRange",
    "ServiceAccount": "ServiceAccount",
    "Role": "RBAC",
    "RoleBinding": "RBAC",
    "NetworkPolicy": "NetworkPolicy",
}
OWNED_CONDITIONS: tuple[str, ...] = tuple(dict.fromkeys(CONDITION_BY_KIND.values()))

DEFAULT_CONTAINER_DEFAULTS = {"cpu": "500m", "memory": "512Mi", "requestCpu": "100m", "requestMemory": "128Mi"}
INGRESS_GATEWAY_NAMESPACE = "istio-ingress"
MONITORING_NAMESPACE = "monitoring"
DNS_NAMESPACE = "kube-system"

# Edit-level access inside the tenant namespace. No rbac.authorization.k8s.io writes, no
# networkpolicies writes and no resourcequota/limitrange writes: those are the platform's
# isolation and must not be escalated or loosened by the tenant.
_ALL_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
_READ_VERBS = ["get", "list", "watch"]
_WORKLOADS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("pods", "services", "endpoints", "configmaps", "persistentvolumeclaims")),
    ("apps", ("deployments", "statefulsets", "daemonsets", "replicasets")),
    ("batch", ("jobs", "cronjobs")),
    ("autoscaling", ("horizontalpodautoscalers",)),
    ("networking.k8s.io", ("ingresses",)),
    ("policy", ("poddisruptionbudgets",)),
)
_PLATFORM_READ_ONLY: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("events", "limitranges", "resourcequotas", "serviceaccounts", "pods/log")),
    ("networking.k8s.io", ("networkpolicies",)),
    ("rbac.authorization.k8s.io", ("roles", "rolebindings")),
)


@dataclass(frozen=True)
class TenantView:
    """The fields of a Tenant the reconciler needs, read once from the object."""

    name: str
    uid: str
    generation: int
    spec: dict
    deleting: bool

    @classmethod
    def from_object(cls, tenant: dict) -> TenantView:
        metadata = tenant.get("metadata") or {}
        return cls(
            name=metadata["name"],
            uid=metadata["uid"],
            generation=int(metadata.get("generation") or 0),
            spec=tenant.get("spec") or {},
            deleting=bool(metadata.get("deletionTimestamp")),
        )

    @property
    def namespace(self) -> str:
        return self.name


def common_labels(tenant: TenantView) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, TENANT_LABEL: tenant.name}


def owner_reference(tenant: TenantView) -> dict:
    """Controller reference to the Tenant: its deletion garbage-collects the object."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": tenant.name,
        "uid": tenant.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(tenant: TenantView, name: str, *, namespaced: bool = True, extra_labels=None) -> dict:
    metadata = {
        "name": name,
        "labels": common_labels(tenant) | (extra_labels or {}),
        "ownerReferences": [owner_reference(tenant)],
    }
    if namespaced:
        metadata["namespace"] = tenant.namespace
    return metadata


def render_namespace(tenant: TenantView) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _metadata(tenant, tenant.namespace, namespaced=False,
                              extra_labels={"istio-injection": "enabled"}),
    }


def render_resource_quota(tenant: TenantView) -> dict:
    quotas = tenant.spec.get("quotas") or {}
    cpu, memory = str(quotas["cpu"]), str(quotas["memory"])
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _metadata(tenant, "tenant-quota"),
        "spec": {
            "hard": {
                "requests.cpu": cpu,
                "limits.cpu": cpu,
                "requests.memory": memory,
                "limits.memory": memory,
                "pods": str(quotas["pods"]),
            }
        },
    }


def render_limit_range(tenant: TenantView) -> dict:
    defaults = DEFAULT_CONTAINER_DEFAULTS | (tenant.spec.get("containerDefaults") or {})
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _metadata(tenant, "tenant-defaults"),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": str(defaults["cpu"]), "memory": str(defaults["memory"])},
                    "defaultRequest": {"cpu": str(defaults["requestCpu"]),
                                       "memory": str(defaults["requestMemory"])},
                }
            ]
        },
    }


def render_service_account(tenant: TenantView) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(tenant, "workload")}


def _rules(groups, verbs) -> list[dict]:
    return [{"apiGroups": [group], "resources": list(resources), "verbs": list(verbs)}
            for group, resources in groups]


def owner_rules() -> list[dict]:
    return (_rules(_WORKLOADS, _ALL_VERBS)
            + [{"apiGroups": [""], "resources": ["secrets"], "verbs": list(_ALL_VERBS)}]
            + _rules(_PLATFORM_READ_ONLY, _READ_VERBS))


def viewer_rules() -> list[dict]:
    """The owner's resources, read-only, without secrets."""
    return _rules(_WORKLOADS, _READ_VERBS) + _rules(_PLATFORM_READ_ONLY, _READ_VERBS)


def render_roles(tenant: TenantView) -> list[dict]:
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": _metadata(tenant, "tenant-owner"), "rules": owner_rules()},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": _metadata(tenant, "tenant-viewer"), "rules": viewer_rules()},
    ]


def render_role_bindings(tenant: TenantView) -> list[dict]:
    """Bindings to the OIDC groups <tenant>-owners and <tenant>-viewers (created by keycloak_tenant)."""
    bindings = []
    for binding, role, group in (("tenant-owners", "tenant-owner", f"{tenant.name}-owners"),
                                 ("tenant-viewers", "tenant-viewer", f"{tenant.name}-viewers")):
        bindings.append({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _metadata(tenant, binding),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
        })
    return bindings


def _from_namespace(namespace: str) -> dict:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def _network_policy(tenant: TenantView, name: str, spec: dict) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": _metadata(tenant, name), "spec": {"podSelector": {}} | spec}


def render_network_policies(tenant: TenantView) -> list[dict]:
    """Default deny, then the allows every tenant needs; `isolated` drops the ingress gateway."""
    policies = [
        _network_policy(tenant, "default-deny", {"policyTypes": ["Ingress", "Egress"]}),
        _network_policy(tenant, "allow-dns", {
            "policyTypes": ["Egress"],
            "egress": [{"to": [_from_namespace(DNS_NAMESPACE)],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}],
        }),
        _network_policy(tenant, "allow-same-namespace", {
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
            "egress": [{"to": [{"podSelector": {}}]}],
        }),
    ]
    if tenant.spec.get("networkProfile", "default") != "isolated":
        policies.append(_network_policy(tenant, "allow-ingress-gateway", {
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [_from_namespace(INGRESS_GATEWAY_NAMESPACE)]}],
        }))
    policies.append(_network_policy(tenant, "allow-monitoring-scrape", {
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [_from_namespace(MONITORING_NAMESPACE)]}],
    }))
    return policies


def render_namespaced(tenant: TenantView) -> list[dict]:
    """Every owned object inside the tenant namespace, in apply order."""
    return ([render_resource_quota(tenant), render_limit_range(tenant), render_service_account(tenant)]
            + render_roles(tenant) + render_role_bindings(tenant) + render_network_policies(tenant))


def render_all(tenant: TenantView) -> list[dict]:
    return [render_namespace(tenant)] + render_namespaced(tenant)
