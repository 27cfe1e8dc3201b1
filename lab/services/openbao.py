"""OpenBao dev server per region: in memory, unsealed, root token from .lab/secrets.json."""

from __future__ import annotations

from lab.health import http_ok
from lab.services.base import LabContext, Service
from lab.topology import region_ports


class OpenBaoService(Service):
    kind = "openbao"
    component = "openbao"
    startup_timeout = 60.0

    def __init__(self, region: str) -> None:
        super().__init__(region)
        self.address = region_ports(region).address("openbao")

    def endpoint(self) -> str:
        return f"http://{self.address}"

    def marker(self) -> str:
        return f"-dev-listen-address={self.address}"

    def ports(self) -> list[int]:
        return [region_ports(self.region).port("openbao")]

    def root_token(self, ctx: LabContext) -> str:
        return ctx.secrets[f"openbao_root_token.{self.region}"]

    def argv(self, ctx: LabContext) -> list[str]:
        bao = ctx.binaries("openbao")["bao"]
        # -dev-no-store-token: do not write ~/.vault-token; the token is in .lab/ only.
        return [str(bao), "server", "-dev", self.marker(), "-dev-no-store-token"]

    def env(self, ctx: LabContext) -> dict[str, str]:
        env = ctx.base_env()
        # Passed by environment, not argv, so the token does not show in `ps`.
        env["BAO_DEV_ROOT_TOKEN_ID"] = self.root_token(ctx)
        return env

    def healthy(self, ctx: LabContext) -> bool:
        # 200 only when initialised, unsealed and active.
        return http_ok(f"{self.endpoint()}/v1/sys/health", expect=b'"sealed":false')

    def describe(self, ctx: LabContext) -> dict:
        return {"addr": self.endpoint(), "token": self.root_token(ctx)}
