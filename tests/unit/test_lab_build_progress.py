"""lab.build without the real toolchains: a pip-kind component whose `binary` is a small script.

What the lab's real components print is checked by tests/integration/test_lab_build.py on the warm cache.
"""

from __future__ import annotations

import fcntl
import json
import sys
import threading

import pytest

from lab import build
from lab.build import __main__ as cli
from lab.build import cache, progress

VERSION = "9.9.9"


@pytest.fixture
def fake(tmp_path, monkeypatch) -> dict:
    """versions.yml content with one component `fakebao`, its cache and venv under tmp_path."""
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    binary = venv_bin / "fakebao"
    binary.write_text(f"#!/bin/sh\necho 'FakeBao v{VERSION}'\n")
    binary.chmod(0o755)
    monkeypatch.setenv("MERIDIAN_LAB_VENV", str(tmp_path / "venv"))
    monkeypatch.setenv("MERIDIAN_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MERIDIAN_LAB_STATE_DIR", str(tmp_path / "state"))
    spec = {"kind": "pip", "package": "fakebao", "version": VERSION, "binary": "fakebao",
            "version_check": {"args": ["version"], "expect": f"FakeBao v{VERSION}"}}
    return {"components": {"fakebao": spec}}


def test_first_build_prints_numbered_steps_and_writes_the_stamp(fake):
    lines: list[str] = []
    result = build.ensure_built("fakebao", log=lines.append, versions=fake)
    assert result == {"fakebao": cache.venv_dir() / "bin" / "fakebao"}
    assert lines[0].startswith("fakebao 1/2: locate .venv/bin/fakebao")
    assert lines[0].endswith("first build)")
    assert any(line.startswith("fakebao 2/2: fakebao version") for line in lines)
    assert f"fakebao: FakeBao v{VERSION}" in lines
    version_dir = cache.component_dir("fakebao", fake)
    build_log = (version_dir / "build.log").read_text()
    assert all(line in build_log for line in lines)  # the step lines are in build.log too
    stamp = json.loads((version_dir / cache.STAMP).read_text())
    assert stamp["recipe"] == cache.recipe_hash(fake["components"]["fakebao"])
    assert stamp["component"] == "fakebao" and stamp["version"] == VERSION
    assert isinstance(stamp["seconds"], float)


def test_cached_component_builds_nothing_and_reports_the_last_time(fake):
    build.ensure_built("fakebao", log=lambda line: None, versions=fake)
    lines: list[str] = []
    build.ensure_built("fakebao", log=lines.append, versions=fake)
    assert lines == []
    assert build.is_cached("fakebao", fake)
    assert build.last_build_seconds("fakebao", fake) is not None


def test_rebuild_step_lines_name_the_last_build_time(fake):
    build.ensure_built("fakebao", log=lambda line: None, versions=fake)
    lines: list[str] = []
    build.ensure_built("fakebao", log=lines.append, versions=fake, force=True)
    assert "last build took" in lines[0]


def test_a_version_bump_reports_the_previous_version_time(fake):
    build.ensure_built("fakebao", log=lambda line: None, versions=fake)
    bumped = {"version": "10.0.0", "version_check": {"args": ["version"], "expect": "FakeBao"}}
    fake["components"]["fakebao"] = fake["components"]["fakebao"] | bumped
    assert not build.is_cached("fakebao", fake)
    assert build.last_build_seconds("fakebao", fake) is not None


def test_failed_version_check_leaves_no_stamp(fake):
    fake["components"]["fakebao"]["version_check"]["expect"] = "OpenBao v0"
    with pytest.raises(build.BuildError, match="expected 'OpenBao v0'") as failure:
        build.ensure_built("fakebao", log=lambda line: None, versions=fake)
    assert failure.value.log_path.name == "build.log"
    assert "FAILED" in failure.value.log_path.read_text()
    assert not (cache.component_dir("fakebao", fake) / cache.STAMP).exists()
    assert not build.is_cached("fakebao", fake)


def test_cli_plan_and_summary_lines(fake, tmp_path):
    log_file = tmp_path / "run.log"
    with open(log_file, "w") as handle:
        output = cli.Output(handle, quiet=True)
        cli.plan(["fakebao"], fake, output, force=False)
        assert cli.build_all(["fakebao"], fake, output, force=False) == 0
        cli.plan(["fakebao"], fake, output, force=False)
        assert cli.build_all(["fakebao"], fake, output, force=False) == 0
    text = log_file.read_text()
    assert "fakebao  9.9.9      to build (first build)" in text
    assert "a cold build takes about 30 minutes on 2 cores (longer on a busy machine) and happens once" in text
    assert f"lab-build: fakebao {VERSION} built in " in text
    assert f"lab-build: fakebao {VERSION} cached (built in " in text
    assert "fakebao 1/2: " in text  # progress lines reach the run log even when quiet


def test_heartbeat_while_a_command_stays_silent(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "HEARTBEAT_SECONDS", 0.1)
    lines: list[str] = []
    build_log = progress.BuildLog(tmp_path / "build.log")
    steps = progress.Progress("slow", ["sleep"], log=lines.append, build_log=build_log,
                              last_seconds=12.0)
    steps.step("sleep")
    build_log.run_checked([sys.executable, "-c", "import time; time.sleep(1)"],
                          heartbeat=steps.heartbeat)
    build_log.close()
    assert lines[0].startswith("slow 1/1: sleep (0 s so far; last build took 12 s)")
    assert any(line.startswith("slow 1/1: sleep still running, ") for line in lines[1:])


def test_waiting_for_the_lock_is_reported(tmp_path):
    version_dir = tmp_path / "component" / "1.0"
    version_dir.mkdir(parents=True)
    holder = open(version_dir / cache.LOCK, "w")
    fcntl.flock(holder, fcntl.LOCK_EX)
    release = threading.Timer(0.5, lambda: fcntl.flock(holder, fcntl.LOCK_UN))
    release.start()
    waits: list[float] = []
    with cache.locked(version_dir, on_wait=waits.append, poll=0.05):
        with open(version_dir / cache.LOCK) as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by us now
    release.join()
    holder.close()
    assert len(waits) >= 1  # said once that it waits, instead of hanging silently
