"""requirements.yml is satisfied by the collections the pinned `ansible` package installs, so Galaxy is never needed."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import yaml
from ansible.module_utils.compat.version import LooseVersion

REPO = pathlib.Path(__file__).resolve().parents[2]


def _satisfies(version, constraint):
    for clause in constraint.split(","):
        clause = clause.strip()
        for operator in (">=", "<=", "==", "!=", ">", "<"):
            if clause.startswith(operator):
                bound = LooseVersion(clause[len(operator):])
                have = LooseVersion(version)
                if not {">=": have >= bound, "<=": have <= bound, "==": have == bound, "!=": have != bound,
                        ">": have > bound, "<": have < bound}[operator]:
                    return False
                break
    return True


def test_every_required_collection_is_installed_in_range():
    required = yaml.safe_load((REPO / "requirements.yml").read_text())["collections"]
    listed = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-galaxy"), "collection", "list", "--format", "json"],
                            capture_output=True, text=True, check=True, timeout=120, cwd=REPO).stdout
    installed = {}
    for collections in json.loads(listed).values():
        for name, info in collections.items():
            installed.setdefault(name, info["version"])
    for entry in required:
        assert entry["name"] in installed, f"{entry['name']} is not installed"
        assert _satisfies(installed[entry["name"]], entry["version"]), f"{entry['name']} {installed[entry['name']]} not in {entry['version']}"
