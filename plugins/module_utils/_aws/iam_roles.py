# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IAM roles assumed by AWS services: trust policy, description, managed policies and tags, two reads per role.

GetRole returns the trust policy, description and tags at once; ListAttachedRolePolicies the managed policies.
amazon.aws.iam_role reads each twice. Inline policies and instance profiles are not managed here.
"""

from __future__ import annotations

import json
import urllib.parse

from .common import call
from .common import call_or_none
from .common import tag_changes

NOT_FOUND = ("NoSuchEntity",)


def _policy(document) -> dict:
    """A policy document as a dict, however IAM returned it (dict, JSON, URL-encoded JSON)."""
    if isinstance(document, dict):
        return document
    text = document if document.lstrip().startswith("{") else urllib.parse.unquote(document)
    return json.loads(text)


def _iam_tags(tags: dict) -> list[dict]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


class ServiceRoleService:
    """Ensures IAM roles, each with its trust policy, description, managed policy ARNs (exactly) and tags."""

    def __init__(self, client) -> None:
        self.client = client

    def ensure_role(self, wanted: dict, purge_tags: bool, check_mode: bool) -> dict:
        name, trust = wanted["name"], _policy(wanted["assume_role_policy_document"])
        policies, tags = sorted(set(wanted.get("managed_policies") or [])), wanted.get("tags")
        after = {"description": wanted.get("description") or "", "assume_role_policy_document": trust,
                 "managed_policies": policies, "tags": tags or {}}
        found = call_or_none(self.client, "get_role", f"read role {name}", NOT_FOUND, RoleName=name)
        if found is None:
            if check_mode:
                return {"name": name, "arn": "", "changed": True, "before": {}, "after": after}
            role = call(self.client, "create_role", f"create role {name}", RoleName=name,
                        AssumeRolePolicyDocument=json.dumps(trust), Description=wanted.get("description") or "",
                        Tags=_iam_tags(tags or {}))["Role"]
            for arn in policies:
                call(self.client, "attach_role_policy", f"attach {arn} to {name}", RoleName=name, PolicyArn=arn)
            return {"name": name, "arn": role["Arn"], "changed": True, "before": {}, "after": after}
        role = found["Role"]
        attached = sorted(policy["PolicyArn"] for policy in call(
            self.client, "list_attached_role_policies", f"list policies of {name}", RoleName=name, MaxItems=1000
        ).get("AttachedPolicies", []))
        current_tags = {tag["Key"]: tag["Value"] for tag in role.get("Tags", [])}
        before = {"description": role.get("Description", ""), "assume_role_policy_document": _policy(role["AssumeRolePolicyDocument"]),
                  "managed_policies": attached, "tags": current_tags}
        changed = False
        if before["assume_role_policy_document"] != trust:
            changed = True
            if not check_mode:
                call(self.client, "update_assume_role_policy", f"update the trust policy of {name}", RoleName=name,
                     PolicyDocument=json.dumps(trust))
        if before["description"] != after["description"]:
            changed = True
            if not check_mode:
                call(self.client, "update_role", f"update the description of {name}", RoleName=name,
                     Description=after["description"])
        for arn in sorted(set(policies) - set(attached)):
            changed = True
            if not check_mode:
                call(self.client, "attach_role_policy", f"attach {arn} to {name}", RoleName=name, PolicyArn=arn)
        for arn in sorted(set(attached) - set(policies)):
            changed = True
            if not check_mode:
                call(self.client, "detach_role_policy", f"detach {arn} from {name}", RoleName=name, PolicyArn=arn)
        to_set, to_remove = tag_changes(current_tags, tags, purge_tags)
        if to_set or to_remove:
            changed = True
            if not check_mode:
                if to_remove:
                    call(self.client, "untag_role", f"untag {name}", RoleName=name, TagKeys=to_remove)
                if to_set:
                    call(self.client, "tag_role", f"tag {name}", RoleName=name, Tags=_iam_tags(to_set))
        if tags is None:
            after["tags"] = current_tags
        elif not purge_tags:
            after["tags"] = current_tags | tags
        return {"name": name, "arn": role["Arn"], "changed": changed, "before": before, "after": after}

    def ensure(self, params: dict, check_mode: bool) -> dict:
        results = [self.ensure_role(wanted, params.get("purge_tags", True), check_mode) for wanted in params["roles"]]
        return {"changed": any(result["changed"] for result in results),
                "roles": [{"name": result["name"], "arn": result["arn"]} for result in results],
                "diff": {"before": {result["name"]: result["before"] for result in results},
                         "after": {result["name"]: result["after"] for result in results}}}
