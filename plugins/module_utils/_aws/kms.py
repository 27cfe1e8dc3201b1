# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A symmetric KMS key found by its alias: description, enabled state, rotation and tags, in three reads.

amazon.aws.kms_key reads a key's aliases, grants, policies, rotation and tags, several of them twice (17 reads on a
no-change run in the lab); a key found by alias needs DescribeKey (by the alias itself), GetKeyRotationStatus and
ListResourceTags, and nothing more when nothing differs.
"""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from .common import call
from .common import call_or_none
from .common import tag_changes

NOT_FOUND = ("NotFoundException",)


def _kms_tags(tags: dict) -> list[dict]:
    return [{"TagKey": key, "TagValue": value} for key, value in sorted(tags.items())]


class AliasedKeyService:
    """Ensures one customer managed symmetric key behind ``alias/<name>``."""

    def __init__(self, client) -> None:
        self.client = client

    def describe(self, alias: str) -> dict | None:
        """The key's metadata, or None when no key has the alias."""
        found = call_or_none(self.client, "describe_key", f"describe {alias}", NOT_FOUND, KeyId=alias)
        return found["KeyMetadata"] if found else None

    def ensure(self, params: dict, check_mode: bool) -> dict:
        alias, tags, purge = params["alias"], params.get("tags"), params.get("purge_tags", True)
        if not alias.startswith("alias/"):
            alias = "alias/" + alias
        key = self.describe(alias)
        if key is None:
            if check_mode:
                return {"changed": True, "key": None, "diff": {"before": {}, "after": self._wanted(params)}}
            key = call(self.client, "create_key", f"create the key for {alias}", Description=params["description"],
                       KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT", Tags=_kms_tags(tags or {}))["KeyMetadata"]
            call(self.client, "create_alias", f"create {alias}", AliasName=alias, TargetKeyId=key["KeyId"])
            if params["enable_key_rotation"]:
                call(self.client, "enable_key_rotation", f"enable rotation of {alias}", KeyId=key["KeyId"])
            return {"changed": True, "key": key, "diff": {"before": {}, "after": self._wanted(params)}}

        key_id = key["KeyId"]
        if key.get("KeyManager") == "AWS":
            raise AnsibleAWSError(message=f"{alias} names an AWS managed key ({key_id}), which cannot be managed here.")
        rotation = call(self.client, "get_key_rotation_status", f"read rotation of {alias}", KeyId=key_id)["KeyRotationEnabled"]
        current_tags = {tag["TagKey"]: tag["TagValue"] for tag in
                        call(self.client, "list_resource_tags", f"read tags of {alias}", KeyId=key_id).get("Tags", [])}
        before = {"description": key.get("Description", ""), "enabled": key.get("KeyState") == "Enabled",
                  "enable_key_rotation": rotation, "tags": current_tags}
        changed = False
        if key.get("KeyState") == "PendingDeletion":
            changed = True  # the key is wanted again: cancel its scheduled deletion (it comes back Disabled)
            if not check_mode:
                call(self.client, "cancel_key_deletion", f"cancel the deletion of {alias}", KeyId=key_id)
        if key.get("KeyState") in ("PendingDeletion", "Disabled"):
            changed = True
            if not check_mode:
                call(self.client, "enable_key", f"enable {alias}", KeyId=key_id)
        if key.get("Description", "") != params["description"]:
            changed = True
            if not check_mode:
                call(self.client, "update_key_description", f"describe {alias}", KeyId=key_id, Description=params["description"])
        if rotation != params["enable_key_rotation"]:
            changed = True
            if not check_mode:
                operation = "enable_key_rotation" if params["enable_key_rotation"] else "disable_key_rotation"
                call(self.client, operation, f"set rotation of {alias}", KeyId=key_id)
        to_set, to_remove = tag_changes(current_tags, tags, purge)
        if to_set or to_remove:
            changed = True
            if not check_mode:
                if to_remove:
                    call(self.client, "untag_resource", f"untag {alias}", KeyId=key_id, TagKeys=to_remove)
                if to_set:
                    call(self.client, "tag_resource", f"tag {alias}", KeyId=key_id, Tags=_kms_tags(to_set))
        return {"changed": changed, "key": key, "diff": {"before": before, "after": self._wanted(params, current_tags)}}

    @staticmethod
    def _wanted(params: dict, current_tags: dict | None = None) -> dict:
        tags = params.get("tags")
        if tags is None:
            tags = current_tags or {}
        elif not params.get("purge_tags", True):
            tags = (current_tags or {}) | tags
        return {"description": params["description"], "enabled": True,
                "enable_key_rotation": params["enable_key_rotation"], "tags": tags}
