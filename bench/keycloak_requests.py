#!/usr/bin/env python3
"""HTTP requests the Keycloak modules send: a create, a run with nothing to do, a one-setting repair.

Part one, one tenant: keycloak_tenant, and the same work through community.general's keycloak modules.
Part two, N tenants (--tenants, default 20) in one keycloak_tenants call: create, no change, one tenant's
setting repaired; with reads per tenant and per managed object (a tenant's realm, 2 clients, 6 mappers,
2 roles, 2 groups and its 2 users: 15 objects). Every request goes through a small counting reverse proxy
in this process, so the figures are what Keycloak received, not what a module says about itself (the
module's own ``api_requests`` counter is printed next to them). Prints numbers; asserts nothing about time.

Usage: .venv/bin/python bench/keycloak_requests.py [--tenants 20] [--url URL --password-file FILE]
       (default target: .lab/lab.json)
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import pathlib
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
PASSWORD_ENV = "BENCH_KEYCLOAK_ADMIN_PASSWORD"


# ---------------------------------------------------------------- Keycloak access shared by both benchmarks
def keycloak_target(args) -> dict:
    """URL and admin credentials: --url/--password-file, or the lab's lab.json."""
    if args.url:
        return {"url": args.url.rstrip("/"), "admin_username": args.username,
                "admin_password": pathlib.Path(args.password_file).read_text().strip(), "admin_realm": "master"}
    keycloak = json.loads((REPO / ".lab" / "lab.json").read_text())["keycloak"]
    return {key: keycloak[key] for key in ("url", "admin_username", "admin_password", "admin_realm")}


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="Keycloak base URL (default: the lab's, from .lab/lab.json)")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password-file", help="file holding the admin password (with --url)")


