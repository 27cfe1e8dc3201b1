"""kubernetes_objects_to_apply: which desired objects a client-side apply would change, judged from one LIST."""

from __future__ import annotations

import copy
import json

from ansible_collections.meridian.observability.plugins.filter.kubernetes_apply import (
    LAST_APPLIED, FilterModule, kubernetes_objects_to_apply)
from tests.support.ansible import run_tasks


def tenant(name: str = "acme", **spec) -> dict:
    return {"apiVersion": "observability.meridian.io/v1alpha1", "kind": "Tenant",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "meridian.observability"}},
            "spec": {"owners": ["owner@acme.example"], "viewers": [], "quotas": {"cpu": "4", "pods": 50}, **spec}}


def as_stored(desired: dict, *, applied: dict | None = None) -> dict:
    """The object as the API server returns it after an apply of ``applied`` (default: ``desired``): the apply's
    annotation, fields the server and the operator add, and a defaulted spec field."""
    live = copy.deepcopy(desired)
    live["metadata"].update(uid="0b5e", resourceVersion="42", generation=3, finalizers=["kopf.zalando.org/KopfFinalizerMarker"],
                            annotations={LAST_APPLIED: json.dumps(applied or desired, separators=(",", ":"), sort_keys=True),
                                         "kopf.zalando.org/last-handled-configuration": "{}"})
    live["spec"]["networkProfile"] = "default"  # a CRD default the desired object leaves out
    live["status"] = {"observedGeneration": 3, "conditions": [{"type": "Ready", "status": "True"}]}
    return live


def test_an_object_stored_as_desired_is_left_out():
    desired = [tenant("acme"), tenant("globex")]
    assert kubernetes_objects_to_apply(desired, [as_stored(obj) for obj in desired]) == []


def test_a_missing_object_is_applied_and_the_order_kept():
    acme, globex, initech = tenant("acme"), tenant("globex"), tenant("initech")
    assert kubernetes_objects_to_apply([acme, globex, initech], [as_stored(globex)]) == [acme, initech]


def test_a_value_changed_by_hand_is_applied_and_its_twin_is_not():
    acme, globex = tenant("acme"), tenant("globex")
    changed = as_stored(acme)
    changed["spec"]["quotas"]["pods"] = 7
    assert kubernetes_objects_to_apply([acme, globex], [changed, as_stored(globex)]) == [acme]


def test_a_field_the_topology_no_longer_sets_is_applied_to_remove_it():
    earlier = tenant("acme", containerDefaults={"cpu": "500m"})
    now = tenant("acme")
    live = as_stored(earlier)  # live holds every value `now` sets; only the last-applied record tells
    assert kubernetes_objects_to_apply([now], [live]) == [now]


def test_lists_must_match_in_order_and_length():
    desired = tenant("acme")
    for owners in (["owner@acme.example", "second@acme.example"], [], ["other@acme.example"]):
        live = as_stored(desired)
        live["spec"]["owners"] = owners
        assert kubernetes_objects_to_apply([desired], [live]) == [desired], owners


def test_a_bool_never_matches_an_int_even_when_python_calls_them_equal():
    desired = tenant("acme", enabled=True)
    live = as_stored(desired)
    live["spec"]["enabled"] = 1
    assert kubernetes_objects_to_apply([desired], [live]) == [desired]
    live["spec"]["enabled"] = True
    assert kubernetes_objects_to_apply([desired], [live]) == []


class TaggedStr(str):
    """What Ansible hands a filter for a templated string: a subclass of str."""


def retag(value):
    if isinstance(value, dict):
        return {TaggedStr(key): retag(item) for key, item in value.items()}
    if isinstance(value, list):
        return [retag(item) for item in value]
    return TaggedStr(value) if isinstance(value, str) else value


def test_templated_strings_match_the_plain_strings_of_a_module_result():
    desired = tenant("acme")
    live = as_stored(desired)
    templated = retag(desired)
    assert type(templated["spec"]["quotas"]["cpu"]) is TaggedStr
    assert kubernetes_objects_to_apply([templated], [live]) == []
    live["spec"]["quotas"]["cpu"] = "8"
    assert kubernetes_objects_to_apply([templated], [live]) == [templated]


def test_without_a_readable_last_applied_record_the_object_is_applied():
    desired = tenant("acme")
    for annotations in ({}, {LAST_APPLIED: "not json"}):
        live = as_stored(desired)
        live["metadata"]["annotations"] = annotations
        assert kubernetes_objects_to_apply([desired], [live]) == [desired]


def test_objects_are_matched_by_kind_namespace_and_name_and_empty_documents_skipped():
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "acme", "namespace": "team-a"},
                  "data": {"k": "v"}}
    elsewhere = copy.deepcopy(config_map)
    elsewhere["metadata"]["namespace"] = "team-b"
    assert kubernetes_objects_to_apply([None, config_map], [as_stored_plain(elsewhere)]) == [config_map]
    assert kubernetes_objects_to_apply([None, config_map], [as_stored_plain(config_map)]) == []
    assert kubernetes_objects_to_apply([tenant("acme")], [as_stored_plain(config_map)]) == [tenant("acme")]


def as_stored_plain(desired: dict) -> dict:
    live = copy.deepcopy(desired)
    live["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(desired)}
    return live


def test_the_filter_is_registered_and_runs_in_a_playbook(tmp_path):
    desired = [tenant("acme"), tenant("globex")]
    live = [as_stored(desired[0])]
    assert FilterModule().filters()["kubernetes_objects_to_apply"] is kubernetes_objects_to_apply
    results, completed = run_tasks(tmp_path, [{
        "name": "only globex differs",
        "ansible.builtin.set_fact": {"pending": "{{ desired | meridian.observability.kubernetes_objects_to_apply(live) }}"},
        "vars": {"desired": desired, "live": live}}])
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert results[0]["ansible_facts"]["pending"] == [desired[1]]
