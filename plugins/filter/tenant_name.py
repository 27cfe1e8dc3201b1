# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``tenant_name_problem``: why a tenant name is refused, for preflight failure messages."""

from __future__ import annotations

from ansible_collections.meridian.observability.plugins.module_utils._common.tenant_name import tenant_name_problem as _problem


def tenant_name_problem(name):
    """The problem with ``name`` and its fix as one sentence pair; an empty string when the name is usable."""
    problem = _problem(name)
    return str(problem) if problem else ""


class FilterModule:
    """Tenant-name filters."""

    def filters(self):
        return {"tenant_name_problem": tenant_name_problem}
