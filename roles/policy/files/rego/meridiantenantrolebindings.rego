# A RoleBinding in a tenant namespace binds no subject of another tenant: not its groups (<tenant>-owners,
# <tenant>-viewers, system:serviceaccounts:<tenant>) and not its service accounts (by subject or by user name).
# Why: a tenant owner may create RoleBindings in the own namespace; binding another tenant's people or workloads there
# would open a path between tenants that the namespaces, network policies and Vault policies otherwise keep apart.
package meridiantenantrolebindings

default_tenant_label := "meridian.io/tenant"

default_group_suffixes := ["-owners", "-viewers"]

tenant_label := object.get(input.parameters, "tenantLabel", default_tenant_label)

group_suffixes := object.get(input.parameters, "groupSuffixes", default_group_suffixes)

binding_namespace := input.review.object.metadata.namespace

# The tenant the binding's namespace belongs to: its tenant label when Gatekeeper replicates namespaces into
# data.inventory (a sync configuration), otherwise the namespace's name, which the tenant operator gives it.
binding_tenant := tenant if {
	tenant := data.inventory.cluster.v1.Namespace[binding_namespace].metadata.labels[tenant_label]
} else := binding_namespace

violation contains {"msg": msg, "details": {"subject": subject, "tenant": other}} if {
	binding := input.review.object
	binding.kind == "RoleBinding"
	some subject in object.get(binding, "subjects", [])
	some other in subject_tenants(subject)
	other != binding_tenant
	msg := sprintf(
		"RoleBinding %q in tenant %q's namespace %q binds %s %q of tenant %q; bind only subjects of %q",
		[binding.metadata.name, binding_tenant, binding_namespace, subject.kind, subject.name, other, binding_tenant],
	)
}

# Every tenant of the topology a subject belongs to.
subject_tenants(subject) := {tenant |
	some tenant in input.parameters.tenants
	belongs_to(subject, tenant)
}

belongs_to(subject, tenant) if {
	subject.kind == "Group"
	some suffix in group_suffixes
	subject.name == concat("", [tenant, suffix])
}

belongs_to(subject, tenant) if {
	subject.kind == "Group"
	subject.name == concat(":", ["system:serviceaccounts", tenant])
}

# A ServiceAccount subject without a namespace is one of the binding's own namespace.
belongs_to(subject, tenant) if {
	subject.kind == "ServiceAccount"
	object.get(subject, "namespace", binding_namespace) == tenant
}

belongs_to(subject, tenant) if {
	subject.kind == "User"
	startswith(subject.name, concat("", ["system:serviceaccount:", tenant, ":"]))
}
