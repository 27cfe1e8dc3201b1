# A namespace named like a tenant of the topology carries the tenant label with that tenant's own name.
# Why: every other tenant rule selects tenant namespaces by this label; a tenant's namespace without it (or labelled
# for another tenant) would silently escape them, and the tenant operator only adopts a namespace labelled for it.
package meridiantenantlabel

default_tenant_label := "meridian.io/tenant"

violation contains {"msg": msg, "details": {"namespace": name, "label": label, "value": value}} if {
	namespace := input.review.object
	namespace.kind == "Namespace"
	name := namespace.metadata.name
	name in input.parameters.tenants
	label := object.get(input.parameters, "tenantLabel", default_tenant_label)
	value := object.get(object.get(namespace.metadata, "labels", {}), label, "")
	value != name
	msg := sprintf(
		"namespace %q is named like tenant %q but its label %s is %q; set %s=%s so the tenant rules select it",
		[name, name, label, value, label, name],
	)
}
