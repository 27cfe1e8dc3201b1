"""Reproducible, cached builds of the local lab's server binaries.

Every version is pinned in lab/versions.yml. The results are cached outside the
repository, keyed by component and version:

    ${MERIDIAN_LAB_CACHE:-~/.cache/meridian/lab}/<component>/<version>/
        src/          generated Go wrapper module (go.mod, go.sum, mains)
        bin/<binary>  built binaries (written atomically)
        build.log     output of the last build attempt
        BUILD-OK      JSON stamp: seconds, cpu seconds, recipe hash, binaries

Keycloak is unpacked to <cache>/keycloak/<version>/keycloak-<version>/. OpenBao
is not built: the pinned PyPI wheel provides ``bao`` in the repo's .venv.

Python API (used by the lab runtime and the Makefile)::

    load_versions() -> dict
    ensure_built(component, *, log=print) -> dict[str, pathlib.Path]
    COMPONENTS  # build order

CLI::

    python -m lab.build [--optional] [--force] [component ...]

Only the standard library and PyYAML are used. No host names are configured
here: Go, Maven and pip use their own default settings.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import pathlib
import re
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Callable, Iterator

LAB_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = LAB_DIR.parent
VERSIONS_FILE = LAB_DIR / "versions.yml"

#: Build order: longest first, so a cold `python -m lab.build` starts with it.
COMPONENTS = ["kubernetes", "etcd", "thanos", "prometheus", "keycloak", "openbao"]

#: Bump this when the build logic changes in a way that should invalidate caches.
BUILDER_REV = 1

STAMP = "BUILD-OK"

Log = Callable[[str], None]


class BuildError(RuntimeError):
    """A component could not be built or verified. ``log_path`` holds details."""

    def __init__(self, message: str, log_path: pathlib.Path | None = None):
        super().__init__(message)
        self.log_path = log_path

    def log_tail(self, lines: int = 25) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


# --------------------------------------------------------------------------- #
# versions and cache paths
# --------------------------------------------------------------------------- #

def load_versions(path: pathlib.Path | str | None = None) -> dict:
    """Parse lab/versions.yml and return it as a dict."""
    import yaml  # PyYAML; imported lazily so `import lab.build` never fails

    p = pathlib.Path(path) if path else VERSIONS_FILE
    with open(p, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict) or "components" not in data:
        raise BuildError(f"{p}: no 'components' mapping")
    return data


def optional_components(versions: dict | None = None) -> list[str]:
    versions = versions or load_versions()
    return [c for c in (versions.get("optional_components") or [])
            if c in versions["components"]]


def cache_root() -> pathlib.Path:
    env = os.environ.get("MERIDIAN_LAB_CACHE")
    root = pathlib.Path(env).expanduser() if env else (
        pathlib.Path.home() / ".cache" / "meridian" / "lab")
    return root


def component_dir(component: str, versions: dict | None = None) -> pathlib.Path:
    spec = _spec(component, versions)
    return cache_root() / component / str(spec["version"])


def _spec(component: str, versions: dict | None = None) -> dict:
    versions = versions or load_versions()
    try:
        return versions["components"][component]
    except KeyError:
        known = ", ".join(versions["components"])
        raise BuildError(f"unknown component {component!r} (known: {known})") from None


def _recipe_hash(spec: dict) -> str:
    blob = json.dumps({"rev": BUILDER_REV, "spec": spec}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read_stamp(vdir: pathlib.Path) -> dict | None:
    try:
        return json.loads((vdir / STAMP).read_text())
    except (OSError, ValueError):
        return None


def _write_atomic(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_stamp(vdir: pathlib.Path, stamp: dict) -> None:
    _write_atomic(vdir / STAMP, json.dumps(stamp, indent=2, sort_keys=True) + "\n")


def _expected_result(spec: dict, vdir: pathlib.Path) -> dict[str, pathlib.Path]:
    """Where a finished build of ``spec`` puts its results (derived, not stored)."""
    kind = spec.get("kind")
    if kind == "go":
        return {name: vdir / "bin" / name for name in spec["binaries"]}
    if kind == "maven":
        return {"keycloak_home": vdir / f"keycloak-{spec['version']}",
                "java_home": pathlib.Path(spec["java_home"])}
    if kind == "pip":
        return {spec["binary"]: _venv_dir() / "bin" / spec["binary"]}
    raise BuildError(f"unknown kind {kind!r}")


def _cached_result(component: str, spec: dict, vdir: pathlib.Path) -> dict | None:
    """The result paths if BUILD-OK matches the recipe and every path exists."""
    stamp = _read_stamp(vdir)
    if not stamp or stamp.get("recipe") != _recipe_hash(spec):
        return None
    result = _expected_result(spec, vdir)
    for key, p in result.items():
        if key.endswith("_home"):
            if not p.is_dir():
                return None
        elif not (p.is_file() and os.access(p, os.X_OK)):
            return None
    if spec.get("kind") == "pip":
        # The binary lives in a venv, which can be reinstalled or be another one.
        b = result[spec["binary"]]
        if stamp.get("checked") != [str(b), b.stat().st_mtime_ns]:
            return None
    return result


@contextlib.contextmanager
def _locked(vdir: pathlib.Path) -> Iterator[None]:
    vdir.mkdir(parents=True, exist_ok=True)
    with open(vdir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class _BuildLog:
    """Appends command output to build.log; runs commands with it as stdout."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self.fh = open(path, "w", encoding="utf-8")

    def note(self, msg: str) -> None:
        ts = datetime.datetime.now().strftime("%H:%M:%S")
        self.fh.write(f"[{ts}] {msg}\n")
        self.fh.flush()

    def run(self, cmd: list[str], *, cwd: pathlib.Path | None = None,
            env: dict | None = None, check: bool = True) -> int:
        self.note("$ " + " ".join(cmd) + (f"   (in {cwd})" if cwd else ""))
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=self.fh,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.fh.flush()
        if check and proc.returncode != 0:
            raise BuildError(f"command failed ({proc.returncode}): {' '.join(cmd[:3])} ...",
                             self.path)
        return proc.returncode

    def close(self) -> None:
        self.fh.close()


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _check_version(blog: _BuildLog, cmd: list[str], expect: str,
                   env: dict | None = None, timeout: int = 120) -> str:
    blog.note("$ " + " ".join(cmd))
    try:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        blog.note(f"version check failed: {exc}")
        raise BuildError(f"{cmd[0]}: version check failed: {exc}", blog.path) from None
    blog.fh.write(proc.stdout)
    blog.fh.flush()
    if proc.returncode != 0 or expect not in proc.stdout:
        raise BuildError(
            f"{pathlib.Path(cmd[0]).name} {' '.join(cmd[1:])}: expected {expect!r}, "
            f"got rc={proc.returncode}", blog.path)
    return proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""


