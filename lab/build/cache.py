"""The build cache: where results live, the BUILD-OK stamp, and the per-version lock.

    ${MERIDIAN_LAB_CACHE:-~/.cache/meridian/lab}/<component>/<version>/
        src/          generated Go wrapper module (go.mod, go.sum, mains)
        bin/<binary>  built binaries (written atomically)
        build.log     output and progress of the last build attempt
        BUILD-OK      JSON stamp: seconds, cpu seconds, recipe hash, result paths
        .lock         flock held while a process builds this version
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pathlib
import shutil
import time
from typing import Callable, Iterator

from lab.build import deb, gomod_files
from lab.build.versions import REPO_ROOT, BuildError, component_spec
from lab.files import write_atomic

#: Bump this when the build logic changes in a way that should invalidate caches.
BUILDER_REV = 1

STAMP = "BUILD-OK"
LOCK = ".lock"


def cache_root() -> pathlib.Path:
    """$MERIDIAN_LAB_CACHE, or ~/.cache/meridian/lab."""
    override = os.environ.get("MERIDIAN_LAB_CACHE")
    return pathlib.Path(override).expanduser() if override else (
        pathlib.Path.home() / ".cache" / "meridian" / "lab")


def component_dir(component: str, versions: dict | None = None) -> pathlib.Path:
    """<cache>/<component>/<pinned version>/"""
    spec = component_spec(component, versions)
    return cache_root() / component / str(spec["version"])


def venv_dir() -> pathlib.Path:
    """The virtualenv that holds pip-provided binaries (the repo's .venv unless overridden)."""
    override = os.environ.get("MERIDIAN_LAB_VENV")
    return pathlib.Path(override).expanduser() if override else REPO_ROOT / ".venv"


def recipe_hash(spec: dict) -> str:
    """Hash of the versions.yml entry and the builder revision; BUILD-OK must match it."""
    blob = json.dumps({"rev": BUILDER_REV, "spec": spec}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def read_stamp(version_dir: pathlib.Path) -> dict | None:
    try:
        return json.loads((version_dir / STAMP).read_text())
    except (OSError, ValueError):
        return None


def write_stamp(version_dir: pathlib.Path, stamp: dict) -> None:
    write_atomic(version_dir / STAMP, json.dumps(stamp, indent=2, sort_keys=True) + "\n")


def remove_stamp(version_dir: pathlib.Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (version_dir / STAMP).unlink()


def last_build(component: str, version_dir: pathlib.Path) -> dict | None:
    """The stamp of the last finished build: this version's, else the newest of another version.

    Used only to tell the user how long a build took last time; a version bump still
    has the previous version's time to go by.
    """
    stamp = read_stamp(version_dir)
    if stamp:
        return stamp
    others = [read_stamp(sibling) for sibling in version_dir.parent.glob("*") if sibling != version_dir]
    others = [s for s in others if s and s.get("component") == component and "seconds" in s]
    return max(others, key=lambda s: s.get("built_at", ""), default=None)


def expected_result(spec: dict, version_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    """Where a finished build of ``spec`` puts its results (derived, not stored)."""
    kind = spec.get("kind")
    if kind == "go":
        return {name: version_dir / "bin" / name for name in spec["binaries"]}
    if kind == "maven":
        return {"keycloak_home": version_dir / f"keycloak-{spec['version']}",
                "java_home": pathlib.Path(spec["java_home"])}
    if kind == "pip":
        return {spec["binary"]: venv_dir() / "bin" / spec["binary"]}
    if kind == "gomod-files":
        return gomod_files.result_paths(spec, version_dir)
    if kind == "deb":
        return deb.result_paths(spec, version_dir)
    raise BuildError(f"unknown kind {kind!r}")


def cached_result(spec: dict, version_dir: pathlib.Path) -> dict[str, pathlib.Path] | None:
    """The result paths if BUILD-OK matches the recipe and every path exists."""
    stamp = read_stamp(version_dir)
    if not stamp or stamp.get("recipe") != recipe_hash(spec):
        return None
    result = expected_result(spec, version_dir)
    for key, path in result.items():
        if key.endswith("_home"):
            if not path.is_dir():
                return None
        elif key.endswith("_file"):  # data, not a program
            if not path.is_file():
                return None
        elif key.endswith("_dir"):  # a directory of data files, never empty
            if not path.is_dir() or not any(path.iterdir()):
                return None
        elif not (path.is_file() and os.access(path, os.X_OK)):
            return None
    if spec.get("kind") == "pip":
        # The binary lives in a venv, which can be reinstalled or be another one.
        binary = result[spec["binary"]]
        if stamp.get("checked") != [str(binary), binary.stat().st_mtime_ns]:
            return None
    return result


def remove_stale_temp(version_dir: pathlib.Path) -> None:
    """Temp dirs an interrupted build left behind (only called while holding the lock)."""
    for stale in version_dir.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def locked(version_dir: pathlib.Path, *, on_wait: Callable[[float], None] | None = None,
           report_every: float = 30.0, poll: float = 1.0) -> Iterator[None]:
    """Hold the version's build lock; while another process holds it, call ``on_wait(seconds)``.

    ``on_wait`` runs once when the wait starts and then every ``report_every`` seconds,
    so a second `make lab-build` says why it is quiet instead of hanging silently.
    """
    version_dir.mkdir(parents=True, exist_ok=True)
    with open(version_dir / LOCK, "w") as handle:
        started = time.monotonic()
        reported = None
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if on_wait and (reported is None or waited - reported >= report_every):
                    on_wait(waited)
                    reported = waited
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
