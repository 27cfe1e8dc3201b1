"""The names and tags the AWS layer gives a region's resources, read from the topology inventory as the roles read them.

Tests find "our" resources with these instead of rebuilding ``meridian-<env>-<region>`` or the tag set by hand.
"""

from __future__ import annotations

import json

from tests.support.ansible import run_ansible


def region_vars(inventory: str, region: str) -> dict:
    """The inventory's variables of one region host (``ansible-inventory --host``)."""
    return json.loads(run_ansible("ansible-inventory", "-i", inventory, "--host", region).stdout)


def tag_filters(tags: dict[str, str]) -> list[dict]:
    """EC2 ``Filters`` that match resources carrying every one of ``tags``."""
    return [{"Name": f"tag:{key}", "Values": [value]} for key, value in sorted(tags.items())]
