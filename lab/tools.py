"""Where a cached lab binary is: `python -m lab tool-path <binary>` and `lab.tool_path(name)`.

Tests and tools (gator, opa, cyclonus, promtool, bao, ...) find the lab's pinned binaries here.
Nothing is built: a binary whose component is not in the build cache is an error that says to
run `make lab-build`, so a test never starts a 6-minute build by surprise.
"""

from __future__ import annotations

import os
from pathlib import Path

from lab.services.base import LabError

# Result keys that are data, not programs (see lab/build/cache.py).
_DATA_SUFFIXES = ("_file", "_dir", "_home")


def _binary_names(spec: dict) -> list[str]:
    kind = spec.get("kind")
    if kind in ("go", "deb"):
        return list(spec["binaries"])
    if kind == "pip":
        return [spec["binary"]]
    return []


def tool_path(name: str) -> Path:
    """The absolute path of the cached lab binary ``name``; LabError when it is unknown or not built.

    MERIDIAN_LAB_BINARY_<NAME> (e.g. MERIDIAN_LAB_BINARY_GATOR) points at another build, as for the servers.
    """
    from lab import build
    from lab.build import cache

    if not name or name.endswith(_DATA_SUFFIXES):
        raise LabError(f"{name!r} is not a lab binary")
    versions = build.load_versions()
    owners = {binary: component for component, spec in versions["components"].items()
              for binary in _binary_names(spec)}
    component = owners.get(name)
    if component is None:
        raise LabError(f"{name!r} is not a lab binary; known: {', '.join(sorted(owners))}")
    override = os.environ.get("MERIDIAN_LAB_BINARY_" + name.upper().replace("-", "_"))
    if override:
        return Path(override).resolve()
    spec = versions["components"][component]
    cached = cache.cached_result(spec, build.component_dir(component, versions))
    if cached is None:
        raise LabError(f"{name} ({component} {spec['version']}) is not in the lab build cache "
                       f"{build.cache_root()}: run make lab-build")
    return Path(cached[name]).resolve()
