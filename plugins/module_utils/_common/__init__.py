# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules every layer shares (the inventory plugin, the modules, the test and filter plugins)."""
