"""The lab's services, built from the fixed topology (lab/topology.py)."""

from __future__ import annotations

from lab.services.argocd import (
    ArgocdApplicationControllerService,
    ArgocdApplicationSetControllerService,
    ArgocdRepoServerService,
    RedisService,
)
from lab.services.base import LabContext, LabError, Service
from lab.services.envoy import EnvoyService, LogsEchoService
from lab.services.keycloak import KeycloakService
from lab.services.kubernetes import (
    EtcdService,
    KubeApiServerService,
    KubeControllerManagerService,
)
from lab.services.moto import MotoService
from lab.services.openbao import OpenBaoService
from lab.services.prometheus import PrometheusService
from lab.services.tenant_operator import TenantOperatorService
from lab.services.thanos import ThanosQueryGlobalService, ThanosQueryService, ThanosReceiveService
from lab.topology import REGIONS

REGIONAL_SERVICE_CLASSES: tuple[type[Service], ...] = (
    EtcdService,
    KubeApiServerService,
    KubeControllerManagerService,
    TenantOperatorService,
    OpenBaoService,
    ThanosReceiveService,
    ThanosQueryService,
    PrometheusService,
    LogsEchoService,
    EnvoyService,
)


def all_services() -> list[Service]:
    """Every service in start order: global ones, then each region's chain, then the hub's (lab/topology.py)."""
    services: list[Service] = [MotoService(), KeycloakService(), RedisService()]
    for region in REGIONS:
        services.extend(cls(region) for cls in REGIONAL_SERVICE_CLASSES)
    services += [ArgocdRepoServerService(), ArgocdApplicationControllerService(), ArgocdApplicationSetControllerService(),
                 ThanosQueryGlobalService()]
    return services


__all__ = [
    "LabContext",
    "LabError",
    "Service",
    "all_services",
]