def admin_request(target: dict, method: str, path: str, body=None) -> int:
    """One admin API call with a fresh token; returns the status."""
    form = urllib.parse.urlencode({"grant_type": "password", "client_id": "admin-cli", "username": target["admin_username"],
                                   "password": target["admin_password"]}).encode()
    with urllib.request.urlopen(f"{target['url']}/realms/{target['admin_realm']}/protocol/openid-connect/token",
                                data=form, timeout=30) as response:
        token = json.loads(response.read())["access_token"]
    request = urllib.request.Request(f"{target['url']}/admin/realms{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def delete_realms(target: dict, names) -> None:
    for name in names:
        admin_request(target, "DELETE", f"/{name}")


def run_playbook(playbook: list, target: dict, url: str | None = None, forks: int = 1) -> tuple[float, dict]:
    """Run a playbook with module_defaults for both keycloak groups; returns (seconds, per-task results)."""
    connection = {"auth_keycloak_url": url or target["url"], "auth_realm": target["admin_realm"],
                  "auth_username": target["admin_username"],
                  "auth_password": "{{ lookup('ansible.builtin.env', '%s') }}" % PASSWORD_ENV}
    for play in playbook:
        play["module_defaults"] = {"group/meridian.observability.keycloak": connection,
                                   "group/community.general.keycloak": connection}
    work = REPO / ".ansible" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"keycloak-{uuid.uuid4().hex[:8]}.yml"
    path.write_text(yaml.safe_dump(playbook, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=str(REPO / ".ansible"), ANSIBLE_LOCAL_TEMP=str(REPO / ".ansible" / "tmp"),
               ANSIBLE_FORKS=str(forks))
    env[PASSWORD_ENV] = target["admin_password"]
    command = [str(BIN / "ansible-playbook"), str(path), "-i", "localhost,", "-c", "local",
               "-e", f"ansible_python_interpreter={sys.executable}"]
    started = time.monotonic()
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    path.unlink()
    try:
        output = json.loads(completed.stdout)
    except ValueError:
        raise SystemExit(f"ansible-playbook gave no JSON (rc {completed.returncode}):\n{completed.stdout[-3000:]}\n"
                         f"{completed.stderr[-3000:]}")
    if completed.returncode != 0:
        failures = [(task["task"]["name"], host.get("msg")) for play in output["plays"] for task in play["tasks"]
                    for host in task["hosts"].values() if host.get("failed")]
        raise SystemExit(f"playbook failed: {failures[:5]}")
    return elapsed, output


def changed_tasks(output: dict) -> int:
    """Task results that reported a change (loop items counted one by one)."""
    count = 0
    for play in output["plays"]:
        for task in play["tasks"]:
            for host in task["hosts"].values():
                items = host.get("results") or [host]
                count += sum(1 for item in items if item.get("changed"))
    return count


# ---------------------------------------------------------------- the same tenant, both ways
def ours_tasks(tenants: list) -> list:
    return [{"name": "keycloak_tenant", "loop": tenants,
             "meridian.observability.keycloak_tenant": {"name": "{{ item }}", "display_name": "{{ item }}",
                                                        "redirect_uris": ["https://grafana.bench.example.com/cb"]}}]


def community_tasks(tenants: list) -> list:
    """What keycloak_tenant does, spelled with community.general's modules (no users: owners/viewers empty)."""
    mapper_config = {"access.token.claim": "true", "id.token.claim": "true", "userinfo.token.claim": "true",
                     "introspection.token.claim": "true"}
    mappers = [
        {"name": "tenant", "protocol": "openid-connect", "protocolMapper": "oidc-hardcoded-claim-mapper",
         "config": {"claim.name": "tenant", "claim.value": "{{ item }}", "jsonType.label": "String", **mapper_config}},
        {"name": "gateway-audience", "protocol": "openid-connect", "protocolMapper": "oidc-audience-mapper",
         "config": {"included.client.audience": "observability-gateway", "access.token.claim": "true",
                    "id.token.claim": "false", "introspection.token.claim": "true"}},
        {"name": "groups", "protocol": "openid-connect", "protocolMapper": "oidc-group-membership-mapper",
         "config": {"claim.name": "groups", "full.path": "false", **mapper_config}},
    ]
    client = {"realm": "{{ item }}", "enabled": True, "protocol": "openid-connect", "public_client": False,
              "bearer_only": False, "client_authenticator_type": "client-secret", "implicit_flow_enabled": False,
              "direct_access_grants_enabled": False, "protocol_mappers": mappers}
    pairs = [[tenant, kind] for tenant in tenants for kind in ("owner", "viewer")]
    return [
        {"name": "realm", "loop": tenants, "community.general.keycloak_realm": {
            "id": "{{ item }}", "realm": "{{ item }}", "enabled": True, "display_name": "{{ item }}",
            "ssl_required": "external", "brute_force_protected": True, "permanent_lockout": False, "failure_factor": 30,
            "wait_increment_seconds": 60, "max_failure_wait_seconds": 900, "minimum_quick_login_wait_seconds": 60,
            "quick_login_check_milli_seconds": 1000, "max_delta_time_seconds": 43200, "access_token_lifespan": 300,
            "sso_session_idle_timeout": 1800, "sso_session_max_lifespan": 36000}},
        {"name": "gateway client", "loop": tenants, "community.general.keycloak_client": {
            **client, "client_id": "observability-gateway", "name": "Observability gateway",
            "standard_flow_enabled": False, "service_accounts_enabled": True, "redirect_uris": [], "web_origins": []}},
        {"name": "grafana client", "loop": tenants, "community.general.keycloak_client": {
            **client, "client_id": "grafana", "name": "Grafana", "standard_flow_enabled": True,
            "service_accounts_enabled": False, "redirect_uris": ["https://grafana.bench.example.com/cb"],
            "web_origins": ["+"]}},
        {"name": "roles", "loop": pairs, "community.general.keycloak_role": {
            "realm": "{{ item[0] }}", "name": "{{ item[0] }}-{{ item[1] }}", "description": "{{ item[1] }} of {{ item[0] }}"}},
        {"name": "groups", "loop": pairs, "community.general.keycloak_group": {
            "realm": "{{ item[0] }}", "name": "{{ item[0] }}-{{ item[1] }}s"}},
        {"name": "group role mappings", "loop": pairs, "community.general.keycloak_realm_rolemapping": {
            "realm": "{{ item[0] }}", "group_name": "{{ item[0] }}-{{ item[1] }}s",
            "roles": [{"name": "{{ item[0] }}-{{ item[1] }}"}]}},
    ]


def batch_tasks(tenants: list) -> list:
    """All tenants in one keycloak_tenants call, each with an owner and a viewer (users the realm must hold)."""
    return [{"name": "keycloak_tenants", "meridian.observability.keycloak_tenants": {"tenants": [
        {"name": tenant, "display_name": tenant, "redirect_uris": ["https://grafana.bench.example.com/cb"],
         "owners": [f"owner@{tenant}.example"], "viewers": [f"viewer-{tenant}"]} for tenant in tenants]}}]


# Per tenant: realm, gateway and Grafana clients, their 3 mappers each, 2 realm roles, 2 groups, an owner and a viewer.
OBJECTS_PER_TENANT = 1 + 2 + 6 + 2 + 2 + 2


def playbook(tasks: list) -> list:
    return [{"name": "bench", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]


# ---------------------------------------------------------------- counting proxy
class CountingProxy:
    """A reverse proxy on 127.0.0.1 that forwards to Keycloak and counts requests by kind."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.counts: Counter = Counter()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                kind = "token" if self.path.endswith("/openid-connect/token") else self.command
                proxy.counts[kind] += 1
                headers = {key: value for key, value in self.headers.items() if key.lower() not in ("host", "connection")}
                request = urllib.request.Request(proxy.upstream + self.path, data=body, method=self.command, headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status, reply_headers, payload = response.status, response.headers, response.read()
                except urllib.error.HTTPError as err:
                    status, reply_headers, payload = err.code, err.headers, err.read()
                self.send_response(status)
                for key, value in reply_headers.items():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _forward  # noqa: N815 - http.server's naming

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> dict:
        counts, self.counts = dict(self.counts), Counter()
        return counts

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def total(counts: dict) -> int:
    return sum(counts.values())


def single_tenant_rows(target: dict, proxy: CountingProxy) -> list:
    suffix = uuid.uuid4().hex[:6]
    ours, theirs = f"bench-req-ours-{suffix}", f"bench-req-cg-{suffix}"
    rows = []
    try:
        for label, tasks in (("keycloak_tenant", ours_tasks([ours])), ("community.general x9 tasks", community_tasks([theirs]))):
            for run in ("create", "no change"):
                _, output = run_playbook(playbook(tasks), target, url=proxy.url)
                seen = proxy.take()
                own = output["plays"][0]["tasks"][0]["hosts"]["localhost"]
                own = (own.get("results") or [own])[0].get("api_requests") if label == "keycloak_tenant" else None
                rows.append((label, run, seen, changed_tasks(output), own))
        # One setting changed by hand: the repair.
        admin_request(target, "PUT", f"/{ours}", {"accessTokenLifespan": 42})
        admin_request(target, "PUT", f"/{theirs}", {"accessTokenLifespan": 42})
        for label, tasks in (("keycloak_tenant", ours_tasks([ours])), ("community.general x9 tasks", community_tasks([theirs]))):
            _, output = run_playbook(playbook(tasks), target, url=proxy.url)
            rows.append((label, "repair 1 setting", proxy.take(), changed_tasks(output), None))
    finally:
        delete_realms(target, (ours, theirs))
    return rows


def batch_rows(target: dict, proxy: CountingProxy, count: int) -> list:
    suffix = uuid.uuid4().hex[:6]
    names = [f"bench-batch-{suffix}-{number:02d}" for number in range(count)]
    rows = []
    try:
        for run in ("create", "no change", "repair 1 setting"):
            if run == "repair 1 setting":
                admin_request(target, "PUT", f"/{names[0]}", {"accessTokenLifespan": 42})
            seconds, output = run_playbook(playbook(batch_tasks(names)), target, url=proxy.url)
            own = output["plays"][0]["tasks"][0]["hosts"]["localhost"].get("api_requests")
            rows.append((f"keycloak_tenants x{count}", run, proxy.take(), changed_tasks(output), own, seconds))
    finally:
        delete_realms(target, names)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_arguments(parser)
    parser.add_argument("--tenants", type=int, default=20, help="tenants of the keycloak_tenants call (default 20)")
    args = parser.parse_args()
    target = keycloak_target(args)
    proxy = CountingProxy(target["url"])
    try:
        rows = single_tenant_rows(target, proxy)
        batch = batch_rows(target, proxy, args.tenants)
    finally:
        proxy.close()
    print(f"Keycloak at {target['url']}; one tenant (realm, 2 clients with 3 mappers each, 2 roles, 2 groups).")
    print(f"{'tool':28} {'run':17} {'requests':>8} {'writes':>6} {'tokens':>6} {'changed':>7}  by kind (proxy) / module's own counter")
    for label, run, seen, changed, own in rows:
        writes = sum(seen.get(method, 0) for method in ("POST", "PUT", "DELETE"))
        print(f"{label:28} {run:17} {total(seen):8} {writes:6} {seen.get('token', 0):6} {changed:7}  {seen}"
              + (f" / {own}" if own else ""))
    print("writes = POST/PUT/DELETE to the admin API; token grants (also POSTs) are counted apart as tokens.")
    print()
    print(f"{args.tenants} tenants in one keycloak_tenants call ({OBJECTS_PER_TENANT} managed objects per tenant: realm, "
          "2 clients, 6 mappers, 2 roles, 2 groups, 2 users).")
    print(f"{'tool':28} {'run':17} {'requests':>8} {'writes':>6} {'reads':>6} {'reads/tenant':>12} {'reads/object':>12} "
          f"{'seconds':>8}  by kind (proxy) / module's own counter")
    for label, run, seen, changed, own, seconds in batch:
        writes = sum(seen.get(method, 0) for method in ("POST", "PUT", "DELETE"))
        reads = seen.get("GET", 0)
        print(f"{label:28} {run:17} {total(seen):8} {writes:6} {reads:6} {reads / args.tenants:12.2f} "
              f"{reads / (args.tenants * OBJECTS_PER_TENANT):12.2f} {seconds:8.1f}  {seen} / {own}  (changed {changed})")


if __name__ == "__main__":
    main()