# --------------------------------------------------------------------------- #
# Go wrapper modules
# --------------------------------------------------------------------------- #

def _go_env(spec: dict) -> dict:
    env = dict(os.environ)
    flags = env.get("GOFLAGS", "").split()
    flags = [f for f in flags if not f.startswith("-mod=")]
    for f in ("-mod=mod", "-buildvcs=false"):
        if f not in flags:
            flags.append(f)
    env["GOFLAGS"] = " ".join(flags)
    env["CGO_ENABLED"] = "1" if spec.get("cgo") else "0"
    env["GOTOOLCHAIN"] = "local"
    env["GOWORK"] = "off"
    return env


def _go_directives(gomod_text: str) -> dict[str, list[str]]:
    """Split a go.mod into directive -> list of single-line bodies.

    Handles both `verb body` and `verb ( ... )` block forms, strips comments.
    """
    out: dict[str, list[str]] = {}
    block: str | None = None
    for raw in gomod_text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block:
            if line == ")":
                block = None
            else:
                out.setdefault(block, []).append(line)
            continue
        verb, _, rest = line.partition(" ")
        rest = rest.strip()
        if rest == "(":
            block = verb
        else:
            out.setdefault(verb, []).append(rest)
    return out


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def _upstream_gomod(blog: _BuildLog, env: dict, mod: str, version: str,
                    workdir: pathlib.Path) -> str:
    """Download module@version (to the default module cache) and return its go.mod."""
    blog.note(f"$ go mod download -json {mod}@{version}")
    proc = subprocess.run(["go", "mod", "download", "-json", f"{mod}@{version}"],
                          cwd=workdir, env={**env, "GOFLAGS": ""},
                          stdout=subprocess.PIPE, stderr=blog.fh, text=True)
    if proc.returncode != 0:
        blog.fh.write(proc.stdout)
        raise BuildError(f"go mod download {mod}@{version} failed", blog.path)
    info = json.loads(proc.stdout)
    if info.get("Error"):
        raise BuildError(f"go mod download {mod}@{version}: {info['Error']}", blog.path)
    return pathlib.Path(info["GoMod"]).read_text()


