# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transit Gateway peering attachments (request on one side, accept on the other) and static routes."""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from .common import call
from .common import tag_changes
from .common import wait_for

# States of a peering attachment that still exists; deleted/rejected/failed ones linger in describe output.
LIVE_PEERING_STATES = ["initiatingRequest", "pendingAcceptance", "pending", "available", "modifying"]


def _side_tgw(attachment: dict, side: str) -> str:
    return (attachment.get(side) or {}).get("TransitGatewayId", "")


class TransitGatewayPeeringService:
    """Ensures one peering attachment between a local and a peer Transit Gateway.

    ``requester`` is an EC2 client in the local region, ``accepter`` one in the peer region (or None when the
    caller does not accept). The attachment is found by the pair of gateway ids, in either direction, so a peering
    requested from the other side is recognised instead of duplicated.
    """

    def __init__(self, requester, accepter=None, wait_timeout: int = 600, delay: float = 5.0) -> None:
        self.requester = requester
        self.accepter = accepter
        self.wait_timeout = wait_timeout
        self.delay = delay

    def find(self, client, transit_gateway_id: str, peer_transit_gateway_id: str) -> dict | None:
        """The live attachment between the two gateways as ``client``'s region sees it, or None."""
        response = call(
            client,
            "describe_transit_gateway_peering_attachments",
            "describe Transit Gateway peering attachments",
            Filters=[{"Name": "state", "Values": LIVE_PEERING_STATES}],
        )
        pair = {transit_gateway_id, peer_transit_gateway_id}
        for attachment in response.get("TransitGatewayPeeringAttachments", []):
            ends = {_side_tgw(attachment, "RequesterTgwInfo"), _side_tgw(attachment, "AccepterTgwInfo")}
            if ends == pair and attachment.get("State") in LIVE_PEERING_STATES:
                return attachment
        return None

    def _read(self, client, attachment_id: str) -> dict | None:
        response = call(
            client,
            "describe_transit_gateway_peering_attachments",
            f"describe Transit Gateway peering attachment {attachment_id}",
            TransitGatewayAttachmentIds=[attachment_id],
        )
        found = response.get("TransitGatewayPeeringAttachments", [])
        return found[0] if found else None

    def _wait_state(self, client, attachment_id: str, states: set[str]) -> dict:
        return wait_for(
            lambda: self._read(client, attachment_id),
            lambda attachment: attachment is None or attachment.get("State") in states,
            self.wait_timeout,
            f"peering attachment {attachment_id} to reach {sorted(states)}",
            self.delay,
        )

    def _sync_tags(self, client, attachment: dict, tags: dict | None, purge: bool, check_mode: bool) -> bool:
        current = boto3_tag_list_to_ansible_dict(attachment.get("Tags", []))
        to_set, to_remove = tag_changes(current, tags, purge)
        if not to_set and not to_remove:
            return False
        if check_mode:
            return True
        attachment_id = attachment["TransitGatewayAttachmentId"]
        if to_remove:
            call(client, "delete_tags", f"untag {attachment_id}", Resources=[attachment_id],
                 Tags=[{"Key": key} for key in to_remove])
        if to_set:
            call(client, "create_tags", f"tag {attachment_id}", Resources=[attachment_id],
                 Tags=ansible_dict_to_boto3_tag_list(to_set))
        return True

    def ensure_present(self, params: dict, check_mode: bool) -> dict:
        """Request the peering if it is missing, accept it on the peer side when asked, and keep its tags."""
        local, peer = params["transit_gateway_id"], params["peer_transit_gateway_id"]
        tags, purge = params.get("tags"), params.get("purge_tags", True)
        changed = False
        attachment = self.find(self.requester, local, peer)
        if attachment is None:
            if check_mode:
                return {"changed": True, "attachment": None, "accepter_state": None}
            attachment = call(
                self.requester,
                "create_transit_gateway_peering_attachment",
                f"request peering from {local} to {peer}",
                TransitGatewayId=local,
                PeerTransitGatewayId=peer,
                PeerAccountId=params["peer_account_id"],
                PeerRegion=params["peer_region"],
                TagSpecifications=[{"ResourceType": "transit-gateway-attachment",
                                    "Tags": ansible_dict_to_boto3_tag_list(tags or {})}],
            )["TransitGatewayPeeringAttachment"]
            changed = True
        else:
            changed |= self._sync_tags(self.requester, attachment, tags, purge, check_mode)

        attachment_id = attachment["TransitGatewayAttachmentId"]
        accepter_state = None
        if self.accepter is not None:
            changed_on_peer, accepter_state = self._accept(attachment_id, params, check_mode)
            changed |= changed_on_peer
        if params.get("wait") and not check_mode:
            attachment = self._wait_state(self.requester, attachment_id, {"available", "pendingAcceptance"}
                                          if self.accepter is None else {"available"})
        else:
            attachment = self._read(self.requester, attachment_id) or attachment
        return {"changed": changed, "attachment": attachment, "accepter_state": accepter_state}

    def _accept(self, attachment_id: str, params: dict, check_mode: bool) -> tuple[bool, str | None]:
        changed = False
        seen = self._read(self.accepter, attachment_id)
        if seen is None or seen.get("State") in ("initiatingRequest", "pending"):
            if check_mode:
                return True, seen.get("State") if seen else None
            # The request reaches the peer region a few seconds after it is made.
            seen = wait_for(
                lambda: self._read(self.accepter, attachment_id),
                lambda found: found is not None and found.get("State") not in ("initiatingRequest", "pending"),
                self.wait_timeout,
                f"peering attachment {attachment_id} to reach the peer region",
                self.delay,
            )
        if seen.get("State") == "pendingAcceptance":
            if check_mode:
                return True, "pendingAcceptance"
            call(self.accepter, "accept_transit_gateway_peering_attachment",
                 f"accept peering attachment {attachment_id}", TransitGatewayAttachmentId=attachment_id)
            changed = True
            seen = self._read(self.accepter, attachment_id) or seen
        elif seen.get("State") not in LIVE_PEERING_STATES:
            raise AnsibleAWSError(message=f"Peering attachment {attachment_id} is {seen.get('State')} in the peer region.")
        # Each side of a peering keeps its own tags; the peer side gets the same ones so both are found by tag.
        changed |= self._sync_tags(self.accepter, seen, params.get("tags"), params.get("purge_tags", True), check_mode)
        return changed, seen.get("State")

    def ensure_absent(self, params: dict, check_mode: bool) -> dict:
        """Delete the peering between the two gateways, whichever side requested it."""
        attachment = self.find(self.requester, params["transit_gateway_id"], params["peer_transit_gateway_id"])
        if attachment is None:
            return {"changed": False, "attachment": None, "accepter_state": None}
        if check_mode:
            return {"changed": True, "attachment": attachment, "accepter_state": None}
        attachment_id = attachment["TransitGatewayAttachmentId"]
        call(self.requester, "delete_transit_gateway_peering_attachment",
             f"delete peering attachment {attachment_id}", TransitGatewayAttachmentId=attachment_id)
        if params.get("wait"):
            attachment = self._wait_state(self.requester, attachment_id, {"deleted"})
        return {"changed": True, "attachment": attachment, "accepter_state": None}


