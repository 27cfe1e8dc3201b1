"""One Argo CD for both regions, in the hub region: Redis, the repo server and the application controller.

Argo CD's multi-cluster model: the control region (HUB_REGION, us-east-1) manages itself as
https://kubernetes.default.svc and the other region through a cluster Secret that the argocd role
creates. The lab runs the two controllers that do the work out of cluster, against the hub's API
server with its admin kubeconfig (ARGOCD_FAKE_IN_CLUSTER=true makes Argo CD take KUBECONFIG for its
in-cluster config), and the ApplicationSet controller, which expands the tenant ApplicationSets into
Applications; the API server, UI and Dex are not run.

What upstream's install.yaml would have put into the cluster first, `install_argocd_base` does: the
Application, AppProject and ApplicationSet CRDs (server-side apply: the ApplicationSet CRD is 1.5 MB,
too big for a client-side apply's annotation), namespace `argocd`, ConfigMap `argocd-cm` (the
controller exits without it) and AppProject `default`. The ConfigMap and the project are created
only when missing: like after a real install, they then belong to whoever configures Argo CD (the
argocd role). It runs before the controller starts and again on every `up`.

The GitOps repository is a bare git repository in the state directory (.lab/gitops/meridian.git,
branch main), created empty; the argocd role pushes to it and Applications read it as file://.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from lab.files import write_if_changed
from lab.health import http_ok
from lab.services.base import LabContext, LabError, Service
from lab.topology import HOST, HUB_REGION, REDIS_PORT, hub_address, hub_port

NAMESPACE = "argocd"
GITOPS_REPOSITORY = "meridian.git"
DEFAULT_BRANCH = "main"
# Short in the lab so a pushed change arrives quickly. A real install reads it from argocd-cm's
# timeout.reconciliation into ARGOCD_RECONCILIATION_TIMEOUT (default 180 s), which is also how long
# the repo server caches a branch's head revision.
RECONCILIATION_TIMEOUT = "30s"
REDIS_ADDRESS = f"{HOST}:{REDIS_PORT}"
# Redis rewrites its process title; the template keeps this marker in it for the lab's PID check.
REDIS_MARKER = "meridian-lab-redis"
CRD_KEYS = ("application_crd_file", "appproject_crd_file", "applicationset_crd_file")
FIELD_MANAGER = "meridian-lab"


def gitops_dir(ctx: LabContext) -> Path:
    return ctx.paths.root / "gitops" / GITOPS_REPOSITORY


def ensure_git_repository(path: Path) -> bool:
    """Create an empty bare repository (default branch main) unless one exists; True when created."""
    if (path / "HEAD").exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(["git", "init", "--quiet", "--bare", f"--initial-branch={DEFAULT_BRANCH}",
                                str(path)], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise LabError(f"git init --bare {path} failed: {completed.stderr.strip()}")
    return True


def argocd_cm() -> dict:
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": NAMESPACE,
                     "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"}},
        "data": {"timeout.reconciliation": RECONCILIATION_TIMEOUT},
    }


def default_project() -> dict:
    """The project Argo CD's API server creates when it first starts (it is not run here)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "default", "namespace": NAMESPACE},
        "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                 "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]},
    }


def crd_files() -> list[Path]:
    """The cached Argo CD CRD files (built into the cache first if needed, which takes a second)."""
    from lab import build

    try:
        result = build.ensure_built("argocd-crds")
    except build.BuildError as err:
        raise LabError(f"building argocd-crds failed: {err}") from err
    return [Path(result[key]) for key in CRD_KEYS]


def git_verify_wrapper() -> Path:
    from lab import build

    try:
        return Path(build.ensure_built("argocd-crds")["git_verify_wrapper_file"])
    except build.BuildError as err:
        raise LabError(f"building argocd-crds failed: {err}") from err


def install_argocd_base(kubeconfig: str, *, timeout: float = 60.0) -> list[str]:
    """What install.yaml provides: the CRDs (Established), namespace argocd, argocd-cm, AppProject default.

    Returns what it did, one item per object, for the `up` line.
    """
    from kubernetes import client, config

    from lab.crds import apply_crds

    done = []
    crds = [name for path in crd_files() for name in apply_crds(kubeconfig, path, namespaces=(NAMESPACE,),
                                                                     timeout=timeout)]
    done.append(f"{len(crds)} CRDs Established, namespace {NAMESPACE}")
    api_client = config.new_client_from_config(config_file=kubeconfig)
    try:
        created = []
        try:
            client.CoreV1Api(api_client).create_namespaced_config_map(NAMESPACE, argocd_cm())
            created.append("argocd-cm")
        except client.exceptions.ApiException as err:
            if err.status != 409:
                raise
        project = default_project()
        try:
            client.CustomObjectsApi(api_client).create_namespaced_custom_object(
                "argoproj.io", "v1alpha1", NAMESPACE, "appprojects", project)
            created.append("AppProject default")
        except client.exceptions.ApiException as err:
            if err.status != 409:
                raise
        done.append(f"created {', '.join(created)}" if created else "argocd-cm and AppProject default present")
    except client.exceptions.ApiException as err:
        raise LabError(f"installing Argo CD's base objects failed: {err.status} {err.reason}: {err.body}") from None
    finally:
        api_client.close()
    return done


