# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors raised while reading, validating and planning a topology."""

from __future__ import annotations


class TopologyError(Exception):
    """A topology that cannot be used; names the offending field and the fix."""

    def __init__(self, field: str, problem: str, fix: str = "") -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        message = f"{field}: {problem}"
        if fix:
            message += f" Fix: {fix}"
        super().__init__(message)


class TopologyErrors(TopologyError):
    """Several problems found in one pass, reported together so one run shows them all."""

    def __init__(self, errors: list[TopologyError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.field, first.problem, first.fix)
        self.args = ("\n".join(str(error) for error in errors),)

    def __str__(self) -> str:
        return self.args[0]