def _wrapper_gomod(component: str, spec: dict, upstreams: dict[str, tuple[str, str]]) -> str:
    """Render the wrapper go.mod.

    ``upstreams`` maps module path -> (version, upstream go.mod text).
    """
    go_version = "1.24.0"  # `tool` directives need >= 1.24
    godebug: list[str] = []
    excludes: list[str] = []
    replaces: dict[str, str] = {}
    staging = spec.get("staging_version")
    for mod, (_, text) in upstreams.items():
        d = _go_directives(text)
        for gv in d.get("go", []):
            if _version_tuple(gv) > _version_tuple(go_version):
                go_version = gv
        for g in d.get("godebug", []):
            if g not in godebug:
                godebug.append(g)
        for e in d.get("exclude", []):
            if e not in excludes:
                excludes.append(e)
        for r in d.get("replace", []):
            lhs, _, rhs = (s.strip() for s in r.partition("=>"))
            target = rhs.split()[0]
            if target.startswith(("./", "../", "/")):
                m = re.fullmatch(r"\./staging/src/(\S+)", target)
                if m:
                    if not staging:
                        raise BuildError(f"{component}: {mod} has staging replaces "
                                         "but versions.yml sets no staging_version")
                    replaces[lhs] = f"{m.group(1)} {staging}"
                # sibling-module and FORBIDDEN_DEPENDENCY replaces are dropped:
                # the published siblings are required at the same version.
                continue
            replaces[lhs] = rhs

    requires = {spec["module"]: spec["version"], **(spec.get("extra_requires") or {})}
    tools = [pkg for pkg in spec["binaries"].values() if not pkg.startswith("./")]

    lines = [
        f"// Generated by lab/build.py for {component} {spec['version']}. Do not edit.",
        f"module meridian.lab/wrapper/{component}",
        "",
        f"go {go_version}",
        "",
    ]
    lines += [f"godebug {g}" for g in godebug]
    if godebug:
        lines.append("")
    lines.append("require (")
    lines += [f"\t{m} {v}" for m, v in requires.items()]
    lines += [")", ""]
    if tools:
        lines.append("tool (")
        lines += [f"\t{t}" for t in tools]
        lines += [")", ""]
    if excludes:
        lines.append("exclude (")
        lines += [f"\t{e}" for e in excludes]
        lines += [")", ""]
    if replaces:
        lines.append("replace (")
        lines += [f"\t{lhs} => {rhs}" for lhs, rhs in replaces.items()]
        lines += [")", ""]
    return "\n".join(lines)


def _generated_main(import_path: str) -> str:
    pkg = import_path.rstrip("/").rsplit("/", 1)[-1]
    return (
        "// Generated by lab/build.py. Do not edit.\n"
        "package main\n\n"
        "import (\n\t\"os\"\n\n"
        f"\t\"{import_path}\"\n)\n\n"
        f"func main() {{\n\t{pkg}.Main(os.Args)\n}}\n"
    )


def _check_go_version(versions: dict) -> None:
    want = str((versions.get("toolchain") or {}).get("go_min") or "")
    if not shutil.which("go"):
        raise BuildError("`go` is not on PATH")
    have = subprocess.run(["go", "env", "GOVERSION"], text=True,
                          stdout=subprocess.PIPE).stdout.strip()
    if want and _version_tuple(have) < _version_tuple(want):
        raise BuildError(f"{have} is older than go {want} (toolchain.go_min in "
                         "lab/versions.yml); install a newer Go")


