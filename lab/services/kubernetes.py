"""A Kubernetes control plane per region: etcd, kube-apiserver, kube-controller-manager.

No kubelets and no scheduler: objects are stored, validated, admitted and authorised
for real, and the controller manager finalises namespaces, runs garbage collection and
service-account token controllers, but no pod ever runs.
"""

from __future__ import annotations

from pathlib import Path

from lab.files import PRIVATE, write_if_changed
from lab.health import client_tls, http_ok, insecure_tls
from lab.kubeconfig import write_kubeconfig
from lab.pki import CLIENT_IDENTITIES, RegionPki, ensure_region_pki
from lab.services.base import LabContext, Service
from lab.topology import HOST, region_ports

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
# Identities with a kubeconfig and a static token; the controller manager's has no token.
USERS = ("admin", "alice", "bob")


def cluster_name(region: str) -> str:
    return f"lab-{region}"


def api_server_url(region: str) -> str:
    return f"https://{region_ports(region).address('kube_apiserver')}"


def region_pki(ctx: LabContext, region: str) -> RegionPki:
    return RegionPki(ctx.paths.pki(region))


def token_file(ctx: LabContext, region: str) -> Path:
    return ctx.paths.pki(region) / "tokens.csv"


def prepare_region(ctx: LabContext, region: str) -> RegionPki:
    """PKI, static tokens and kubeconfigs of one region (created once, then reused)."""
    pki = ensure_region_pki(ctx.paths.pki(region), region)
    # --token-auth-file lines: token,user,uid,"group1,group2"
    lines = []
    for user in USERS:
        common_name, groups = CLIENT_IDENTITIES[user]
        token = ctx.secrets[f"kube_token.{region}.{user}"]
        lines.append(f'{token},{common_name},{common_name},"{",".join(groups)}"')
    content = "\n".join(lines) + "\n"
    path = token_file(ctx, region)
    write_if_changed(path, content, mode=PRIVATE)
    for identity in CLIENT_IDENTITIES:
        write_kubeconfig(
            ctx.paths.kubeconfig(region, identity),
            cluster=cluster_name(region),
            server=api_server_url(region),
            ca_file=pki.ca_cert,
            user=CLIENT_IDENTITIES[identity][0],
            client_cert=pki.client_cert(identity),
            client_key=pki.client_key(identity),
        )
    return pki


class EtcdService(Service):
    kind = "etcd"
    component = "etcd"
    startup_timeout = 60.0

    def __init__(self, region: str) -> None:
        super().__init__(region)
        ports = region_ports(region)
        self.client_url = f"http://{ports.address('etcd_client')}"
        self.peer_url = f"http://{ports.address('etcd_peer')}"

    def endpoint(self) -> str:
        return self.client_url

    def marker(self) -> str:
        return f"--listen-client-urls={self.client_url}"

    def ports(self) -> list[int]:
        ports = region_ports(self.region)
        return [ports.port("etcd_client"), ports.port("etcd_peer")]

    def argv(self, ctx: LabContext) -> list[str]:
        etcd = ctx.binaries("etcd")["etcd"]
        member = cluster_name(self.region)
        return [
            str(etcd),
            f"--name={member}",
            f"--data-dir={ctx.paths.data(self.name) / 'member-data'}",
            self.marker(),
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={member}={self.peer_url}",
            "--initial-cluster-state=new",
            # A lab database is disposable: trade durability for speed, as envtest does.
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]

    def healthy(self, ctx: LabContext) -> bool:
        return http_ok(f"{self.client_url}/health", expect=b'"health":"true"')


class _SecurePortService(Service):
    """A control-plane server of one region, told apart by its --secure-port, sharing the region's PKI."""

    port: int

    def marker(self) -> str:
        return f"--secure-port={self.port}"

    def ports(self) -> list[int]:
        return [self.port]

    def prepare(self, ctx: LabContext) -> None:
        prepare_region(ctx, self.region)


