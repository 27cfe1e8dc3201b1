"""The tenant operator per region: kopf run --standalone against the region's API server.

It runs this checkout's code (operators/tenant-operator) with the repository's Python,
so an edit to the operator takes effect on `python -m lab stop/start tenant-operator-<r>`.
The process starts in `main()` below, which (its dependency, the
region's API server, being healthy by then) server-side applies the Tenant CRD from
operators/tenant-operator/deploy/crd.yaml, waits until it is Established, and then execs
`kopf run` in the same process. So the operator is healthy only with the CRD in place,
before any role runs, and a failed install shows in the service's log like any start failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from lab.crds import apply_crds
from lab.health import http_ok
from lab.services.base import LabContext, LabError, Service
from lab.state import REPO_ROOT
from lab.topology import HOST, region_ports

OPERATOR_DIR = REPO_ROOT / "operators" / "tenant-operator"
CRD_FILE = OPERATOR_DIR / "deploy" / "crd.yaml"
CRD_NAME = "tenants.observability.meridian.io"
# Short in the lab so tests see drift healed quickly; a real cluster uses the operator's default (60 s).
LAB_RESYNC_SECONDS = 15


class TenantOperatorService(Service):
    kind = "tenant-operator"
    component = None  # Python from this checkout, nothing to build
    startup_timeout = 60.0
    stop_timeout = 20.0

    def __init__(self, region: str) -> None:
        super().__init__(region)
        self.depends_on = (f"kube-apiserver-{region}",)
        self.port = region_ports(region).port("tenant_operator_health")

    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}/healthz"

    def marker(self) -> str:
        return f"--liveness={self.endpoint()}"

    def ports(self) -> list[int]:
        return [self.port]

    def argv(self, ctx: LabContext) -> list[str]:
        # -c rather than -m: lab.services imports this module, and runpy warns about running it twice.
        return [ctx.python("kopf"), "-c", "import sys; from lab.services.tenant_operator import main; "
                "main(sys.argv[1:])", self.marker()]

    def env(self, ctx: LabContext) -> dict[str, str]:
        env = ctx.base_env()
        env["KUBECONFIG"] = str(ctx.paths.kubeconfig(self.region, "admin"))
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(OPERATOR_DIR)])
        env["TENANT_OPERATOR_RESYNC_SECONDS"] = str(LAB_RESYNC_SECONDS)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def healthy(self, ctx: LabContext) -> bool:
        return http_ok(self.endpoint())

    def describe(self, ctx: LabContext) -> dict:
        return {"liveness_url": self.endpoint(), "crd_file": str(CRD_FILE), "crd": CRD_NAME,
                "resync_seconds": LAB_RESYNC_SECONDS, "log": str(ctx.paths.log(self.name))}


def kopf_argv(liveness: str) -> list[str]:
    return [sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces",
            f"--liveness={liveness}", "-m", "tenant_operator.handlers"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the service process: install the CRD, then become the operator."""
    parser = argparse.ArgumentParser(prog="python -m lab.services.tenant_operator")
    parser.add_argument("--liveness", required=True, help="kopf's liveness endpoint URL")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        apply_crds(os.environ["KUBECONFIG"], CRD_FILE, timeout=30.0)
    except LabError as err:
        raise SystemExit(f"tenant-operator: {err}") from None
    print(f"tenant-operator: CRD {CRD_NAME} applied and Established in {time.monotonic() - started:.1f}s",
          flush=True)
    command = kopf_argv(args.liveness)
    os.execv(command[0], command)
