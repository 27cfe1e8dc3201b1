package meridianallowedregistries_test

import data.meridianallowedregistries

registries := ["registry.example.com/", "ghcr.io/meridian/"]

pod(spec) := {
	"review": {"object": {"kind": "Pod", "metadata": {"name": "app", "namespace": "acme"}, "spec": spec}},
	"parameters": {"registries": registries},
}

containers(image) := {"containers": [{"name": "app", "image": image}]}

test_images_under_an_allowed_prefix_are_allowed if {
	count(meridianallowedregistries.violation) == 0 with input as pod({
		"containers": [{"name": "app", "image": "registry.example.com/team/app:1"}],
		"initContainers": [{"name": "init", "image": "ghcr.io/meridian/init@sha256:00"}],
	})
}

test_implicit_docker_hub_image_is_refused if {
	some violation in meridianallowedregistries.violation with input as pod(containers("nginx"))
	violation.details == {"container": "app", "image": "nginx"}
}

test_prefix_match_never_accepts_a_longer_host if {
	count(meridianallowedregistries.violation) == 1 with input as pod(containers("registry.example.com.evil.io/app:1"))
}

test_prefix_match_never_accepts_another_organisation if {
	count(meridianallowedregistries.violation) == 1 with input as pod(containers("ghcr.io/meridian-evil/app:1"))
}

test_ephemeral_containers_are_checked if {
	count(meridianallowedregistries.violation) == 1 with input as pod({
		"containers": [{"name": "app", "image": "registry.example.com/app:1"}],
		"ephemeralContainers": [{"name": "debug", "image": "busybox"}],
	})
}

test_an_empty_prefix_allows_nothing if {
	count(meridianallowedregistries.violation) == 1 with input as {
		"review": {"object": {"kind": "Pod", "metadata": {"name": "app"}, "spec": containers("anything/at:all")}},
		"parameters": {"registries": [""]},
	}
}

test_the_prefix_must_start_the_image if {
	count(meridianallowedregistries.violation) == 1 with input as pod(containers("mirror.evil.io/registry.example.com/app:1"))
}
