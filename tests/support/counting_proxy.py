"""A forwarding HTTP proxy that counts the requests reaching one server, by method.

Benchmarks point a run's endpoint (Keycloak, OpenBao, a Kubernetes API server) at it, so the counts are what the
server received, not what a module says about itself. The upstream may be HTTPS with a client certificate (the lab's
API servers): the proxy then presents it, and the run's kubeconfig needs no credentials. No header or body is kept.
"""

from __future__ import annotations

import http.client
import http.server
import ssl
import threading
import urllib.parse
from collections import Counter

READ_METHODS = frozenset({"GET", "HEAD", "LIST"})
# Signing in is neither a read nor a write of anything managed: counted as SESSION.
SESSION_PATH_ENDINGS = ("/protocol/openid-connect/token",)


class CountingProxy(http.server.ThreadingHTTPServer):
    """Serves on 127.0.0.1 (a free port) from a daemon thread until shutdown(); take() returns and resets the counts."""

    daemon_threads = True

    def __init__(self, upstream: str, tls: ssl.SSLContext | None = None, *, name: str = "") -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.name, self.tls, self.counts, self.lock = name, tls, Counter(), threading.Lock()
        self.upstream_host, self.upstream_port = parsed.hostname, parsed.port
        super().__init__(("127.0.0.1", 0), _Forward)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def take(self) -> Counter:
        with self.lock:
            counts, self.counts = self.counts, Counter()
        return counts


def reads_and_writes(counts: Counter) -> tuple[int, int]:
    reads = sum(count for method, count in counts.items() if method in READ_METHODS)
    return reads, sum(counts.values()) - reads - counts["SESSION"]


class _Forward(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # With Nagle's algorithm the answer's second segment waits for the client's delayed ACK: about 40 ms added to
    # every request of a keep-alive client (OpenBao's), which the benchmarks would have charged to the module.
    disable_nagle_algorithm = True

    def _forward(self) -> None:
        server: CountingProxy = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {key: value for key, value in self.headers.items() if key.lower() not in ("host", "connection")}
        session = urllib.parse.urlsplit(self.path).path.endswith(SESSION_PATH_ENDINGS)
        with server.lock:
            server.counts["SESSION" if session else self.command] += 1
        if server.tls is None:
            upstream = http.client.HTTPConnection(server.upstream_host, server.upstream_port, timeout=120)
        else:
            upstream = http.client.HTTPSConnection(server.upstream_host, server.upstream_port, timeout=120,
                                                   context=server.tls)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
        finally:
            upstream.close()
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = do_PATCH = do_HEAD = _forward

    def log_message(self, *args) -> None:  # quiet: nothing of a request is printed
        pass
