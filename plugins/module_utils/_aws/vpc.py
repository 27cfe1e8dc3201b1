# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VPC's subnets and route tables, each kind converged in one call from one describe of the whole VPC.

amazon.aws converges one subnet or one route table per task, reading it (and its tags) several times each; a
region's network has six subnets and four route tables, so a no-change run spent about 60 reads on them. Here
one DescribeSubnets or DescribeRouteTables call (filtered by VPC, tags included) is the whole read, and only what
differs is written.
"""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from .common import call
from .common import tag_changes

# Route targets the route tables here use, in the order EC2 reports them.
ROUTE_TARGETS = ("gateway_id", "nat_gateway_id", "transit_gateway_id")
_API_TARGET = {"gateway_id": "GatewayId", "nat_gateway_id": "NatGatewayId", "transit_gateway_id": "TransitGatewayId"}


def _sync_tags(client, resource_id: str, current: dict, desired: dict | None, purge: bool, check_mode: bool) -> bool:
    to_set, to_remove = tag_changes(current, desired, purge)
    if not to_set and not to_remove:
        return False
    if not check_mode:
        if to_remove:
            call(client, "delete_tags", f"untag {resource_id}", Resources=[resource_id],
                 Tags=[{"Key": key} for key in to_remove])
        if to_set:
            call(client, "create_tags", f"tag {resource_id}", Resources=[resource_id],
                 Tags=ansible_dict_to_boto3_tag_list(to_set))
    return True


class SubnetService:
    """Ensures a VPC's subnets: each identified by its CIDR, in its AZ, with its tags and public-IP mapping.

    Subnets of the VPC that are not listed are left alone (another owner's, or a tier that was removed: deleting
    a subnet is destroy.yml's job). A listed CIDR in another AZ is refused: a subnet cannot move.
    """

    def __init__(self, client) -> None:
        self.client = client

    def describe(self, vpc_id: str) -> dict[str, dict]:
        """The VPC's subnets by CIDR (one call)."""
        found = call(self.client, "describe_subnets", f"describe the subnets of {vpc_id}",
                     Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        return {subnet["CidrBlock"]: subnet for subnet in found.get("Subnets", [])}

    def ensure(self, params: dict, check_mode: bool) -> dict:
        vpc_id, purge = params["vpc_id"], params.get("purge_tags", True)
        current = self.describe(vpc_id)
        for wanted in params["subnets"]:
            existing = current.get(wanted["cidr"])
            if existing and existing["AvailabilityZone"] != wanted["az"]:
                raise AnsibleAWSError(message=(
                    f"Subnet {existing['SubnetId']} ({wanted['cidr']}) is in {existing['AvailabilityZone']}, not "
                    f"{wanted['az']}; a subnet cannot move. Fix the CIDR plan or destroy the region first."))
        changed, results, before, after = False, [], {}, {}
        for wanted in params["subnets"]:
            cidr, tags, map_public = wanted["cidr"], wanted.get("tags") or {}, bool(wanted.get("map_public"))
            existing = current.get(cidr)
            after[cidr] = {"az": wanted["az"], "map_public": map_public, "tags": tags}
            if existing is None:
                changed = True
                if check_mode:
                    results.append({"cidr": cidr, "subnet_id": "", "az": wanted["az"]})
                    continue
                existing = call(self.client, "create_subnet", f"create subnet {cidr}", VpcId=vpc_id, CidrBlock=cidr,
                                AvailabilityZone=wanted["az"],
                                TagSpecifications=[{"ResourceType": "subnet", "Tags": ansible_dict_to_boto3_tag_list(tags)}]
                                )["Subnet"]
                existing["MapPublicIpOnLaunch"] = False
                existing.setdefault("Tags", ansible_dict_to_boto3_tag_list(tags))
            else:
                current_tags = boto3_tag_list_to_ansible_dict(existing.get("Tags", []))
                before[cidr] = {"az": existing["AvailabilityZone"], "map_public": bool(existing.get("MapPublicIpOnLaunch")),
                                "tags": current_tags}
                changed |= _sync_tags(self.client, existing["SubnetId"], current_tags, tags, purge, check_mode)
            if bool(existing.get("MapPublicIpOnLaunch")) != map_public:
                changed = True
                if not check_mode:
                    call(self.client, "modify_subnet_attribute", f"set public IP mapping of {existing['SubnetId']}",
                         SubnetId=existing["SubnetId"], MapPublicIpOnLaunch={"Value": map_public})
            results.append({"cidr": cidr, "subnet_id": existing["SubnetId"], "az": existing["AvailabilityZone"]})
        return {"changed": changed, "subnets": results, "diff": {"before": before, "after": after}}


def _route_key(route: dict) -> str:
    return route.get("DestinationCidrBlock", "")


def _route_target(route: dict) -> tuple[str, str] | None:
    """(target option, id) of a route as EC2 reports it; None for a route this service does not manage."""
    for option in ROUTE_TARGETS:
        value = route.get(_API_TARGET[option])
        if value:
            return None if value == "local" else (option, value)
    return None


class RouteTableService:
    """Ensures a VPC's route tables, each found by its Name tag: tags, routes and associated subnets.

    Routes EC2 adds itself (local, propagated) are never touched. With purge, routes and subnet associations that
    are not listed are removed. A subnet associated with another table of the VPC is moved to the listed one.
    """

    def __init__(self, client) -> None:
        self.client = client

    def describe(self, vpc_id: str) -> list[dict]:
        found = call(self.client, "describe_route_tables", f"describe the route tables of {vpc_id}",
                     Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        return found.get("RouteTables", [])

    def ensure(self, params: dict, check_mode: bool) -> dict:
        vpc_id, purge_tags = params["vpc_id"], params.get("purge_tags", True)
        tables = self.describe(vpc_id)
        by_name = {}
        for table in tables:
            name = boto3_tag_list_to_ansible_dict(table.get("Tags", [])).get("Name")
            if name:
                by_name.setdefault(name, []).append(table)
        # Which table holds each subnet now (the main table's implicit associations are not listed).
        association_of = {association["SubnetId"]: association["RouteTableAssociationId"]
                          for table in tables for association in table.get("Associations", [])
                          if association.get("SubnetId") and not association.get("Main")}
        # A subnet listed for one table is never purged from another: it is moved there instead.
        claimed = {subnet_id for wanted in params["route_tables"] for subnet_id in wanted["subnets"]}
        changed, results, before, after = False, [], {}, {}
        for wanted in params["route_tables"]:
            name = wanted["tags"].get("Name")
            if not name:
                raise AnsibleAWSError(message="Every route table needs a Name tag: it is how the table is found again.")
            matches = by_name.get(name, [])
            if len(matches) > 1:
                raise AnsibleAWSError(message=(
                    f"{len(matches)} route tables in {vpc_id} are named {name} "
                    f"({', '.join(table['RouteTableId'] for table in matches)}); delete the extra ones."))
            table = matches[0] if matches else None
            after[name] = {"tags": wanted["tags"], "subnets": sorted(wanted["subnets"]),
                           "routes": {route["dest"]: _desired_target(route) for route in wanted["routes"]}}
            if table is None:
                changed = True
                if check_mode:
                    results.append({"name": name, "route_table_id": ""})
                    continue
                table = call(self.client, "create_route_table", f"create route table {name}", VpcId=vpc_id,
                             TagSpecifications=[{"ResourceType": "route-table",
                                                 "Tags": ansible_dict_to_boto3_tag_list(wanted["tags"])}])["RouteTable"]
                table.setdefault("Tags", ansible_dict_to_boto3_tag_list(wanted["tags"]))
            else:
                current_tags = boto3_tag_list_to_ansible_dict(table.get("Tags", []))
                before[name] = {"tags": current_tags,
                                "subnets": sorted(a["SubnetId"] for a in table.get("Associations", []) if a.get("SubnetId")),
                                "routes": {_route_key(route): _route_target(route)[1] for route in table.get("Routes", [])
                                           if _route_target(route) and route.get("Origin", "CreateRoute") == "CreateRoute"}}
                changed |= _sync_tags(self.client, table["RouteTableId"], current_tags, wanted["tags"], purge_tags, check_mode)
            changed |= self._sync_routes(table, wanted, check_mode)
            changed |= self._sync_associations(table, wanted, association_of, claimed, check_mode)
            results.append({"name": name, "route_table_id": table["RouteTableId"]})
        return {"changed": changed, "route_tables": results, "diff": {"before": before, "after": after}}

    def _sync_routes(self, table: dict, wanted: dict, check_mode: bool) -> bool:
        table_id = table["RouteTableId"]
        current = {_route_key(route): _route_target(route) for route in table.get("Routes", [])
                   if _route_target(route) and route.get("Origin", "CreateRoute") == "CreateRoute"}
        changed = False
        for route in wanted["routes"]:
            option, target = next((key, route[key]) for key in ROUTE_TARGETS if route.get(key))
            existing = current.pop(route["dest"], None)
            if existing == (option, target):
                continue
            changed = True
            if not check_mode:
                operation = "replace_route" if existing else "create_route"
                call(self.client, operation, f"route {route['dest']} to {target} in {table_id}",
                     RouteTableId=table_id, DestinationCidrBlock=route["dest"], **{_API_TARGET[option]: target})
        if wanted.get("purge_routes", True):
            for destination in sorted(current):
                changed = True
                if not check_mode:
                    call(self.client, "delete_route", f"delete route {destination} in {table_id}",
                         RouteTableId=table_id, DestinationCidrBlock=destination)
        return changed

    def _sync_associations(self, table: dict, wanted: dict, association_of: dict, claimed: set, check_mode: bool) -> bool:
        table_id = table["RouteTableId"]
        mine = {a["SubnetId"]: a["RouteTableAssociationId"] for a in table.get("Associations", [])
                if a.get("SubnetId") and not a.get("Main")}
        changed = False
        for subnet_id in wanted["subnets"]:
            if subnet_id in mine:
                continue
            changed = True
            if check_mode:
                continue
            if subnet_id in association_of:  # held by another table of the VPC: move it
                call(self.client, "replace_route_table_association", f"move {subnet_id} to {table_id}",
                     AssociationId=association_of[subnet_id], RouteTableId=table_id)
            else:
                call(self.client, "associate_route_table", f"associate {subnet_id} with {table_id}",
                     RouteTableId=table_id, SubnetId=subnet_id)
        if wanted.get("purge_subnets", True):
            for subnet_id in sorted(set(mine) - claimed):
                changed = True
                if not check_mode:
                    call(self.client, "disassociate_route_table", f"disassociate {subnet_id} from {table_id}",
                         AssociationId=mine[subnet_id])
        return changed


def _desired_target(route: dict) -> str:
    return next(route[key] for key in ROUTE_TARGETS if route.get(key))


class VpcService:
    """Ensures the one VPC that carries the given tags: its CIDR, DNS attributes and tags.

    The VPC is found by tag filters (one DescribeVpcs call, tags included); each DNS attribute costs one
    DescribeVpcAttribute read, as EC2 reports them one at a time. Several VPCs with the tags, or one with another
    CIDR, are refused: a region's CIDR never moves.
    """

    def __init__(self, client) -> None:
        self.client = client

    def find(self, filters: dict) -> list[dict]:
        found = call(self.client, "describe_vpcs", "describe the VPCs by their tags",
                     Filters=[{"Name": key, "Values": value if isinstance(value, list) else [value]}
                              for key, value in sorted(filters.items())])
        return found.get("Vpcs", [])

    def _attribute(self, vpc_id: str, attribute: str) -> bool:
        answer = call(self.client, "describe_vpc_attribute", f"read {attribute} of {vpc_id}", VpcId=vpc_id, Attribute=attribute)
        return bool(answer[attribute[0].upper() + attribute[1:]]["Value"])

    def ensure(self, params: dict, check_mode: bool) -> dict:
        cidr, tags, purge = params["cidr_block"], params.get("tags") or {}, params.get("purge_tags", True)
        wanted = {"cidr_block": cidr, "dns_support": params["dns_support"], "dns_hostnames": params["dns_hostnames"], "tags": tags}
        found = self.find(params["filters"])
        if len(found) > 1 or any(vpc["CidrBlock"] != cidr for vpc in found):
            raise AnsibleAWSError(message=(
                f"{[vpc['VpcId'] for vpc in found]} ({[vpc['CidrBlock'] for vpc in found]}) found by the tags "
                f"{params['filters']} do not match the plan's single VPC {cidr}. A region's CIDR never moves: fix the "
                "topology (index, supernet) or destroy the region first."))
        if not found:
            if check_mode:
                return {"changed": True, "vpc": None, "diff": {"before": {}, "after": wanted}}
            vpc = call(self.client, "create_vpc", f"create the VPC {cidr}", CidrBlock=cidr,
                       TagSpecifications=[{"ResourceType": "vpc", "Tags": ansible_dict_to_boto3_tag_list(tags)}])["Vpc"]
            # EC2 applies one attribute per call; new VPCs have DNS support on and hostnames off.
            current = {"enableDnsSupport": True, "enableDnsHostnames": False}
            before, changed = {}, True
            vpc.setdefault("Tags", ansible_dict_to_boto3_tag_list(tags))
        else:
            vpc = found[0]
            current = {attribute: self._attribute(vpc["VpcId"], attribute) for attribute in ("enableDnsSupport", "enableDnsHostnames")}
            current_tags = boto3_tag_list_to_ansible_dict(vpc.get("Tags", []))
            before = {"cidr_block": vpc["CidrBlock"], "dns_support": current["enableDnsSupport"],
                      "dns_hostnames": current["enableDnsHostnames"], "tags": current_tags}
            changed = _sync_tags(self.client, vpc["VpcId"], current_tags, tags, purge, check_mode)
            if not purge:
                wanted["tags"] = current_tags | tags
        for attribute, option in (("enableDnsSupport", "dns_support"), ("enableDnsHostnames", "dns_hostnames")):
            if current[attribute] != params[option]:
                changed = True
                if not check_mode:
                    call(self.client, "modify_vpc_attribute", f"set {attribute} of {vpc['VpcId']}",
                         VpcId=vpc["VpcId"], **{attribute[0].upper() + attribute[1:]: {"Value": params[option]}})
        return {"changed": changed, "vpc": vpc, "diff": {"before": before, "after": wanted}}
