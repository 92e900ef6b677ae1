"""Keep the live progress view readable without losing a line of what libraries say."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path


class LogCapture:
    """Route library logging and tqdm bars to a run log, so the live view stays readable.

    Nothing is dropped: every record at INFO and above lands in the log file, and the run
    ends by printing how many warnings it holds.
    """

    def __init__(self, path: Path):
        self.path = path
        self.warnings = 0

    def __enter__(self) -> LogCapture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.stream = open(self.path, "a", encoding="utf-8")
        capture = self

        class Handler(logging.StreamHandler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.levelno >= logging.WARNING:
                    capture.warnings += 1
                super().emit(record)

        self.handler = Handler(self.stream)
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        self.old_level = root.level
        root.addHandler(self.handler)
        root.setLevel(logging.INFO)
        self.redirect = contextlib.redirect_stderr(self.stream)
        self.redirect.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.redirect.__exit__(*exc)
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self.old_level)
        self.stream.close()
