"""The local lab: real servers on 127.0.0.1 standing in for AWS, EKS, Vault, Keycloak,
Thanos and Prometheus. See lab/README.md; run `python -m lab up`."""

from __future__ import annotations

from pathlib import Path

__all__ = ["tool_path"]


def tool_path(name: str) -> Path:
    """The absolute path of a cached lab binary (gator, opa, promtool, ...); LabError when it is not built.

    Imported lazily so `import lab` (and `python -m lab.build`) stays free of the services' imports.
    """
    from lab.tools import tool_path as _tool_path

    return _tool_path(name)
