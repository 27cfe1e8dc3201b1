# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Where the Thanos Receive hashrings and limits documents are stored, and how to reach a Kubernetes API."""

    DOCUMENTATION = r"""
options:
  hashrings_path:
    description:
      - File store. Path of the hashrings JSON file Thanos Receive reads (C(--receive.hashrings-file)).
      - The file must exist and hold a valid hashrings list.
      - Give either O(hashrings_path) and O(limits_path), or O(configmap_namespace) and O(configmap_name).
    type: path
  limits_path:
    description:
      - File store. Path of the limits YAML file Thanos Receive reads (C(--receive.limits-config-file)).
      - A missing file means no limits and is created on the first write with mode C(0644).
      - Required with O(hashrings_path).
    type: path
  configmap_namespace:
    description:
      - ConfigMap store. Namespace of the ConfigMap holding both documents. Required with O(configmap_name).
    type: str
  configmap_name:
    description:
      - ConfigMap store. Name of the ConfigMap holding both documents.
      - The ConfigMap must already exist, carry the label C(meridian.observability/thanos-tenants=managed) and
        hold the O(hashrings_key) key. A ConfigMap that does not is refused and left unchanged.
      - Writes replace the ConfigMap guarded by its C(resourceVersion); when another writer got there first
        the module re-reads and retries (up to 5 attempts), so the other writer's change is kept.
    type: str
  hashrings_key:
    description: ConfigMap store. Key of the hashrings JSON document.
    type: str
    default: hashrings.json
  limits_key:
    description: ConfigMap store. Key of the limits YAML document; added on the first write when missing.
    type: str
    default: limits.yaml
  kubeconfig:
    description:
      - ConfigMap store. Path to a kubeconfig file. Without it, and without O(host), the default kubeconfig
        (C(KUBECONFIG) or C(~/.kube/config)) is loaded.
    type: path
  context:
    description: ConfigMap store. Name of a context in the kubeconfig.
    type: str
  host:
    description: ConfigMap store. URL of the Kubernetes API server; overrides the kubeconfig's server.
    type: str
  api_key:
    description: ConfigMap store. Bearer token used to authenticate with the API server.
    type: str
  validate_certs:
    description: ConfigMap store. Whether to verify the API server's TLS certificate.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description: ConfigMap store. Path to the CA certificate that signed the API server's certificate.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description: ConfigMap store. Path to a client certificate used to authenticate with the API server.
    type: path
    aliases: [cert_file]
  client_key:
    description: ConfigMap store. Path to the key of O(client_cert).
    type: path
    aliases: [key_file]
requirements:
  - PyYAML
  - kubernetes (Python library), for the ConfigMap store only
notes:
  - The file store writes each file through a temporary file in the same directory, C(fsync) and C(rename),
    keeping the file's mode, and takes an exclusive C(flock) on the directories so concurrent runs
    serialise. A file changed by another program between read and write makes the module re-read and retry.
  - Thanos Receive polls the limits file every second, so limit changes apply without a restart. It watches the
    hashrings file and also re-reads it every C(--receive.hashrings-file-refresh-interval) (5m by default), so a
    hashrings change applies at the latest after that interval. Each hashrings change makes Receive briefly not
    ready while it flushes its TSDBs; remote-write clients retry.
  - Comments in the limits YAML are not preserved when the module rewrites it.
"""
