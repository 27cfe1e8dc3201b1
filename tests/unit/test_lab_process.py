"""lab.process: telling a lab server that still runs from one that ended, with real processes."""

from __future__ import annotations

import time

import pytest

from lab import process

MARKER = "--lab-process-test-marker"

# Re-executes itself $1 times, then idles. Every image keeps the marker in its argv, as a
# console script that execs the real server binary does (OpenBao's and Envoy's wheels).
EXEC_CHAIN = """#!/bin/sh
if [ "$1" -gt 0 ]; then exec "$0" "$(( $1 - 1 ))" "$2"; fi
while :; do sleep 1; done
"""


def _spawn(tmp_path, argv):
    return process.spawn("test", argv, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path,
                         log_path=tmp_path / "test.log", marker=MARKER)


@pytest.fixture
def exec_chain(tmp_path):
    script = tmp_path / "chain.sh"
    script.write_text(EXEC_CHAIN)
    script.chmod(0o755)
    return script


def test_a_server_that_re_executes_itself_is_alive_at_every_check(tmp_path, exec_chain):
    # The kernel empties /proc/PID/cmdline while it swaps the image; a check that lands then
    # once judged a starting OpenBao dead ("exited before it was ready", empty log).
    record = _spawn(tmp_path, [str(exec_chain), "1000", MARKER])
    settled = f"/bin/sh {exec_chain} 0 {MARKER}"
    checks, judged_dead = 0, 0
    try:
        deadline = time.monotonic() + 60
        while not process.cmdline(record.pid).startswith(settled):
            assert time.monotonic() < deadline, "the exec chain did not settle in 60 s"
            checks += 1
            judged_dead += not process.is_alive(record)
    finally:
        outcome = process.terminate(record)
    assert checks > 100, "the checks did not overlap the exec chain"
    assert judged_dead == 0
    assert outcome == "stopped"


def test_a_server_that_exits_is_dead_and_its_exit_code_is_known(tmp_path):
    record = _spawn(tmp_path, ["/bin/sh", "-c", "exit 3", MARKER])
    deadline = time.monotonic() + 10
    while process.is_alive(record):
        assert time.monotonic() < deadline, "a process that exits at once still counts as alive"
        time.sleep(0.01)
    assert process.exit_status(record.pid) == "exit code 3"
    assert process.terminate(record) == "not running"


def test_a_killed_server_names_the_signal(tmp_path):
    record = _spawn(tmp_path, ["/bin/sh", "-c", "kill -9 $$", MARKER])
    deadline = time.monotonic() + 10
    while process.is_alive(record):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert process.exit_status(record.pid) == "signal 9"


def test_a_process_without_the_marker_is_not_the_lab_server(tmp_path, exec_chain):
    # Its twin: the same live process counts as the server while its argv holds the marker.
    record = _spawn(tmp_path, [str(exec_chain), "0", MARKER])
    try:
        assert process.is_alive(record)
        impostor = process.PidRecord(record.service, record.pid, record.start_ticks, "--another-marker",
                                     record.argv, record.started_at)
        assert not process.is_alive(impostor)
        recycled = process.PidRecord(record.service, record.pid, record.start_ticks + 1, MARKER,
                                     record.argv, record.started_at)
        assert not process.is_alive(recycled)
    finally:
        assert process.terminate(record) == "stopped"
