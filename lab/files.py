"""The lab's one way to write a file: atomically, so a reader never sees half of it.

Every writer goes through `write_atomic`: the content goes to a unique temporary
file in the same directory, gets its final mode, and is renamed over the target.
A crash or a concurrent writer leaves either the old file or the new one, never a
truncated mix, and two writers never share a temporary name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE = 0o600
PUBLIC = 0o644


def write_atomic(path: Path, content: str | bytes, *, mode: int = PUBLIC) -> None:
    """Replace ``path`` with ``content`` in one rename; the file gets ``mode``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    # mkstemp creates the file 0600, so a secret is never readable by others, not even briefly.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_private(path: Path, content: str | bytes) -> None:
    """Write a file readable by the owner only (secrets, keys, kubeconfigs), atomically."""
    write_atomic(path, content, mode=PRIVATE)


def write_if_changed(path: Path, content: str | bytes, *, mode: int = PUBLIC) -> bool:
    """Write ``path`` only when its content differs; True when it was written."""
    path = Path(path)
    data = content.encode() if isinstance(content, str) else content
    with contextlib.suppress(FileNotFoundError):
        if path.read_bytes() == data:
            return False
    write_atomic(path, data, mode=mode)
    return True


def write_if_missing(path: Path, content: str | bytes, *, mode: int = PUBLIC) -> bool:
    """Write a file that modules may later edit (hashrings, limits); never overwrite it."""
    if Path(path).exists():
        return False
    write_atomic(path, content, mode=mode)
    return True
