"""files_to_write: which rendered files differ from the file on the controller."""

from __future__ import annotations

from ansible_collections.meridian.observability.plugins.filter.rendered_files import FilterModule, files_to_write


def test_only_missing_or_different_files_are_kept_in_order(tmp_path):
    (tmp_path / "same.yaml").write_text("a: 1\n")
    (tmp_path / "other.yaml").write_text("a: 1\n")
    (tmp_path / "crlf.yaml").write_bytes(b"a: 1\r\n")
    (tmp_path / "dir.yaml").mkdir()
    rendered = [{"dest": "missing/new.yaml", "content": "n\n"}, {"dest": "same.yaml", "content": "a: 1\n"},
                {"dest": "other.yaml", "content": "a: 2\n"}, {"dest": "crlf.yaml", "content": "a: 1\n"},
                {"dest": "dir.yaml", "content": ""}]
    assert files_to_write(rendered, str(tmp_path)) == [rendered[0], rendered[2], rendered[3], rendered[4]]
    assert files_to_write([rendered[1]], str(tmp_path)) == []
    assert FilterModule().filters()["files_to_write"] is files_to_write
