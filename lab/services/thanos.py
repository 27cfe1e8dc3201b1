"""Thanos per region: receive (router and ingestor in one process) and a tenancy-enforcing query.

The hashrings and limits files are created once with a permissive default and then
belong to whoever manages tenants (the `thanos_tenant` module): `up` never rewrites
them, and receive reloads both on change (hashrings via fsnotify plus a periodic
re-read, limits by polling its checksum every second).
"""

from __future__ import annotations

import json

from lab.files import write_if_changed, write_if_missing
from lab.health import http_ok
from lab.services.base import LabContext, Service
from lab.topology import HUB_REGION, REGIONS, hub_address, hub_port, region_ports

TENANT_HEADER = "THANOS-TENANT"
TENANT_LABEL = "tenant_id"
DEFAULT_TENANT = "default-tenant"
REPLICA_LABEL = "replica"

# 0 means "no limit" for every field; tenants get entries under write.tenants.
DEFAULT_LIMITS = """\
# Thanos Receive limits, reloaded by receive when this file changes.
write:
  global:
    max_concurrency: 0
  default:
    request:
      size_bytes_limit: 0
      series_limit: 0
      samples_limit: 0
    head_series_limit: 0
  tenants: {}
"""


def hashrings_file(ctx: LabContext, region: str):
    return ctx.paths.thanos(region) / "hashrings.json"


def limits_file(ctx: LabContext, region: str):
    return ctx.paths.thanos(region) / "limits.yaml"


def objstore_file(ctx: LabContext, region: str):
    return ctx.paths.thanos(region) / "objstore.yaml"


def default_hashrings(region: str) -> list[dict]:
    """One hashring without a tenant list (so it takes every tenant) holding this node.

    Endpoints may be plain "host:port" strings, but then receive assumes the Cap'n Proto
    address is host:19391; the object form names the real one.
    """
    ports = region_ports(region)
    return [
        {
            "hashring": "default",
            "endpoints": [
                {
                    "address": ports.address("thanos_receive_grpc"),
                    "capnproto_address": ports.address("thanos_receive_capnproto"),
                }
            ],
        }
    ]


class ThanosReceiveService(Service):
    kind = "thanos-receive"
    component = "thanos"
    startup_timeout = 60.0

    def __init__(self, region: str) -> None:
        super().__init__(region)
        self.ports_table = region_ports(region)

    def endpoint(self) -> str:
        return f"http://{self.ports_table.address('thanos_receive_http')}"

    def remote_write_url(self) -> str:
        return f"http://{self.ports_table.address('thanos_receive_remote_write')}/api/v1/receive"

    def marker(self) -> str:
        return f"--http-address={self.ports_table.address('thanos_receive_http')}"

    def ports(self) -> list[int]:
        return [
            self.ports_table.port(key)
            for key in ("thanos_receive_http", "thanos_receive_grpc",
                        "thanos_receive_remote_write", "thanos_receive_capnproto")
        ]

    def prepare(self, ctx: LabContext) -> None:
        directory = ctx.paths.thanos(self.region)
        directory.mkdir(parents=True, exist_ok=True)
        write_if_missing(hashrings_file(ctx, self.region),
                         json.dumps(default_hashrings(self.region), indent=2) + "\n")
        write_if_missing(limits_file(ctx, self.region), DEFAULT_LIMITS)
        bucket = ctx.paths.data(f"thanos-bucket-{self.region}")
        bucket.mkdir(parents=True, exist_ok=True)
        write_if_changed(objstore_file(ctx, self.region),
                         f"type: FILESYSTEM\nconfig:\n  directory: {bucket}\n")

    def argv(self, ctx: LabContext) -> list[str]:
        thanos = ctx.binaries("thanos")["thanos"]
        ports = self.ports_table
        return [
            str(thanos), "receive",
            self.marker(),
            f"--grpc-address={ports.address('thanos_receive_grpc')}",
            f"--remote-write.address={ports.address('thanos_receive_remote_write')}",
            f"--receive.capnproto-address={ports.address('thanos_receive_capnproto')}",
            f"--tsdb.path={ctx.paths.data(self.name) / 'tsdb'}",
            # 0 = no local time-based retention. It also switches off the tenant pruning
            # job, which in v0.42.4 runs at minute 0 of every 4th hour and dereferences a
            # tenant TSDB that is still opening (SIGSEGV seen on a fresh start at 00:00).
            "--tsdb.retention=0",
            f"--objstore.config-file={objstore_file(ctx, self.region)}",
            f"--receive.hashrings-file={hashrings_file(ctx, self.region)}",
            "--receive.hashrings-file-refresh-interval=30s",
            f"--receive.local-endpoint={ports.address('thanos_receive_grpc')}",
            f"--receive.limits-config-file={limits_file(ctx, self.region)}",
            f"--receive.tenant-header={TENANT_HEADER}",
            f"--receive.tenant-label-name={TENANT_LABEL}",
            f"--receive.default-tenant-id={DEFAULT_TENANT}",
            "--receive.replication-factor=1",
            f'--label=region="{self.region}"',
            f'--label={REPLICA_LABEL}="lab-{self.region}-0"',
        ]

    def healthy(self, ctx: LabContext) -> bool:
        return http_ok(f"{self.endpoint()}/-/ready")

    def describe(self, ctx: LabContext) -> dict:
        ports = self.ports_table
        return {
            "remote_write_url": self.remote_write_url(),
            "receive_http": self.endpoint(),
            "receive_grpc": ports.address("thanos_receive_grpc"),
            "receive_capnproto": ports.address("thanos_receive_capnproto"),
            "query_url": f"http://{ports.address('thanos_query_http')}",
            "query_grpc": ports.address("thanos_query_grpc"),
            "hashrings_file": str(hashrings_file(ctx, self.region)),
            "limits_file": str(limits_file(ctx, self.region)),
            "objstore_file": str(objstore_file(ctx, self.region)),
            "tenant_header": TENANT_HEADER,
            "tenant_label": TENANT_LABEL,
            "default_tenant": DEFAULT_TENANT,
            "replica_label": REPLICA_LABEL,
        }


