# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CIDR planning filters: the same plan the topology inventory computes, usable in templates and tests."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.meridian.observability.plugins.module_utils._topology import cidr
from ansible_collections.meridian.observability.plugins.module_utils._topology.errors import TopologyError


def cidr_plan(supernet, index, azs, region_prefix=16):
    """VPC and per-AZ subnets of region block ``index`` inside ``supernet``."""
    try:
        for position, letter in enumerate(azs):
            if letter not in cidr.AZ_LETTERS:
                raise TopologyError(f"azs[{position}]", f"{letter!r} is not an AZ letter the plan has room for (a..h).",
                                    "Use letters a to h.")
        return cidr.region_plan(supernet, int(region_prefix), int(index), azs)
    except TopologyError as err:
        raise AnsibleFilterError(f"cidr_plan: {err}") from None


def cidr_overlaps(ranges, others=None):
    """Overlapping pairs among ``ranges`` (and against ``others`` when given).

    Each input is a list of CIDR strings or of mappings with ``name`` and ``cidr``.
    Returns a list of ``{left, left_cidr, right, right_cidr}``; empty when nothing overlaps.
    """
    def named(entries, label):
        result = []
        for position, entry in enumerate(entries or []):
            if isinstance(entry, dict):
                if "cidr" not in entry:
                    raise AnsibleFilterError(f"cidr_overlaps: {label}[{position}] has no 'cidr' key.")
                result.append((str(entry.get("name", f"{label}[{position}]")), str(entry["cidr"])))
            else:
                result.append((f"{label}[{position}]", str(entry)))
        return result

    left = named(ranges, "ranges")
    right = named(others, "others") if others is not None else None
    try:
        if right is None:
            pairs = cidr.overlapping_pairs(left)
        else:
            pairs = [pair for pair in cidr.overlapping_pairs(left + right)
                     if (pair[0], pair[1]) in left and (pair[2], pair[3]) in right]
    except ValueError as err:
        raise AnsibleFilterError(f"cidr_overlaps: {err}") from None
    return [{"left": a, "left_cidr": b, "right": c, "right_cidr": d} for a, b, c, d in pairs]


class FilterModule:
    """CIDR planning filters."""

    def filters(self):
        return {"cidr_plan": cidr_plan, "cidr_overlaps": cidr_overlaps}