class KubeApiServerService(_SecurePortService):
    kind = "kube-apiserver"
    component = "kubernetes"
    startup_timeout = 120.0

    def __init__(self, region: str) -> None:
        super().__init__(region)
        self.depends_on = (f"etcd-{region}",)
        self.port = region_ports(region).port("kube_apiserver")

    def endpoint(self) -> str:
        return api_server_url(self.region)

    def argv(self, ctx: LabContext) -> list[str]:
        apiserver = ctx.binaries("kubernetes")["kube-apiserver"]
        pki = region_pki(ctx, self.region)
        etcd = f"http://{region_ports(self.region).address('etcd_client')}"
        return [
            str(apiserver),
            f"--etcd-servers={etcd}",
            f"--bind-address={HOST}",
            self.marker(),
            f"--cert-dir={ctx.paths.data(self.name) / 'certs'}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--token-auth-file={token_file(ctx, self.region)}",
            "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            f"--service-account-issuer={self.endpoint()}",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            "--allow-privileged=true",
            "--profiling=false",
            # Advertise loopback (no host interface is involved) and do not publish it
            # as the `kubernetes` Service endpoint, which may not be a loopback address.
            f"--advertise-address={HOST}",
            "--endpoint-reconciler-type=none",
        ]

    def healthy(self, ctx: LabContext) -> bool:
        pki = region_pki(ctx, self.region)
        if not pki.client_cert("admin").exists():
            return False
        context = client_tls(pki.ca_cert, pki.client_cert("admin"), pki.client_key("admin"))
        return http_ok(f"{self.endpoint()}/readyz", context=context, expect=b"ok")

    def describe(self, ctx: LabContext) -> dict:
        pki = region_pki(ctx, self.region)
        return {
            "api_server": self.endpoint(),
            "ca_file": str(pki.ca_cert),
            "cluster_name": cluster_name(self.region),
            "kubeconfig": str(ctx.paths.kubeconfig(self.region, "admin")),
            "kubeconfigs": {
                user: str(ctx.paths.kubeconfig(self.region, user)) for user in USERS
            },
            "users": {
                user: {
                    "name": CLIENT_IDENTITIES[user][0],
                    "groups": list(CLIENT_IDENTITIES[user][1]),
                    "kubeconfig": str(ctx.paths.kubeconfig(self.region, user)),
                    "client_cert": str(pki.client_cert(user)),
                    "client_key": str(pki.client_key(user)),
                    "token": ctx.secrets[f"kube_token.{self.region}.{user}"],
                }
                for user in USERS
            },
            "service_account_issuer": self.endpoint(),
            "service_cluster_ip_range": SERVICE_CLUSTER_IP_RANGE,
            "etcd": f"http://{region_ports(self.region).address('etcd_client')}",
        }


class KubeControllerManagerService(_SecurePortService):
    kind = "kube-controller-manager"
    component = "kubernetes"
    startup_timeout = 90.0

    def __init__(self, region: str) -> None:
        super().__init__(region)
        self.depends_on = (f"kube-apiserver-{region}",)
        self.port = region_ports(region).port("kube_controller_manager")

    def endpoint(self) -> str:
        return f"https://{HOST}:{self.port}"

    def argv(self, ctx: LabContext) -> list[str]:
        manager = ctx.binaries("kubernetes")["kube-controller-manager"]
        pki = region_pki(ctx, self.region)
        kubeconfig = ctx.paths.kubeconfig(self.region, "kube-controller-manager")
        return [
            str(manager),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            # The apiserver has no front proxy (requestheader) CA; do not keep looking it up.
            "--authentication-skip-lookup=true",
            f"--bind-address={HOST}",
            self.marker(),
            f"--cert-dir={ctx.paths.data(self.name) / 'certs'}",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.ca_cert}",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.ca_key}",
            f"--cluster-name={cluster_name(self.region)}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--use-service-account-credentials=true",
            # Every default controller; the node ones idle harmlessly without nodes.
            "--controllers=*",
            "--leader-elect=false",
            "--profiling=false",
        ]

    def healthy(self, ctx: LabContext) -> bool:
        return http_ok(f"{self.endpoint()}/healthz", context=insecure_tls(), expect=b"ok")
