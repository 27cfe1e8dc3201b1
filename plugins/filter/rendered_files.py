# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``files_to_write``: the rendered files whose content differs from the file on the controller.

A role that renders many files with a template task per file pays a module run or two per file on every run. Rendered
on the controller instead (``lookup('template')``), the files go through this filter, and only the ones that differ
are written, by one looped copy task that skips entirely when nothing changed.
"""

from __future__ import annotations

import os


def files_to_write(rendered, directory):
    """The entries of ``rendered`` (each ``dest``, relative to ``directory``, and ``content``) whose file is missing
    or holds other content, in their order."""
    differing = []
    for entry in rendered or []:
        path = os.path.join(directory, entry["dest"])
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                current = handle.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, UnicodeDecodeError):
            current = None
        if current != entry["content"]:
            differing.append(entry)
    return differing


class FilterModule:
    """Rendered-file filters."""

    def filters(self):
        return {"files_to_write": files_to_write}