def _build_go(component: str, spec: dict, vdir: pathlib.Path, blog: _BuildLog,
              log: Log) -> dict[str, pathlib.Path]:
    if not shutil.which("go"):
        raise BuildError("`go` is not on PATH", blog.path)
    env = _go_env(spec)
    src = vdir / "src"
    src.mkdir(parents=True, exist_ok=True)

    # 1. wrapper module
    upstreams: dict[str, tuple[str, str]] = {}
    for mod, ver in {spec["module"]: spec["version"],
                     **(spec.get("extra_requires") or {})}.items():
        upstreams[mod] = (ver, _upstream_gomod(blog, env, mod, ver, vdir))
    gomod = _wrapper_gomod(component, spec, upstreams)
    (src / "go.mod").write_text(gomod)
    blog.note("wrapper go.mod:\n" + gomod)
    for name, import_path in (spec.get("generated_mains") or {}).items():
        mdir = src / "cmd" / name
        mdir.mkdir(parents=True, exist_ok=True)
        (mdir / "main.go").write_text(_generated_main(import_path))
    blog.run(["go", "mod", "tidy"], cwd=src, env=env)

    # 2. build every binary into a temp dir next to bin/
    ldflags = ["-s", "-w"] + [f"-X {k}={v}" for k, v in (spec.get("ldflags_x") or {}).items()]
    tags = ",".join(spec.get("tags") or [])
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=".tmp-", dir=vdir))
    try:
        for name, pkg in spec["binaries"].items():
            log(f"  {component}: go build {name} ...")
            cmd = ["go", "build", "-trimpath", "-ldflags", " ".join(ldflags)]
            if tags:
                cmd += ["-tags", tags]
            cmd += ["-o", str(tmp / name), pkg]
            blog.run(cmd, cwd=src, env=env)

        # 3. verify before anything becomes visible
        checks = spec.get("version_check") or {}
        for name, check in checks.items():
            line = _check_version(blog, [str(tmp / name), *check["args"]], check["expect"])
            log(f"  {component}: {name}: {line}")

        # 4. publish
        bindir = vdir / "bin"
        bindir.mkdir(exist_ok=True)
        result = {}
        for name in spec["binaries"]:
            os.replace(tmp / name, bindir / name)
            result[name] = bindir / name
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- #
# Keycloak (Maven) and OpenBao (pip)
# --------------------------------------------------------------------------- #

def _build_maven_dist(component: str, spec: dict, vdir: pathlib.Path,
                      blog: _BuildLog, log: Log) -> dict[str, pathlib.Path]:
    version = str(spec["version"])
    java_home = pathlib.Path(spec["java_home"])
    if not (java_home / "bin" / "java").exists():
        raise BuildError(f"java_home {java_home} has no bin/java", blog.path)
    if not shutil.which("mvn"):
        raise BuildError("`mvn` is not on PATH", blog.path)
    env = {**os.environ, "JAVA_HOME": str(java_home)}
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=".tmp-", dir=vdir))
    try:
        dl = tmp / "download"
        log(f"  {component}: mvn dependency:copy {spec['artifact']} ...")
        blog.run(["mvn", "-B", "-q", "dependency:copy",
                  f"-Dartifact={spec['artifact']}", f"-DoutputDirectory={dl}"],
                 cwd=tmp, env=env)
        archives = list(dl.iterdir())
        if len(archives) != 1:
            raise BuildError(f"expected one archive in {dl}, got {archives}", blog.path)
        unpack = tmp / "unpack"
        blog.note(f"unpacking {archives[0].name}")
        with tarfile.open(archives[0]) as tf:
            tf.extractall(unpack, filter="tar")
        top = unpack / f"keycloak-{version}"
        if not (top / "bin" / "kc.sh").exists():
            raise BuildError(f"{archives[0].name} has no keycloak-{version}/bin/kc.sh",
                             blog.path)
        check = spec.get("version_check") or {}
        if check:
            line = _check_version(blog, [str(top / "bin" / "kc.sh"), *check["args"]],
                                  check["expect"], env=env)
            log(f"  {component}: {line}")
        home = vdir / f"keycloak-{version}"
        if home.exists():
            shutil.rmtree(home)
        os.replace(top, home)
        return {"keycloak_home": home, "java_home": java_home}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _venv_dir() -> pathlib.Path:
    env = os.environ.get("MERIDIAN_LAB_VENV")
    return pathlib.Path(env).expanduser() if env else REPO_ROOT / ".venv"


def _locate_pip_binary(component: str, spec: dict, vdir: pathlib.Path,
                       blog: _BuildLog, log: Log) -> dict[str, pathlib.Path]:
    venv = _venv_dir()
    binary = venv / "bin" / spec["binary"]
    pin = f"{spec['package']}=={spec['version']}"
    if not binary.exists():
        pip = venv / "bin" / "pip"
        if not pip.exists():
            raise BuildError(f"{binary} missing and no pip in {venv}", blog.path)
        log(f"  {component}: pip install {pin} ...")
        blog.run([str(pip), "install", "--disable-pip-version-check", pin])
    check = spec.get("version_check") or {}
    if check:
        line = _check_version(blog, [str(binary), *check["args"]], check["expect"])
        log(f"  {component}: {line}")
    return {spec["binary"]: binary}


_BUILDERS = {
    "go": _build_go,
    "maven": _build_maven_dist,
    "pip": _locate_pip_binary,
}


# --------------------------------------------------------------------------- #
# public API
# --------------------------------------------------------------------------- #

