"""The lab's fixed layout: regions, service names and every port, in one table.

inventories/lab and the tests depend on these numbers; change them only together.

Global services:

    moto                 15000   AWS API for every region (one server)
    keycloak             18080   HTTP (issuer base http://127.0.0.1:18080)
                         19000   management (health)
    redis                16379   Argo CD's cache (no persistence)

Per region r (us-east-1 = 1, eu-west-1 = 2) the port is 20000 + 1000*r + offset,
so us-east-1 uses 21xxx and eu-west-1 22xxx:

    offset  service                  what
    379     etcd                     client
    380     etcd                     peer
    443     kube-apiserver           secure port (https)
    257     kube-controller-manager  secure port (https, /healthz)
    200     openbao                  dev server API (http)
    902     thanos-receive           HTTP (/-/ready, metrics)
    901     thanos-receive           gRPC (StoreAPI; the hashring endpoint)
    291     thanos-receive           remote-write (POST /api/v1/receive)
    391     thanos-receive           Cap'n Proto replication
    904     thanos-query             HTTP (Prometheus query API)
    903     thanos-query             gRPC
    090     prometheus               HTTP
    480     tenant-operator          kopf liveness (GET /healthz)
    880     envoy                    tenant gateway listener (http; JWT per tenant realm)
    881     envoy                    admin (GET /ready, /config_dump)
    310     logs-echo                logs upstream behind the gateway (stands in for Loki)

Hub services run once, in the hub region (HUB_REGION, us-east-1), on ports of its block:

    081     argocd-repo-server             gRPC (plaintext)
    084     argocd-repo-server             metrics and GET /healthz
    082     argocd-application-controller  metrics and GET /healthz (Argo CD binds it to every interface)
    087     argocd-applicationset-controller  metrics (its health check reads them)
    088     argocd-applicationset-controller  probe listener (v3.6.1 registers no checks on it)
    089     argocd-applicationset-controller  git webhook endpoint (unused in the lab; bound to loopback)
    906     thanos-query-global            HTTP (Prometheus query API over both regions)
    905     thanos-query-global            gRPC
"""

from __future__ import annotations

from dataclasses import dataclass

HOST = "127.0.0.1"

MOTO_PORT = 15000
KEYCLOAK_HTTP_PORT = 18080
KEYCLOAK_MANAGEMENT_PORT = 19000
REDIS_PORT = 16379

# Offsets inside a region's 2r000 block.
REGION_PORT_OFFSETS: dict[str, int] = {
    "etcd_client": 379,
    "etcd_peer": 380,
    "kube_apiserver": 443,
    "kube_controller_manager": 257,
    "openbao": 200,
    "thanos_receive_http": 902,
    "thanos_receive_grpc": 901,
    "thanos_receive_remote_write": 291,
    "thanos_receive_capnproto": 391,
    "thanos_query_http": 904,
    "thanos_query_grpc": 903,
    "prometheus": 90,
    "tenant_operator_health": 480,
    "envoy_gateway": 880,
    "envoy_admin": 881,
    "logs_echo": 310,
}

# The region that runs the one Argo CD and the global Thanos query (the control region).
HUB_REGION = "us-east-1"

# Offsets of the hub services inside the hub region's block (not used in the other regions).
HUB_PORT_OFFSETS: dict[str, int] = {
    "argocd_repo_server": 81,
    "argocd_repo_server_metrics": 84,
    "argocd_controller_metrics": 82,
    "argocd_applicationset_metrics": 87,
    "argocd_applicationset_probe": 88,
    "argocd_applicationset_webhook": 89,
    "thanos_query_global_http": 906,
    "thanos_query_global_grpc": 905,
}

# Region name -> index. The index picks the port block and never changes for a region.
REGIONS: dict[str, int] = {
    "us-east-1": 1,
    "eu-west-1": 2,
}

# Per-region service kinds, in start order (dependencies first).
REGIONAL_KINDS: tuple[str, ...] = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "tenant-operator",
    "openbao",
    "thanos-receive",
    "thanos-query",
    "prometheus",
    "logs-echo",
    "envoy",
)
GLOBAL_SERVICES: tuple[str, ...] = ("moto", "keycloak", "redis")
# Run once, in HUB_REGION; their names carry no region suffix.
HUB_SERVICES: tuple[str, ...] = ("argocd-repo-server", "argocd-application-controller",
                                 "argocd-applicationset-controller", "thanos-query-global")


@dataclass(frozen=True)
class RegionPorts:
    """All ports of one region, computed from the offset table."""

    region: str
    index: int

    def port(self, key: str) -> int:
        return 20000 + 1000 * self.index + REGION_PORT_OFFSETS[key]

    def address(self, key: str) -> str:
        return f"{HOST}:{self.port(key)}"

    def as_dict(self) -> dict[str, int]:
        return {key: self.port(key) for key in REGION_PORT_OFFSETS}


def region_ports(region: str) -> RegionPorts:
    """Ports of a region; KeyError for a region the lab does not run."""
    return RegionPorts(region, REGIONS[region])


def hub_port(key: str) -> int:
    """A hub service's port (HUB_PORT_OFFSETS) in the hub region's block."""
    return 20000 + 1000 * REGIONS[HUB_REGION] + HUB_PORT_OFFSETS[key]


def hub_address(key: str) -> str:
    return f"{HOST}:{hub_port(key)}"


def service_names() -> list[str]:
    """Every service name, global first, then each region's in start order."""
    names = list(GLOBAL_SERVICES)
    for region in REGIONS:
        names.extend(f"{kind}-{region}" for kind in REGIONAL_KINDS)
    return names + list(HUB_SERVICES)


def port_table() -> list[tuple[str, str, int]]:
    """(service, purpose, port) rows, for documentation and `lab status --ports`."""
    rows = [
        ("moto", "aws api", MOTO_PORT),
        ("keycloak", "http", KEYCLOAK_HTTP_PORT),
        ("keycloak", "management", KEYCLOAK_MANAGEMENT_PORT),
        ("redis", "argocd cache", REDIS_PORT),
    ]
    for region in REGIONS:
        ports = region_ports(region)
        for key in REGION_PORT_OFFSETS:
            rows.append((region, key, ports.port(key)))
    rows += [(HUB_REGION, key, hub_port(key)) for key in HUB_PORT_OFFSETS]
    return rows
