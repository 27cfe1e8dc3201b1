"""Install CustomResourceDefinitions into a lab API server, the way a cluster's installer would.

The tenant operator's service installs the Tenant CRD and the Envoy service the upstream Istio CRDs before they
start, so their consumers find the kinds Established. One implementation for both.

The policy CRDs (Gatekeeper's and Cilium's network policy CRDs, CLUSTER_CRD_COMPONENTS) have no lab service that
consumes them: `lab up` installs them into every region's API server after the servers are ready, on every run
(also when the servers were already running), so ConstraintTemplates and Cilium policies are validated by their
real schemas. Nothing runs Gatekeeper's controller or Cilium.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from lab.services.base import LabError

FIELD_MANAGER = "meridian-lab"


#: lab.build components (kind gomod-files) whose CRDs `lab up` installs into every region's API server.
CLUSTER_CRD_COMPONENTS = ("gatekeeper-crds", "cilium-crds")

# The C loader when PyYAML has it: Cilium's CRD files are ~400 kB each.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def crd_documents(path: Path) -> list[dict]:
    """The CustomResourceDefinitions in a (multi-document) YAML file, or in every *.yaml file of a directory.

    LabError when there are none.
    """
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    documents = [doc for file in files for doc in yaml.load_all(file.read_text(), Loader=_YAML_LOADER)
                 if doc and doc.get("kind") == "CustomResourceDefinition"]
    if not documents:
        raise LabError(f"{path} holds no CustomResourceDefinition")
    return documents


def apply_crds(kubeconfig: str, path: Path, *, namespaces: tuple[str, ...] = (), timeout: float = 60.0) -> list[str]:
    """Server-side apply every CRD in ``path`` (a file or a directory of them) and ``namespaces``.

    Waits until all are Established and returns their names.

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


def cluster_crd_paths() -> dict[str, list[Path]]:
    """component -> its cached CRD files or directories (built into the cache first if needed, which is quick)."""
    from lab import build

    paths: dict[str, list[Path]] = {}
    for component in CLUSTER_CRD_COMPONENTS:
        try:
            result = build.ensure_built(component)
        except build.BuildError as err:
            raise LabError(f"building {component} failed: {err}") from err
        paths[component] = [Path(result[key]) for key in sorted(result)]
    return paths


def install_cluster_crds(kubeconfig: str, *, timeout: float = 60.0) -> dict[str, list[str]]:
    """Apply every CLUSTER_CRD_COMPONENTS CRD to one API server; component -> the CRD names (all Established)."""
    return {component: [name for path in paths for name in apply_crds(kubeconfig, path, timeout=timeout)]
            for component, paths in cluster_crd_paths().items()}


def cluster_crd_status(kubeconfig: str) -> dict[str, tuple[int, int]]:
    """component -> (CRDs Established in the API server, CRDs it ships), for `lab status`. Builds nothing.

    A component not in the build cache counts as (0, 0).
    """
    from kubernetes import client, config

    from lab import build

    versions = build.load_versions()
    api_client = config.new_client_from_config(config_file=kubeconfig)
    try:
        # Raw JSON: the client's models for every CRD's full schema (Istio's, Cilium's) take seconds to build.
        response = client.ApiextensionsV1Api(api_client).list_custom_resource_definition(_preload_content=False)
        established = {
            crd["metadata"]["name"] for crd in json.loads(response.data)["items"]
            if any(c.get("type") == "Established" and c.get("status") == "True"
                   for c in crd.get("status", {}).get("conditions") or [])}
    except client.exceptions.ApiException as err:
        raise LabError(f"listing CRDs failed: {err.status} {err.reason}") from None
    finally:
        api_client.close()
    status = {}
    for component in CLUSTER_CRD_COMPONENTS:
        names: list[str] = []
        if build.is_cached(component, versions):
            spec = versions["components"][component]
            from lab.build.gomod_files import result_paths

            for path in result_paths(spec, build.component_dir(component, versions)).values():
                names += [document["metadata"]["name"] for document in crd_documents(path)]
        status[component] = (len(established.intersection(names)), len(names))
    return status
