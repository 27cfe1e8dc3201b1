"""FileStore: atomic replace, mode kept, no temp files left, concurrent writers never lose an update."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat

import pytest

from ansible_collections.meridian.observability.plugins.module_utils._thanos import store as store_module
from ansible_collections.meridian.observability.plugins.module_utils._thanos.errors import ThanosStoreError
from ansible_collections.meridian.observability.plugins.module_utils._thanos.service import TenantService
from ansible_collections.meridian.observability.plugins.module_utils._thanos.store import FileStore, atomic_write

NODE = {"address": "127.0.0.1:10901"}


def test_atomic_write_keeps_mode_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "limits.yaml"
    path.write_text("old\n")
    os.chmod(path, 0o640)
    inode = path.stat().st_ino
    atomic_write(str(path), "new\n")
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_ino != inode  # replaced, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["limits.yaml"]


def test_atomic_write_new_file_gets_default_mode(tmp_path):
    path = tmp_path / "new.yaml"
    atomic_write(str(path), "x\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_failed_write_keeps_the_original(tmp_path, monkeypatch):
    path = tmp_path / "hashrings.json"
    path.write_text("original")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write(str(path), "new")
    assert path.read_text() == "original"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hashrings.json"]


def test_unreadable_and_missing_files(tmp_path):
    missing = FileStore(str(tmp_path / "nope.json"), str(tmp_path / "l.yaml"))
    with pytest.raises(ThanosStoreError, match="does not exist"):
        missing.read()
    directory = FileStore(str(tmp_path), str(tmp_path / "l.yaml"))
    with pytest.raises(ThanosStoreError, match="is a directory"):
        directory.read()
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(ThanosStoreError, match="not UTF-8"):
        FileStore(str(binary), str(tmp_path / "l.yaml")).read()


def test_write_refuses_when_file_changed_after_read(tmp_path):
    hashrings = tmp_path / "h.json"
    hashrings.write_text("[]")
    store = FileStore(str(hashrings), str(tmp_path / "l.yaml"))
    snapshot = store.read()
    hashrings.write_text("[1]")
    with pytest.raises(store_module.ThanosConflictError):
        store.write(snapshot, [("hashrings", "[2]")])
    assert hashrings.read_text() == "[1]"


def _add_tenant(paths, name, barrier):
    barrier.wait()
    TenantService(FileStore(*paths)).ensure(
        {"name": name, "state": "present", "hashring": "tenants", "limits": {"request": {"series_limit": 5}}})


def test_concurrent_processes_do_not_lose_updates(tmp_path):
    hashrings = tmp_path / "h.json"
    limits = tmp_path / "l.yaml"
    hashrings.write_text(json.dumps([{"hashring": "tenants", "tenants": ["seed"], "endpoints": [NODE]}]))
    names = [f"t{i}" for i in range(12)]
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(names))
    workers = [context.Process(target=_add_tenant, args=((str(hashrings), str(limits)), name, barrier))
               for name in names]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    document = json.loads(hashrings.read_text())
    assert sorted(document[0]["tenants"]) == sorted(["seed"] + names)
    assert sorted(TenantService(FileStore(str(hashrings), str(limits))).info()["tenants"][i]["name"]
                  for i in range(13)) == sorted(["seed"] + names)
    assert "t11:" in limits.read_text() and "t0:" in limits.read_text()
