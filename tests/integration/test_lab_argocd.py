"""The lab's Argo CD on its own: the real application controller and repo server sync from a local git repository.

Each test pushes a tiny repository (one ConfigMap) to its own throwaway bare repository under tmp_path; the shared
.lab/gitops/meridian.git belongs to the argocd role and is only looked at, never written. The Application syncs
automatically into a throwaway namespace in the hub region, self-heal recreates a deleted ConfigMap, a pushed change
arrives after a refresh, and deleting the Application (with the resources finalizer) deletes what it made.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import requests
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from lab.topology import hub_address

pytestmark = pytest.mark.lab

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "applications"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
WAIT_SECONDS = 120
RENDERED_BY = "lab.meridian.io/rendered-by"


def _git(*args: str, cwd: Path) -> str:
    completed = subprocess.run(["git", "-c", "user.name=lab test", "-c", "user.email=lab@test.invalid", *args],
                               cwd=cwd, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, f"git {' '.join(args)}: {completed.stderr}"
    return completed.stdout.strip()


def _configmap(namespace: str, value: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "greeting", "namespace": namespace}, "data": {"value": value}})


def _wait(what: str, check, timeout: float = WAIT_SECONDS):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.5)


@pytest.fixture
def hub(lab):
    argocd = lab["argocd"]
    api = config.new_client_from_config(
        config_file=lab["regions"][argocd["control_region"]]["kubernetes"]["kubeconfig"])
    yield {"core": client.CoreV1Api(api), "custom": client.CustomObjectsApi(api), "argocd": argocd}
    api.close()


@pytest.fixture
def app_repo(tmp_path, unique) -> dict:
    """A bare repository with one commit on main: greeting ConfigMap, value "hello"."""
    bare, work = tmp_path / "app.git", tmp_path / "work"
    namespace = f"lab-argocd-{unique}"
    _git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=tmp_path)
    _git("clone", "--quiet", str(bare), str(work), cwd=tmp_path)
    (work / "configmap.json").write_text(_configmap(namespace, "hello"))
    # A kustomize source, as the argocd role's overlays are: the repo server must find `kustomize` on its PATH.
    (work / "kustomization.yaml").write_text(json.dumps({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": ["configmap.json"],
        "labels": [{"pairs": {RENDERED_BY: "kustomize"}}]}))
    _git("add", "configmap.json", "kustomization.yaml", cwd=work)
    _git("commit", "--quiet", "-m", "greeting", cwd=work)
    _git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    return {"url": bare.as_uri(), "work": work, "namespace": namespace, "app": f"lab-test-{unique}"}


def _application(hub: dict, repo: dict) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Application",
        "metadata": {"name": repo["app"], "namespace": hub["argocd"]["namespace"], "finalizers": [FINALIZER]},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo["url"], "targetRevision": "main", "path": "."},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": repo["namespace"]},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["CreateNamespace=true"]},
        },
    }


def _read_app(hub: dict, name: str) -> dict | None:
    try:
        return hub["custom"].get_namespaced_custom_object(GROUP, VERSION, hub["argocd"]["namespace"], PLURAL, name)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def _greeting(hub: dict, namespace: str) -> str | None:
    try:
        return hub["core"].read_namespaced_config_map("greeting", namespace).data["value"]
    except ApiException as err:
        if err.status == 404:
            return None
        raise


@pytest.fixture
def application(hub, app_repo):
    """The Application, created; removed at the end whatever happened (finalizer dropped if the controller is gone)."""
    namespace = hub["argocd"]["namespace"]
    hub["custom"].create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _application(hub, app_repo))
    yield app_repo
    if _read_app(hub, app_repo["app"]) is not None:
        hub["custom"].delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, app_repo["app"])
        try:
            _wait("the controller to finalise the Application", lambda: _read_app(hub, app_repo["app"]) is None, 60)
        except AssertionError:
            hub["custom"].patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, app_repo["app"],
                                                         {"metadata": {"finalizers": []}})
    try:
        hub["core"].delete_namespace(app_repo["namespace"])
    except ApiException as err:
        if err.status != 404:
            raise


def test_lab_json_describes_the_hub_argocd(lab):
    argocd = lab["argocd"]
    assert set(argocd) == {"namespace", "control_region", "repo_url", "git_dir", "repo_server", "redis"}
    assert argocd["namespace"] == "argocd" and argocd["control_region"] == "us-east-1"
    git_dir = Path(argocd["git_dir"])
    assert argocd["repo_url"] == git_dir.as_uri()
    # The shared repository exists, is bare, and its default branch is main (its content is the argocd role's).
    assert _git("rev-parse", "--is-bare-repository", cwd=git_dir) == "true"
    assert _git("symbolic-ref", "HEAD", cwd=git_dir) == "refs/heads/main"
    for service in ("argocd-repo-server", "argocd-application-controller", "redis"):
        assert lab["services"][service]["region"] == ("us-east-1" if service != "redis" else None)


def test_controller_and_repo_server_answer_their_health_checks(lab):
    controller = lab["services"]["argocd-application-controller"]["endpoint"]
    assert requests.get(controller, timeout=10).text.strip() == "ok"
    metrics = requests.get(controller.replace("/healthz", "/metrics"), timeout=10).text
    assert 'argocd_info{version="v3.6.1' in metrics  # the pinned build, stamped
    assert 'initiator="argocd-application-controller"' in metrics  # it talks to the lab's Redis
    # full=true makes the repo server call its own gRPC health service on the port the controller uses.
    repo_server = requests.get(f"http://{hub_address('argocd_repo_server_metrics')}/healthz?full=true", timeout=30)
    assert repo_server.status_code == 200 and repo_server.text.strip() == "ok"


def test_application_syncs_self_heals_follows_a_push_and_cleans_up(hub, application):
    namespace = hub["argocd"]["namespace"]

    def synced():
        app = _read_app(hub, application["app"]) or {}
        status = app.get("status", {})
        return status.get("sync", {}).get("status") == "Synced" and status

    status = _wait("the Application to be Synced", synced)
    assert status["sync"]["revision"] == _git("rev-parse", "HEAD", cwd=application["work"])
    assert status["sourceType"] == "Kustomize"
    assert _greeting(hub, application["namespace"]) == "hello"
    live = hub["core"].read_namespaced_config_map("greeting", application["namespace"])
    assert live.metadata.labels[RENDERED_BY] == "kustomize"

    # Self-heal: the controller puts back what git says when the live object goes away.
    hub["core"].delete_namespaced_config_map("greeting", application["namespace"])
    _wait("self-heal to recreate the ConfigMap", lambda: _greeting(hub, application["namespace"]) == "hello")

    # A pushed change arrives once the Application is refreshed (the repo server caches the branch head).
    (application["work"] / "configmap.json").write_text(_configmap(application["namespace"], "changed"))
    _git("commit", "--quiet", "-am", "change the greeting", cwd=application["work"])
    _git("push", "--quiet", "origin", "HEAD:main", cwd=application["work"])
    hub["custom"].patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, application["app"],
        {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}})
    _wait("the pushed change to be synced", lambda: _greeting(hub, application["namespace"]) == "changed")

    # Deleting the Application with the resources finalizer deletes what it synced.
    hub["custom"].delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, application["app"])
    _wait("the Application to be finalised", lambda: _read_app(hub, application["app"]) is None)
    assert _greeting(hub, application["namespace"]) is None
