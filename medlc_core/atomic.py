"""One way to write a file that readers see whole or not at all."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

# Temporary files are named <final name> + TMP_MARK + random; readers skip such names.
TMP_MARK = ".tmp-"


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` durable."""
    # Without this a rename can be lost on power failure even though the file data is safe.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: Path, data: bytes) -> None:
    """Write and fsync one file in place (for files staged in a folder renamed as a whole)."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write a file so readers see the old content or the new, never a torn one.

    The file gets the usual permissions for a new file (0666 less the umask); mkstemp's
    private 0600 would make shared results folders unreadable to the rest of a group.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + TMP_MARK, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def write_json_atomic(path: str | Path, payload: Any) -> None:
    """Sorted, indented UTF-8 JSON, written atomically."""
    atomic_write(path, json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