def application_summary(kubeconfig: str) -> tuple[int, int]:
    """(Applications in namespace argocd, of them Synced), for `lab status`."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=kubeconfig)
    try:
        response = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
            "argoproj.io", "v1alpha1", NAMESPACE, "applications", _preload_content=False)
        items = json.loads(response.data)["items"]
    except client.exceptions.ApiException as err:
        if err.status == 404:  # the CRD is not installed yet
            return 0, 0
        raise LabError(f"listing Applications failed: {err.status} {err.reason}") from None
    finally:
        api_client.close()
    synced = sum(1 for item in items if item.get("status", {}).get("sync", {}).get("status") == "Synced")
    return len(items), synced


def redis_ping(address: str = REDIS_ADDRESS) -> bool:
    """True when Redis answers PING with PONG."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def describe(ctx: LabContext) -> dict:
    """lab.json's `argocd` key: what the argocd role and the tests need to reach the lab's Argo CD."""
    git_dir = gitops_dir(ctx)
    return {
        "namespace": NAMESPACE,
        "control_region": HUB_REGION,
        "repo_url": git_dir.as_uri(),
        "git_dir": str(git_dir),
        "repo_server": hub_address("argocd_repo_server"),
        "redis": REDIS_ADDRESS,
    }


class RedisService(Service):
    """Argo CD's cache: Debian's redis-server on loopback, nothing persisted."""

    kind = "redis"
    component = "redis"
    startup_timeout = 30.0

    def endpoint(self) -> str:
        return f"redis://{REDIS_ADDRESS}"

    def marker(self) -> str:
        return REDIS_MARKER

    def ports(self) -> list[int]:
        return [REDIS_PORT]

    def argv(self, ctx: LabContext) -> list[str]:
        return [str(ctx.binaries("redis")["redis-server"]),
                "--bind", HOST, "--port", str(REDIS_PORT), "--protected-mode", "yes",
                "--save", "", "--appendonly", "no", "--dir", str(self.cwd(ctx)),
                "--proc-title-template", f"{{title}} {{listen-addr}} {REDIS_MARKER}"]

    def healthy(self, ctx: LabContext) -> bool:
        return redis_ping()


class _ArgocdService(Service):
    """What both Argo CD processes share: the multi-call binary, writable dirs, the hub region."""

    component = "argocd"
    startup_timeout = 90.0
    binary_name = ""

    def __init__(self) -> None:
        super().__init__(HUB_REGION)
        self.name = self.kind  # one per lab: no region suffix

    def directories(self, ctx: LabContext) -> dict[str, Path]:
        root = ctx.paths.data(self.name)
        return {name: root / name for name in ("tls", "ssh", "gnupg", "gpg", "tmp", "home", "bin")}

    def prepare(self, ctx: LabContext) -> None:
        for path in self.directories(ctx).values():
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directories(ctx)["gnupg"], 0o700)

    def env(self, ctx: LabContext) -> dict[str, str]:
        dirs = self.directories(ctx)
        env = ctx.base_env()
        env |= {
            "ARGOCD_BINARY_NAME": self.binary_name,
            "ARGOCD_GPG_ENABLED": "false",
            "ARGOCD_TLS_DATA_PATH": str(dirs["tls"]),
            "ARGOCD_SSH_DATA_PATH": str(dirs["ssh"]),
            "ARGOCD_GNUPGHOME": str(dirs["gnupg"]),
            "ARGOCD_GPG_DATA_PATH": str(dirs["gpg"]),
            "ARGOCD_RECONCILIATION_TIMEOUT": RECONCILIATION_TIMEOUT,
            "TMPDIR": str(dirs["tmp"]),
            "HOME": str(dirs["home"]),
            "PATH": os.pathsep.join([str(dirs["bin"]), env.get("PATH", "/usr/bin:/bin")]),
        }
        return env


class ArgocdRepoServerService(_ArgocdService):
    kind = "argocd-repo-server"
    binary_name = "argocd-repo-server"

    def __init__(self) -> None:
        super().__init__()
        self.depends_on = ("redis",)

    def endpoint(self) -> str:
        return hub_address("argocd_repo_server")

    def health_url(self) -> str:
        # full=true: the repo server calls its own gRPC health service, so the answer covers the port
        # the controller uses, not only the metrics listener.
        return f"http://{hub_address('argocd_repo_server_metrics')}/healthz?full=true"

    def marker(self) -> str:
        return f"--port={hub_port('argocd_repo_server')}"

    def ports(self) -> list[int]:
        return [hub_port("argocd_repo_server"), hub_port("argocd_repo_server_metrics")]

    def prepare(self, ctx: LabContext) -> None:
        super().prepare(ctx)
        ensure_git_repository(gitops_dir(ctx))

    def argv(self, ctx: LabContext) -> list[str]:
        # v3.6.1 runs every git command through git-verify-wrapper.sh, and kustomize sources through
        # `kustomize build`, both looked up on PATH (the image ships them in /usr/local/bin).
        tools = self.directories(ctx)["bin"]
        write_if_changed(tools / "git-verify-wrapper.sh", git_verify_wrapper().read_bytes(), mode=0o755)
        kustomize = ctx.binaries("kustomize")["kustomize"]
        link = tools / "kustomize"
        if not link.is_symlink() or os.readlink(link) != str(kustomize):
            link.unlink(missing_ok=True)
            link.symlink_to(kustomize)
        if not shutil.which("git"):
            raise LabError("argocd-repo-server needs `git` on PATH (Debian package git)")
        return [str(ctx.binaries("argocd")["argocd"]),
                f"--address={HOST}", self.marker(),
                f"--metrics-address={HOST}", f"--metrics-port={hub_port('argocd_repo_server_metrics')}",
                # Plaintext gRPC on loopback; --client-ca-path must be empty with --disable-tls.
                "--disable-tls", "--client-ca-path=",
                f"--redis={REDIS_ADDRESS}", "--loglevel=info"]

    def healthy(self, ctx: LabContext) -> bool:
        return http_ok(self.health_url(), expect=b"ok")


