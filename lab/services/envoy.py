"""Envoy per region: the tenant gateway the Istio ingress stands for, and the Istio CRDs.

Envoy reads its listeners (LDS) and clusters (CDS) from files through filesystem dynamic
resources, so whoever manages the gateway (the `istio` role) replaces a file by rename
and Envoy reloads it without a restart (same PID; it watches for the move into the
directory). The lab writes those two files only when they are missing, with one listener
that answers 503 to everything until tenant rules arrive; afterwards they belong to the
role. The bootstrap (node, admin, where the two files are) is the lab's and is rewritten
when it changes.

    .lab/envoy/<region>/bootstrap.yaml   the lab's
    .lab/envoy/<region>/lds.yaml         listeners, owned by the istio role after the first write
    .lab/envoy/<region>/cds.yaml         clusters, likewise

The process starts in `main()` below: with the region's API server healthy (a
dependency), it server-side applies the Istio CRDs from the istio.io/api module (see
lab/versions.yml, component istio-crds; a no-op when unchanged), waits until every one is
Established, then execs Envoy in the same process. So the CRDs are in place before any
role runs, and a failed install shows in this service's log.

A logs upstream per region (`logs-echo-<region>`) stands in for Loki behind the gateway:
it answers every request with the headers it received, as JSON, so a test sees exactly
what the upstream got (Loki is not run in the lab).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from lab.crds import apply_crds
from lab.files import write_if_changed, write_if_missing
from lab.health import http_ok
from lab.services.base import LabContext, LabError, Service
from lab.state import REPO_ROOT
from lab.topology import HOST, region_ports

ISTIO_NAMESPACE = "istio-system"
LISTENER_NAME = "gateway"
LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
HCM_TYPE = ("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
            "HttpConnectionManager")
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
NOT_CONFIGURED = "no tenant routes yet: converge the istio layer for this region\n"


def envoy_dir(ctx: LabContext, region: str) -> Path:
    return ctx.paths.root / "envoy" / region


def bootstrap_file(ctx: LabContext, region: str) -> Path:
    return envoy_dir(ctx, region) / "bootstrap.yaml"


def lds_file(ctx: LabContext, region: str) -> Path:
    return envoy_dir(ctx, region) / "lds.yaml"


def cds_file(ctx: LabContext, region: str) -> Path:
    return envoy_dir(ctx, region) / "cds.yaml"


def render_bootstrap(ctx: LabContext, region: str) -> str:
    ports = region_ports(region)
    config = {
        "node": {"id": f"envoy-{region}", "cluster": "meridian-lab-gateway"},
        "admin": {"address": {"socket_address": {"address": HOST, "port_value": ports.port("envoy_admin")}}},
        "dynamic_resources": {
            "lds_config": {"resource_api_version": "V3",
                           "path_config_source": {"path": str(lds_file(ctx, region))}},
            "cds_config": {"resource_api_version": "V3",
                           "path_config_source": {"path": str(cds_file(ctx, region))}},
        },
        "overload_manager": {"resource_monitors": [{
            "name": "envoy.resource_monitors.global_downstream_max_connections",
            "typed_config": {
                "@type": ("type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3."
                          "DownstreamConnectionsConfig"),
                "max_active_downstream_connections": 1000}}]},
    }
    header = f"# Written by the lab (python -m lab up) for envoy-{region}; edits are overwritten.\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def initial_lds(region: str) -> str:
    """One listener on the gateway port that answers 503 until the istio role writes tenant rules."""
    listener = {
        "@type": LISTENER_TYPE,
        "name": LISTENER_NAME,
        "address": {"socket_address": {"address": HOST,
                                       "port_value": region_ports(region).port("envoy_gateway")}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": HCM_TYPE,
                "stat_prefix": LISTENER_NAME,
                "route_config": {"name": LISTENER_NAME, "virtual_hosts": [{
                    "name": "not-configured", "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"},
                                "direct_response": {"status": 503, "body": {"inline_string": NOT_CONFIGURED}}}],
                }]},
                "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}],
            },
        }]}],
    }
    header = (f"# Initial listener of envoy-{region}, written once by the lab. The istio role replaces this file\n"
              "# (by rename) with the tenant gateway; Envoy reloads it without a restart.\n")
    return header + yaml.safe_dump({"version_info": "lab-initial", "resources": [listener]}, sort_keys=False)


def initial_cds() -> str:
    header = "# Initial (empty) clusters, written once by the lab; the istio role replaces this file.\n"
    return header + yaml.safe_dump({"version_info": "lab-initial", "resources": []}, sort_keys=False)


def crds_file() -> Path:
    """The Istio CRDs, copied into the lab's build cache from the istio.io/api module."""
    from lab import build

    try:
        return Path(build.ensure_built("istio-crds")["crds_file"])
    except build.BuildError as err:
        raise LabError(f"Istio CRDs unavailable: {err}") from err


