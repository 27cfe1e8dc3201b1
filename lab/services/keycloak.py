"""Keycloak in dev mode, one for every region (realms are global)."""

from __future__ import annotations

from lab.health import http_ok
from lab.services.base import LabContext, Service
from lab.topology import HOST, KEYCLOAK_HTTP_PORT, KEYCLOAK_MANAGEMENT_PORT

ADMIN_USERNAME = "admin"
BASE_URL = f"http://{HOST}:{KEYCLOAK_HTTP_PORT}"
# Entries of the realms cache (realms, clients, roles, groups and the queries over them); see argv().
REALMS_CACHE_MAX_COUNT = 100_000


class KeycloakService(Service):
    kind = "keycloak"
    component = "keycloak"
    # kc.sh start-dev runs Java twice (auto-build, then the server); 30-90 s on 2 cores.
    startup_timeout = 240.0
    stop_timeout = 30.0

    def endpoint(self) -> str:
        return BASE_URL

    def management_url(self) -> str:
        return f"http://{HOST}:{KEYCLOAK_MANAGEMENT_PORT}"

    def marker(self) -> str:
        # Present in kc.sh's command line and in the java process it may exec into.
        return f"--http-port={KEYCLOAK_HTTP_PORT}"

    def ports(self) -> list[int]:
        return [KEYCLOAK_HTTP_PORT, KEYCLOAK_MANAGEMENT_PORT]

    def admin_password(self, ctx: LabContext) -> str:
        return ctx.secrets["keycloak_admin_password"]

    def argv(self, ctx: LabContext) -> list[str]:
        home = ctx.binaries("keycloak")["keycloak_home"]
        data = ctx.paths.data(self.name)
        data.mkdir(parents=True, exist_ok=True)
        return [
            str(home / "bin" / "kc.sh"),
            "start-dev",
            f"--http-host={HOST}",
            self.marker(),
            f"--http-management-port={KEYCLOAK_MANAGEMENT_PORT}",
            "--health-enabled=true",
            # Pin the issuer: tokens carry iss=http://127.0.0.1:18080/realms/<realm>
            # whatever host name a client used.
            f"--hostname={BASE_URL}",
            # The default (10,000 entries) holds about fifty tenant realms with their clients, roles and the master
            # realm's admin clients for them; past that, listing a realm's clients reloads it from the database
            # (0.3-2 s each on 2 cores), every time: sixty tenants took a no-change run's Keycloak call from about
            # 3 s to about 70 s.
            f"--cache-embedded-realms-max-count={REALMS_CACHE_MAX_COUNT}",
            # Keep the H2 database in .lab/ rather than inside the cached distribution.
            f"-Dkc.db-url-path={data}",
        ]

    def env(self, ctx: LabContext) -> dict[str, str]:
        env = ctx.base_env()
        binaries = ctx.binaries("keycloak")
        env["JAVA_HOME"] = str(binaries["java_home"])
        env.pop("JAVA_OPTS", None)
        env.setdefault("JAVA_OPTS_KC_HEAP", "-Xms64m -Xmx768m")
        # Applied only when the master realm is first created.
        env["KC_BOOTSTRAP_ADMIN_USERNAME"] = ADMIN_USERNAME
        env["KC_BOOTSTRAP_ADMIN_PASSWORD"] = self.admin_password(ctx)
        return env

    def healthy(self, ctx: LabContext) -> bool:
        return http_ok(f"{self.management_url()}/health/ready", expect=b"UP")

    def describe(self, ctx: LabContext) -> dict:
        return {
            "url": BASE_URL,
            "management_url": self.management_url(),
            "admin_username": ADMIN_USERNAME,
            "admin_password": self.admin_password(ctx),
            "admin_realm": "master",
            "admin_client_id": "admin-cli",
            "issuer_base": f"{BASE_URL}/realms",
        }
