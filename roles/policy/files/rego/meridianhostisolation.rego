# Pods in tenant namespaces run no privileged container, do not use the host's network and mount no hostPath volume.
# Why: each of the three hands a tenant the node itself (devices and kernel, every pod's traffic, the host's files),
# and with it the other tenants' workloads on that node.
package meridianhostisolation

container_fields := ["containers", "initContainers", "ephemeralContainers"]

violation contains {"msg": msg, "details": {"container": container.name, "field": "securityContext.privileged"}} if {
	pod := input.review.object
	some field in container_fields
	some container in object.get(pod.spec, field, [])
	container.securityContext.privileged == true
	msg := sprintf("%s %q of pod %q is privileged; remove securityContext.privileged", [field, container.name, pod.metadata.name])
}

violation contains {"msg": msg, "details": {"field": "spec.hostNetwork"}} if {
	pod := input.review.object
	pod.spec.hostNetwork == true
	msg := sprintf("pod %q uses the host's network; remove spec.hostNetwork", [pod.metadata.name])
}

violation contains {"msg": msg, "details": {"volume": volume.name, "field": "hostPath"}} if {
	pod := input.review.object
	some volume in object.get(pod.spec, "volumes", [])
	volume.hostPath
	msg := sprintf(
		"volume %q of pod %q mounts the host path %q; use a persistentVolumeClaim, configMap, secret or emptyDir",
		[volume.name, pod.metadata.name, object.get(volume.hostPath, "path", "")],
	)
}
