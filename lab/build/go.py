"""Go components: a generated wrapper module per component, then `go build` of each binary.

The wrapper requires the upstream module at the pinned version and copies the upstream
go.mod's `godebug`, `exclude` and non-local `replace` lines (lab/versions.yml explains
the rules). Binaries are built into a temp dir, version-checked, then renamed into bin/.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

from lab.build.progress import BuildLog, Progress, check_version
from lab.build.versions import BuildError
from lab.files import write_atomic


def go_env(spec: dict) -> dict:
    """The environment of every go command: module mode, no VCS stamping, the pinned toolchain.

    GOTOOLCHAIN is `local` unless the component pins one (``toolchain: go1.27.3``): a module
    whose go.mod needs a newer Go than the machine's (Argo CD: go 1.27.0) then builds with that
    toolchain, which the go command fetches through the module proxy like any module.
    """
    env = dict(os.environ)
    flags = [flag for flag in env.get("GOFLAGS", "").split() if not flag.startswith("-mod=")]
    for flag in ("-mod=mod", "-buildvcs=false"):
        if flag not in flags:
            flags.append(flag)
    env["GOFLAGS"] = " ".join(flags)
    env["CGO_ENABLED"] = "1" if spec.get("cgo") else "0"
    env["GOTOOLCHAIN"] = spec.get("toolchain") or "local"
    env["GOWORK"] = "off"
    return env


def go_directives(gomod_text: str) -> dict[str, list[str]]:
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


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def upstream_gomod(build_log: BuildLog, progress: Progress, env: dict, module: str,
                   version: str, workdir: pathlib.Path) -> str:
    """Download module@version (to the default module cache) and return its go.mod."""
    returncode, stdout = build_log.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"], cwd=workdir,
        env={**env, "GOFLAGS": ""}, capture=True, heartbeat=progress.heartbeat)
    if returncode != 0:
        build_log.write(stdout)
        raise BuildError(f"go mod download {module}@{version} failed", build_log.path)
    info = json.loads(stdout)
    if info.get("Error"):
        raise BuildError(f"go mod download {module}@{version}: {info['Error']}", build_log.path)
    return pathlib.Path(info["GoMod"]).read_text()


def wrapper_gomod(component: str, spec: dict, upstreams: dict[str, tuple[str, str]]) -> str:
    """Render the wrapper go.mod.

    ``upstreams`` maps module path -> (version, upstream go.mod text).
    """
    go_version = "1.24.0"  # `tool` directives need >= 1.24
    godebug: list[str] = []
    excludes: list[str] = []
    replaces: dict[str, str] = {}
    staging = spec.get("staging_version")
    for module, (_, text) in upstreams.items():
        directives = go_directives(text)
        for declared in directives.get("go", []):
            if version_tuple(declared) > version_tuple(go_version):
                go_version = declared
        for setting in directives.get("godebug", []):
            if setting not in godebug:
                godebug.append(setting)
        for exclude in directives.get("exclude", []):
            if exclude not in excludes:
                excludes.append(exclude)
        for replace in directives.get("replace", []):
            lhs, _, rhs = (part.strip() for part in replace.partition("=>"))
            target = rhs.split()[0]
            if target.startswith(("./", "../", "/")):
                staged = re.fullmatch(r"\./staging/src/(\S+)", target)
                if staged:
                    if not staging:
                        raise BuildError(f"{component}: {module} has staging replaces "
                                         "but versions.yml sets no staging_version")
                    replaces[lhs] = f"{staged.group(1)} {staging}"
                # sibling-module and FORBIDDEN_DEPENDENCY replaces are dropped:
                # the published siblings are required at the same version.
                continue
            replaces[lhs] = rhs

    # versions.yml's own replaces (`replaces: {module: "module version"}`) win over upstream's: for a
    # dependency the module proxy refuses at the version upstream asks for.
    for lhs, rhs in (spec.get("replaces") or {}).items():
        replaces[lhs] = rhs

    requires = {spec["module"]: spec["version"], **(spec.get("extra_requires") or {})}
    tools = [package for package in spec["binaries"].values() if not package.startswith("./")]

    lines = [
        f"// Generated by lab.build for {component} {spec['version']}. Do not edit.",
        f"module meridian.lab/wrapper/{component}",
        "",
        f"go {go_version}",
        "",
    ]
    lines += [f"godebug {setting}" for setting in godebug]
    if godebug:
        lines.append("")
    lines.append("require (")
    lines += [f"\t{module} {version}" for module, version in requires.items()]
    lines += [")", ""]
    if tools:
        lines.append("tool (")
        lines += [f"\t{tool}" for tool in tools]
        lines += [")", ""]
    if excludes:
        lines.append("exclude (")
        lines += [f"\t{exclude}" for exclude in excludes]
        lines += [")", ""]
    if replaces:
        lines.append("replace (")
        lines += [f"\t{lhs} => {rhs}" for lhs, rhs in replaces.items()]
        lines += [")", ""]
    return "\n".join(lines)


def generated_main(import_path: str) -> str:
    """A package main that calls ``<import_path>.Main(os.Args)`` (etcd ships no main package)."""
    package = import_path.rstrip("/").rsplit("/", 1)[-1]
    return (
        "// Generated by lab.build. Do not edit.\n"
        "package main\n\n"
        "import (\n\t\"os\"\n\n"
        f"\t\"{import_path}\"\n)\n\n"
        f"func main() {{\n\t{package}.Main(os.Args)\n}}\n"
    )


MULTICALL_TEMPLATE = """\
// Generated by lab.build. Do not edit.
package main

import (
\t"fmt"
\t"os"
\t"path/filepath"

\t"github.com/spf13/cobra"

{imports})

