"""What a build says while it runs: numbered steps, heartbeats, and the build.log behind them.

A step line reads ``kubernetes 3/6: go build kube-apiserver (41 s so far; last build took
266 s)``. While one command stays silent (a Go build can take minutes), a heartbeat line
with the elapsed time follows at most every HEARTBEAT_SECONDS. Every line also goes to the
component's build.log, between the commands' own output.
"""

from __future__ import annotations

import datetime
import pathlib
import resource
import subprocess
import time
from typing import Callable

from lab.build.versions import BuildError

Log = Callable[[str], None]

#: Longest silence before a running step says it is still alive.
HEARTBEAT_SECONDS = 30.0


class BuildLog:
    """One component's build.log: timestamped notes and the output of every command."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self.handle = open(path, "w", encoding="utf-8")

    def note(self, message: str) -> None:
        timestamp = datetime.datetime.now().strftime("%H:%M:%S")
        self.handle.write(f"[{timestamp}] {message}\n")
        self.handle.flush()

    def write(self, text: str) -> None:
        self.handle.write(text)
        self.handle.flush()

    def run(self, cmd: list[str], *, cwd: pathlib.Path | None = None, env: dict | None = None,
            capture: bool = False, merge_stderr: bool = False, timeout: float | None = None,
            heartbeat: Callable[[], None] | None = None) -> tuple[int, str]:
        """Run ``cmd`` with its output going to build.log, or captured.

        ``capture`` returns stdout (and stderr too with ``merge_stderr``) instead of logging
        it. Returns (exit code, captured text). ``heartbeat`` is called every few seconds
        while the command runs; the command is killed if the caller is interrupted.
        """
        self.note("$ " + " ".join(cmd) + (f"   (in {cwd})" if cwd else ""))
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, text=True,
            stdout=subprocess.PIPE if capture else self.handle,
            stderr=subprocess.STDOUT if capture and merge_stderr else self.handle)
        started = time.monotonic()
        poll = min(5.0, HEARTBEAT_SECONDS)
        try:
            while True:
                try:
                    stdout, _ = proc.communicate(timeout=poll)
                    break
                except subprocess.TimeoutExpired:
                    if timeout is not None and time.monotonic() - started > timeout:
                        raise
                    if heartbeat:
                        heartbeat()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        self.handle.flush()
        return proc.returncode, stdout or ""

    def run_checked(self, cmd: list[str], **kwargs) -> str:
        """Like run(), but a non-zero exit raises BuildError pointing at build.log."""
        returncode, stdout = self.run(cmd, **kwargs)
        if returncode != 0:
            if stdout:
                self.write(stdout)
            raise BuildError(f"command failed ({returncode}): {' '.join(cmd[:3])} ...", self.path)
        return stdout

    def close(self) -> None:
        self.handle.close()


class Progress:
    """Numbered step lines of one component's build, sent to ``log`` and to build.log."""

    def __init__(self, component: str, steps: list[str], *, log: Log, build_log: BuildLog,
                 last_seconds: float | None):
        self.component = component
        self.total = len(steps)
        self.log = log
        self.build_log = build_log
        self.last_seconds = last_seconds
        self.number = 0
        self.title = ""
        self.started = time.monotonic()
        self.step_started = self.started
        self.last_line = self.started

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _last(self) -> str:
        if self.last_seconds is None:
            return "first build"
        return f"last build took {self.last_seconds:.0f} s"

    def emit(self, line: str) -> None:
        self.last_line = time.monotonic()
        self.build_log.note(line)
        self.log(line)

    def step(self, title: str) -> None:
        """Announce the next step (the builder's steps() lists them all, in order)."""
        self.number += 1
        self.title = title
        self.step_started = time.monotonic()
        self.emit(f"{self.component} {self.number}/{self.total}: {title} "
                  f"({self.elapsed():.0f} s so far; {self._last()})")

    def heartbeat(self) -> None:
        """Say the current step is still running, at most every HEARTBEAT_SECONDS."""
        now = time.monotonic()
        if now - self.last_line < HEARTBEAT_SECONDS:
            return
        self.emit(f"{self.component} {self.number}/{self.total}: {self.title} still running, "
                  f"{now - self.step_started:.0f} s in this step, {self.elapsed():.0f} s so far")

    def info(self, message: str) -> None:
        self.emit(f"{self.component}: {message}")


def cpu_children() -> float:
    """User plus system CPU seconds of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check_version(build_log: BuildLog, cmd: list[str], expect: str, *,
                  env: dict | None = None, timeout: float = 120) -> str:
    """Run a built program's version command; its output must contain ``expect``."""
    try:
        returncode, output = build_log.run(cmd, env=env, capture=True, merge_stderr=True,
                                           timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        build_log.note(f"version check failed: {exc}")
        raise BuildError(f"{cmd[0]}: version check failed: {exc}", build_log.path) from None
    build_log.write(output)
    if returncode != 0 or expect not in output:
        raise BuildError(
            f"{pathlib.Path(cmd[0]).name} {' '.join(cmd[1:])}: expected {expect!r}, "
            f"got rc={returncode}", build_log.path)
    return output.strip().splitlines()[0] if output.strip() else ""
