"""Files taken from a Go module (Istio, Gatekeeper and Cilium CRDs): `go mod download`, then a copy.

Nothing is compiled. The module is fetched into the default Go module cache, and what
versions.yml lists is copied to <cache>/<component>/<version>/files/ so the lab reads it
from one stable path whatever GOMODCACHE is:

    files:        {<key>_file: <path in the module>}  -> files/<file name>
    directories:  {<key>_dir: <directory in the module>} -> files/<key>/ with every
                  regular file of that directory (not recursive)
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

from lab.build.progress import BuildLog, Progress
from lab.build.versions import BuildError
from lab.files import write_atomic


def steps(spec: dict) -> list[str]:
    """The steps build() announces, in order."""
    copies = [f"{len(spec.get('files') or {})} file(s)"] if spec.get("files") else []
    copies += [f"{source}/" for source in (spec.get("directories") or {}).values()]
    return [f"go mod download {spec['module']}@{spec['version']}",
            f"copy {' and '.join(copies)} into the cache"]


def result_paths(spec: dict, version_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    """Where the copies live: result key (ends in _file or _dir) -> path."""
    paths = {key: version_dir / "files" / pathlib.PurePosixPath(source).name
             for key, source in (spec.get("files") or {}).items()}
    paths.update({key: version_dir / "files" / key for key in (spec.get("directories") or {})})
    return paths


def build(component: str, spec: dict, version_dir: pathlib.Path, build_log: BuildLog,
          progress: Progress) -> dict[str, pathlib.Path]:
    """Download the module and copy the listed files; return their cached paths."""
    planned = steps(spec)
    target = f"{spec['module']}@{spec['version']}"
    progress.step(planned[0])
    # GOFLAGS cleared: a -mod flag from the environment makes `go mod download` refuse outside a module.
    returncode, stdout = build_log.run(["go", "mod", "download", "-json", target], cwd=version_dir,
                                       env=_env(spec), capture=True, heartbeat=progress.heartbeat)
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
    for key, source in (spec.get("files") or {}).items():
        source_path = module_dir / source
        if not source_path.is_file():
            raise BuildError(f"{target} has no file {source}", build_log.path)
        write_atomic(result[key], source_path.read_bytes())
        progress.info(f"{source} -> {result[key]} ({source_path.stat().st_size} bytes)")
    for key, source in (spec.get("directories") or {}).items():
        sources = sorted(path for path in (module_dir / source).glob("*") if path.is_file())
        if not sources:
            raise BuildError(f"{target} has no directory {source} with files in it", build_log.path)
        # A file the module no longer ships must not linger from an earlier version of the copy.
        if result[key].is_dir():
            shutil.rmtree(result[key])
        result[key].mkdir(parents=True)
        for source_path in sources:
            write_atomic(result[key] / source_path.name, source_path.read_bytes())
        progress.info(f"{source}/ -> {result[key]} ({len(sources)} files)")
    return result


def _env(spec: dict) -> dict:
    # `go mod download` refuses a module whose go.mod needs a newer Go than the toolchain's (Argo CD's
    # go 1.27.0), so a component may pin the toolchain as Go components do.
    return {**os.environ, "GOFLAGS": "", "GOWORK": "off", "GOTOOLCHAIN": spec.get("toolchain") or "local"}