class ThanosQueryService(Service):
    kind = "thanos-query"
    component = "thanos"
    startup_timeout = 60.0

    def __init__(self, region: str) -> None:
        super().__init__(region)
        self.depends_on = (f"thanos-receive-{region}",)
        self.ports_table = region_ports(region)

    def endpoint(self) -> str:
        return f"http://{self.ports_table.address('thanos_query_http')}"

    def marker(self) -> str:
        return f"--http-address={self.ports_table.address('thanos_query_http')}"

    def ports(self) -> list[int]:
        return [self.ports_table.port("thanos_query_http"), self.ports_table.port("thanos_query_grpc")]

    def argv(self, ctx: LabContext) -> list[str]:
        thanos = ctx.binaries("thanos")["thanos"]
        ports = self.ports_table
        return [
            str(thanos), "query",
            self.marker(),
            f"--grpc-address={ports.address('thanos_query_grpc')}",
            # --endpoint is marked deprecated but works; it avoids an extra SD file.
            f"--endpoint={ports.address('thanos_receive_grpc')}",
            *enforced_tenancy_flags(),
        ]

    def healthy(self, ctx: LabContext) -> bool:
        return http_ok(f"{self.endpoint()}/-/ready")


def enforced_tenancy_flags() -> list[str]:
    """The tenancy every lab query enforces, regional or global: one header, label and default tenant."""
    return [
        "--query.enforce-tenancy",
        f"--query.tenant-header={TENANT_HEADER}",
        f"--query.tenant-label-name={TENANT_LABEL}",
        f"--query.default-tenant-id={DEFAULT_TENANT}",
        f"--query.replica-label={REPLICA_LABEL}",
    ]


class ThanosQueryGlobalService(Service):
    """The global view: one query in the hub region over both regions' queries (gRPC StoreAPI).

    It enforces tenancy exactly as the regional ones do (same header, label and default tenant), so a
    tenant sees its own series from every region, told apart by the `region` external label.
    """

    kind = "thanos-query-global"
    component = "thanos"
    startup_timeout = 60.0

    def __init__(self) -> None:
        super().__init__(HUB_REGION)
        self.name = self.kind  # one per lab: no region suffix
        self.depends_on = tuple(f"thanos-query-{region}" for region in REGIONS)

    def endpoint(self) -> str:
        return f"http://{hub_address('thanos_query_global_http')}"

    def marker(self) -> str:
        return f"--http-address={hub_address('thanos_query_global_http')}"

    def ports(self) -> list[int]:
        return [hub_port("thanos_query_global_http"), hub_port("thanos_query_global_grpc")]

    def argv(self, ctx: LabContext) -> list[str]:
        thanos = ctx.binaries("thanos")["thanos"]
        endpoints = [f"--endpoint={region_ports(region).address('thanos_query_grpc')}" for region in REGIONS]
        return [
            str(thanos), "query",
            self.marker(),
            f"--grpc-address={hub_address('thanos_query_global_grpc')}",
            *endpoints,
            *enforced_tenancy_flags(),
        ]

    def healthy(self, ctx: LabContext) -> bool:
        return http_ok(f"{self.endpoint()}/-/ready")
