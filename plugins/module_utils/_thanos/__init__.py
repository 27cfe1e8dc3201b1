# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Thanos Receive tenant management: config formats, stores and the tenant service (plain Python, no AnsibleModule)."""
