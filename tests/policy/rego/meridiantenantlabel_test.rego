package meridiantenantlabel_test

import data.meridiantenantlabel

parameters := {"tenants": ["acme", "globex"], "tenantLabel": "meridian.io/tenant"}

review(name, labels) := {
	"review": {"object": {
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": {"name": name, "labels": labels},
	}},
	"parameters": parameters,
}

test_tenant_namespace_with_its_own_label_is_allowed if {
	count(meridiantenantlabel.violation) == 0 with input as review("acme", {"meridian.io/tenant": "acme"})
}

test_other_namespaces_need_no_label if {
	count(meridiantenantlabel.violation) == 0 with input as review("kube-system", {})
}

test_tenant_namespace_without_labels_is_refused if {
	some violation in meridiantenantlabel.violation with input as {
		"review": {"object": {"kind": "Namespace", "metadata": {"name": "globex"}}},
		"parameters": parameters,
	}
	violation.details == {"namespace": "globex", "label": "meridian.io/tenant", "value": ""}
	contains(violation.msg, "set meridian.io/tenant=globex")
}

test_tenant_namespace_labelled_for_another_tenant_is_refused if {
	count(meridiantenantlabel.violation) == 1 with input as review("acme", {"meridian.io/tenant": "globex"})
}

test_label_key_defaults_to_the_collections_label if {
	count(meridiantenantlabel.violation) == 1 with input as {
		"review": {"object": {"kind": "Namespace", "metadata": {"name": "acme", "labels": {"tenant": "acme"}}}},
		"parameters": {"tenants": ["acme"]},
	}
}

test_only_namespaces_are_judged if {
	count(meridiantenantlabel.violation) == 0 with input as {
		"review": {"object": {"kind": "ConfigMap", "metadata": {"name": "acme", "namespace": "acme"}}},
		"parameters": parameters,
	}
}
