# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Where the Thanos Receive hashrings and limits documents are stored.

    How the ConfigMap store reaches the Kubernetes API is kubernetes.core's k8s_auth_options fragment.
    """

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
      - The API server is reached with kubernetes.core's client and its connection options (O(kubeconfig),
        O(context), O(host), O(api_key), O(validate_certs), O(ca_cert), ...), which also read the
        C(K8S_AUTH_*) environment variables. Without any of them the in-cluster service account is used
        when the module runs in a pod, the default kubeconfig otherwise.
    type: str
  hashrings_key:
    description: ConfigMap store. Key of the hashrings JSON document.
    type: str
    default: hashrings.json
  limits_key:
    description: ConfigMap store. Key of the limits YAML document; added on the first write when missing.
    type: str
    default: limits.yaml
requirements:
  - PyYAML
  - kubernetes (Python library) and the kubernetes.core collection, for the ConfigMap store only
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
