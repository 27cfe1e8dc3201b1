"""`python -m lab.build` on the warm cache: one summary line per component, on stdout and in the run log.

Needs the cache `make lab-build` fills (about 30 minutes once), not the lab's servers. On a developer
machine with a cold cache the test is skipped; in CI (CI=true) `make lab-build` has always run first,
so a cold cache there is a failure, not a skip.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from lab import build

REPO = build.VERSIONS_FILE.parent.parent

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def warm_cache() -> dict:
    versions = build.load_versions()
    cold = [name for name in build.COMPONENTS if not build.is_cached(name, versions)]
    if cold:
        message = f"lab build cache is cold for {', '.join(cold)}; run `make lab-build` first"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return versions


def test_warm_build_prints_a_summary_line_per_component(warm_cache, tmp_path):
    env = dict(os.environ, MERIDIAN_LAB_STATE_DIR=str(tmp_path))
    completed = subprocess.run([sys.executable, "-m", "lab.build"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    run_log = (tmp_path / "lab-build.log").read_text()
    for name in build.COMPONENTS:
        version = re.escape(str(warm_cache["components"][name]["version"]))
        summary = re.compile(rf"^lab-build: {name} {version} cached \(built in \d+ s\)$", re.M)
        assert summary.search(completed.stdout), f"no summary line for {name}:\n{completed.stdout}"
        assert summary.search(run_log), f"no summary line for {name} in the run log:\n{run_log}"
        # The plan at the start names the component and its version too.
        assert re.search(rf"^  {name} +{version} +cached \(built in \d+ s\)$", completed.stderr, re.M)
    assert "a cold build takes about 30 minutes on 2 cores (longer on a busy machine) and happens once" in completed.stderr
    assert "everything is cached, nothing to build" in run_log


#: The policy tooling (issue 11): component -> its binaries and the version each one reports.
POLICY_COMPONENTS = {
    "gator": {"gator": (["--version"], "gator version v3.23.1")},
    "opa": {"opa": (["version"], "Version: 1.22.4")},
    "cyclonus": {"cyclonus": (["version"], "v0.5.6")},
    "gatekeeper-crds": {},
    "cilium-crds": {},
}


def test_policy_components_are_cached_with_a_summary_line(warm_cache, tmp_path):
    env = dict(os.environ, MERIDIAN_LAB_STATE_DIR=str(tmp_path))
    completed = subprocess.run([sys.executable, "-m", "lab.build", *POLICY_COMPONENTS], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for name in POLICY_COMPONENTS:
        version = re.escape(str(warm_cache["components"][name]["version"]))
        assert re.search(rf"^lab-build: {name} {version} cached \(built in \d+ s\)$", completed.stdout, re.M), \
            completed.stdout


def test_tool_path_finds_each_policy_binary_and_it_is_the_pinned_version(warm_cache):
    for binaries in POLICY_COMPONENTS.values():
        for binary, (args, expect) in binaries.items():
            found = subprocess.run([sys.executable, "-m", "lab", "tool-path", binary], cwd=REPO,
                                   capture_output=True, text=True, timeout=60, check=False)
            assert found.returncode == 0, found.stderr
            path = found.stdout.strip()
            assert os.path.isabs(path) and os.access(path, os.X_OK), path
            ran = subprocess.run([path, *args], capture_output=True, text=True, timeout=60, check=False)
            assert ran.returncode == 0 and expect in ran.stdout + ran.stderr, ran.stdout + ran.stderr


def test_tool_path_fails_with_the_fix_on_a_cold_cache(warm_cache, tmp_path):
    env = dict(os.environ, MERIDIAN_LAB_CACHE=str(tmp_path / "cold"))
    env.pop("MERIDIAN_LAB_BINARY_GATOR", None)
    completed = subprocess.run([sys.executable, "-m", "lab", "tool-path", "gator"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert "run make lab-build" in completed.stderr
    assert not (tmp_path / "cold" / "gator").exists()  # it built nothing
