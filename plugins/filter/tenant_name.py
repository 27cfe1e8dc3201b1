# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters ``tenant_name_problem`` and ``tenant_record_problems``: why tenants are refused, for preflight messages."""

from __future__ import annotations

from ansible_collections.meridian.observability.plugins.module_utils._common.tenant_name import tenant_name_problem as _problem


def tenant_name_problem(name):
    """The problem with ``name`` and its fix as one sentence pair; an empty string when the name is usable."""
    problem = _problem(name)
    return str(problem) if problem else ""


NO_REGIONS = "it lists no regions. Fix: list the regions the tenant lives in."


def tenant_record_problems(tenants):
    """One sentence per tenant record whose name is unusable or that lists no regions, in the list's order.

    A preflight asserts the result is empty in one task: a loop over the tenants costs Ansible a task run per tenant.
    """
    problems = []
    for tenant in tenants if isinstance(tenants, (list, tuple)) else []:
        record = tenant if isinstance(tenant, dict) else {}
        name = record.get("name")
        regions = record.get("regions")
        problem = tenant_name_problem(name)
        if not problem and (not isinstance(regions, (list, tuple)) or not regions):
            problem = NO_REGIONS
        if problem:
            shown = name if isinstance(name, str) and name else "(no name)"
            problems.append(f"tenant {shown} is invalid: {problem}")
    return problems


class FilterModule:
    """Tenant-name filters."""

    def filters(self):
        return {"tenant_name_problem": tenant_name_problem, "tenant_record_problems": tenant_record_problems}
