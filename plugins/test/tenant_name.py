# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja test ``tenant_name``: the platform's tenant-name rule for role preflights and playbooks."""

from __future__ import annotations

from ansible_collections.meridian.observability.plugins.module_utils._common.tenant_name import is_tenant_name


class TestModule:
    """Tenant-name tests."""

    def tests(self):
        return {"tenant_name": is_tenant_name}
