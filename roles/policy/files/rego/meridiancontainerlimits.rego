# Every container and init container of a pod in a tenant namespace sets CPU and memory limits.
# Why: tenants share each cluster's nodes; a container without limits can take a node's CPU or memory from every
# other tenant's pods, and the tenant's ResourceQuota can only count what is declared.
package meridiancontainerlimits

container_fields := ["containers", "initContainers"]

required_limits := ["cpu", "memory"]

violation contains {"msg": msg, "details": {"container": container.name, "missing": resource}} if {
	pod := input.review.object
	some field in container_fields
	some container in object.get(pod.spec, field, [])
	some resource in required_limits
	not has_limit(container, resource)
	msg := sprintf(
		"%s %q of pod %q sets no %s limit; set resources.limits.%s (tenants share nodes, and the quota counts limits)",
		[field, container.name, pod.metadata.name, resource, resource],
	)
}

has_limit(container, resource) if {
	limit := container.resources.limits[resource]
	limit != null
	limit != ""
}
