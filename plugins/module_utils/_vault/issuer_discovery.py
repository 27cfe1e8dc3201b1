# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The issuer of a cluster's service-account tokens, from its API server's OIDC discovery document.

Read with the token reviewer's own token (service accounts may read the document) and the cluster's CA, so the
module that configures the Kubernetes auth method needs nothing it is not given already.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request

from .errors import KubernetesIssuerUnavailable

DISCOVERY_PATH = "/.well-known/openid-configuration"
FIX = "Fix: give the issuer explicitly (the vault role's vault_kubernetes_issuer; on EKS the cluster's OIDC issuer URL)."


def discover_issuer(kubernetes_host: str, kubernetes_ca_cert: str | None, token: str | None, timeout: float = 10) -> str:
    """The ``issuer`` of ``kubernetes_host``'s discovery document; raises KubernetesIssuerUnavailable naming the URL."""
    url = kubernetes_host.rstrip("/") + DISCOVERY_PATH
    context = None
    if url.startswith("https://"):
        try:
            context = ssl.create_default_context(cadata=kubernetes_ca_cert) if kubernetes_ca_cert else \
                ssl.create_default_context()
        except ssl.SSLError as err:
            raise KubernetesIssuerUnavailable(f"kubernetes_ca_cert cannot verify {url}: {err}. {FIX}",
                                              url=url) from err
    headers = {"Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        # The context trusts the cluster CA only (given), or the system's store (none given).
        response = Request(context=context).open("GET", url, headers=headers, timeout=timeout, follow_redirects="none")
        body = response.read()
    except urllib.error.HTTPError as err:
        raise KubernetesIssuerUnavailable(f"{url} answered {err.code} instead of the discovery document. {FIX}",
                                          url=url, status=err.code) from err
    except (urllib.error.URLError, socket.timeout, TimeoutError, OSError, UrlsConnectionError,
            http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise KubernetesIssuerUnavailable(f"cannot read {url} ({reason}). {FIX}", url=url) from err
    try:
        issuer = json.loads(body.decode("utf-8")).get("issuer")
    except (ValueError, UnicodeDecodeError, AttributeError):
        issuer = None
    if not isinstance(issuer, str) or not issuer:
        raise KubernetesIssuerUnavailable(f"{url} answered without an issuer. {FIX}", url=url)
    return issuer
