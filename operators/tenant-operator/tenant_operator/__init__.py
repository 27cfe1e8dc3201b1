"""The tenant operator: one Tenant object becomes a namespace with quotas, RBAC and network policies."""

GROUP = "observability.meridian.io"
VERSION = "v1alpha1"
KIND = "Tenant"
PLURAL = "tenants"
API_VERSION = f"{GROUP}/{VERSION}"

# Every owned object carries both labels; the operator only ever prunes objects that do.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "meridian-tenant-operator"
TENANT_LABEL = "meridian.io/tenant"
