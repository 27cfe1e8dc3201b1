# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deterministic, stable address planning for regions and availability zones.

Every allocation is addressed by an explicit index that the topology owns: a
region's ``index`` picks its VPC block inside the supernet and an AZ's letter
picks its slot inside each subnet tier. Nothing is allocated "next free", so
adding a region or an AZ can never move an existing allocation.

Layout of one VPC of prefix ``p`` (``p`` at most /22 so the smallest subnet
stays usable):

* private: the first half of the VPC (``p+1``), cut into 8 AZ slots (``p+4``)
* public:  the next eighth (``p+3``), cut into 8 AZ slots (``p+6``)
* intra:   the eighth after that (``p+3``), 8 AZ slots (``p+6``), used for
  Transit Gateway attachments and other non-routable interfaces
* the last quarter stays unallocated for later tiers.
"""

from __future__ import annotations

import ipaddress
import string
from typing import Iterable

from .errors import TopologyError

AZ_LETTERS = string.ascii_lowercase[:8]
MAX_AZS = len(AZ_LETTERS)
MAX_VPC_PREFIX = 22
SUBNET_TIERS = ("private", "public", "intra")

# tier -> (offset of the tier block in units of VPC/8, prefix added to the VPC's for the block)
_TIER_BLOCKS = {
    "private": (0, 1),
    "public": (4, 3),
    "intra": (5, 3),
}
_AZ_SLOT_BITS = 3  # 8 AZ slots per tier


def parse_network(value: str, field: str) -> ipaddress.IPv4Network:
    """Parse a CIDR strictly (host bits must be zero) or raise a TopologyError naming ``field``."""
    if not isinstance(value, str):
        raise TopologyError(field, f"expected a CIDR string such as '10.64.0.0/12', got {value!r}.",
                            "Quote the CIDR in YAML and write it as address/prefix.")
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        raise TopologyError(field, f"{value!r} is not a valid network CIDR ({err}).",
                            "Write the network address with its prefix, host bits zero, e.g. '10.64.0.0/12'.") from None
    if network.version != 4:
        raise TopologyError(field, f"{value!r} is IPv6; the plan allocates IPv4 VPCs.", "Use an IPv4 supernet.")
    return network


def region_capacity(supernet: ipaddress.IPv4Network, region_prefix: int) -> int:
    """How many region VPCs of ``region_prefix`` fit in ``supernet``."""
    if region_prefix < supernet.prefixlen:
        return 0
    return 2 ** (region_prefix - supernet.prefixlen)


def vpc_cidr(supernet: ipaddress.IPv4Network, region_prefix: int, index: int) -> ipaddress.IPv4Network:
    """The VPC block number ``index`` of size ``region_prefix`` inside ``supernet``."""
    capacity = region_capacity(supernet, region_prefix)
    if not 0 <= index < capacity:
        raise TopologyError(
            "index", f"region index {index} does not fit: {supernet} holds {capacity} /{region_prefix} VPCs (indices 0..{capacity - 1}).",
            "Pick a free index in that range, or widen network.supernet / lengthen network.region_prefix.")
    size = 2 ** (32 - region_prefix)
    return ipaddress.ip_network((int(supernet.network_address) + index * size, region_prefix))


def az_index(letter: str) -> int:
    """Slot of an AZ letter: 'a' is 0, 'h' is 7."""
    return AZ_LETTERS.index(letter)


def subnet_cidr(vpc: ipaddress.IPv4Network, tier: str, letter: str) -> ipaddress.IPv4Network:
    """The subnet of ``tier`` for AZ ``letter`` inside ``vpc``."""
    block_offset, block_bits = _TIER_BLOCKS[tier]
    eighth = 2 ** (32 - vpc.prefixlen - 3)
    block_start = int(vpc.network_address) + block_offset * eighth
    slot_prefix = vpc.prefixlen + block_bits + _AZ_SLOT_BITS
    slot_size = 2 ** (32 - slot_prefix)
    return ipaddress.ip_network((block_start + az_index(letter) * slot_size, slot_prefix))


def region_plan(supernet: str, region_prefix: int, index: int, azs: Iterable[str]) -> dict:
    """The CIDR plan of one region: its VPC and one subnet per tier and AZ, all as strings."""
    network = parse_network(supernet, "network.supernet")
    vpc = vpc_cidr(network, region_prefix, index)
    letters = sorted(azs, key=az_index)
    return {
        "vpc_cidr": str(vpc),
        "azs": letters,
        "subnets": {
            tier: {letter: str(subnet_cidr(vpc, tier, letter)) for letter in letters}
            for tier in SUBNET_TIERS
        },
    }


def overlapping_pairs(named_cidrs: Iterable[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """Every pair of (name, cidr) entries whose networks overlap, in input order."""
    parsed = [(name, cidr, ipaddress.ip_network(cidr, strict=False)) for name, cidr in named_cidrs]
    pairs = []
    for position, (name, cidr, network) in enumerate(parsed):
        for other_name, other_cidr, other in parsed[position + 1:]:
            if network.version == other.version and network.overlaps(other):
                pairs.append((name, cidr, other_name, other_cidr))
    return pairs
