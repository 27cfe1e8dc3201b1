"""HTTP health probes (standard library only, so `status` stays fast)."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from pathlib import Path

PROBE_TIMEOUT = 2.0


def http_ok(url: str, *, context: ssl.SSLContext | None = None, expect: bytes | None = None) -> bool:
    """True when GET url answers 2xx (and, if given, the body contains `expect`)."""
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT, context=context) as response:
            if not 200 <= response.status < 300:
                return False
            return expect is None or expect in response.read()
    except (urllib.error.URLError, OSError, ValueError):
        return False


def client_tls(ca_file: Path, cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """TLS context that verifies the server against ca_file and presents a client cert."""
    context = ssl.create_default_context(cafile=str(ca_file))
    context.load_cert_chain(str(cert_file), str(key_file))
    return context


def insecure_tls() -> ssl.SSLContext:
    """For the controller manager's self-signed serving cert; health only, loopback only."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