class ArgocdApplicationControllerService(_ArgocdService):
    kind = "argocd-application-controller"
    binary_name = "argocd-application-controller"

    def __init__(self) -> None:
        super().__init__()
        self.depends_on = (f"kube-apiserver-{HUB_REGION}", "redis", "argocd-repo-server")

    def endpoint(self) -> str:
        return f"http://{hub_address('argocd_controller_metrics')}/healthz"

    def marker(self) -> str:
        return f"--metrics-port={hub_port('argocd_controller_metrics')}"

    def ports(self) -> list[int]:
        return [hub_port("argocd_controller_metrics")]

    def argv(self, ctx: LabContext) -> list[str]:
        # The metrics listener binds every interface on --metrics-port (no address flag in v3.6.1).
        return [str(ctx.binaries("argocd")["argocd"]),
                f"--namespace={NAMESPACE}", self.marker(),
                f"--redis={REDIS_ADDRESS}",
                f"--repo-server={hub_address('argocd_repo_server')}", "--repo-server-plaintext",
                "--loglevel=info"]

    def env(self, ctx: LabContext) -> dict[str, str]:
        env = super().env(ctx)
        env["ARGOCD_FAKE_IN_CLUSTER"] = "true"
        env["KUBECONFIG"] = str(ctx.paths.kubeconfig(HUB_REGION, "admin"))
        return env

    def before_start(self, ctx: LabContext) -> str:
        """The controller exits without argocd-cm and cannot watch Applications without their CRD."""
        started = time.monotonic()
        done = install_argocd_base(str(ctx.paths.kubeconfig(HUB_REGION, "admin")))
        return f"{'; '.join(done)} ({time.monotonic() - started:.1f}s)"

    def healthy(self, ctx: LabContext) -> bool:
        return http_ok(self.endpoint(), expect=b"ok")


class ArgocdApplicationSetControllerService(_ArgocdService):
    """Expands ApplicationSets into Applications (the tenant ApplicationSet of each region)."""

    kind = "argocd-applicationset-controller"
    binary_name = "argocd-applicationset-controller"

    def __init__(self) -> None:
        super().__init__()
        self.depends_on = (f"kube-apiserver-{HUB_REGION}", "argocd-repo-server", "argocd-application-controller")

    def endpoint(self) -> str:
        # v3.6.1 registers no health checks on its probe listener (it answers 404); the metrics show the
        # applicationset controller's workers once its manager runs.
        return f"http://{hub_address('argocd_applicationset_metrics')}/metrics"

    def marker(self) -> str:
        return f"--probe-addr={hub_address('argocd_applicationset_probe')}"

    def ports(self) -> list[int]:
        return [hub_port("argocd_applicationset_metrics"), hub_port("argocd_applicationset_probe"),
                hub_port("argocd_applicationset_webhook")]

    def argv(self, ctx: LabContext) -> list[str]:
        # Every listener on loopback (the defaults are :8080, :8081 and :7000 on every interface).
        return [str(ctx.binaries("argocd")["argocd"]),
                f"--kubeconfig={ctx.paths.kubeconfig(HUB_REGION, 'admin')}", f"--namespace={NAMESPACE}",
                self.marker(), f"--metrics-addr={hub_address('argocd_applicationset_metrics')}",
                f"--webhook-addr={hub_address('argocd_applicationset_webhook')}",
                f"--argocd-repo-server={hub_address('argocd_repo_server')}", "--repo-server-plaintext",
                # Only the list generator is used here; no SCM provider is reachable from the lab.
                "--enable-scm-providers=false", "--logformat=text", "--loglevel=info"]

    def env(self, ctx: LabContext) -> dict[str, str]:
        # controller-runtime builds a second client from KUBECONFIG, besides the one from --kubeconfig.
        env = super().env(ctx)
        env["KUBECONFIG"] = str(ctx.paths.kubeconfig(HUB_REGION, "admin"))
        return env

    def healthy(self, ctx: LabContext) -> bool:
        return http_ok(self.endpoint(), expect=b'controller_runtime_active_workers{controller="applicationset"}')
