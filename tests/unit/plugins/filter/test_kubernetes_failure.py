"""The roles' rescue message: an unreachable API server is named with its region, URL and fix; nothing else changes."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.meridian.observability.plugins.filter.kubernetes_failure import (
    FilterModule,
    kubeconfig_server,
    kubernetes_failure_message,
)

# kubernetes.core.k8s_info's result for a stopped API server, as ansible-core 2.19 hands it to a rescue.
REFUSED = ("Task failed: Module failed: HTTPSConnectionPool(host='127.0.0.1', port=21443): Max retries exceeded with url: "
           "/version (Caused by NewConnectionError(\"HTTPSConnection(host='127.0.0.1', port=21443): Failed to establish "
           "a new connection: [Errno 111] Connection refused\")): HTTPSConnection(host='127.0.0.1', port=21443): Failed "
           "to establish a new connection: [Errno 111] Connection refused")
K8S_TASK = {"name": "Tenant | Tenant object of each present tenant", "action": "kubernetes.core.k8s"}


@pytest.fixture
def kubeconfig(tmp_path):
    document = {
        "apiVersion": "v1", "kind": "Config", "current-context": "admin@us-east-1",
        "clusters": [{"name": "other", "cluster": {"server": "https://10.0.0.1:6443"}},
                     {"name": "us-east-1", "cluster": {"server": "https://127.0.0.1:21443"}}],
        "contexts": [{"name": "admin@us-east-1", "context": {"cluster": "us-east-1", "user": "admin"}}],
        "users": [{"name": "admin", "user": {"token": "never-printed"}}],
    }
    path = tmp_path / "admin.kubeconfig"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_the_current_contexts_server_is_read_from_the_kubeconfig(kubeconfig, tmp_path):
    assert kubeconfig_server(kubeconfig) == "https://127.0.0.1:21443"
    assert kubeconfig_server(tmp_path / "missing") == ""
    (tmp_path / "broken").write_text("clusters: [")
    assert kubeconfig_server(tmp_path / "broken") == ""


def test_a_refused_api_server_is_named_with_region_url_and_fix(kubeconfig):
    message = kubernetes_failure_message({"failed": True, "msg": REFUSED}, task=K8S_TASK, kubeconfig=kubeconfig,
                                         region="us-east-1")
    assert message.startswith("Region us-east-1's Kubernetes API server at https://127.0.0.1:21443 is not reachable "
                              "(connection refused) while 'Tenant | Tenant object of each present tenant' ran")
    assert "start the API server or fix its address" in message and kubeconfig in message
    assert "re-run; the run is idempotent" in message
    assert "never-printed" not in message and "HTTPSConnectionPool" not in message


@pytest.mark.parametrize("text, reason", [
    ("Failed to patch object: ('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))",
     "connection reset"),
    ("HTTPSConnectionPool(host='127.0.0.1', port=21443): Read timed out. (read timeout=20)", "timed out"),
    ("HTTPSConnectionPool(host='api.example', port=443): Max retries exceeded with url: /version (Caused by "
     "NameResolutionError(\"Failed to resolve 'api.example'\"))", "host name not resolved"),
])
def test_other_ways_of_not_answering_say_which(text, reason, kubeconfig):
    message = kubernetes_failure_message({"failed": True, "msg": text}, task=K8S_TASK, kubeconfig=kubeconfig,
                                         region="eu-west-1")
    assert f"is not reachable ({reason})" in message


def test_a_loop_item_that_found_the_server_stopped_counts(kubeconfig):
    result = {"failed": True, "msg": "One or more items failed", "results": [
        {"failed": False, "item": "acme"}, {"failed": True, "item": "globex", "msg": REFUSED}]}
    assert "is not reachable (connection refused)" in kubernetes_failure_message(
        result, task=K8S_TASK, kubeconfig=kubeconfig, region="us-east-1")


def test_another_services_connection_error_keeps_its_message(kubeconfig):
    """The vault role's Vault module also fails with urllib3 text, naming Vault's address, not the API server's."""
    vault = ("cannot reach Vault at http://127.0.0.1:21200 (connection refused) while writing policy 'tenant-a': "
             "HTTPConnectionPool(host='127.0.0.1', port=21200): Max retries exceeded")
    task = {"name": "Vault | Policy and role of each present tenant", "action": "meridian.observability.vault_tenant"}
    assert kubernetes_failure_message({"failed": True, "msg": vault}, task=task, kubeconfig=kubeconfig,
                                      region="us-east-1") == vault


def test_a_kubernetes_failure_with_an_answer_keeps_its_message(kubeconfig):
    """The twin of the refused case: the server answered (403), so the message is the module's own."""
    forbidden = "Failed to create object: b'{\"reason\":\"Forbidden\",\"code\":403}'"
    assert kubernetes_failure_message({"failed": True, "msg": forbidden}, task=K8S_TASK, kubeconfig=kubeconfig,
                                      region="us-east-1") == forbidden
    too_many_503 = ("HTTPSConnectionPool(host='127.0.0.1', port=21443): Max retries exceeded with url: /api (Caused by "
                    "ResponseError('too many 503 error responses'))")
    assert kubernetes_failure_message({"failed": True, "msg": too_many_503}, task=K8S_TASK, kubeconfig=kubeconfig,
                                      region="us-east-1") == too_many_503


def test_a_failed_loop_lists_its_failed_items():
    result = {"failed": True, "msg": "One or more items failed", "results": [
        {"failed": True, "_ansible_item_label": "acme", "msg": "quota rejected"}, {"failed": False, "item": "globex"}]}
    assert kubernetes_failure_message(result, task={"name": "t", "action": "ansible.builtin.assert"}) == (
        "One or more items failed (acme: quota rejected)")


@pytest.mark.parametrize("no_log", [True, "yes", "{{ secret_mode }}"])
def test_a_no_log_tasks_text_is_never_repeated(no_log, kubeconfig):
    task = {"name": "Reviewer token", "action": "ansible.builtin.set_fact", "no_log": no_log}
    message = kubernetes_failure_message({"failed": True, "msg": "token=s3cr3t rejected"}, task=task,
                                         kubeconfig=kubeconfig, region="us-east-1")
    assert "s3cr3t" not in message and "output is hidden because the task is no_log" in message


def test_a_no_log_task_that_found_the_server_stopped_is_still_named(kubeconfig):
    task = dict(K8S_TASK, no_log=True)
    message = kubernetes_failure_message({"failed": True, "msg": REFUSED}, task=task, kubeconfig=kubeconfig,
                                         region="us-east-1")
    assert "at https://127.0.0.1:21443 is not reachable (connection refused)" in message


def test_without_kubeconfig_or_region_the_message_still_says_what_to_do():
    message = kubernetes_failure_message({"failed": True, "msg": REFUSED}, task=K8S_TASK)
    assert message.startswith("The Kubernetes API server is not reachable (connection refused)")


def test_the_filter_is_registered():
    assert FilterModule().filters()["kubernetes_failure_message"] is kubernetes_failure_message
