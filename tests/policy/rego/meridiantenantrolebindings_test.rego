package meridiantenantrolebindings_test

import data.meridiantenantrolebindings

parameters := {"tenants": ["acme", "globex"], "tenantLabel": "meridian.io/tenant", "groupSuffixes": ["-owners", "-viewers"]}

binding(namespace, subjects) := {
	"review": {"object": {
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
		"metadata": {"name": "grant", "namespace": namespace},
		"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tenant-viewer"},
		"subjects": subjects,
	}},
	"parameters": parameters,
}

group(name) := {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}

namespaces := {"cluster": {"v1": {"Namespace": {"acme-dev": {"metadata": {"name": "acme-dev", "labels": {"meridian.io/tenant": "acme"}}}}}}}

test_own_subjects_are_allowed if {
	count(meridiantenantrolebindings.violation) == 0 with input as binding("acme", [
		group("acme-owners"), group("acme-viewers"), group("system:serviceaccounts:acme"),
		{"kind": "ServiceAccount", "name": "workload"},
		{"kind": "ServiceAccount", "name": "deployer", "namespace": "acme"},
		{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"},
		{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:serviceaccount:acme:workload"},
		{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@acme.example"},
	])
}

test_other_tenants_groups_are_refused if {
	count(meridiantenantrolebindings.violation) == 2 with input as binding("acme", [group("globex-owners"), group("globex-viewers")])
}

test_violation_names_subject_and_tenant if {
	some violation in meridiantenantrolebindings.violation with input as binding("acme", [group("globex-owners")])
	violation.details.tenant == "globex"
	violation.details.subject.name == "globex-owners"
}

test_other_tenants_service_accounts_are_refused if {
	count(meridiantenantrolebindings.violation) == 3 with input as binding("acme", [
		{"kind": "ServiceAccount", "name": "workload", "namespace": "globex"},
		group("system:serviceaccounts:globex"),
		{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:serviceaccount:globex:workload"},
	])
}

test_a_service_account_without_namespace_is_the_bindings_own if {
	count(meridiantenantrolebindings.violation) == 0 with input as binding("globex", [{"kind": "ServiceAccount", "name": "workload"}])
}

test_group_names_must_match_exactly if {
	count(meridiantenantrolebindings.violation) == 0 with input as binding("acme", [group("globex-owners-archive"), group("xglobex-owners")])
}

test_namespace_tenant_comes_from_the_replicated_label if {
	count(meridiantenantrolebindings.violation) == 0 with input as binding("acme-dev", [group("acme-owners")])
		with data.inventory as namespaces
	count(meridiantenantrolebindings.violation) == 1 with input as binding("acme-dev", [group("globex-owners")])
		with data.inventory as namespaces
}

test_without_replicated_namespaces_the_name_is_the_tenant if {
	# acme-dev is no tenant name, so acme's own group counts as another tenant's there: the safe side.
	count(meridiantenantrolebindings.violation) == 1 with input as binding("acme-dev", [group("acme-owners")])
}

test_group_suffixes_default_to_owners_and_viewers if {
	count(meridiantenantrolebindings.violation) == 1 with input as {
		"review": {"object": {"kind": "RoleBinding", "metadata": {"name": "grant", "namespace": "acme"}, "subjects": [group("globex-viewers")]}},
		"parameters": {"tenants": ["acme", "globex"]},
	}
}
