"""Install CustomResourceDefinitions into a lab API server, the way a cluster's installer would.

The tenant operator's service installs the Tenant CRD and the Envoy service the upstream Istio CRDs before they
start, so their consumers find the kinds Established. One implementation for both.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from lab.services.base import LabError

FIELD_MANAGER = "meridian-lab"


def crd_documents(path: Path) -> list[dict]:
    """The CustomResourceDefinitions in a (multi-document) YAML file; LabError when it holds none."""
    documents = [doc for doc in yaml.safe_load_all(path.read_text())
                 if doc and doc.get("kind") == "CustomResourceDefinition"]
    if not documents:
        raise LabError(f"{path} holds no CustomResourceDefinition")
    return documents


def apply_crds(kubeconfig: str, path: Path, *, namespaces: tuple[str, ...] = (), timeout: float = 60.0) -> list[str]:
    """Server-side apply every CRD in ``path`` (and ``namespaces``); wait until all are Established; return their names.

    Server-side apply is a no-op when nothing changed, and it has no annotation size limit (Istio's file is ~1 MB).
    """
    from kubernetes import client, config

    manifests = crd_documents(path)
    names = [manifest["metadata"]["name"] for manifest in manifests]
    api_client = config.new_client_from_config(config_file=kubeconfig)
    extensions = client.ApiextensionsV1Api(api_client)
    apply = {"field_manager": FIELD_MANAGER, "force": True, "_content_type": "application/apply-patch+yaml"}
    try:
        for manifest in manifests:
            extensions.patch_custom_resource_definition(manifest["metadata"]["name"], manifest, **apply)
        for namespace in namespaces:
            client.CoreV1Api(api_client).patch_namespace(
                namespace, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, **apply)
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending:
            for name in sorted(pending):
                crd = extensions.read_custom_resource_definition(name)
                if any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or [])):
                    pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise LabError(f"CRDs from {path} not Established after {timeout:.0f}s: {sorted(pending)}")
            if pending:
                time.sleep(0.2)
    except client.exceptions.ApiException as err:
        try:
            detail = json.loads(err.body or "{}").get("message", "")
        except ValueError:
            detail = str(err.body or "")
        raise LabError(f"applying the CRDs from {path} failed: {err.status} {err.reason}: {detail}") from None
    finally:
        api_client.close()
    return names
