"""Kubeconfig files for the lab's API servers (certificates embedded, so each file stands alone)."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from lab.files import PRIVATE, write_if_changed


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def render_kubeconfig(
    *,
    cluster: str,
    server: str,
    ca_file: Path,
    user: str,
    client_cert: Path,
    client_key: Path,
    namespace: str = "default",
) -> str:
    """A kubeconfig with one cluster, one user and one current context."""
    context = f"{user}@{cluster}"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_file)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(client_cert),
                    "client-key-data": _b64(client_key),
                },
            }
        ],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": cluster, "user": user, "namespace": namespace},
            }
        ],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(document, sort_keys=False)


def write_kubeconfig(path: Path, **kwargs) -> None:
    """Write a kubeconfig (it holds a private key, so mode 0600) only when it changes."""
    write_if_changed(path, render_kubeconfig(**kwargs), mode=PRIVATE)
