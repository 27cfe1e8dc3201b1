package meridianhostisolation_test

import data.meridianhostisolation

pod(spec) := {"review": {"object": {"kind": "Pod", "metadata": {"name": "app", "namespace": "acme"}, "spec": spec}}}

app := {"name": "app", "image": "registry.example.com/app:1"}

test_unprivileged_pod_is_allowed if {
	count(meridianhostisolation.violation) == 0 with input as pod({
		"hostNetwork": false,
		"containers": [object.union(app, {"securityContext": {"privileged": false}})],
		"volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "config", "configMap": {"name": "app"}}],
	})
}

test_privileged_container_is_refused if {
	some violation in meridianhostisolation.violation with input as pod({"containers": [object.union(app, {"securityContext": {"privileged": true}})]})
	violation.details == {"container": "app", "field": "securityContext.privileged"}
}

test_privileged_init_and_ephemeral_containers_are_refused if {
	count(meridianhostisolation.violation) == 2 with input as pod({
		"containers": [app],
		"initContainers": [{"name": "init", "securityContext": {"privileged": true}}],
		"ephemeralContainers": [{"name": "debug", "securityContext": {"privileged": true}}],
	})
}

test_host_network_is_refused if {
	some violation in meridianhostisolation.violation with input as pod({"hostNetwork": true, "containers": [app]})
	violation.details == {"field": "spec.hostNetwork"}
}

test_host_path_volume_is_refused_and_named if {
	some violation in meridianhostisolation.violation with input as pod({
		"containers": [app],
		"volumes": [{"name": "ok", "emptyDir": {}}, {"name": "root", "hostPath": {"path": "/"}}],
	})
	violation.details == {"volume": "root", "field": "hostPath"}
	contains(violation.msg, "host path \"/\"")
}

test_every_breach_is_reported if {
	count(meridianhostisolation.violation) == 3 with input as pod({
		"hostNetwork": true,
		"containers": [object.union(app, {"securityContext": {"privileged": true}})],
		"volumes": [{"name": "root", "hostPath": {"path": "/"}}],
	})
}
