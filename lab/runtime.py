"""Bring the lab up, report on it, take it down.

`Lab.up()` is what `python -m lab up` and the pytest fixture call: it writes the state
files, reuses every service that is already healthy, starts the others as soon as their
dependencies are ready (independent chains start in parallel), prints one line per
service, and returns the parsed lab.json.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from lab import process
from lab.services import argocd
from lab.files import PRIVATE, write_atomic, write_if_changed
from lab.process import PidRecord
from lab.services import LabContext, LabError, Service, all_services
from lab.state import LabPaths, load_secrets
from lab.topology import HOST, HUB_REGION, REGIONS, region_ports

POLL_INTERVAL = 0.25
SCHEMA_VERSION = 1


def _timeout_scale_from_env() -> float:
    try:
        return float(os.environ.get("MERIDIAN_LAB_TIMEOUT_SCALE", "1"))
    except ValueError:
        return 1.0


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


class Lab:
    """The lab in one state directory."""

    def __init__(
        self,
        paths: LabPaths | None = None,
        *,
        timeout_scale: float | None = None,
        out: Callable[[str], None] = print,
    ) -> None:
        self.paths = paths or LabPaths.default()
        self.services = all_services()
        self.by_name = {service.name: service for service in self.services}
        self.timeout_scale = timeout_scale if timeout_scale is not None else _timeout_scale_from_env()
        self.out = out
        self._ctx: LabContext | None = None
        # Set when this run already applied Argo CD's base objects (before the controller started).
        self._argocd_base_applied = False

    # --- context and state files ------------------------------------------------------
    def context(self, *, create_secrets: bool) -> LabContext:
        if self._ctx is None or (create_secrets and not self._ctx.secrets):
            if create_secrets:
                self.paths.ensure()
            secrets = load_secrets(self.paths, list(REGIONS), create=create_secrets)
            self._ctx = LabContext(self.paths, secrets, list(REGIONS), self.timeout_scale)
        return self._ctx

    def service(self, name: str) -> Service:
        try:
            return self.by_name[name]
        except KeyError:
            raise LabError(f"unknown service {name!r}; known: {', '.join(self.by_name)}") from None

    def prepare(self) -> LabContext:
        """Write every file the servers and clients read; cheap when nothing changed."""
        ctx = self.context(create_secrets=True)
        for service in self.services:
            service.prepare(ctx)
        self.write_descriptor(ctx)
        return ctx

    def describe(self, ctx: LabContext) -> dict:
        """The content of lab.json: every endpoint and credential."""
        by_kind = {(s.kind, s.region): s for s in self.services}
        regions = {}
        for region, index in REGIONS.items():
            regions[region] = {
                "index": index,
                "ports": region_ports(region).as_dict(),
                "kubernetes": by_kind[("kube-apiserver", region)].describe(ctx),
                "vault": by_kind[("openbao", region)].describe(ctx) | {"implementation": "openbao"},
                "thanos": by_kind[("thanos-receive", region)].describe(ctx),
                "prometheus": by_kind[("prometheus", region)].describe(ctx),
                "envoy": by_kind[("envoy", region)].describe(ctx),
            }
        return {
            "schema": SCHEMA_VERSION,
            "state_dir": str(self.paths.root),
            "aws": by_kind[("moto", None)].describe(ctx),
            "keycloak": by_kind[("keycloak", None)].describe(ctx),
            "regions": regions,
            "argocd": argocd.describe(ctx),
            "thanos_query_global": by_kind[("thanos-query-global", HUB_REGION)].endpoint(),
            "services": {
                s.name: {
                    "kind": s.kind,
                    "region": s.region,
                    "endpoint": s.endpoint(),
                    "log": str(self.paths.log(s.name)),
                    "pid_file": str(self.paths.pid(s.name)),
                    "depends_on": list(s.depends_on),
                }
                for s in self.services
            },
        }

    def write_descriptor(self, ctx: LabContext) -> dict:
        description = self.describe(ctx)
        content = json.dumps(description, indent=2) + "\n"
        write_if_changed(self.paths.lab_json, content, mode=PRIVATE)
        write_if_changed(self.paths.lab_env, render_env(description), mode=PRIVATE)
        return description

    # --- process state ----------------------------------------------------------------
    def record(self, service: Service) -> PidRecord | None:
        record = PidRecord.read(self.paths.pid(service.name))
        return record if record and process.is_alive(record) else None

    def state(self, service: Service, ctx: LabContext) -> str:
        """healthy (lab PID alive and health OK), unhealthy (PID alive) or stopped.

        A port answered by a process without a live lab PID file counts as stopped:
        the lab neither reuses nor stops what it did not start.
        """
        if self.record(service) is None:
            return "stopped"
        return "healthy" if service.healthy(ctx) else "unhealthy"

    # --- up / start -------------------------------------------------------------------
    def _closure(self, names: Iterable[str]) -> list[Service]:
        wanted: set[str] = set()

        def add(name: str) -> None:
            if name not in wanted:
                wanted.add(name)
                for dependency in self.service(name).depends_on:
                    add(dependency)

        for name in names:
            add(name)
        return [s for s in self.services if s.name in wanted]

    def up(self, names: Iterable[str] | None = None) -> dict:
        """Start (or reuse) the named services and their dependencies; all by default."""
        targets = self._closure(names) if names else list(self.services)
        self._argocd_base_applied = False
        ctx = self.prepare()
        self.out(f"lab: state in {self.paths.root}")
        ready: set[str] = set()
        waiting: dict[str, tuple[PidRecord, float]] = {}
        to_start: list[Service] = []
        for service in targets:
            record = self.record(service)
            if record is not None:
                if service.healthy(ctx):
                    ready.add(service.name)
                    self._line(service, "reused")
                else:  # started earlier and still coming up, or stuck: wait, then judge
                    waiting[service.name] = (record, time.monotonic())
            else:
                self.paths.pid(service.name).unlink(missing_ok=True)
                to_start.append(service)
        # Resolve (and if needed build) binaries before starting anything.
        for component in dict.fromkeys(s.component for s in to_start if s.component):
            started = time.monotonic()
            ctx.binaries(component)
            if time.monotonic() - started > 5:
                self.out(f"  built {component} in {time.monotonic() - started:.0f}s")
        timings = self._read_timings()
        launched: set[str] = set()
        while to_start or waiting:
            for service in list(to_start):
                if all(dependency in ready for dependency in service.depends_on):
                    waiting[service.name] = (self._launch(service, ctx), time.monotonic())
                    launched.add(service.name)
                    to_start.remove(service)
            if to_start and not waiting:
                blocked = ", ".join(s.name for s in to_start)
                raise LabError(f"cannot start {blocked}: dependencies not ready")
            for name, (record, started) in list(waiting.items()):
                service = self.by_name[name]
                elapsed = time.monotonic() - started
                if service.healthy(ctx):
                    ready.add(name)
                    del waiting[name]
                    if name in launched:
                        timings[name] = round(elapsed, 2)
                        self._line(service, f"ready {elapsed:5.1f}s")
                    else:  # started by an earlier call that did not wait for it
                        self._line(service, "ready")
                elif not process.is_alive(record):
                    self._write_timings(timings)
                    status = process.exit_status(record.pid)
                    raise self._failure(service, "exited before it was ready" + (f" ({status})" if status else ""))
                elif elapsed > service.startup_timeout * self.timeout_scale:
                    self._write_timings(timings)
                    raise self._failure(
                        service, f"not ready after {elapsed:.0f}s (still running, left as is)")
            if waiting:
                time.sleep(POLL_INTERVAL)
        self._write_timings(timings)
        self._install_cluster_crds(targets)
        return self.describe(ctx)

    def _install_cluster_crds(self, targets: list[Service]) -> None:
        """The policy CRDs no lab service installs (lab/crds.py), on every up, into each target API server.

        The hub's API server also gets Argo CD's CRDs and base objects (lab/services/argocd.py).
        """
        from lab.crds import install_cluster_crds

        for service in targets:
            if service.kind == "kube-apiserver" and service.region == HUB_REGION and not self._argocd_base_applied:
                started = time.monotonic()
                done = argocd.install_argocd_base(str(self.paths.kubeconfig(HUB_REGION, "admin")))
                self.out(f"  {'argocd-base-' + HUB_REGION:<36} {'applied':<12} {'; '.join(done)} "
                         f"({time.monotonic() - started:.1f}s)")
            if service.kind == "kube-apiserver":
                started = time.monotonic()
                installed = install_cluster_crds(str(self.paths.kubeconfig(service.region, "admin")))
                counts = ", ".join(f"{component} {len(names)}" for component, names in installed.items())
                self.out(f"  {'crds-' + str(service.region):<36} {'applied':<12} {counts} "
                         f"Established ({time.monotonic() - started:.1f}s)")

    def _launch(self, service: Service, ctx: LabContext) -> PidRecord:
        busy = [port for port in service.ports() if _port_in_use(port)]
        if busy:
            raise LabError(
                f"{service.name}: port(s) {busy} on {HOST} are in use by a process the lab "
                f"did not start (no live PID file at {self.paths.pid(service.name)})")
        note = service.before_start(ctx)
        if service.kind == "argocd-application-controller":
            self._argocd_base_applied = True
        if note:
            self.out(f"  {service.name:<36} {'prepared':<12} {note}")
        record = process.spawn(
            service.name,
            service.argv(ctx),
            env=service.env(ctx),
            cwd=service.cwd(ctx),
            log_path=self.paths.log(service.name),
            marker=service.marker(),
        )
        record.write(self.paths.pid(service.name))
        return record

    def _failure(self, service: Service, reason: str) -> LabError:
        log = self.paths.log(service.name)
        tail = process.log_tail(log)
        return LabError(f"{service.name} {reason}. Last lines of {log}:\n{tail}")

    def _line(self, service: Service, what: str) -> None:
        self.out(f"  {service.name:<36} {what:<12} {service.endpoint()}")

    def _timings_file(self) -> Path:
        return self.paths.root / "startup-times.json"

    def _read_timings(self) -> dict[str, float]:
        try:
            return json.loads(self._timings_file().read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _write_timings(self, timings: dict[str, float]) -> None:
        write_atomic(self._timings_file(), json.dumps(timings, indent=2, sort_keys=True) + "\n")

    # --- stop / down ------------------------------------------------------------------
    def stop(self, names: Iterable[str]) -> list[tuple[str, str]]:
        """Stop the named services (only processes this lab's PID files vouch for)."""
        results = []
        for name in names:
            service = self.service(name)
            pid_file = self.paths.pid(name)
            record = PidRecord.read(pid_file)
            if record is None:
                outcome = "not running"
            else:
                outcome = process.terminate(record, service.stop_timeout)
                pid_file.unlink(missing_ok=True)
            results.append((name, outcome))
            if record is not None:
                self.out(f"  {name:<36} {outcome} (pid {record.pid})")
        return results

    def down(self, *, purge: bool = False) -> list[tuple[str, str]]:
        """Stop every lab service, dependents first; with purge, delete the state dir."""
        results = self.stop([s.name for s in reversed(self.services)])
        if purge and self.paths.root.exists():
            shutil.rmtree(self.paths.root)
            self.out(f"lab: removed {self.paths.root}")
        return results

    # --- reporting ----------------------------------------------------------------------
    def status(self) -> list[dict]:
        ctx = self.context(create_secrets=False)
        rows = []
        for service in self.services:
            record = self.record(service)
            state = self.state(service, ctx)
            rss = 0
            if record is not None:
                rss = sum(process.rss_kib(pid) for pid in process.group_members(record.pid))
            rows.append({
                "service": service.name,
                "region": service.region or "global",
                "endpoint": service.endpoint(),
                "state": state,
                "pid": record.pid if record else None,
                "rss_mib": round(rss / 1024, 1),
            })
        return rows


def render_env(description: dict) -> str:
    """lab.json as shell `export` lines (for `eval "$(python -m lab env)"`)."""
    values: dict[str, str] = {
        "MERIDIAN_LAB_STATE_DIR": description["state_dir"],
        "LAB_JSON": str(Path(description["state_dir"]) / "lab.json"),
        "LAB_MOTO_ENDPOINT": description["aws"]["endpoint"],
        # Standard variables: boto3, the AWS CLI and amazon.aws then talk to moto only.
        "AWS_ENDPOINT_URL": description["aws"]["endpoint"],
        "AWS_ACCESS_KEY_ID": description["aws"]["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": description["aws"]["aws_secret_access_key"],
        "LAB_KEYCLOAK_URL": description["keycloak"]["url"],
        "LAB_KEYCLOAK_ADMIN_USERNAME": description["keycloak"]["admin_username"],
        "LAB_KEYCLOAK_ADMIN_PASSWORD": description["keycloak"]["admin_password"],
    }
    for region, info in description["regions"].items():
        prefix = "LAB_" + region.upper().replace("-", "_") + "_"
        kube, thanos = info["kubernetes"], info["thanos"]
        values |= {
            prefix + "KUBECONFIG": kube["kubeconfig"],
            prefix + "KUBECONFIG_ALICE": kube["kubeconfigs"]["alice"],
            prefix + "KUBECONFIG_BOB": kube["kubeconfigs"]["bob"],
            prefix + "API_SERVER": kube["api_server"],
            prefix + "CA_FILE": kube["ca_file"],
            prefix + "VAULT_ADDR": info["vault"]["addr"],
            prefix + "VAULT_TOKEN": info["vault"]["token"],
            prefix + "THANOS_REMOTE_WRITE_URL": thanos["remote_write_url"],
            prefix + "THANOS_RECEIVE_URL": thanos["receive_http"],
            prefix + "THANOS_QUERY_URL": thanos["query_url"],
            prefix + "THANOS_HASHRINGS_FILE": thanos["hashrings_file"],
            prefix + "THANOS_LIMITS_FILE": thanos["limits_file"],
            prefix + "PROMETHEUS_URL": info["prometheus"]["url"],
            prefix + "GATEWAY_URL": info["envoy"]["gateway_url"],
            prefix + "ENVOY_ADMIN_URL": info["envoy"]["admin_url"],
        }
    argocd_info = description["argocd"]
    values |= {
        "LAB_ARGOCD_NAMESPACE": argocd_info["namespace"],
        "LAB_ARGOCD_CONTROL_REGION": argocd_info["control_region"],
        "LAB_ARGOCD_REPO_URL": argocd_info["repo_url"],
        "LAB_ARGOCD_GIT_DIR": argocd_info["git_dir"],
        "LAB_ARGOCD_REPO_SERVER": argocd_info["repo_server"],
        "LAB_ARGOCD_REDIS": argocd_info["redis"],
        "LAB_THANOS_QUERY_GLOBAL_URL": description["thanos_query_global"],
    }
    lines = ["# Generated by `python -m lab up`; holds secrets (mode 0600)."]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    return "\n".join(lines) + "\n"
