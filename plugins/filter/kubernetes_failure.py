# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``kubernetes_failure_message``: the message a role fails with after its converge failed.

kubernetes.core reports an API server that stopped answering with urllib3's raw text ("HTTPSConnectionPool(...):
Max retries exceeded ... Connection refused"), which names neither the region nor what to do. The roles' rescue
passes the failed result through this filter: an unreachable API server becomes a sentence naming the region, the
server's URL from the kubeconfig and the fix; any other failure keeps its own message.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import yaml

# (what the urllib3/requests/kubernetes text says, the reason we print); the first match wins.
_REASONS = (
    (re.compile(r"connection refused", re.I), "connection refused"),
    (re.compile(r"connection reset|RemoteDisconnected|Connection aborted|EOF occurred|Broken pipe", re.I),
     "connection reset"),
    (re.compile(r"timed out|ConnectTimeoutError|ReadTimeoutError", re.I), "timed out"),
    (re.compile(r"Name or service not known|Temporary failure in name resolution|Failed to resolve|"
                r"nodename nor servname", re.I), "host name not resolved"),
    (re.compile(r"No route to host|Network is unreachable", re.I), "no route to the server"),
)
# urllib3's wrapper when every retry got no HTTP answer; with a ResponseError the server did answer (with 5xx).
_NO_ANSWER = re.compile(r"Max retries exceeded|Failed to establish a new connection|NewConnectionError", re.I)
_ANSWERED = re.compile(r"ResponseError|too many \d{3} error responses", re.I)
_TEXT_KEYS = ("msg", "module_stderr", "module_stdout", "exception", "reason", "error")
HIDDEN = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"


def _texts(result) -> list[str]:
    """Every error text of a result, including those of a loop's items."""
    if not isinstance(result, dict):
        return [str(result)] if result else []
    texts = [str(result[key]) for key in _TEXT_KEYS if result.get(key)]
    for item in result.get("results") or []:
        if isinstance(item, dict) and item.get("failed"):
            texts.extend(_texts(item))
    return texts


def kubeconfig_server(kubeconfig) -> str:
    """The API server URL of the kubeconfig's current context; "" when the file cannot tell."""
    try:
        with open(str(kubeconfig), encoding="utf-8") as handle:
            document = yaml.safe_load(handle) or {}
        contexts = {entry["name"]: entry.get("context") or {} for entry in document.get("contexts") or []}
        clusters = {entry["name"]: entry.get("cluster") or {} for entry in document.get("clusters") or []}
        cluster = contexts.get(document.get("current-context"), {}).get("cluster")
        if cluster is None and len(clusters) == 1:
            cluster = next(iter(clusters))
        return str(clusters.get(cluster, {}).get("server") or "")
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError):
        return ""


def _mentions_server(text: str, server: str) -> bool:
    """Whether a urllib3 text names this server's host and port ("host='h', port=p" or "h:p")."""
    if not server:
        return False
    parts = urlsplit(server)
    if not parts.hostname:
        return False
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    return f"host='{parts.hostname}', port={port}" in text or f"{parts.hostname}:{port}" in text


def unreachable_reason(result, server: str = "", action: str = "") -> str:
    """Why the API server gave no answer ("connection refused", ...); "" when the failure is something else.

    Only failures of kubernetes.core modules, or texts naming this server's address, count: a Vault or Keycloak
    module's own connection error in the same role must keep its message.
    """
    texts = _texts(result)
    ours = str(action or "").startswith(("kubernetes.core.", "k8s")) or any(_mentions_server(t, server) for t in texts)
    if not ours:
        return ""
    for text in texts:
        for pattern, reason in _REASONS:
            if pattern.search(text):
                return reason
    if any(_NO_ANSWER.search(text) and not _ANSWERED.search(text) for text in texts):
        return "no answer"
    return ""


def _original_message(result, task_name: str, hidden: bool) -> str:
    if hidden:
        return f"task '{task_name}' failed; its output is hidden because the task is no_log."
    if not isinstance(result, dict):
        return str(result)
    message = str(result.get("msg") or result.get("module_stderr") or "") or f"task '{task_name}' failed"
    failed_items = [item for item in result.get("results") or [] if isinstance(item, dict) and item.get("failed")]
    if failed_items:
        details = "; ".join(f"{item.get('_ansible_item_label', item.get('item', '?'))}: {item.get('msg', 'failed')}"
                            for item in failed_items)
        message = f"{message} ({details})"
    return message


def kubernetes_failure_message(result, task=None, kubeconfig=None, region=None) -> str:
    """The failure message for ``result``, the failed result a rescue sees (ansible_failed_result).

    ``task`` is ansible_failed_task (its name, action and no_log are used), ``kubeconfig`` the role's kubeconfig path
    (the server's URL is read from its current context), ``region`` the region's name for the message.
    """
    task = task if isinstance(task, dict) else {}
    task_name = str(task.get("name") or task.get("action") or "a task")
    # A no_log task's result is not censored in ansible_failed_result: never repeat its text.
    no_log = task.get("no_log")
    hidden = bool(no_log) and str(no_log).strip().lower() not in ("false", "no", "0") or (
        isinstance(result, dict) and result.get("censored") == HIDDEN)
    server = kubeconfig_server(kubeconfig) if kubeconfig else ""
    reason = unreachable_reason(result, server, str(task.get("action") or ""))
    if not reason:
        return _original_message(result, task_name, hidden)
    where = f"region {region}'s Kubernetes API server" if region else "the Kubernetes API server"
    at = f" at {server}" if server else ""
    source = f" (the current context's server in kubeconfig {kubeconfig})" if kubeconfig else ""
    return (f"{where[0].upper()}{where[1:]}{at} is not reachable ({reason}) while '{task_name}' ran: start the API "
            f"server or fix its address{source}, then re-run; the run is idempotent and completes what was left.")


class FilterModule:
    """Failure filters for the roles' rescue."""

    def filters(self):
        return {"kubernetes_failure_message": kubernetes_failure_message}
