"""Counting the AWS API calls of a run: a forwarding proxy in front of moto that records each request's action.

The proxy stands where the playbooks' endpoint URL points and forwards every request unchanged. It records the
service and action of each (query and JSON protocols name it in the body or X-Amz-Target, EKS's REST protocol by
method and path) and classes it: Describe*/List*/Get*/Search* (and EKS GETs) are reads, sts:AssumeRole is the
session, everything else is a write. No header or body is kept. Used by bench/aws_layer.py and
tests/integration/test_aws_layer.py.
"""

from __future__ import annotations

import http.server
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

READ_PREFIXES = ("Describe", "List", "Get", "Search")
SESSION_ACTIONS = {"sts:AssumeRole", "sts:GetCallerIdentity"}


def action_of(method: str, path: str, headers, body: bytes) -> str:
    """``service:Action`` of one AWS request as a SigV4 client sends it."""
    scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", headers.get("Authorization", ""))
    service = scope.group(1) if scope else "?"
    target = headers.get("X-Amz-Target")
    if target:  # JSON protocol (KMS): "TrentService.DescribeKey"
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    if body and b"Action=" in body:  # query protocol (EC2, IAM, STS)
        return f"{service}:{urllib.parse.parse_qs(body.decode())['Action'][0]}"
    # REST protocol (EKS): the method and the path's shape, names replaced by *.
    parts = [part for part in urllib.parse.urlsplit(path).path.split("/") if part]
    shape = "/".join(part if index % 2 == 0 else "*" for index, part in enumerate(parts))
    return f"{service}:{method} /{shape}"


def kind_of(action: str, method: str) -> str:
    if action in SESSION_ACTIONS:
        return "session"
    name = action.split(":", 1)[1]
    if name.startswith(READ_PREFIXES) or (" " in name and method == "GET"):
        return "read"
    return "write"


class CountingProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to moto unchanged and counts it by action and kind (no header or body is kept)."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.lock = upstream.rstrip("/"), threading.Lock()
        self.actions: Counter = Counter()
        self.kinds: Counter = Counter()
        super().__init__(("127.0.0.1", 0), _Forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> CountingProxy:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()

    def take(self) -> tuple[Counter, Counter]:
        with self.lock:
            taken = self.actions, self.kinds
            self.actions, self.kinds = Counter(), Counter()
        return taken


class _Forward(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if not self.path.startswith("/moto-api"):
            action = action_of(self.command, self.path, self.headers, body)
            with self.server.lock:
                self.server.actions[action] += 1
                self.server.kinds[kind_of(action, self.command)] += 1
        headers = {key: value for key, value in self.headers.items() if key.lower() not in ("host", "connection")}
        request = urllib.request.Request(self.server.upstream + self.path, data=body if length else None,
                                         headers=headers, method=self.command)
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                status, answer_headers, payload = answer.status, answer.headers.items(), answer.read()
        except urllib.error.HTTPError as err:
            status, answer_headers, payload = err.code, err.headers.items(), err.read()
        self.send_response(status)
        for key, value in answer_headers:
            if key.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

    def log_message(self, *args) -> None:  # quiet: nothing of a request is printed
        pass
