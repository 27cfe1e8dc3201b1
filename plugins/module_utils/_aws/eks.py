# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EKS clusters with secrets encryption and endpoint access, and read-only node group descriptions."""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from .common import call
from .common import call_or_none
from .common import tag_changes
from .common import wait_for

NOT_FOUND = ("ResourceNotFoundException",)


class EksClusterService:
    """Ensures an EKS cluster: created with its KMS key for secrets, endpoint access and tags kept in line.

    What EKS cannot change in place (version upgrades, a different secrets key, other subnets) is refused with
    an error that says so, instead of being silently ignored.
    """

    def __init__(self, client, wait_timeout: int = 1800, delay: float = 15.0) -> None:
        self.client = client
        self.wait_timeout = wait_timeout
        self.delay = delay

    def describe(self, name: str) -> dict | None:
        """The cluster, or None when it does not exist."""
        found = call_or_none(self.client, "describe_cluster", f"describe cluster {name}", NOT_FOUND, name=name)
        return found["cluster"] if found else None

    def _wait(self, name: str, gone: bool = False) -> dict | None:
        return wait_for(
            lambda: self.describe(name),
            (lambda cluster: cluster is None) if gone else (lambda cluster: cluster is not None and cluster.get("status") == "ACTIVE"),
            self.wait_timeout,
            f"cluster {name} to be {'deleted' if gone else 'ACTIVE'}",
            self.delay,
        )

    @staticmethod
    def _secrets_key(cluster: dict) -> str | None:
        for config in cluster.get("encryptionConfig") or []:
            if "secrets" in config.get("resources", []):
                return (config.get("provider") or {}).get("keyArn")
        return None

    def ensure_present(self, params: dict, check_mode: bool) -> dict:
        """Create the cluster or bring its mutable settings (endpoint access, tags, secrets key) in line."""
        name = params["name"]
        vpc_config = {
            "subnetIds": params["subnets"],
            "securityGroupIds": params.get("security_groups") or [],
            "endpointPublicAccess": params["endpoint_public_access"],
            "endpointPrivateAccess": params["endpoint_private_access"],
        }
        cluster = self.describe(name)
        if cluster is None:
            if check_mode:
                return {"changed": True, "cluster": None}
            request = {"name": name, "version": params["version"], "roleArn": params["role_arn"],
                       "resourcesVpcConfig": vpc_config, "tags": params.get("tags") or {}}
            if params.get("secrets_kms_key_arn"):
                request["encryptionConfig"] = [{"resources": ["secrets"], "provider": {"keyArn": params["secrets_kms_key_arn"]}}]
            call(self.client, "create_cluster", f"create cluster {name}", **request)
            cluster = self._wait(name) if params.get("wait") else self.describe(name)
            return {"changed": True, "cluster": cluster}

        self._refuse_immutable_changes(cluster, params)
        changed = False
        current = cluster.get("resourcesVpcConfig") or {}
        access = {key: vpc_config[key] for key in ("endpointPublicAccess", "endpointPrivateAccess")
                  if current.get(key) != vpc_config[key]}
        if access:
            changed = True
            if not check_mode:
                call(self.client, "update_cluster_config", f"update endpoint access of {name}",
                     name=name, resourcesVpcConfig=access)
        if params.get("secrets_kms_key_arn") and not self._secrets_key(cluster):
            changed = True
            if not check_mode:
                call(self.client, "associate_encryption_config", f"enable secrets encryption on {name}",
                     clusterName=name,
                     encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": params["secrets_kms_key_arn"]}}])
        to_set, to_remove = tag_changes(cluster.get("tags") or {}, params.get("tags"), params.get("purge_tags", True))
        if to_set or to_remove:
            changed = True
            if not check_mode:
                if to_remove:
                    call(self.client, "untag_resource", f"untag {name}", resourceArn=cluster["arn"], tagKeys=to_remove)
                if to_set:
                    call(self.client, "tag_resource", f"tag {name}", resourceArn=cluster["arn"], tags=to_set)
        if changed and not check_mode:
            cluster = self._wait(name) if params.get("wait") else self.describe(name)
        return {"changed": changed, "cluster": cluster}

    def _refuse_immutable_changes(self, cluster: dict, params: dict) -> None:
        name = params["name"]
        if params.get("version") and cluster.get("version") != params["version"]:
            raise AnsibleAWSError(message=(
                f"Cluster {name} runs Kubernetes {cluster.get('version')}, not {params['version']}; upgrades are a "
                "separate, one-minor-version-at-a-time procedure that this module does not start."))
        current_subnets = set((cluster.get("resourcesVpcConfig") or {}).get("subnetIds") or [])
        if current_subnets != set(params["subnets"]):
            raise AnsibleAWSError(message=f"Cluster {name} uses subnets {sorted(current_subnets)}, not {sorted(params['subnets'])}.")
        key = self._secrets_key(cluster)
        if key and params.get("secrets_kms_key_arn") and key != params["secrets_kms_key_arn"]:
            raise AnsibleAWSError(message=f"Cluster {name} encrypts secrets with {key}; EKS cannot switch to another key.")

    def ensure_absent(self, params: dict, check_mode: bool) -> dict:
        """Delete the cluster once it has no node groups left."""
        name = params["name"]
        cluster = self.describe(name)
        if cluster is None:
            return {"changed": False, "cluster": None}
        groups = call(self.client, "list_nodegroups", f"list node groups of {name}", clusterName=name).get("nodegroups", [])
        if check_mode:
            # In a check run, node groups that an earlier task of the same run deletes are still there.
            groups = sorted(set(groups) - set(params.get("nodegroups_deleted_before") or []))
        if groups:
            raise AnsibleAWSError(message=f"Cluster {name} still has node groups {sorted(groups)}; delete them first.")
        if not check_mode:
            call(self.client, "delete_cluster", f"delete cluster {name}", name=name)
            if params.get("wait"):
                self._wait(name, gone=True)
        return {"changed": True, "cluster": cluster}


def describe_nodegroups(client, cluster_name: str, names: list[str] | None = None) -> list[dict]:
    """Descriptions of a cluster's node groups (all, or the given names that exist); none when the cluster is absent."""
    listed = call_or_none(client, "list_nodegroups", f"list node groups of {cluster_name}", NOT_FOUND,
                          clusterName=cluster_name)
    if listed is None:
        return []
    wanted = [name for name in listed.get("nodegroups", []) if names is None or name in names]
    described = []
    for name in sorted(wanted):
        found = call_or_none(client, "describe_nodegroup", f"describe node group {name}", NOT_FOUND,
                             clusterName=cluster_name, nodegroupName=name)
        if found:
            described.append(found["nodegroup"])
    return described
