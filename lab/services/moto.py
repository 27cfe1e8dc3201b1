"""moto: one server answering the AWS APIs of every region."""

from __future__ import annotations

from lab.health import http_ok
from lab.services.base import LabContext, Service
from lab.topology import HOST, MOTO_PORT

# moto accepts any credentials; these fixed, obviously fake values keep a real
# account's keys out of lab traffic.
AWS_ACCESS_KEY_ID = "testing"
AWS_SECRET_ACCESS_KEY = "testing"
AWS_ACCOUNT_ID = "123456789012"  # moto's default account


class MotoService(Service):
    kind = "moto"
    startup_timeout = 60.0

    def endpoint(self) -> str:
        return f"http://{HOST}:{MOTO_PORT}"

    def marker(self) -> str:
        return f"moto.server -H {HOST} -p {MOTO_PORT}"

    def ports(self) -> list[int]:
        return [MOTO_PORT]

    def argv(self, ctx: LabContext) -> list[str]:
        return [ctx.python(), "-m", "moto.server", "-H", HOST, "-p", str(MOTO_PORT)]

    def env(self, ctx: LabContext) -> dict[str, str]:
        env = ctx.base_env()
        # Never let the lab's AWS server see (or need) real credentials.
        for name in list(env):
            if name.startswith("AWS_"):
                env.pop(name)
        # The eks role attaches AWS managed policies (AmazonEKSClusterPolicy, ...), which moto
        # knows only when told to load them.
        env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        return env

    def healthy(self, ctx: LabContext) -> bool:
        # /moto-api/data.json would serialise every backend of every region (seconds,
        # hundreds of MiB); the dashboard page is cheap.
        return http_ok(f"{self.endpoint()}/moto-api/")

    def describe(self, ctx: LabContext) -> dict:
        return {
            "endpoint": self.endpoint(),
            "aws_access_key_id": AWS_ACCESS_KEY_ID,
            "aws_secret_access_key": AWS_SECRET_ACCESS_KEY,
            "account_id": AWS_ACCOUNT_ID,
            "regions": list(ctx.regions),
        }
