"""The documentation stays inside this repository and names only targets that exist.

* No file (tracked, or new and not ignored) points at team notes that live outside the repository.
* README.md's command reference and `make help` name the same targets.
"""

from __future__ import annotations

import pathlib
import re
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[2]

# Built from pieces so this file does not match its own search.
OUTSIDE_REFERENCES = "|".join(["DESIGN" + r"\.md", "STYLE" + r"\.md", "LAB" + "-FACTS", r"\.\./" + "shared"])


def make_help_targets() -> set[str]:
    completed = subprocess.run(["make", "--no-print-directory", "help"], cwd=REPO, capture_output=True, text=True,
                               check=True, timeout=60)
    targets = {line.split()[0] for line in completed.stdout.splitlines() if line.strip()}
    assert {"demo", "test", "help"} <= targets, completed.stdout  # the parse itself worked
    return targets


def documented_targets() -> set[str]:
    """Every target the Makefile gives a `## ` help text, read from the file (a target `make help` misses counts too)."""
    return set(re.findall(r"^([a-z][a-z0-9-]*):[^=\n]*## ", (REPO / "Makefile").read_text(), re.M))


def makefile_targets() -> set[str]:
    """Every rule name the Makefile defines, with or without a help text."""
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):(?!=)", text, re.M))


def readme_make_targets() -> set[str]:
    return set(re.findall(r"`make ([a-z][a-z0-9-]*)", (REPO / "README.md").read_text()))


def test_no_file_references_notes_outside_the_repository():
    completed = subprocess.run(["git", "grep", "--untracked", "-nIE", OUTSIDE_REFERENCES], cwd=REPO,
                               capture_output=True, text=True, check=False, timeout=60)
    assert completed.returncode in (0, 1), completed.stderr  # 1 = no match; anything else is a git failure
    assert completed.stdout == "", f"references to files outside this repository:\n{completed.stdout}"


def test_every_make_help_target_is_in_the_readme():
    missing = (make_help_targets() | documented_targets()) - readme_make_targets()
    assert not missing, f"README.md does not mention `make {', make '.join(sorted(missing))}`"


def test_every_make_target_the_readme_names_exists():
    unknown = readme_make_targets() - makefile_targets()
    assert not unknown, f"README.md names targets the Makefile does not have: {sorted(unknown)}"


def test_readme_links_the_architecture_document():
    assert "(docs/architecture.md)" in (REPO / "README.md").read_text()
    assert (REPO / "docs" / "architecture.md").is_file()
