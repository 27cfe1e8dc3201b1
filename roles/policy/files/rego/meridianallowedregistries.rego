# Images of pods in tenant namespaces come only from the registries the inventory allows (prefix match).
# Why: an image from an unvetted registry runs code nobody scanned or signed, inside the tenant's network and with
# its service account; the allowed prefixes end in "/" so "registry.example/" never matches "registry.example.evil/".
package meridianallowedregistries

container_fields := ["containers", "initContainers", "ephemeralContainers"]

violation contains {"msg": msg, "details": {"container": container.name, "image": container.image}} if {
	pod := input.review.object
	some field in container_fields
	some container in object.get(pod.spec, field, [])
	not allowed(container.image)
	msg := sprintf(
		"%s %q of pod %q uses image %q, which is not under an allowed registry %v",
		[field, container.name, pod.metadata.name, container.image, input.parameters.registries],
	)
}

allowed(image) if {
	some prefix in input.parameters.registries
	prefix != ""
	startswith(image, prefix)
}
