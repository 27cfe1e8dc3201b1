"""python -m lab.build [--optional] [--force] [-q] [component ...]

Says first what it will build (each component and version, cached or to build, and
how long its last build took), then builds with numbered step lines and heartbeats,
and ends with one summary line per component:

    lab-build: kubernetes v1.34.4 cached (built in 266 s)
    lab-build: etcd v3.6.16 built in 49 s

The plan and the step lines go to stderr, the summary lines to stdout, and all of them
to <lab state dir>/lab-build.log (.lab/lab-build.log unless MERIDIAN_LAB_STATE_DIR is
set), which each run overwrites. Each component's build.log in the cache holds its
step lines between the commands' output.
"""

from __future__ import annotations

import argparse
import pathlib
import signal
import sys
import time
from typing import TextIO

from lab.build import (
    COMPONENTS,
    BuildError,
    cache_root,
    ensure_built,
    is_cached,
    last_build_seconds,
    load_versions,
    optional_components,
)
from lab.state import default_state_dir

#: What a cold build of the default components costs on the reference machine (2 cores):
#: about 30 min idle, up to about an hour with the machine busy (bench/lab_build_times.md; the policy
#: tools gator, opa and cyclonus add about 10 min of CPU, Argo CD about 8 min).
COLD_BUILD_NOTE = ("a cold build takes about 30 minutes on 2 cores (longer on a busy machine) "
                   "and happens once")


def run_log_path() -> pathlib.Path:
    """Where every line of the last `python -m lab.build` run is kept."""
    return default_state_dir() / "lab-build.log"


class Output:
    """Sends each line to the terminal (stdout or stderr) and to the run log."""

    def __init__(self, log_file: TextIO, *, quiet: bool):
        self.log_file = log_file
        self.quiet = quiet

    def _log(self, line: str) -> None:
        self.log_file.write(line + "\n")
        self.log_file.flush()

    def progress(self, line: str) -> None:
        self._log(line)
        if not self.quiet:
            print(line, file=sys.stderr, flush=True)

    def result(self, line: str) -> None:
        self._log(line)
        print(line, flush=True)


def _seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0f} s"


def plan(names: list[str], versions: dict, output: Output, *, force: bool) -> None:
    """Print what this run will do before it does anything slow."""
    to_build = [name for name in names if force or not is_cached(name, versions)]
    output.progress(f"lab-build: versions pinned in lab/versions.yml, cache {cache_root()}")
    width = max(len(name) for name in names)
    for name in names:
        version = versions["components"][name]["version"]
        last = last_build_seconds(name, versions)
        if name in to_build:
            state = "to build (first build)" if last is None else \
                f"to build (last build took {_seconds(last)})"
        else:
            state = f"cached (built in {_seconds(last)})"
        output.progress(f"  {name:<{width}}  {version:<10} {state}")
    if to_build:
        known = [last_build_seconds(name, versions) for name in to_build]
        estimate = (f"; the last builds of these took {sum(known):.0f} s in total"
                    if all(value is not None for value in known) else "")
        output.progress(f"lab-build: {len(to_build)} to build. Note: {COLD_BUILD_NOTE}, "
                        f"then everything stays cached in {cache_root()}{estimate}.")
    else:
        output.progress(f"lab-build: everything is cached, nothing to build ({COLD_BUILD_NOTE}).")
    output.progress(f"lab-build: this run's lines are also in {run_log_path()}; each component's "
                    "steps are in <cache>/<component>/<version>/build.log")


def build_all(names: list[str], versions: dict, output: Output, *, force: bool) -> int:
    """Build or reuse every component, then print one summary line each; the count of failures."""
    summary: list[str] = []
    failed = 0
    for name in names:
        version = versions["components"].get(name, {}).get("version", "?")
        try:
            if not force and is_cached(name, versions):
                summary.append(f"lab-build: {name} {version} cached "
                               f"(built in {_seconds(last_build_seconds(name, versions))})")
                continue
            started = time.monotonic()
            ensure_built(name, log=output.progress, force=force, versions=versions)
            summary.append(f"lab-build: {name} {version} built in "
                           f"{time.monotonic() - started:.0f} s")
        except BuildError as exc:
            failed += 1
            summary.append(f"lab-build: {name} {version} FAILED: {exc}"
                           + (f" (log: {exc.log_path})" if exc.log_path else ""))
            tail = exc.log_tail()
            if tail:
                output.progress(f"--- last lines of {exc.log_path} ---\n{tail}\n---")
    for line in summary:
        output.result(line)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.build",
                                     description="Build or locate the lab's pinned binaries.")
    parser.add_argument("components", nargs="*",
                        help=f"default: all of {', '.join(COMPONENTS)}")
    parser.add_argument("--optional", action="store_true",
                        help="also build optional_components from versions.yml")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no plan or progress lines on the terminal (the run log keeps them)")
    args = parser.parse_args(argv)

    def on_term(signum, frame):  # let finally-blocks remove temp dirs and kill children
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)

    versions = load_versions()
    names = args.components or list(COMPONENTS)
    if args.optional:
        names += [name for name in optional_components(versions) if name not in names]
    unknown = [name for name in names if name not in versions["components"]]
    if unknown:
        parser.error(f"unknown component(s) {', '.join(unknown)} "
                     f"(known: {', '.join(versions['components'])})")

    log_path = run_log_path()
    log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log_file:
        output = Output(log_file, quiet=args.quiet)
        plan(names, versions, output, force=args.force)
        return 1 if build_all(names, versions, output, force=args.force) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; nothing half-built was left marked as built", file=sys.stderr)
        sys.exit(130)
