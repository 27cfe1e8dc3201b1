"""lab.files: the lab's one atomic writer."""

from __future__ import annotations

import os
import stat

from lab.files import write_atomic, write_if_changed, write_if_missing, write_private


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_private_is_owner_only_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "nested" / "secrets.json"
    write_private(path, "token\n")
    assert path.read_text() == "token\n"
    assert _mode(path) == 0o600
    assert os.listdir(path.parent) == ["secrets.json"]


def test_write_atomic_replaces_and_sets_the_mode(tmp_path):
    path = tmp_path / "ca.crt"
    write_private(path, b"old")
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new"
    assert _mode(path) == 0o644


def test_write_if_changed_leaves_an_equal_file_alone(tmp_path):
    path = tmp_path / "prometheus.yml"
    assert write_if_changed(path, "a: 1\n") is True
    inode = path.stat().st_ino
    assert write_if_changed(path, "a: 1\n") is False
    assert path.stat().st_ino == inode  # not even rewritten
    assert write_if_changed(path, "a: 2\n") is True
    assert path.read_text() == "a: 2\n"


def test_write_if_missing_never_overwrites(tmp_path):
    path = tmp_path / "hashrings.json"
    assert write_if_missing(path, "[]") is True
    path.write_text('[{"tenants": ["edited by a module"]}]')
    assert write_if_missing(path, "[]") is False
    assert "edited by a module" in path.read_text()