class TransitGatewayRouteService:
    """Ensures one static route in a Transit Gateway route table (routes carry no tags of their own)."""

    def __init__(self, client) -> None:
        self.client = client

    def find(self, route_table_id: str, destination: str) -> dict | None:
        """The static route for ``destination`` in the table, or None."""
        response = call(
            self.client,
            "search_transit_gateway_routes",
            f"search routes of {route_table_id}",
            TransitGatewayRouteTableId=route_table_id,
            Filters=[
                {"Name": "route-search.exact-match", "Values": [destination]},
                {"Name": "type", "Values": ["static"]},
            ],
        )
        for route in response.get("Routes", []):
            if route.get("DestinationCidrBlock") == destination and route.get("State") != "deleted":
                return route
        return None

    @staticmethod
    def _target(route: dict) -> str | None:
        attachments = route.get("TransitGatewayAttachments") or []
        if isinstance(attachments, dict):  # moto renders a single attachment as a mapping
            attachments = [attachments]
        return attachments[0].get("TransitGatewayAttachmentId") if attachments else None

    def ensure(self, params: dict, check_mode: bool) -> dict:
        """Create, replace or delete the route so that it matches ``params``."""
        table, destination = params["route_table_id"], params["destination_cidr_block"]
        route = self.find(table, destination)
        if params["state"] == "absent":
            if route is None:
                return {"changed": False, "route": None}
            if not check_mode:
                call(self.client, "delete_transit_gateway_route", f"delete route {destination} in {table}",
                     TransitGatewayRouteTableId=table, DestinationCidrBlock=destination)
            return {"changed": True, "route": None}

        blackhole = params.get("blackhole", False)
        target = None if blackhole else params["transit_gateway_attachment_id"]
        wanted = {"TransitGatewayRouteTableId": table, "DestinationCidrBlock": destination}
        wanted.update({"Blackhole": True} if blackhole else {"TransitGatewayAttachmentId": target})
        if route is not None:
            current_target = self._target(route)
            # AWS always reports the attachment of an active route; moto reports none. An unreported target is
            # taken as unchanged (and flagged) rather than replaced on every run.
            unreported = not blackhole and route.get("State") == "active" and current_target is None
            same = (route.get("State") == "blackhole") == blackhole and (blackhole or unreported or current_target == target)
            if same:
                return {"changed": False, "route": route, "target_reported": not unreported}
            operation = "replace_transit_gateway_route"
        else:
            operation = "create_transit_gateway_route"
        if check_mode:
            return {"changed": True, "route": route}
        call(self.client, operation, f"set route {destination} in {table}", **wanted)
        return {"changed": True, "route": self.find(table, destination)}
