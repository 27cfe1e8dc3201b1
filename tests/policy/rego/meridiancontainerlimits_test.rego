package meridiancontainerlimits_test

import data.meridiancontainerlimits

limited := {"limits": {"cpu": "500m", "memory": "256Mi"}}

pod(spec) := {"review": {"object": {"kind": "Pod", "metadata": {"name": "app", "namespace": "acme"}, "spec": spec}}}

test_containers_and_init_containers_with_limits_are_allowed if {
	count(meridiancontainerlimits.violation) == 0 with input as pod({
		"initContainers": [{"name": "init", "resources": limited}],
		"containers": [{"name": "app", "resources": limited}, {"name": "sidecar", "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}],
	})
}

test_missing_memory_limit_is_named if {
	some violation in meridiancontainerlimits.violation with input as pod({"containers": [{"name": "app", "resources": {"limits": {"cpu": "1"}}}]})
	violation.details == {"container": "app", "missing": "memory"}
}

test_init_container_without_limits_counts_twice if {
	count(meridiancontainerlimits.violation) == 2 with input as pod({
		"initContainers": [{"name": "init"}],
		"containers": [{"name": "app", "resources": limited}],
	})
}

test_requests_do_not_count_as_limits if {
	count(meridiancontainerlimits.violation) == 2 with input as pod({"containers": [{"name": "app", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]})
}

test_empty_limit_values_do_not_count if {
	count(meridiancontainerlimits.violation) == 2 with input as pod({"containers": [{"name": "app", "resources": {"limits": {"cpu": "", "memory": null}}}]})
}
