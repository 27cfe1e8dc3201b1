"""Start, find and stop the lab's server processes.

A server runs in its own session (so it outlives the CLI call that started it) and its
PID file records the PID, the kernel start time of that PID, and a marker string that
must appear in its command line. `down` stops a PID only when all three still match,
so a recycled PID is never signalled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.files import write_private

# Keep the Popen objects of servers started by this Python process, so that they are
# not garbage-collected (and warned about) while the servers keep running.
_STARTED: dict[int, subprocess.Popen] = {}
# Exit codes of those servers once they ended (negative: the signal), for error messages.
_EXITED: dict[int, int] = {}
# A log larger than this is moved to <name>.log.1 when its server next starts.
LOG_ROTATE_BYTES = 20 * 1024 * 1024


@dataclass
class PidRecord:
    """What a PID file holds."""

    service: str
    pid: int
    start_ticks: int
    marker: str
    argv: list[str]
    started_at: float

    @classmethod
    def read(cls, path: Path) -> PidRecord | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        # argv may name secrets files but never holds secret values; 0600 anyway.
        write_private(path, json.dumps(asdict(self), indent=2) + "\n")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """Kernel start time of a PID (field 22 of /proc/PID/stat), or None if gone."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def _is_zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is None or fields[0] in ("Z", "X")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def _reap(pid: int) -> None:
    """Collect the exit status if the server is our own child (started in this process)."""
    proc = _STARTED.get(pid)
    if proc is not None:
        # Popen's own wait keeps the status for exit_status(); a bare waitpid would lose it.
        if proc.poll() is not None:
            _EXITED[pid] = proc.returncode
            _STARTED.pop(pid, None)
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# How long an empty /proc/PID/cmdline is read again before the process counts as mid-exec.
EXEC_WINDOW_SECONDS = 1.0


def is_alive(record: PidRecord) -> bool:
    """True when the recorded process still runs and is still the one we started.

    Some servers start as a console script that execs the real binary (OpenBao's and
    Envoy's wheels): while the kernel swaps the image, /proc/PID/cmdline reads empty for
    a moment. A PID with the recorded start time cannot be another process, so an empty
    command line is read again, and if it stays empty the process counts as alive.
    """
    _reap(record.pid)
    deadline = time.monotonic() + EXEC_WINDOW_SECONDS
    while True:
        if _is_zombie(record.pid):
            return False
        if start_ticks(record.pid) != record.start_ticks:
            return False
        line = cmdline(record.pid)
        if line:
            return record.marker in line
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.01)


def exit_status(pid: int) -> str | None:
    """How a server this process started ended ("exit code 1", "signal 9"), or None if unknown."""
    _reap(pid)
    code = _EXITED.get(pid)
    if code is None:
        return None
    return f"signal {-code}" if code < 0 else f"exit code {code}"


def spawn(
    service: str,
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    log_path: Path,
    marker: str,
) -> PidRecord:
    """Start a server detached from the caller, its output appended to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists() and log_path.stat().st_size > LOG_ROTATE_BYTES:
        os.replace(log_path, log_path.with_name(log_path.name + ".1"))
    with open(log_path, "ab") as log:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        log.write(f"\n===== lab: starting {service} at {stamp} =====\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    _STARTED[proc.pid] = proc
    ticks = start_ticks(proc.pid)
    if ticks is None:  # exited already; keep a record so the caller sees it dead
        ticks = -1
    # Popen returns as soon as exec closes the close-on-exec pipe, which the kernel does
    # before it lays out the new argv: /proc/PID/cmdline can be empty for a moment.
    deadline = time.monotonic() + 5.0
    while marker not in cmdline(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return PidRecord(service, proc.pid, ticks, marker, argv, time.time())


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A group whose only members are zombies counts as gone.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def terminate(record: PidRecord, timeout: float = 15.0) -> str:
    """SIGTERM the server's process group, then SIGKILL after `timeout`.

    Returns "stopped", "killed" or "not running". The group is the one the server
    leads (start_new_session), so helpers it forked (e.g. kc.sh's java) go with it.
    """
    if not is_alive(record):
        return "not running"
    pgid = record.pid  # session leader: its PGID is its PID
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return "not running"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not _group_alive(pgid):
            return "stopped"
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return "stopped"
    for _ in range(50):
        _reap(record.pid)
        if not _group_alive(pgid):
            break
        time.sleep(0.1)
    return "killed"


def rss_kib(pid: int) -> int:
    """Resident memory of one process in KiB (0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except FileNotFoundError:
        return f"(no log at {path})\n"
