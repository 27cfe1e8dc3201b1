"""Files taken from a Go module (the Istio CRDs): `go mod download`, then a copy into the cache.

Nothing is compiled. The module is fetched into the default Go module cache, and the
files that versions.yml lists are copied to <cache>/<component>/<version>/files/ so the
lab reads them from one stable path whatever GOMODCACHE is.
"""

from __future__ import annotations

import json
import os
import pathlib

from lab.build.progress import BuildLog, Progress
from lab.build.versions import BuildError
from lab.files import write_atomic


def steps(spec: dict) -> list[str]:
    """The steps build() announces, in order."""
    return [f"go mod download {spec['module']}@{spec['version']}",
            f"copy {len(spec['files'])} file(s) into the cache"]


def result_paths(spec: dict, version_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    """Where the copied files live: result key (ends in _file) -> path."""
    return {key: version_dir / "files" / pathlib.PurePosixPath(source).name
            for key, source in spec["files"].items()}


def build(component: str, spec: dict, version_dir: pathlib.Path, build_log: BuildLog,
          progress: Progress) -> dict[str, pathlib.Path]:
    """Download the module and copy the listed files; return their cached paths."""
    planned = steps(spec)
    target = f"{spec['module']}@{spec['version']}"
    progress.step(planned[0])
    # GOFLAGS cleared: a -mod flag from the environment makes `go mod download` refuse outside a module.
    returncode, stdout = build_log.run(["go", "mod", "download", "-json", target], cwd=version_dir,
                                       env=_env(), capture=True, heartbeat=progress.heartbeat)
    try:
        info = json.loads(stdout or "{}")
    except ValueError:
        info = {}
    if returncode != 0 or info.get("Error") or not info.get("Dir"):
        build_log.write(stdout)
        raise BuildError(f"go mod download {target} failed: {info.get('Error', 'see the log')}",
                         build_log.path)
    module_dir = pathlib.Path(info["Dir"])
    progress.step(planned[1])
    result = result_paths(spec, version_dir)
    for key, source in spec["files"].items():
        source_path = module_dir / source
        if not source_path.is_file():
            raise BuildError(f"{target} has no file {source}", build_log.path)
        write_atomic(result[key], source_path.read_bytes())
        progress.info(f"{source} -> {result[key]} ({source_path.stat().st_size} bytes)")
    return result


def _env() -> dict:
    return {**os.environ, "GOFLAGS": "", "GOWORK": "off", "GOTOOLCHAIN": "local"}
