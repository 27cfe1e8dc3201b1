"""Shared pytest setup: the repository root on sys.path and the `lab` marker."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def pytest_configure(config):
    # Also declared in pytest.ini; repeated here so the marker exists under any config.
    config.addinivalue_line(
        "markers", "lab: needs the local lab's real servers; the `lab` fixture starts or reuses it")
