# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IAM OpenID Connect providers (the IRSA trust anchor of an EKS cluster)."""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from .common import call
from .common import call_or_none
from .common import tag_changes


def _bare(url: str) -> str:
    """IAM stores and compares provider URLs without the scheme."""
    return url.split("://", 1)[-1].rstrip("/")


class OpenIdConnectProviderService:
    """Ensures one provider per issuer URL: client ids, thumbprints and tags kept in line."""

    def __init__(self, client) -> None:
        self.client = client

    def find(self, url: str) -> tuple[str, dict] | None:
        """(arn, description) of the provider for ``url``, or None."""
        listed = call(self.client, "list_open_id_connect_providers", "list OpenID Connect providers")
        for entry in listed.get("OpenIDConnectProviderList", []):
            arn = entry["Arn"]
            if arn.endswith("oidc-provider/" + _bare(url)):
                described = call_or_none(self.client, "get_open_id_connect_provider", f"read {arn}",
                                         ("NoSuchEntity",), OpenIDConnectProviderArn=arn)
                if described is not None:
                    return arn, described
        return None

    def ensure(self, params: dict, check_mode: bool) -> dict:
        url = "https://" + _bare(params["url"])
        found = self.find(url)
        if params["state"] == "absent":
            if found is None:
                return {"changed": False, "arn": None, "provider": None}
            if not check_mode:
                call(self.client, "delete_open_id_connect_provider", f"delete {found[0]}",
                     OpenIDConnectProviderArn=found[0])
            return {"changed": True, "arn": found[0], "provider": None}

        client_ids = sorted(set(params["client_ids"]))
        thumbprints = sorted({print_.lower() for print_ in params.get("thumbprints") or []})
        tags = params.get("tags")
        if found is None:
            if check_mode:
                return {"changed": True, "arn": None, "provider": None}
            request = {"Url": url, "ClientIDList": client_ids,
                       "Tags": [{"Key": key, "Value": value} for key, value in sorted((tags or {}).items())]}
            if thumbprints:
                request["ThumbprintList"] = thumbprints
            arn = call(self.client, "create_open_id_connect_provider", f"create the provider for {url}",
                       **request)["OpenIDConnectProviderArn"]
            return {"changed": True, "arn": arn, "provider": self.find(url)[1]}

        arn, provider = found
        changed = False
        current_ids = set(provider.get("ClientIDList", []))
        for client_id in sorted(set(client_ids) - current_ids):
            changed = True
            if not check_mode:
                call(self.client, "add_client_id_to_open_id_connect_provider", f"add {client_id} to {arn}",
                     OpenIDConnectProviderArn=arn, ClientID=client_id)
        for client_id in sorted(current_ids - set(client_ids)):
            changed = True
            if not check_mode:
                call(self.client, "remove_client_id_from_open_id_connect_provider",
                     f"remove {client_id} from {arn}", OpenIDConnectProviderArn=arn, ClientID=client_id)
        current_prints = sorted(print_.lower() for print_ in provider.get("ThumbprintList", []))
        if thumbprints and current_prints != thumbprints:
            changed = True
            if not check_mode:
                call(self.client, "update_open_id_connect_provider_thumbprint", f"update thumbprints of {arn}",
                     OpenIDConnectProviderArn=arn, ThumbprintList=thumbprints)
        current_tags = {tag["Key"]: tag["Value"] for tag in provider.get("Tags", [])}
        to_set, to_remove = tag_changes(current_tags, tags, params.get("purge_tags", True))
        if to_set or to_remove:
            changed = True
            if not check_mode:
                if to_remove:
                    call(self.client, "untag_open_id_connect_provider", f"untag {arn}",
                         OpenIDConnectProviderArn=arn, TagKeys=to_remove)
                if to_set:
                    call(self.client, "tag_open_id_connect_provider", f"tag {arn}", OpenIDConnectProviderArn=arn,
                         Tags=[{"Key": key, "Value": value} for key, value in sorted(to_set.items())])
        if changed and not check_mode:
            found = self.find(url)
            if found is None:
                raise AnsibleAWSError(message=f"The provider for {url} disappeared while it was updated.")
            provider = found[1]
        return {"changed": changed, "arn": arn, "provider": provider}