def ensure_built(component: str, *, log: Log = print, force: bool = False,
                 versions: dict | None = None) -> dict[str, pathlib.Path]:
    """Return the binaries of ``component``, building them first if needed.

    This is a no-op when BUILD-OK is present, matches the current versions.yml
    entry, and every listed path exists. Raises BuildError on failure; the
    details are in <cache>/<component>/<version>/build.log.
    """
    versions = versions or load_versions()
    spec = _spec(component, versions)
    vdir = cache_root() / component / str(spec["version"])
    if not force:
        cached = _cached_result(component, spec, vdir)
        if cached is not None:
            return cached

    with _locked(vdir):
        if not force:  # another process may have finished it while we waited
            cached = _cached_result(component, spec, vdir)
            if cached is not None:
                return cached
        for stale in vdir.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (vdir / STAMP).unlink()

        kind = spec.get("kind")
        builder = _BUILDERS.get(kind)
        if builder is None:
            raise BuildError(f"{component}: unknown kind {kind!r}")
        if kind == "go":
            _check_go_version(versions)
        blog = _BuildLog(vdir / "build.log")
        blog.note(f"building {component} {spec['version']} (recipe {_recipe_hash(spec)})")
        t0, c0 = time.monotonic(), _cpu_children()
        try:
            result = builder(component, spec, vdir, blog, log)
        except BuildError as exc:
            exc.log_path = exc.log_path or blog.path
            blog.note(f"FAILED: {exc}")
            raise
        except Exception as exc:  # keep the log useful for unexpected errors
            blog.note(f"FAILED: {type(exc).__name__}: {exc}")
            raise BuildError(f"{component}: {type(exc).__name__}: {exc}", blog.path) from exc
        finally:
            seconds = round(time.monotonic() - t0, 1)
            cpu = round(_cpu_children() - c0, 1)
            blog.note(f"finished in {seconds} s wall, {cpu} s child cpu")
            blog.close()

        stamp = {
            "component": component,
            "version": str(spec["version"]),
            "recipe": _recipe_hash(spec),
            "seconds": seconds,
            "cpu_seconds": cpu,
            "built_at": datetime.datetime.now(datetime.timezone.utc)
                        .isoformat(timespec="seconds"),
            "result": {k: str(v) for k, v in result.items()},
        }
        if kind == "go":
            stamp["go"] = subprocess.run(["go", "env", "GOVERSION"], text=True,
                                         stdout=subprocess.PIPE).stdout.strip()
        if kind == "pip":
            b = result[spec["binary"]]
            stamp["checked"] = [str(b), b.stat().st_mtime_ns]
        _write_stamp(vdir, stamp)
        return result


def build_info(component: str) -> dict | None:
    """The BUILD-OK stamp of the pinned version of ``component``, if any."""
    return _read_stamp(component_dir(component))


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m lab.build",
                                 description="Build or locate the lab's pinned binaries.")
    ap.add_argument("components", nargs="*",
                    help=f"default: all of {', '.join(COMPONENTS)}")
    ap.add_argument("--optional", action="store_true",
                    help="also build optional_components from versions.yml")
    ap.add_argument("--force", action="store_true", help="rebuild even if cached")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)

    def _on_term(signum, frame):  # let finally-blocks remove temp dirs and kill children
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, _on_term)

    versions = load_versions()
    names = args.components or list(COMPONENTS)
    if args.optional:
        names += [c for c in optional_components(versions) if c not in names]
    progress: Log = (lambda _msg: None) if args.quiet else (
        lambda msg: print(msg, file=sys.stderr, flush=True))

    failed = 0
    for name in names:
        version = versions["components"].get(name, {}).get("version", "?")
        try:
            spec = _spec(name, versions)
            vdir = cache_root() / name / str(spec["version"])
            cached = None if args.force else _cached_result(name, spec, vdir)
            if cached is not None:
                print(f"{name} {version}: cached  "
                      + " ".join(f"{k}={v}" for k, v in cached.items()), flush=True)
                continue
            t0 = time.monotonic()
            result = ensure_built(name, log=progress, force=args.force, versions=versions)
            took = time.monotonic() - t0
            print(f"{name} {version}: built in {took:.0f} s  "
                  + " ".join(f"{k}={v}" for k, v in result.items()), flush=True)
        except BuildError as exc:
            failed += 1
            print(f"{name} {version}: FAILED: {exc}", flush=True)
            tail = exc.log_tail()
            if tail:
                print(f"--- last lines of {exc.log_path} ---\n{tail}\n---", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; nothing half-built was left marked as built", file=sys.stderr)
        sys.exit(130)