func main() {{
\tname := filepath.Base(os.Args[0])
\tif value := os.Getenv("{name_env}"); value != "" {{
\t\tname = value
\t}}
\tvar command *cobra.Command
\tswitch name {{
{cases}\tdefault:
\t\tif len(os.Args) == 2 && os.Args[1] == "version" {{
\t\t\tfmt.Printf("%s %s\\n", name, versioned.GetVersion())
\t\t\treturn
\t\t}}
\t\tfmt.Fprintf(os.Stderr, "%s: set {name_env} to one of: {names}\\n", name)
\t\tos.Exit(2)
\t}}
\tif err := command.Execute(); err != nil {{
\t\tos.Exit(1)
\t}}
}}
"""


def multicall_main(spec: dict) -> str:
    """A package main that runs one of several cobra commands, chosen the way Argo CD's own binary does.

    ``spec`` is one ``multicall_mains`` entry: ``commands`` maps a command name to the import path of
    a package with ``NewCommand() *cobra.Command``. The command is ``name_env`` when that variable is
    set, else the program's base name (upstream cmd/main.go), so one binary serves every command
    without copies or links. ``<binary> version`` prints ``version_package.GetVersion()``, for the
    build's version check. Only the listed commands are linked, which keeps the build to the packages
    the lab runs.
    """
    commands = spec["commands"]
    names = sorted(commands)
    aliases = {commands[name]: f"command{index}" for index, name in enumerate(names)}
    aliases[spec["version_package"]] = "versioned"
    imports = "".join(f'\t{aliases[path]} "{path}"\n' for path in sorted(aliases))  # gofmt's order
    cases = "".join(f'\tcase "{name}":\n\t\tcommand = command{index}.NewCommand()\n'
                    for index, name in enumerate(names))
    return MULTICALL_TEMPLATE.format(name_env=spec["name_env"],
                                     imports=imports, cases=cases, names=", ".join(names))


def go_version(env: dict | None = None) -> str:
    """The version of the go command that builds (with a toolchain pin, the pinned one)."""
    return subprocess.run(["go", "env", "GOVERSION"], text=True, check=False, env=env,
                          stdout=subprocess.PIPE).stdout.strip()


def check_toolchain(versions: dict, spec: dict | None = None) -> None:
    """`go` is on PATH and at least toolchain.go_min (a component's own toolchain pin replaces the check)."""
    want = str((versions.get("toolchain") or {}).get("go_min") or "")
    if not shutil.which("go"):
        raise BuildError("`go` is not on PATH")
    if spec and spec.get("toolchain"):
        return
    have = go_version()
    if want and version_tuple(have) < version_tuple(want):
        raise BuildError(f"{have} is older than go {want} (toolchain.go_min in "
                         "lab/versions.yml); install a newer Go")


def steps(spec: dict) -> list[str]:
    """The steps build() announces, in order."""
    return (["go mod download (upstream go.mod)", "go mod tidy (wrapper module)"]
            + [f"go build {name}" for name in spec["binaries"]]
            + ["check versions", "install into bin/"])


def build(component: str, spec: dict, version_dir: pathlib.Path, build_log: BuildLog,
          progress: Progress) -> dict[str, pathlib.Path]:
    """Build every binary of a Go component; return name -> path in bin/."""
    if not shutil.which("go"):
        raise BuildError("`go` is not on PATH", build_log.path)
    env = go_env(spec)
    src = version_dir / "src"
    src.mkdir(parents=True, exist_ok=True)

    progress.step("go mod download (upstream go.mod)")
    upstreams: dict[str, tuple[str, str]] = {}
    for module, version in {spec["module"]: spec["version"],
                            **(spec.get("extra_requires") or {})}.items():
        upstreams[module] = (version, upstream_gomod(build_log, progress, env, module, version,
                                                     version_dir))
    gomod = wrapper_gomod(component, spec, upstreams)
    write_atomic(src / "go.mod", gomod)
    build_log.note("wrapper go.mod:\n" + gomod)
    for name, import_path in (spec.get("generated_mains") or {}).items():
        main_dir = src / "cmd" / name
        main_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(main_dir / "main.go", generated_main(import_path))
    for name, multicall in (spec.get("multicall_mains") or {}).items():
        main_dir = src / "cmd" / name
        main_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(main_dir / "main.go", multicall_main(multicall))

    progress.step("go mod tidy (wrapper module)")
    build_log.run_checked(["go", "mod", "tidy"], cwd=src, env=env, heartbeat=progress.heartbeat)

    ldflags = ["-s", "-w"] + [f"-X {key}={value}"
                              for key, value in (spec.get("ldflags_x") or {}).items()]
    tags = ",".join(spec.get("tags") or [])
    # Built into a temp dir next to bin/, so nothing half-built is ever in bin/.
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=".tmp-", dir=version_dir))
    try:
        for name, package in spec["binaries"].items():
            progress.step(f"go build {name}")
            cmd = ["go", "build", "-trimpath", "-ldflags", " ".join(ldflags)]
            if tags:
                cmd += ["-tags", tags]
            cmd += ["-o", str(tmp / name), package]
            build_log.run_checked(cmd, cwd=src, env=env, heartbeat=progress.heartbeat)

        progress.step("check versions")
        for name, check in (spec.get("version_check") or {}).items():
            line = check_version(build_log, [str(tmp / name), *check["args"]], check["expect"])
            progress.info(f"{name}: {line}")

        progress.step("install into bin/")
        bin_dir = version_dir / "bin"
        bin_dir.mkdir(exist_ok=True)
        result = {}
        for name in spec["binaries"]:
            os.replace(tmp / name, bin_dir / name)
            result[name] = bin_dir / name
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
