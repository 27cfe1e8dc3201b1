"""An HTTPS server on 127.0.0.1 for unit tests of TLS clients, with a CA made by the lab's own PKI (lab/pki.py).

``certificate_authority(directory)`` gives a fresh CA and a serving certificate for 127.0.0.1; a second call with
another directory gives a CA that does not trust the first one's certificate.
"""

from __future__ import annotations

import contextlib
import http.server
import pathlib
import ssl
import threading
from typing import Iterator

from lab.pki import RegionPki, ensure_region_pki


def certificate_authority(directory: pathlib.Path) -> RegionPki:
    return ensure_region_pki(directory, "unit-test")


@contextlib.contextmanager
def https_server(handler: type[http.server.BaseHTTPRequestHandler], pki: RegionPki) -> Iterator[str]:
    """Serves ``handler`` over TLS with ``pki``'s serving certificate from a daemon thread; yields the base URL."""
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.serving_cert, pki.serving_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
