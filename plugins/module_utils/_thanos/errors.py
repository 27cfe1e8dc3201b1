# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors for the Thanos tenant layers; only a module's main() turns them into fail_json."""

from __future__ import annotations


class ThanosError(Exception):
    """Base error. ``details`` are extra, JSON-safe fields for the module result."""

    def __init__(self, message: str, **details) -> None:
        super().__init__(message)
        self.details = details


class ThanosConfigError(ThanosError):
    """A hashrings or limits document (or a requested change) that Thanos would not accept."""


class ThanosStoreError(ThanosError):
    """The store could not be read or written (I/O, API server, permissions)."""


class ThanosNotManagedError(ThanosStoreError):
    """The ConfigMap exists but is not marked as managed by this collection."""


class ThanosConflictError(ThanosStoreError):
    """Someone else changed the store between our read and our write."""


class ThanosMissingLibraryError(ThanosError):
    """A Python library the chosen store needs is not installed."""

    def __init__(self, library: str, exception: str) -> None:
        super().__init__(f"the {library} Python library is required for this store", library=library)
        self.library = library
        self.exception = exception
