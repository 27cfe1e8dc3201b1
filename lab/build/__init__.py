"""Reproducible, cached builds of the local lab's server binaries.

Every version is pinned in lab/versions.yml. Results are cached outside the
repository, keyed by component and version (see lab/build/cache.py for the
layout). Keycloak is unpacked to <cache>/keycloak/<version>/keycloak-<version>/.
OpenBao and Envoy are not built: pinned PyPI wheels provide ``bao`` and ``envoy`` in the
repo's .venv. The Istio, Gatekeeper, Cilium and Argo CD CRDs are files copied from their Go
modules. Redis is Debian's, unpacked from pinned packages.

    versions.py   versions.yml, build order, BuildError
    cache.py      cache paths, BUILD-OK stamps, the per-version lock
    progress.py   build.log, numbered step lines and heartbeats
    go.py         Go wrapper modules and `go build`
    maven.py      the Keycloak distribution
    pip.py        the OpenBao wheel's `bao`, the Envoy wheel's `envoy`
    gomod_files.py  files from a Go module (the Istio, Gatekeeper, Cilium and Argo CD CRDs)
    deb.py        Debian packages unpacked into the cache (Redis)
    __main__.py   the command line: python -m lab.build [--optional] [--force] [component ...]

Python API (used by the lab runtime)::

    load_versions() -> dict
    ensure_built(component, *, log=print) -> dict[str, pathlib.Path]
    build_info(component) -> dict | None      # the BUILD-OK stamp
    COMPONENTS                                # build order

Only the standard library and PyYAML are used. No host names are configured
here: Go, Maven and pip use their own default settings.
"""

from __future__ import annotations

import datetime
import pathlib
import time

from lab.build import cache, deb, go, gomod_files, maven, pip
from lab.build.cache import BUILDER_REV, STAMP, cache_root, component_dir
from lab.build.progress import BuildLog, Log, Progress, cpu_children
from lab.build.versions import (
    COMPONENTS,
    VERSIONS_FILE,
    BuildError,
    component_spec,
    load_versions,
    optional_components,
)

__all__ = [
    "BUILDER_REV", "COMPONENTS", "STAMP", "VERSIONS_FILE", "BuildError", "build_info",
    "cache_root", "component_dir", "ensure_built", "is_cached", "last_build_seconds",
    "load_versions", "optional_components",
]

#: kind in versions.yml -> the module with steps(spec) and build(...).
BUILDERS = {"go": go, "maven": maven, "pip": pip, "gomod-files": gomod_files, "deb": deb}


def last_build_seconds(component: str, versions: dict | None = None) -> float | None:
    """Wall seconds of the last finished build of ``component`` (any version), if known."""
    stamp = cache.last_build(component, component_dir(component, versions))
    return stamp.get("seconds") if stamp else None


def ensure_built(component: str, *, log: Log = print, force: bool = False,
                 versions: dict | None = None) -> dict[str, pathlib.Path]:
    """Return the binaries of ``component``, building them first if needed.

    This is a no-op when BUILD-OK is present, matches the current versions.yml
    entry, and every listed path exists. Progress lines go to ``log`` and to
    <cache>/<component>/<version>/build.log. Raises BuildError on failure; the
    details are in that build.log.
    """
    versions = versions or load_versions()
    spec = component_spec(component, versions)
    version_dir = cache_root() / component / str(spec["version"])
    if not force:
        cached = cache.cached_result(spec, version_dir)
        if cached is not None:
            return cached

    kind = spec.get("kind")
    builder = BUILDERS.get(kind)
    if builder is None:
        raise BuildError(f"{component}: unknown kind {kind!r}")
    last_seconds = last_build_seconds(component, versions)  # before the stamp is removed

    def waiting(seconds: float) -> None:
        log(f"{component}: waiting for another process building it to finish "
            f"({seconds:.0f} s so far; lock {version_dir / cache.LOCK})")

    with cache.locked(version_dir, on_wait=waiting):
        if not force:  # another process may have finished it while we waited
            cached = cache.cached_result(spec, version_dir)
            if cached is not None:
                return cached
        cache.remove_stale_temp(version_dir)
        cache.remove_stamp(version_dir)
        if kind == "go":
            go.check_toolchain(versions, spec)
        build_log = BuildLog(version_dir / "build.log")
        build_log.note(f"building {component} {spec['version']} "
                       f"(recipe {cache.recipe_hash(spec)})")
        progress = Progress(component, builder.steps(spec), log=log, build_log=build_log,
                            last_seconds=last_seconds)
        started, cpu_before = time.monotonic(), cpu_children()
        try:
            result = builder.build(component, spec, version_dir, build_log, progress)
        except BuildError as exc:
            exc.log_path = exc.log_path or build_log.path
            build_log.note(f"FAILED: {exc}")
            raise
        except Exception as exc:  # keep the log useful for unexpected errors
            build_log.note(f"FAILED: {type(exc).__name__}: {exc}")
            raise BuildError(f"{component}: {type(exc).__name__}: {exc}",
                             build_log.path) from exc
        finally:
            seconds = round(time.monotonic() - started, 1)
            cpu = round(cpu_children() - cpu_before, 1)
            build_log.note(f"finished in {seconds} s wall, {cpu} s child cpu")
            build_log.close()

        stamp = {
            "component": component,
            "version": str(spec["version"]),
            "recipe": cache.recipe_hash(spec),
            "seconds": seconds,
            "cpu_seconds": cpu,
            "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "result": {key: str(path) for key, path in result.items()},
        }
        if kind == "go":
            stamp["go"] = go.go_version(go.go_env(spec))
        if kind == "pip":
            binary = result[spec["binary"]]
            stamp["checked"] = [str(binary), binary.stat().st_mtime_ns]
        cache.write_stamp(version_dir, stamp)
        return result


def build_info(component: str) -> dict | None:
    """The BUILD-OK stamp of the pinned version of ``component``, if any."""
    return cache.read_stamp(component_dir(component))


def is_cached(component: str, versions: dict | None = None) -> bool:
    """Whether ensure_built(component) would return without building."""
    spec = component_spec(component, versions)
    return cache.cached_result(spec, component_dir(component, versions)) is not None
