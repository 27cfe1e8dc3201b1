"""Benchmark: remote write through the lab's tenant gateway (Envoy: JWT check, RBAC, header rewrite) versus
straight to Thanos receive. Prints numbers, asserts nothing.

One run, loopback only, a bounded number of requests, each one sample of one series (the smallest write, so the
gateway's share of the time shows):
  1. latency: --requests pairs sent one at a time, alternating direct and gateway, each path on its own
     keep-alive connection; p50/p99 per path and what the gateway adds;
  2. throughput: --requests per path again, from --concurrency threads each with its own connection.
The direct path sends THANOS-TENANT itself, as only the gateway may; the gateway path sends the tenant's bearer
token (client credentials of its realm's gateway client), and Envoy sets the header from the verified claim.

Usage: .venv/bin/python bench/gateway.py [--region us-east-1] [--tenant acme] [--requests 500] [--concurrency 4]
Needs the lab (make lab-up) with the keycloak and istio layers converged (make demo, or
ansible-playbook playbooks/platform.yml -i inventories/lab --tags keycloak,istio).
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lab import remote_write  # noqa: E402
from lab.gateway_client import (GATEWAY_CLIENT_ID, KeycloakAdmin, RegionGateway,  # noqa: E402
                                client_credentials_token, load_lab)

METRIC = "bench_gateway_samples"


class WritePath:
    """One way to reach receive's remote-write endpoint: a URL and the headers that go with it."""

    def __init__(self, name: str, url: str, headers: dict[str, str]) -> None:
        self.name = name
        parts = urlsplit(url)
        self.host, self.port, self.target = parts.hostname, parts.port, parts.path
        self.headers = {**remote_write.HEADERS, **headers}

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=30)

    def send(self, connection: http.client.HTTPConnection, body: bytes) -> int:
        connection.request("POST", self.target, body=body, headers=self.headers)
        response = connection.getresponse()
        response.read()
        return response.status


class Timestamps:
    """Strictly increasing millisecond timestamps per series, shared by threads (receive refuses going back)."""

    def __init__(self) -> None:
        self._last = remote_write.now_ms()
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, remote_write.now_ms())
            return self._last


def body(path: WritePath, run: str, stamps: Timestamps, worker: int = 0) -> bytes:
    labels = {"__name__": METRIC, "path": path.name, "run": run, "worker": str(worker)}
    return remote_write.build_body([(labels, [(1.0, stamps.next())])])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def latency_phase(paths: list[WritePath], requests: int, run: str) -> dict[str, dict]:
    connections = {path.name: path.connect() for path in paths}
    stamps = {path.name: Timestamps() for path in paths}
    samples = {path.name: [] for path in paths}
    failures = {path.name: 0 for path in paths}
    for _ in range(requests):
        for path in paths:  # alternating, so machine noise falls on both paths alike
            payload = body(path, run, stamps[path.name])
            started = time.perf_counter()
            status = path.send(connections[path.name], payload)
            samples[path.name].append(time.perf_counter() - started)
            failures[path.name] += status not in (200, 204)
    for connection in connections.values():
        connection.close()
    return {name: {"latencies": values, "failures": failures[name]} for name, values in samples.items()}


def throughput_phase(path: WritePath, requests: int, concurrency: int, run: str) -> tuple[float, int]:
    stamps = [Timestamps() for _ in range(concurrency)]
    share = [requests // concurrency + (1 if worker < requests % concurrency else 0) for worker in range(concurrency)]
    failures = [0] * concurrency

    def work(worker: int) -> None:
        connection = path.connect()
        for _ in range(share[worker]):
            failures[worker] += path.send(connection, body(path, run, stamps[worker], worker)) not in (200, 204)
        connection.close()

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return requests / (time.perf_counter() - started), sum(failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--tenant", default="acme")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    lab = load_lab()
    gateway = RegionGateway(lab, args.region)
    secret = KeycloakAdmin.from_lab(lab).client_secret(args.tenant)
    token = client_credentials_token(lab["keycloak"]["url"], args.tenant, GATEWAY_CLIENT_ID, secret)
    paths = [WritePath("direct", gateway.thanos["remote_write_url"], {gateway.thanos["tenant_header"]: args.tenant}),
             WritePath("gateway", gateway.remote_write_url, {"Authorization": f"Bearer {token}"})]
    run = uuid.uuid4().hex[:8]
    # A few requests first: connections, Envoy's JWKS fetch and receive's tenant head are set up outside the timing.
    latency_phase(paths, 10, f"{run}-warmup")

    latency = latency_phase(paths, args.requests, run)
    throughput = {path.name: throughput_phase(path, args.requests, args.concurrency, run) for path in paths}

    print(f"remote write, one sample per request, {args.region}, tenant {args.tenant}, run {run}")
    print(f"{'path':<8} {'requests':>8} {'seq rps':>8} {'p50 ms':>7} {'p99 ms':>7} {'mean ms':>7} "
          f"{f'rps x{args.concurrency}':>9} {'failed':>6}")
    summary = {}
    for path in paths:
        values = latency[path.name]["latencies"]
        summary[path.name] = (percentile(values, 0.50) * 1000, percentile(values, 0.99) * 1000)
        rps, failed = throughput[path.name]
        print(f"{path.name:<8} {len(values):>8} {len(values) / sum(values):>8.0f} {summary[path.name][0]:>7.2f} "
              f"{summary[path.name][1]:>7.2f} {statistics.fmean(values) * 1000:>7.2f} {rps:>9.0f} "
              f"{latency[path.name]['failures'] + failed:>6}")
    print(f"added by the gateway: p50 +{summary['gateway'][0] - summary['direct'][0]:.2f} ms, "
          f"p99 +{summary['gateway'][1] - summary['direct'][1]:.2f} ms")


if __name__ == "__main__":
    main()