class EnvoyService(Service):
    kind = "envoy"
    component = "envoy"
    startup_timeout = 60.0

    def __init__(self, region: str) -> None:
        super().__init__(region)
        # The API server must be up to receive the Istio CRDs before Envoy starts.
        self.depends_on = (f"kube-apiserver-{region}",)
        self.ports_table = region_ports(region)

    def endpoint(self) -> str:
        return f"http://{self.ports_table.address('envoy_gateway')}"

    def admin_url(self) -> str:
        return f"http://{self.ports_table.address('envoy_admin')}"

    def marker(self) -> str:
        # In the Python starter's argv and, as the --service-zone value, in Envoy's after the exec.
        return f"lab-envoy-{self.region}"

    def ports(self) -> list[int]:
        return [self.ports_table.port("envoy_gateway"), self.ports_table.port("envoy_admin")]

    def prepare(self, ctx: LabContext) -> None:
        envoy_dir(ctx, self.region).mkdir(parents=True, exist_ok=True)
        write_if_changed(bootstrap_file(ctx, self.region), render_bootstrap(ctx, self.region))
        write_if_missing(lds_file(ctx, self.region), initial_lds(self.region))
        write_if_missing(cds_file(ctx, self.region), initial_cds())

    def envoy_argv(self, ctx: LabContext) -> list[str]:
        envoy = ctx.binaries("envoy")["envoy"]
        return [
            str(envoy), "-c", str(bootstrap_file(ctx, self.region)),
            # Two Envoys on one host: without hot restart they need no distinct --base-id.
            "--disable-hot-restart",
            "--log-level", "info",
            # Envoy's own flag for a free-form node label; here it makes the marker visible after the exec.
            "--service-zone", self.marker(),
        ]

    def argv(self, ctx: LabContext) -> list[str]:
        crds = crds_file()  # resolved (and cached) here, so the starter does not build anything
        # -c rather than -m: lab.services imports this module, and runpy warns about running it twice.
        return [ctx.python("kubernetes"),
                "-c", "import sys; from lab.services.envoy import main; main(sys.argv[1:])",
                "--kubeconfig", str(ctx.paths.kubeconfig(self.region, "admin")),
                "--crds", str(crds), "--", *self.envoy_argv(ctx)]

    def env(self, ctx: LabContext) -> dict[str, str]:
        env = ctx.base_env()
        env["PYTHONPATH"] = str(REPO_ROOT)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def healthy(self, ctx: LabContext) -> bool:
        return http_ok(f"{self.admin_url()}/ready", expect=b"LIVE")

    def describe(self, ctx: LabContext) -> dict:
        return {
            "gateway_url": self.endpoint(),
            "admin_url": self.admin_url(),
            "config_dir": str(envoy_dir(ctx, self.region)),
            "lds_file": str(lds_file(ctx, self.region)),
            "cds_file": str(cds_file(ctx, self.region)),
            "logs_upstream_url": f"http://{self.ports_table.address('logs_echo')}",
        }


def main(argv: list[str] | None = None) -> None:
    """Entry point of envoy-<region>: install the Istio CRDs, then become Envoy."""
    parser = argparse.ArgumentParser(prog="lab.services.envoy")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--crds", required=True, type=Path)
    parser.add_argument("envoy", nargs=argparse.REMAINDER, help="-- then Envoy's command line")
    args = parser.parse_args(argv)
    command = args.envoy[1:] if args.envoy[:1] == ["--"] else args.envoy
    started = time.monotonic()
    try:
        names = apply_crds(args.kubeconfig, args.crds, namespaces=(ISTIO_NAMESPACE,))
    except LabError as err:
        raise SystemExit(f"envoy: {err}") from None
    print(f"envoy: {len(names)} Istio CRDs and namespace {ISTIO_NAMESPACE} applied, Established in {time.monotonic() - started:.1f}s",
          flush=True)
    os.execv(command[0], command)


# --- the logs upstream ------------------------------------------------------------------------


class LogsEchoService(Service):
    """Stands in for Loki behind the gateway: answers with the request line and headers it received."""

    kind = "logs-echo"
    component = None  # the standard library's HTTP server
    startup_timeout = 20.0

    def __init__(self, region: str) -> None:
        super().__init__(region)
        self.address = region_ports(region).address("logs_echo")

    def endpoint(self) -> str:
        return f"http://{self.address}"

    def marker(self) -> str:
        return f"--listen={self.address}"

    def ports(self) -> list[int]:
        return [region_ports(self.region).port("logs_echo")]

    def argv(self, ctx: LabContext) -> list[str]:
        return [sys.executable, "-c", "import sys; from lab.services.envoy import echo_main; echo_main(sys.argv[1:])",
                self.marker()]

    def env(self, ctx: LabContext) -> dict[str, str]:
        env = ctx.base_env()
        env["PYTHONPATH"] = str(REPO_ROOT)
        return env

    def healthy(self, ctx: LabContext) -> bool:
        return http_ok(f"{self.endpoint()}/ready")


class EchoHandler(BaseHTTPRequestHandler):
    """Every request -> 200 and JSON {method, path, headers (lower-case names), body_bytes}."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        payload = json.dumps({"method": self.command, "path": self.path, "headers": headers,
                              "body_bytes": len(body)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815 - BaseHTTPRequestHandler's naming

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's signature
        pass  # one line per request would only fill the log


def echo_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="lab.services.envoy echo")
    parser.add_argument("--listen", required=True, help="host:port")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), EchoHandler)
    print(f"logs-echo: listening on {args.listen}", flush=True)
    server.serve_forever()
