"""A lock file that says who holds it and dies with its holder.

`medlc run` holds one per (model, task) pair while it scores that pair, so two runs on
one results directory share the work instead of both doing it. The lock is the kernel's
`flock` on the file, not the file's existence: a holder killed at any moment (SIGKILL, a
crashed host whose NFS lease runs out) releases it, and the next run takes it over
without anyone deleting anything. The file's text (pid, host, start time) is only there
to name the holder in a message.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path


class FileLock:
    """A non-blocking exclusive lock on `path`; `acquire` says whether it was taken."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock if no live process holds it; False (and `holder()` names it) if one does."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            # The previous holder deletes the file on release: a lock taken on a file that
            # was deleted between our open and our flock guards nothing, so open it again.
            try:
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(fd).st_ino:
                break
            os.close(fd)
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        note = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": stamp})
        os.ftruncate(fd, 0)
        os.write(fd, (note + "\n").encode("utf-8"))
        self._fd = fd
        return True

    def release(self) -> None:
        """Delete the file and drop the lock (in that order, see `acquire`)."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def holder(self) -> str:
        """Who holds the lock, as its file says: 'pid 123 on host-a since 2026-...'."""
        try:
            note = json.loads(self.path.read_text(encoding="utf-8"))
            return f"pid {note['pid']} on {note['host']} since {note['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"  # it has opened the file and not yet written its note

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
