"""Keycloak: the pinned quarkus distribution fetched with Maven, unpacked and version-checked."""

from __future__ import annotations

import os
import pathlib
import shutil
import tarfile
import tempfile

from lab.build.progress import BuildLog, Progress, check_version
from lab.build.versions import BuildError


def steps(spec: dict) -> list[str]:
    """The steps build() announces, in order."""
    return [f"mvn dependency:copy {spec['artifact']}", "unpack", "kc.sh --version", "install"]


def build(component: str, spec: dict, version_dir: pathlib.Path, build_log: BuildLog,
          progress: Progress) -> dict[str, pathlib.Path]:
    """Fetch and unpack the distribution; return keycloak_home and java_home."""
    version = str(spec["version"])
    java_home = pathlib.Path(spec["java_home"])
    if not (java_home / "bin" / "java").exists():
        raise BuildError(f"java_home {java_home} has no bin/java", build_log.path)
    if not shutil.which("mvn"):
        raise BuildError("`mvn` is not on PATH", build_log.path)
    env = {**os.environ, "JAVA_HOME": str(java_home)}
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=".tmp-", dir=version_dir))
    try:
        download = tmp / "download"
        progress.step(f"mvn dependency:copy {spec['artifact']}")
        build_log.run_checked(["mvn", "-B", "-q", "dependency:copy",
                               f"-Dartifact={spec['artifact']}", f"-DoutputDirectory={download}"],
                              cwd=tmp, env=env, heartbeat=progress.heartbeat)
        archives = list(download.iterdir())
        if len(archives) != 1:
            raise BuildError(f"expected one archive in {download}, got {archives}", build_log.path)

        progress.step("unpack")
        unpack = tmp / "unpack"
        with tarfile.open(archives[0]) as archive:
            archive.extractall(unpack, filter="tar")
        top = unpack / f"keycloak-{version}"
        if not (top / "bin" / "kc.sh").exists():
            raise BuildError(f"{archives[0].name} has no keycloak-{version}/bin/kc.sh",
                             build_log.path)

        progress.step("kc.sh --version")
        check = spec.get("version_check") or {}
        if check:
            line = check_version(build_log, [str(top / "bin" / "kc.sh"), *check["args"]],
                                 check["expect"], env=env)
            progress.info(line)

        progress.step("install")
        home = version_dir / f"keycloak-{version}"
        if home.exists():
            shutil.rmtree(home)
        os.replace(top, home)
        return {"keycloak_home": home, "java_home": java_home}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
