"""Prometheus 3.x per region, scraping itself and Thanos and remote-writing to receive."""

from __future__ import annotations

import yaml

from lab.files import write_if_changed
from lab.health import http_ok
from lab.services.base import LabContext, Service
from lab.services.thanos import TENANT_HEADER
from lab.topology import region_ports

PLATFORM_TENANT = "platform"


def config_file(ctx: LabContext, region: str):
    return ctx.paths.prometheus(region) / "prometheus.yml"


def render_config(region: str) -> str:
    ports = region_ports(region)
    config = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "scrape_configs": [
            {"job_name": "prometheus",
             "static_configs": [{"targets": [ports.address("prometheus")]}]},
            {"job_name": "thanos",
             "static_configs": [{"targets": [ports.address("thanos_receive_http"),
                                             ports.address("thanos_query_http")]}]},
        ],
        "remote_write": [
            {
                "name": f"thanos-receive-{region}",
                "url": f"http://{ports.address('thanos_receive_remote_write')}/api/v1/receive",
                "headers": {TENANT_HEADER: PLATFORM_TENANT},
            }
        ],
    }
    header = f"# Written by the lab (python -m lab up) for {region}; edits are overwritten.\n"
    return header + yaml.safe_dump(config, sort_keys=False)


class PrometheusService(Service):
    kind = "prometheus"
    component = "prometheus"
    startup_timeout = 60.0

    def __init__(self, region: str) -> None:
        super().__init__(region)
        self.depends_on = (f"thanos-receive-{region}", f"thanos-query-{region}")
        self.address = region_ports(region).address("prometheus")

    def endpoint(self) -> str:
        return f"http://{self.address}"

    def marker(self) -> str:
        return f"--web.listen-address={self.address}"

    def ports(self) -> list[int]:
        return [region_ports(self.region).port("prometheus")]

    def prepare(self, ctx: LabContext) -> None:
        write_if_changed(config_file(ctx, self.region), render_config(self.region))

    def argv(self, ctx: LabContext) -> list[str]:
        prometheus = ctx.binaries("prometheus")["prometheus"]
        return [
            str(prometheus),
            f"--config.file={config_file(ctx, self.region)}",
            f"--storage.tsdb.path={ctx.paths.data(self.name) / 'tsdb'}",
            "--storage.tsdb.retention.time=1d",
            self.marker(),
            "--web.enable-lifecycle",
        ]

    def healthy(self, ctx: LabContext) -> bool:
        return http_ok(f"{self.endpoint()}/-/ready")

    def describe(self, ctx: LabContext) -> dict:
        return {"url": self.endpoint(), "config_file": str(config_file(ctx, self.region)),
                "remote_write_tenant": PLATFORM_TENANT}
