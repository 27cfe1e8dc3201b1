"""OpenBao: not built; the pinned wheel in the repo's .venv provides `bao`, which is checked here."""

from __future__ import annotations

import pathlib

from lab.build.cache import venv_dir
from lab.build.progress import BuildLog, Progress, check_version
from lab.build.versions import BuildError


def steps(spec: dict) -> list[str]:
    """The steps build() announces, in order."""
    return [f"locate .venv/bin/{spec['binary']} (pip install if missing)",
            f"{spec['binary']} {' '.join((spec.get('version_check') or {}).get('args', []))}".strip()]


def build(component: str, spec: dict, version_dir: pathlib.Path, build_log: BuildLog,
          progress: Progress) -> dict[str, pathlib.Path]:
    """Return the venv's binary, installing the pinned package first if it is missing."""
    planned = steps(spec)
    venv = venv_dir()
    binary = venv / "bin" / spec["binary"]
    pin = f"{spec['package']}=={spec['version']}"
    progress.step(planned[0])
    if not binary.exists():
        pip = venv / "bin" / "pip"
        if not pip.exists():
            raise BuildError(f"{binary} missing and no pip in {venv}", build_log.path)
        progress.info(f"pip install {pin}")
        build_log.run_checked([str(pip), "install", "--disable-pip-version-check", pin],
                              heartbeat=progress.heartbeat)
    progress.step(planned[1])
    check = spec.get("version_check") or {}
    if check:
        line = check_version(build_log, [str(binary), *check["args"]], check["expect"])
        progress.info(line)
    return {spec["binary"]: binary}
