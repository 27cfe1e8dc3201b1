# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which kinds of a region's AWS layer differ from the desired state: one read per kind, no write.

A role runs its per-kind tasks only for the kinds reported here as differing, so a no-change run executes one
module per role instead of one per kind (each module execution costs a new Python process, far more than its
AWS reads). The comparison is never a second implementation where one exists: the VPC, subnets, route tables,
IAM roles, KMS key, cluster and OIDC provider are compared by their own services run in check mode. The objects
the roles manage with amazon.aws or community.aws modules (internet gateway, Elastic IPs, NAT gateways, Transit
Gateway and its VPC attachment, node groups) are compared on every attribute those tasks set.

A kind that differs makes every kind after it (in the roles' order) differ too: a recreated subnet has a new id
that the route tables and the attachment must then pick up, so their tasks must run even if they looked right.
"""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from .common import call
from .common import tag_changes
from .eks import EksClusterService
from .eks import describe_nodegroups
from .iam_oidc import OpenIdConnectProviderService
from .iam_roles import ServiceRoleService
from .kms import AliasedKeyService
from .transit_gateway import TransitGatewayPeeringService
from .transit_gateway import TransitGatewayRouteService
from .vpc import RouteTableService
from .vpc import SubnetService
from .vpc import VpcService

NETWORK_KINDS = ("vpc", "subnets", "gateways", "transit_gateway", "route_tables", "peering")
EKS_KINDS = ("iam", "kms", "cluster", "nodegroups", "oidc")
# Route targets of the symbolic route table plan: `internet_gateway`, `nat_gateway:<az>`, `transit_gateway`.
_TARGET_OPTION = {"internet_gateway": "gateway_id", "nat_gateway": "nat_gateway_id", "transit_gateway": "transit_gateway_id"}


def _filters(filters: dict) -> list[dict]:
    return [{"Name": key, "Values": value if isinstance(value, list) else [value]} for key, value in sorted(filters.items())]


def _tags_differ(current_tags: list[dict] | dict, desired: dict) -> bool:
    current = current_tags if isinstance(current_tags, dict) else boto3_tag_list_to_ansible_dict(current_tags or [])
    to_set, to_remove = tag_changes(current, desired, purge=True)
    return bool(to_set or to_remove)


def _propagate(own: dict, kinds: tuple[str, ...]) -> dict:
    """Each kind differs when it does itself or an earlier kind does."""
    differs, upstream = {}, False
    for kind in kinds:
        upstream = upstream or bool(own[kind])
        differs[kind] = upstream
    return differs


def resolve_route_tables(route_tables: list[dict], subnet_ids: dict, targets: dict) -> list[dict]:
    """The symbolic route table plan with subnet CIDRs and targets replaced by ids; routes to a missing target are left out."""
    resolved = []
    for table in route_tables:
        routes = []
        for route in table.get("routes") or []:
            target_id = targets.get(route["target"], "")
            if target_id:
                routes.append({"dest": route["dest"], _TARGET_OPTION[route["target"].split(":")[0]]: target_id})
        resolved.append({"tags": table["tags"], "routes": routes,
                         "subnets": [subnet_ids[cidr] for cidr in table.get("subnets") or [] if subnet_ids.get(cidr)]})
    return resolved


class NetworkPlan:
    """Reads a region's network (about ten reads) and reports which kinds differ, with the ids later tasks use."""

    def __init__(self, client, hub_client=None) -> None:
        self.client = client
        # An EC2 client in the hub's region, for a spoke's peering (None for the hub).
        self.hub_client = hub_client

    def compare(self, params: dict) -> dict:
        own = dict.fromkeys(NETWORK_KINDS, False)
        found = {"vpc_id": "", "subnets": [], "internet_gateway_id": "", "eip_by_az": {}, "nat_gateway_by_az": {},
                 "transit_gateway": {}, "transit_gateway_attachment_id": ""}
        vpc = VpcService(self.client).ensure(params["vpc"], check_mode=True)
        own["vpc"] = vpc["changed"]
        if not vpc["vpc"]:
            return {"own": own, "differs": _propagate(own, NETWORK_KINDS), **found}
        vpc_id = found["vpc_id"] = vpc["vpc"]["VpcId"]

        subnets = SubnetService(self.client).ensure({"vpc_id": vpc_id, "subnets": params["subnets"], "purge_tags": True},
                                                    check_mode=True)
        own["subnets"] = subnets["changed"]
        found["subnets"] = subnets["subnets"]
        subnet_ids = {subnet["cidr"]: subnet["subnet_id"] for subnet in subnets["subnets"]}

        own["gateways"] = self._gateways_differ(params, vpc_id, found)
        own["transit_gateway"] = self._transit_gateway_differs(params, vpc_id, subnet_ids, found)

        targets = {"internet_gateway": found["internet_gateway_id"],
                   "transit_gateway": found["transit_gateway"].get("transit_gateway_id", "")}
        targets.update({f"nat_gateway:{az}": nat_id for az, nat_id in found["nat_gateway_by_az"].items()})
        tables = RouteTableService(self.client).ensure(
            {"vpc_id": vpc_id, "purge_tags": True,
             "route_tables": resolve_route_tables(params["route_tables"], subnet_ids, targets)}, check_mode=True)
        own["route_tables"] = tables["changed"]
        if params.get("peering"):
            own["peering"] = self._peering_differs(params["peering"], found["transit_gateway"])
        return {"own": own, "differs": _propagate(own, NETWORK_KINDS), **found}

    def _peering_differs(self, wanted: dict, gateway: dict) -> bool:
        """The spoke's peering with the hub, accepted there, and the static routes on both sides, as peering.yml sets them."""
        hubs = call(self.hub_client, "describe_transit_gateways", "describe the hub's Transit Gateway by its tags",
                    Filters=_filters(wanted["hub_filters"])).get("TransitGateways", [])
        if len(hubs) != 1 or not gateway:
            return True
        hub = hubs[0]
        peering = TransitGatewayPeeringService(self.client, self.hub_client).ensure_present(
            {"transit_gateway_id": gateway["transit_gateway_id"], "peer_transit_gateway_id": hub["TransitGatewayId"],
             "tags": wanted["tags"], "purge_tags": True}, check_mode=True)
        attachment = peering["attachment"]
        if peering["changed"] or not attachment:
            return True
        attachment_id = attachment["TransitGatewayAttachmentId"]
        routes = [(self.client, gateway["association_default_route_table_id"], cidr) for cidr in wanted["peer_cidrs"]]
        routes.append((self.hub_client, (hub.get("Options") or {}).get("AssociationDefaultRouteTableId", ""), wanted["vpc_cidr"]))
        return any(TransitGatewayRouteService(client).ensure(
            {"route_table_id": table, "destination_cidr_block": cidr, "transit_gateway_attachment_id": attachment_id,
             "state": "present"}, check_mode=True)["changed"] for client, table, cidr in routes)

    def _gateways_differ(self, params: dict, vpc_id: str, found: dict) -> bool:
        gateways = params["gateways"]
        igws = call(self.client, "describe_internet_gateways", f"describe the internet gateways of {vpc_id}",
                    Filters=_filters({"attachment.vpc-id": vpc_id})).get("InternetGateways", [])
        differs = len(igws) != 1 or _tags_differ(igws[0].get("Tags", []), gateways["internet_gateway_tags"])
        if igws:
            found["internet_gateway_id"] = igws[0]["InternetGatewayId"]
        addresses = call(self.client, "describe_addresses", "describe the NAT gateways' Elastic IPs by their tags",
                         Filters=_filters(gateways["eip_filters"])).get("Addresses", [])
        found["eip_by_az"] = {boto3_tag_list_to_ansible_dict(address.get("Tags", [])).get("meridian:az"): address["AllocationId"]
                              for address in addresses}
        nats = call(self.client, "describe_nat_gateways", "describe the NAT gateways by their tags",
                    Filter=_filters(gateways["nat_gateway_filters"] | {"vpc-id": vpc_id})).get("NatGateways", [])
        found["nat_gateway_by_az"] = {boto3_tag_list_to_ansible_dict(nat.get("Tags", [])).get("meridian:az"): nat["NatGatewayId"]
                                      for nat in nats}
        nat_azs = set(gateways["nat_azs"])
        return differs or not nat_azs <= set(found["eip_by_az"]) or not nat_azs <= set(found["nat_gateway_by_az"])

    def _transit_gateway_differs(self, params: dict, vpc_id: str, subnet_ids: dict, found: dict) -> bool:
        wanted = params["transit_gateway"]
        gateways = call(self.client, "describe_transit_gateways", "describe the Transit Gateways by their tags",
                        Filters=_filters(wanted["filters"])).get("TransitGateways", [])
        if len(gateways) != 1:
            return True
        gateway = gateways[0]
        found["transit_gateway"] = {"transit_gateway_id": gateway["TransitGatewayId"],
                                    "association_default_route_table_id":
                                        (gateway.get("Options") or {}).get("AssociationDefaultRouteTableId", "")}
        differs = _tags_differ(gateway.get("Tags", []), wanted["tags"])
        attachments = call(self.client, "describe_transit_gateway_vpc_attachments", f"describe the VPC attachments of {vpc_id}",
                           Filters=_filters({"vpc-id": vpc_id, "transit-gateway-id": gateway["TransitGatewayId"],
                                             "state": ["pending", "available", "modifying"]})
                           ).get("TransitGatewayVpcAttachments", [])
        if len(attachments) != 1:
            return True
        attachment = attachments[0]
        found["transit_gateway_attachment_id"] = attachment["TransitGatewayAttachmentId"]
        wanted_subnets = {subnet_ids.get(cidr) for cidr in wanted["attachment_subnets"]}
        dns = "enable" if wanted["attachment_dns_support"] else "disable"
        return (differs or set(attachment.get("SubnetIds") or []) != wanted_subnets
                or (attachment.get("Options") or {}).get("DnsSupport") != dns
                or _tags_differ(attachment.get("Tags", []), wanted["attachment_tags"]))


def _nodegroup_differs(group: dict | None, wanted: dict) -> bool:
    """Every attribute the role's eks_nodegroup task sets; a missing group differs."""
    if group is None:
        return True
    scaling = group.get("scalingConfig") or {}
    return (scaling.get("minSize") != wanted["min_size"] or scaling.get("maxSize") != wanted["max_size"]
            or scaling.get("desiredSize") != wanted["desired_size"]
            or list(group.get("instanceTypes") or []) != list(wanted["instance_types"])
            or (wanted.get("disk_size") is not None and group.get("diskSize") != wanted["disk_size"])
            or group.get("nodeRole") != wanted["node_role"]
            or set(group.get("subnets") or []) != set(wanted["subnets"])
            or (group.get("labels") or {}) != wanted["labels"]
            or _tags_differ(group.get("tags") or {}, wanted["tags"])
            # AWS reports updateConfig (moto does not): then the module converges it and it must match too.
            or ("updateConfig" in group and group["updateConfig"].get("maxUnavailable") != wanted["max_unavailable"]))


class EksPlan:
    """Reads a region's EKS layer (about thirteen reads) and reports which kinds differ, with what later tasks use."""

    def __init__(self, iam, kms, ec2, eks) -> None:
        self.iam, self.kms, self.ec2, self.eks = iam, kms, ec2, eks

    def compare(self, params: dict) -> dict:
        own = dict.fromkeys(EKS_KINDS, False)
        roles = ServiceRoleService(self.iam).ensure(params["iam"], check_mode=True)
        own["iam"] = roles["changed"]
        key = AliasedKeyService(self.kms).ensure(params["kms"], check_mode=True)
        own["kms"] = key["changed"]
        subnets = call(self.ec2, "describe_subnets", "describe the private subnets by the network layer's tags",
                       Filters=_filters(params["private_subnet_filters"])).get("Subnets", [])
        found = {"roles": roles["roles"], "key_arn": (key["key"] or {}).get("Arn", ""),
                 "private_subnets": [{"subnet_id": subnet["SubnetId"], "cidr_block": subnet["CidrBlock"]} for subnet in subnets],
                 "cluster": {}, "nodegroups": []}
        role_arns = [role["arn"] for role in roles["roles"]]
        if not all(role_arns) or not found["key_arn"] or not subnets:
            own["cluster"] = True
            return {"own": own, "differs": _propagate(own, EKS_KINDS), **found}

        cluster_params = dict(params["cluster"], role_arn=role_arns[0], secrets_kms_key_arn=found["key_arn"],
                              subnets=[subnet["SubnetId"] for subnet in sorted(subnets, key=lambda subnet: subnet["CidrBlock"])])
        cluster = EksClusterService(self.eks).ensure_present(cluster_params, check_mode=True)
        own["cluster"] = cluster["changed"]
        found["cluster"] = cluster["cluster"] or {}
        if not cluster["cluster"]:
            return {"own": own, "differs": _propagate(own, EKS_KINDS), **found}

        groups = describe_nodegroups(self.eks, params["cluster"]["name"])
        found["nodegroups"] = groups
        by_name = {group["nodegroupName"]: group for group in groups}
        own["nodegroups"] = any(
            _nodegroup_differs(by_name.get(wanted["name"]),
                               dict(wanted, node_role=role_arns[1], subnets=cluster_params["subnets"]))
            for wanted in params["nodegroups"])

        issuer = ((cluster["cluster"].get("identity") or {}).get("oidc") or {}).get("issuer", "")
        oidc = OpenIdConnectProviderService(self.iam).ensure(dict(params["oidc"], url=issuer, state="present"), check_mode=True)
        own["oidc"] = oidc["changed"]
        return {"own": own, "differs": _propagate(own, EKS_KINDS), **found}


def missing_keys(params: dict, required: dict[str, tuple[str, ...]]) -> list[str]:
    """'<option> lacks <keys>' for each dict option without all its required keys."""
    return [f"{option} lacks {', '.join(missing)}" for option, keys in required.items()
            if (missing := [key for key in keys if key not in (params.get(option) or {})])]
